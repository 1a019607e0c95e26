"""CF-1.13 aggregation variables (CF conventions section 2.8 and Appendix L).

An aggregation variable is a scalar whose ``aggregated_dimensions`` attribute names the
dimensions of the data it stands for and whose ``aggregated_data`` attribute names the
variables that hold the fragment grid: ``map`` (block lengths per dimension, rows padded
with missing values), ``uris`` (one fragment dataset per block) and ``identifiers`` (the
variable inside each fragment, scalar when shared).

semsl extension, for sparse data: a fragment that was never written has the empty
string as its URI and reads as fill value.  A master whose fragments all exist is
therefore strict CF-1.13; one with unwritten fragments opens in semsl only (a strict
mode that writes fill-valued fragment files instead is part of the parsers issue).
"""

from __future__ import annotations

import re
from typing import Any

import netCDF4
import numpy as np
import numpy.typing as npt

from semsl.cfa import checksums
from semsl.cfa.model import AggregatedVariable, FragmentGrid, LazyStrings, boundaries_from_lengths
from semsl.errors import AggregationFormatError, UnsupportedFeatureError
from semsl.parsers.base import MasterContext, register_parser
from semsl.resources import NETCDF_LOCK

__all__ = ["BOOKKEEPING_ATTRIBUTES", "FRAGMENT_SHAPE", "CFAggregationParser", "uses_cfa06_terms"]

#: semsl's record of the nominal fragment shape (the map only holds actual lengths, and
#: an unlimited dimension grows by fragments of this length).
FRAGMENT_SHAPE = "semsl_fragment_shape"
#: Attributes of an aggregation variable that describe the aggregation, not the data.
BOOKKEEPING_ATTRIBUTES = ("aggregated_dimensions", "aggregated_data", FRAGMENT_SHAPE,
                          checksums.ATTRIBUTE)

_TERM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^\s:]+)\s*")
_FILE_TERMS = frozenset({"map", "uris", "identifiers"})
_VALUE_TERMS = frozenset({"map", "unique_values"})
_CFA06_TERMS = frozenset({"location", "file", "format", "address"})


class CFAggregationParser:
    """Reader and writer of CF-1.13 aggregation variables (semsl's default encoding)."""

    name = "CF-1.13"

    def detect(self, group: Any) -> bool:
        """Whether ``group`` has an aggregation variable that does not use CFA-0.6 terms."""
        return any("aggregated_dimensions" in v.ncattrs() and not uses_cfa06_terms(v)
                   for v in group.variables.values())

    def read(self, group: Any, context: MasterContext) -> list[AggregatedVariable]:
        """Return every aggregation variable of ``group`` with its fragment grid."""
        return [self._read_one(group, var, context) for var in group.variables.values()
                if "aggregated_dimensions" in var.ncattrs()]

    def _read_one(self, group: Any, var: Any, context: MasterContext) -> AggregatedVariable:
        where = f"master {context.master!r}, variable {_path(group, var.name)!r}"
        if var.ndim != 0:
            raise AggregationFormatError(f"an aggregation variable must be scalar ({where})")
        dims = tuple(str(var.getncattr("aggregated_dimensions")).split())
        sizes = [_dimension(group, d, where) for d in dims]
        terms = _parse_terms(var, where)
        map_var = _variable(group, terms["map"], "map", where)
        lengths = map_rows(map_var, sizes, dims, where)
        bounds = [boundaries_from_lengths(row) for row in lengths]
        grid_shape = tuple(len(row) for row in lengths)
        block = _block_shape(var, lengths)
        if "unique_values" in terms:
            values_var = _variable(group, terms["unique_values"], "unique_values", where)
            _checked(values_var, grid_shape, "unique_values", where)
            unique = _unique_values(values_var, var)
            grid = FragmentGrid(bounds, np.ones(grid_shape, bool), None, "", block, unique)
            return self._model(group, var, dims, grid, (map_var, values_var))
        uris_var = _variable(group, terms["uris"], "uris", where)
        ids_var = _variable(group, terms["identifiers"], "identifiers", where)
        uris = LazyStrings(grid_shape, _string_reader(_checked(uris_var, grid_shape, "uris",
                                                               where)))
        identifiers = _identifiers(ids_var, grid_shape, where)
        grid = FragmentGrid(bounds, None, uris, identifiers, block)
        if checksums.ATTRIBUTE in var.ncattrs():
            grid.checksums = checksums.decode(var.getncattr(checksums.ATTRIBUTE), grid_shape)
        return self._model(group, var, dims, grid, (map_var, uris_var, ids_var))

    def _model(self, group: Any, var: Any, dims: tuple[str, ...], grid: FragmentGrid,
               hidden: tuple[Any, ...]) -> AggregatedVariable:
        return AggregatedVariable(
            name=var.name, group_path=group.path, dimensions=dims, dtype=var.dtype, grid=grid,
            bookkeeping_variables=tuple(_path(v.group(), v.name) for v in hidden),
            bookkeeping_dimensions=tuple(d for v in hidden for d in v.dimensions),
            bookkeeping_attributes=BOOKKEEPING_ATTRIBUTES, encoding=self.name)

    def write(self, model: AggregatedVariable, group: Any) -> None:
        """Write the grid of ``model`` as CF-1.13 variables next to its scalar variable."""
        grid = model.grid
        _, uris = grid.load()
        lengths = [grid.fragment_lengths(k) for k in range(len(model.dimensions))]
        # netCDF cannot hold a fixed dimension of length 0: an empty axis (an unlimited
        # dimension nothing was written to) is recorded as one block of length 0.
        for axis, row in enumerate(lengths):
            if len(row) == 0:
                lengths[axis] = np.zeros(1, np.int64)
                uris = np.full(tuple(max(n, 1) for n in uris.shape), "", dtype=object)
        base = model.name
        frag_dims = [_new_dimension(group, f"{base}_fragments_{d}", len(row))
                     for d, row in zip(model.dimensions, lengths, strict=True)]
        map_name = _write_map(group, base, lengths)
        scalar = group.variables[model.name]
        if grid.unique is not None:
            values_name = _write_unique(group, f"{base}_fragment_values", frag_dims,
                                        grid.unique, scalar)
            _describe(scalar, model, grid, f"map: {map_name} unique_values: {values_name}")
            return
        uris_name = _write_strings(group, f"{base}_fragment_uris", frag_dims, uris)
        ids = grid.identifiers if isinstance(grid.identifiers, str) else None
        ids_name = (_write_strings(group, f"{base}_fragment_identifiers", [], np.array(ids))
                    if ids is not None else _write_strings(
                        group, f"{base}_fragment_identifiers", frag_dims,
                        np.asarray(grid.identifiers, dtype=object)))
        _describe(scalar, model, grid,
                  f"map: {map_name} uris: {uris_name} identifiers: {ids_name}")
        if grid.checksums is not None and grid.checksums.shape == uris.shape:
            scalar.setncattr(checksums.ATTRIBUTE, checksums.encode(grid.checksums))


def uses_cfa06_terms(var: Any) -> bool:
    """Whether ``aggregated_data`` uses CFA-0.6.2 terms and none of CF-1.13's.

    Those variables belong to :mod:`semsl.parsers.cfa06` (its keywords are
    case-insensitive); anything else with ``aggregated_dimensions`` is CF-1.13's.
    """
    text = str(var.getncattr("aggregated_data")) if "aggregated_data" in var.ncattrs() else ""
    keys = {match.group(1) for match in _TERM.finditer(text)}
    legacy = {k.lower() for k in keys} & _CFA06_TERMS
    return bool(legacy) and not keys & (_FILE_TERMS | _VALUE_TERMS)


def _describe(scalar: Any, model: AggregatedVariable, grid: FragmentGrid, data: str) -> None:
    """Set the attributes that make ``scalar`` an aggregation variable."""
    if grid.block_shape is not None:
        shape_type = np.int64 if scalar.group().data_model == "NETCDF4" else np.int32
        scalar.setncattr(FRAGMENT_SHAPE, np.asarray(grid.block_shape, shape_type))
    scalar.setncattr("aggregated_dimensions", " ".join(model.dimensions))
    scalar.setncattr("aggregated_data", data)


def _unique_values(values_var: Any, scalar: Any) -> np.ma.MaskedArray[Any, Any]:
    """Per-fragment constants, masked where the aggregation variable says missing."""
    with NETCDF_LOCK:
        raw = values_var[...]
    values: np.ma.MaskedArray[Any, Any] = np.ma.masked_array(raw, dtype=scalar.dtype)
    for name in ("_FillValue", "missing_value"):
        if name in scalar.ncattrs():
            missing = np.atleast_1d(scalar.getncattr(name))
            hit = np.isin(values.filled(missing[0]), missing)
            values = np.ma.masked_array(values, mask=np.ma.getmaskarray(values) | hit)
    return values


def _write_unique(group: Any, name: str, dims: list[str],
                  values: np.ma.MaskedArray[Any, Any], scalar: Any) -> str:
    name = _unique(group, name)
    fill = scalar.getncattr("_FillValue") if "_FillValue" in scalar.ncattrs() else None
    var = _plain_variable(group, name, scalar.dtype, tuple(dims), fill_value=fill)
    var.set_auto_maskandscale(False)
    if fill is None:
        fill = netCDF4.default_fillvals.get(scalar.dtype.str[1:], 0)
    var[...] = values.filled(fill)
    return name


def _path(group: Any, name: str) -> str:
    return f"{group.path.rstrip('/')}/{name}"


def _block_shape(var: Any, lengths: list[npt.NDArray[np.int64]]) -> tuple[int, ...] | None:
    """The nominal fragment shape: recorded by semsl, else the longest fragments."""
    if FRAGMENT_SHAPE in var.ncattrs():
        recorded = np.atleast_1d(var.getncattr(FRAGMENT_SHAPE))
        if len(recorded) == len(lengths) and (recorded > 0).all():
            return tuple(int(n) for n in recorded)
    block = tuple(int(max(row, default=0)) for row in lengths)
    return block if all(block) else None


def _parse_terms(var: Any, where: str) -> dict[str, str]:
    text = str(getattr(var, "aggregated_data", ""))
    terms: dict[str, str] = {}
    pos = 0
    for match in _TERM.finditer(text):
        if match.start() != pos:
            break
        terms[match.group(1)] = match.group(2)
        pos = match.end()
    if pos != len(text) or not terms:
        raise AggregationFormatError(
            f"aggregated_data {text!r} is not a list of 'feature: variable' pairs ({where})")
    keys = frozenset(terms)
    if keys not in (_FILE_TERMS, _VALUE_TERMS):
        raise AggregationFormatError(
            f"aggregated_data must name exactly map, uris and identifiers (or map and "
            f"unique_values), found "
            f"{sorted(keys)} ({where})")
    return terms


def _variable(group: Any, name: str, term: str, where: str) -> Any:
    """Find a variable named in aggregated_data: a path, or searched upwards (CF 2.7)."""
    node = group
    if name.startswith("/"):
        while node.parent is not None:
            node = node.parent
    parts = [p for p in name.split("/") if p]
    *grps, leaf = parts or [""]
    for grp in grps:
        node = node.parent if grp == ".." else node.groups.get(grp)
        if node is None:
            break
    while node is not None:
        if leaf in node.variables:
            return node.variables[leaf]
        node = node.parent if "/" not in name else None
    raise AggregationFormatError(
        f"aggregated_data names {term} variable {name!r}, which does not exist ({where})")


def _dimension(group: Any, name: str, where: str) -> tuple[int, bool]:
    node = group
    while node is not None:
        if name in node.dimensions:
            dim = node.dimensions[name]
            return len(dim), dim.isunlimited()
        node = node.parent
    raise AggregationFormatError(
        f"aggregated_dimensions names dimension {name!r}, which does not exist ({where})")


def map_rows(map_var: Any, sizes: list[tuple[int, bool]], dims: tuple[str, ...],
             where: str, term: str = "map") -> list[npt.NDArray[np.int64]]:
    """Block lengths per aggregated dimension from a map (CFA-0.6.2: location) variable.

    Rows are padded with missing values; each must sum to its dimension's size (at most
    the size, for an unlimited dimension).
    """
    if map_var.dtype.kind not in "iu":
        raise AggregationFormatError(f"the {term} variable {map_var.name!r} must have an "
                                     f"integer type, not {map_var.dtype} ({where})")
    with NETCDF_LOCK:
        values = np.ma.masked_array(map_var[...])
    if not dims:
        raise UnsupportedFeatureError(f"scalar aggregated data is not supported ({where})")
    table = np.ma.atleast_2d(values)
    if values.ndim != 2 or table.shape[0] != len(dims):
        raise AggregationFormatError(
            f"the {term} variable {map_var.name!r} has shape {values.shape}; it needs one "
            f"row per aggregated dimension ({len(dims)}) ({where})")
    rows = []
    for k, (dim, (size, unlimited)) in enumerate(zip(dims, sizes, strict=True)):
        row = np.asarray(table[k].compressed(), dtype=np.int64)
        total = int(row.sum())
        if (row < 0).any() or total > size or (total != size and not unlimited):
            raise AggregationFormatError(
                f"{term} row {k} ({dim}) has block lengths {row.tolist()} summing to "
                f"{total}, but dimension {dim!r} has size {size} ({where})")
        rows.append(row)
    return rows


def _checked(var: Any, grid_shape: tuple[int, ...], term: str, where: str) -> Any:
    shape = var.shape[:-1] if var.dtype == np.dtype("S1") else var.shape
    if tuple(shape) != grid_shape:
        raise AggregationFormatError(
            f"the {term} variable {var.name!r} has shape {tuple(shape)} but the map describes "
            f"a grid of {grid_shape} fragments ({where})")
    return var


def _string_reader(var: Any) -> Any:
    """Return ``read(index)`` giving one string, or all of them for ``None``.

    The reader calls netCDF4's hyperslab reader directly with the shape seen now: the
    dimensions of bookkeeping variables are hidden from the dataset once it is open.
    """
    is_char = var.dtype == np.dtype("S1")
    shape = tuple(var.shape)
    strlen = shape[-1:] if is_char else ()

    def read(index: tuple[int, ...] | None) -> object:
        start = (0,) * len(shape) if index is None else (*index, *(0,) * len(strlen))
        count = shape if index is None else (*(1,) * len(index), *strlen)
        with NETCDF_LOCK:
            values = var._get(np.array(start, np.intp), np.array(count, np.intp),
                              np.ones(len(shape), np.intp)) if shape else var[...]
        if is_char:
            values = netCDF4.chartostring(np.asarray(values), encoding="utf-8")
        values = np.asarray(values, dtype=object)
        return values if index is None else str(values.reshape(-1)[0])

    return read


def _identifiers(var: Any, grid_shape: tuple[int, ...], where: str,
                 ) -> str | npt.NDArray[np.object_]:
    scalar = var.ndim == (1 if var.dtype == np.dtype("S1") else 0)
    if scalar:
        return str(np.asarray(_string_reader(var)(None)).reshape(-1)[0])
    read = _string_reader(_checked(var, grid_shape, "identifiers", where))
    return np.asarray(read(None), dtype=object).reshape(grid_shape)


def _plain_variable(group: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Create a variable with netCDF4 itself (semsl's groups would aggregate it)."""
    return netCDF4.Dataset.createVariable(group, name, *args, **kwargs)


def _new_dimension(group: Any, name: str, size: int) -> str:
    name = _unique(group, name)
    group.createDimension(name, size)
    return name


def _unique(group: Any, name: str) -> str:
    taken = set(group.variables) | set(group.dimensions) | set(group.groups)
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _write_map(group: Any, base: str, lengths: list[npt.NDArray[np.int64]]) -> str:
    width = max(len(row) for row in lengths)
    table = np.full((len(lengths), width), -1, dtype=np.int64)
    for k, row in enumerate(lengths):
        table[k, : len(row)] = row
    big = table.max(initial=0) > np.iinfo(np.int32).max
    if big and group.data_model != "NETCDF4":
        raise UnsupportedFeatureError("fragments longer than 2**31 elements need a NETCDF4 master")
    dtype = np.int64 if big else np.int32
    rows = _new_dimension(group, f"{base}_map_rows", len(lengths))
    cols = _new_dimension(group, f"{base}_map_columns", width)
    name = _unique(group, f"{base}_fragment_map")
    var = _plain_variable(group, name, dtype, (rows, cols), fill_value=-1)
    var.set_auto_maskandscale(False)
    var[...] = table.astype(dtype)
    return str(name)


def _write_strings(group: Any, name: str, dims: list[str], values: npt.NDArray[Any]) -> str:
    """Write strings as netCDF-4 ``string`` or, in netCDF-3, as a char array."""
    name = _unique(group, name)
    if group.data_model == "NETCDF4":
        var = _plain_variable(group, name, str, tuple(dims))
        var[...] = np.asarray(values, dtype=object)
        return name
    encoded = np.char.encode(np.asarray(values, dtype=str), "utf-8")
    width = max(1, int(np.char.str_len(encoded).max(initial=1)) if encoded.size else 1)
    strlen = _new_dimension(group, f"{name}_strlen", width)
    var = _plain_variable(group, name, "S1", (*dims, strlen))
    var.set_auto_chartostring(False)
    var[...] = netCDF4.stringtochar(encoded.astype(f"S{width}"))
    return name


def set_conventions(root: Any) -> None:
    """Declare CF-1.13 (the aggregation conventions) in ``Conventions``."""
    current = str(root.getncattr("Conventions")) if "Conventions" in root.ncattrs() else ""
    tokens = [t for t in current.replace(",", " ").split()
              if not t.startswith(("CF-", "CFA-"))]
    root.setncattr("Conventions", " ".join(["CF-1.13", *tokens]))


register_parser(CFAggregationParser())
