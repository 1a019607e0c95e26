"""S3netCDF4's CFA-0.5: the partition matrix in a ``cfa_<var>`` group (FORMATS.md 3.3).

A field variable is a scalar with ``cf_role = "cfa_variable"``, ``cfa_dimensions`` (its
dimensions, blank-separated) and ``cfa_group``, the name of a child group of its own
group.  That group holds the partition matrix: one dimension per field dimension (same
names; sizes = number of partitions along it), ``ndimensions`` and ``bounds``, and the
variables ``pmshape``, ``pmdimensions`` (names joined with ``", "``), ``index``,
``location`` (start and end per dimension, **end exclusive**), ``ncvar``, ``file``,
``format`` and ``shape``.  A partition never written has empty strings and a masked
location: it reads as fill value.  Only ``NETCDF4`` masters can hold it.

The partitions must form a rectilinear grid (blocks of any length along each dimension,
the same for every partition in a row or column) without gaps or overlaps.  The helpers
that check this and build the :class:`~semsl.cfa.model.FragmentGrid` are shared with
CFA-0.4 (:mod:`semsl.parsers.cfa04`), whose partitions say the same in JSON.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import netCDF4
import numpy as np
import numpy.typing as npt

from semsl.cfa.model import MASTER_VARIABLE_PREFIX, AggregatedVariable, FragmentGrid
from semsl.errors import AggregationFormatError, UnsupportedFeatureError
from semsl.parsers.base import MasterContext, register_parser
from semsl.parsers.cf_aggregation import _path
from semsl.resources import NETCDF_LOCK

__all__ = [
    "CFA05Parser",
    "Partitions",
    "data_model_of",
    "declare_convention",
    "dimension_sizes",
    "dimensions_attribute",
    "grid_from_partitions",
    "is_cfa_variable",
    "read_strings",
    "written_cells",
]

IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

#: Attributes of a CFA-0.5 field variable that encode the aggregation.
BOOKKEEPING_ATTRIBUTES = ("cf_role", "cfa_dimensions", "cfa_group")
#: Sub-array formats that name netCDF (S3NC writes the data model, SemSL ``netCDF``).
NETCDF_FORMATS = frozenset({"", "nc", "netcdf", "netcdf4", "netcdf4_classic", "netcdf3_classic",
                            "netcdf3_64bit", "netcdf3_64bit_offset", "netcdf3_64bit_data"})


@dataclass
class Partitions:
    """The defined partitions of one variable: row ``i`` of every array is partition ``i``.

    Attributes
    ----------
    start, stop
        ``(n, ndim)`` location in the aggregated array, ``stop`` exclusive.
    index
        ``(n, ndim)`` position in the partition matrix, or ``None`` when not recorded.
    shape
        ``(n, ndim)`` sub-array shape as recorded, or ``None``.
    ncvar, file, format
        ``(n,)`` variable name in the sub-array file, the file, and its format.
    """

    start: IntArray
    stop: IntArray
    index: IntArray | None
    shape: IntArray | None
    ncvar: ObjectArray
    file: ObjectArray
    format: ObjectArray

    def label(self, row: int) -> str:
        """How messages name partition ``row``: its matrix index, else its rank."""
        if self.index is not None:
            return f"partition {tuple(int(i) for i in self.index[row])}"
        return f"partition #{row}"


class CFA05Parser:
    """Reader and writer of S3netCDF4's CFA-0.5 (partition matrix in a group)."""

    name = "CFA-0.5"

    def detect(self, group: Any) -> bool:
        """Whether a variable of ``group`` is a CFA field variable with a ``cfa_group``."""
        return any(is_cfa_variable(v) and "cfa_group" in v.ncattrs()
                   for v in group.variables.values())

    def read(self, group: Any, context: MasterContext) -> list[AggregatedVariable]:
        """Return every CFA-0.5 field variable of ``group`` with its fragment grid."""
        return [_read_one(group, var, context) for var in group.variables.values()
                if is_cfa_variable(var) and "cfa_group" in var.ncattrs()]

    def write(self, model: AggregatedVariable, group: Any) -> None:
        """Write the grid of ``model`` as a ``cfa_<name>`` group (``NETCDF4`` only).

        Adds a ``CFA-0.5`` token to the root group's ``Conventions``.
        """
        where = _write_where(model, group)
        if group.data_model != "NETCDF4":
            raise UnsupportedFeatureError(
                f"CFA-0.5 keeps the partitions in a group, which a {group.data_model} master "
                f"cannot hold; write CF-1.13 or CFA-0.4 instead ({where})")
        present = written_cells(model, where)
        name = f"cfa_{model.name}"
        if name in group.groups:
            raise UnsupportedFeatureError(f"the master already has a group {name!r} ({where})")
        _write_matrix(group.createGroup(name), model, present)
        scalar = group.variables[model.name]
        scalar.setncattr("cf_role", "cfa_variable")
        scalar.setncattr("cfa_dimensions", " ".join(model.dimensions))
        scalar.setncattr("cfa_group", name)
        declare_convention(group, "CFA-0.5")


# ---------------------------------------------------------------------------- reading


def _read_one(group: Any, var: Any, context: MasterContext) -> AggregatedVariable:
    where = f"master {context.master!r}, variable {_path(group, var.name)!r}"
    if var.ndim != 0:
        raise AggregationFormatError(f"a CFA field variable must be scalar ({where})")
    dims, dims_attribute = dimensions_attribute(var, where)
    sizes = dimension_sizes(group, dims, dims_attribute, where)
    name = str(var.getncattr("cfa_group"))
    sub = group.groups.get(name)
    if sub is None:
        raise AggregationFormatError(f"cfa_group names group {name!r}, which does not exist "
                                     f"in {group.path!r} ({where})")
    parts, matrix = _partitions(sub, dims, where)
    grid = grid_from_partitions(parts, dims, sizes, matrix, var.name, where)
    return AggregatedVariable(
        name=var.name, group_path=group.path, dimensions=dims, dtype=var.dtype, grid=grid,
        bookkeeping_variables=tuple(_path(sub, v) for v in sub.variables),
        bookkeeping_attributes=(BOOKKEEPING_ATTRIBUTES[0], dims_attribute, "cfa_group"),
        encoding="CFA-0.5", bookkeeping_groups=(str(sub.path),))


def _partitions(sub: Any, dims: tuple[str, ...], where: str,
                ) -> tuple[Partitions, tuple[int, ...]]:
    """The defined partitions recorded in the group ``sub``, and the matrix shape."""
    location = _member(sub, "location", where)
    with NETCDF_LOCK:
        loc = np.ma.masked_array(location[...])
    ndim = len(dims)
    if loc.ndim != ndim + 2 or loc.shape[-2:] != (ndim, 2) or loc.dtype.kind not in "iu":
        raise AggregationFormatError(
            f"{location.name!r} in group {sub.path!r} must be integer, shaped (partition "
            f"matrix..., {ndim}, 2), not {loc.dtype} {loc.shape} ({where})")
    matrix = tuple(int(n) for n in loc.shape[:-2])
    ncvar, file, fmt = (_matrix_strings(sub, key, matrix, where, required=key != "format")
                        for key in ("ncvar", "file", "format"))
    defined = ~np.ma.getmaskarray(loc).any(axis=(-1, -2)) & (ncvar != "") & (file != "")
    cells = np.argwhere(defined).astype(np.int64)
    values = np.asarray(loc.filled(0), dtype=np.int64)[defined]
    _check_recorded(sub, "index", cells, defined, (ndim,), where)
    _check_header(sub, dims, matrix, where)
    shape = _optional_ints(sub, "shape", defined, (ndim,), where)
    parts = Partitions(values[..., 0], values[..., 1], cells, shape, ncvar[defined],
                       file[defined], fmt[defined])
    return parts, matrix


def _member(sub: Any, name: str, where: str) -> Any:
    if name not in sub.variables:
        raise AggregationFormatError(
            f"the partition group {sub.path!r} has no variable {name!r} ({where})")
    return sub.variables[name]


def _matrix_strings(sub: Any, name: str, matrix: tuple[int, ...], where: str, *,
                    required: bool) -> ObjectArray:
    if not required and name not in sub.variables:
        return np.full(matrix, "", dtype=object)
    values = read_strings(_member(sub, name, where), where)
    if values.shape != matrix:
        raise AggregationFormatError(
            f"{name!r} in group {sub.path!r} has shape {values.shape}, the partition matrix "
            f"is {matrix} ({where})")
    return values


def _optional_ints(sub: Any, name: str, defined: npt.NDArray[np.bool_],
                   trailing: tuple[int, ...], where: str) -> IntArray | None:
    """An integer per-partition variable of the group, at the defined partitions."""
    if name not in sub.variables:
        return None
    with NETCDF_LOCK:
        raw = np.ma.masked_array(sub.variables[name][...])
    if raw.shape != defined.shape + trailing or raw.dtype.kind not in "iu":
        raise AggregationFormatError(
            f"{name!r} in group {sub.path!r} must be integer with shape "
            f"{defined.shape + trailing}, not {raw.dtype} {raw.shape} ({where})")
    return np.asarray(raw.filled(-1), dtype=np.int64)[defined]


def _check_recorded(sub: Any, name: str, cells: IntArray, defined: npt.NDArray[np.bool_],
                    trailing: tuple[int, ...], where: str) -> None:
    """The redundant ``index`` must agree with the partition's place in the matrix."""
    recorded = _optional_ints(sub, name, defined, trailing, where)
    if recorded is None:
        return
    wrong = np.flatnonzero((recorded != cells).any(axis=1))
    if len(wrong):
        row = int(wrong[0])
        raise AggregationFormatError(
            f"partition {tuple(cells[row].tolist())} records index "
            f"{tuple(recorded[row].tolist())} in group {sub.path!r} ({where})")


def _check_header(sub: Any, dims: tuple[str, ...], matrix: tuple[int, ...], where: str) -> None:
    """``pmshape`` and ``pmdimensions``, when present, must match the matrix."""
    if "pmshape" in sub.variables:
        with NETCDF_LOCK:
            pmshape = np.ma.masked_array(sub.variables["pmshape"][...])
        if pmshape.dtype.kind not in "iu" or tuple(pmshape.filled(-1).tolist()) != matrix:
            raise AggregationFormatError(
                f"pmshape {pmshape.tolist()} differs from the partition matrix {matrix} "
                f"({where})")
    if "pmdimensions" in sub.variables:
        text = str(read_strings(sub.variables["pmdimensions"], where).reshape(-1)[0])
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        if names != dims:
            raise AggregationFormatError(
                f"pmdimensions {text!r} differ from cfa_dimensions {' '.join(dims)!r} "
                f"(semsl needs every dimension partitioned, in order) ({where})")


# ----------------------------------------------------------- partitions -> fragment grid


def grid_from_partitions(parts: Partitions, dims: tuple[str, ...], sizes: Sequence[int],
                         matrix: Sequence[int] | None, variable: str, where: str,
                         ) -> FragmentGrid:
    """Check that ``parts`` tile a rectilinear grid and return it.

    Parameters
    ----------
    parts
        The defined partitions.
    dims, sizes
        The aggregated dimensions and their sizes.
    matrix
        The partition-matrix shape (``pmshape``) if recorded.  Blocks no partition
        defines (never written) get the edges S3netCDF4 gives them,
        ``floor(i * size / n)``.
    variable
        The variable's name: the sub-array variable of partitions without ``ncvar``.
    where
        Names the master and the variable in error messages.
    """
    _check_extents(parts, dims, sizes, where)
    _check_formats(parts, where)
    cells, matrix = _cells(parts, dims, matrix, where)
    bounds = [_edges(cells[:, k], parts.start[:, k], parts.stop[:, k], int(matrix[k]),
                     int(sizes[k]), dims[k], where) for k in range(len(dims))]
    grid_shape = tuple(len(b) - 1 for b in bounds)
    flat = _flat_cells(parts, cells, grid_shape, where)
    uris = np.full(grid_shape, "", dtype=object)
    uris.reshape(-1)[flat] = parts.file
    ncvar = np.where(parts.ncvar == "", variable, parts.ncvar).astype(object)
    block = tuple(int(np.diff(b).max(initial=0)) for b in bounds)
    return FragmentGrid(bounds, None, uris, _identifiers(ncvar, flat, grid_shape, variable),
                        block if all(block) else None)


def _check_extents(parts: Partitions, dims: tuple[str, ...], sizes: Sequence[int],
                   where: str) -> None:
    limit = np.asarray(sizes, dtype=np.int64)
    bad = (parts.start < 0) | (parts.stop <= parts.start) | (parts.stop > limit)
    if bad.any():
        row, axis = (int(i) for i in np.argwhere(bad)[0])
        raise AggregationFormatError(
            f"{parts.label(row)} spans [{parts.start[row, axis]}, {parts.stop[row, axis]}) "
            f"along {dims[axis]!r}, which has size {sizes[axis]}: a location must be a "
            f"non-empty range inside the dimension ({where})")
    if parts.shape is not None:
        wrong = np.flatnonzero((parts.shape != parts.stop - parts.start).any(axis=1))
        if len(wrong):
            row = int(wrong[0])
            raise AggregationFormatError(
                f"{parts.label(row)} has shape {parts.shape[row].tolist()} but its location "
                f"spans {(parts.stop[row] - parts.start[row]).tolist()} ({where})")


def _check_formats(parts: Partitions, where: str) -> None:
    lowered = np.char.lower(parts.format.astype(str)) if len(parts.format) else parts.format
    unknown = ~np.isin(lowered, list(NETCDF_FORMATS))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise UnsupportedFeatureError(
            f"{parts.label(row)} is stored in format {parts.format[row]!r}; semsl reads "
            f"netCDF sub-arrays only ({where})")


def _cells(parts: Partitions, dims: tuple[str, ...], matrix: Sequence[int] | None,
           where: str) -> tuple[IntArray, tuple[int, ...]]:
    """Each partition's position in the matrix, and the matrix shape."""
    ndim = len(dims)
    if matrix is not None and (len(matrix) != ndim or any(int(n) < 0 for n in matrix)):
        raise AggregationFormatError(f"pmshape {list(matrix)} does not give a non-negative "
                                     f"count for each of {ndim} dimensions ({where})")
    if parts.index is None:
        return _cells_from_starts(parts, dims, matrix, where)
    cells = parts.index
    known = tuple(int(n) for n in matrix) if matrix is not None else \
        tuple(int(cells[:, k].max(initial=-1)) + 1 for k in range(ndim))
    bad = (cells < 0) | (cells >= np.asarray(known, dtype=np.int64))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise AggregationFormatError(f"{parts.label(row)} lies outside the partition matrix "
                                     f"{known} ({where})")
    return cells, known


def _cells_from_starts(parts: Partitions, dims: tuple[str, ...],
                       matrix: Sequence[int] | None, where: str,
                       ) -> tuple[IntArray, tuple[int, ...]]:
    """Without recorded indices, the distinct starts along each dimension are the blocks."""
    columns, counts = [], []
    for k, dim in enumerate(dims):
        starts = np.unique(parts.start[:, k])
        if matrix is not None and len(starts) != int(matrix[k]):
            raise AggregationFormatError(
                f"the partitions have no 'index' and start at {len(starts)} places along "
                f"{dim!r}, but pmshape says {int(matrix[k])} blocks ({where})")
        columns.append(np.searchsorted(starts, parts.start[:, k]))
        counts.append(len(starts))
    cells = np.stack(columns, axis=1).astype(np.int64) if columns else \
        np.zeros((len(parts.start), 0), np.int64)
    return cells, tuple(counts)


def _edges(cells: IntArray, start: IntArray, stop: IntArray, count: int, size: int, dim: str,
           where: str) -> IntArray:
    """Block edges along one dimension: recorded where a partition says, else nominal."""
    if count == 0:
        if size:
            raise AggregationFormatError(f"the partition matrix has no blocks along {dim!r}, "
                                         f"which has size {size} ({where})")
        return np.zeros(1, np.int64)
    at = np.concatenate([np.array([0, count], np.int64), cells, cells + 1])
    value = np.concatenate([np.array([0, size], np.int64), start, stop])
    order = np.lexsort((value, at))
    at, value = at[order], value[order]
    clash = np.flatnonzero((at[1:] == at[:-1]) & (value[1:] != value[:-1]))
    if len(clash):
        k = int(clash[0])
        raise AggregationFormatError(
            f"the partitions overlap or leave a gap along {dim!r}: the edge before block "
            f"{int(at[k])} is at both {int(value[k])} and {int(value[k + 1])} ({where})")
    edges = (np.arange(count + 1) * (size / count)).astype(np.int64)
    edges[at] = value
    step = np.flatnonzero(np.diff(edges) <= 0)
    if len(step):
        k = int(step[0])
        raise AggregationFormatError(
            f"the partitions overlap or leave a gap along {dim!r}: block {k} would span "
            f"[{int(edges[k])}, {int(edges[k + 1])}) ({where})")
    return edges


def _flat_cells(parts: Partitions, cells: IntArray, grid_shape: tuple[int, ...],
                where: str) -> IntArray:
    if not len(cells):
        return np.zeros(0, np.int64)
    flat: IntArray = np.ravel_multi_index(tuple(cells.T), grid_shape).astype(np.int64)
    unique, counts = np.unique(flat, return_counts=True)
    if len(unique) != len(flat):
        twice = int(unique[counts > 1][0])
        rows = np.flatnonzero(flat == twice)
        raise AggregationFormatError(
            f"{parts.label(int(rows[0]))} and {parts.label(int(rows[1]))} are the same block "
            f"of the grid: partitions overlap ({where})")
    return flat


def _identifiers(ncvar: ObjectArray, flat: IntArray, grid_shape: tuple[int, ...],
                 variable: str) -> str | ObjectArray:
    """One shared name when every partition uses it, else a grid of names."""
    distinct = np.unique(ncvar.astype(str)) if len(ncvar) else np.array([variable])
    if len(distinct) == 1:
        return str(distinct[0])
    names = np.full(grid_shape, str(distinct[0]), dtype=object)
    names.reshape(-1)[flat] = ncvar
    return names


# ---------------------------------------------------------------------------- writing


def _write_matrix(sub: Any, model: AggregatedVariable, present: npt.NDArray[np.bool_]) -> None:
    """Fill the partition group as S3netCDF4's ``__createNCPartition`` lays it out."""
    grid, dims, ndim = model.grid, model.dimensions, len(model.dimensions)
    for dim, count in zip(dims, grid.grid_shape, strict=True):
        sub.createDimension(dim, count)
    sub.createDimension("ndimensions", ndim)
    sub.createDimension("bounds", 2)
    cells = np.moveaxis(np.indices(grid.grid_shape, dtype=np.int64), 0, -1)
    lower = np.stack([b[:-1][cells[..., k]] for k, b in enumerate(grid.boundaries)], axis=-1)
    upper = np.stack([b[1:][cells[..., k]] for k, b in enumerate(grid.boundaries)], axis=-1)
    mask = np.broadcast_to(~present[..., None], cells.shape)
    int_type = np.int32 if max(grid.shape, default=0) <= np.iinfo(np.int32).max else np.int64
    _ints(sub, "pmshape", ("ndimensions",), np.asarray(grid.grid_shape), int_type)
    _strings(sub, "pmdimensions", (), np.array(", ".join(dims), dtype=object))
    _ints(sub, "index", (*dims, "ndimensions"), np.ma.masked_array(cells, mask), int_type)
    _ints(sub, "location", (*dims, "ndimensions", "bounds"),
          np.ma.masked_array(np.stack([lower, upper], axis=-1),
                             np.broadcast_to(mask[..., None], (*cells.shape, 2))), int_type)
    _, uris = grid.load()
    _strings(sub, "ncvar", dims, np.where(present, _names(grid), "").astype(object))
    _strings(sub, "file", dims, np.where(present, uris, "").astype(object))
    _strings(sub, "format", dims, np.where(present, data_model_of(sub), "").astype(object))
    _ints(sub, "shape", (*dims, "ndimensions"), np.ma.masked_array(upper - lower, mask),
          int_type)


def _names(grid: FragmentGrid) -> ObjectArray:
    """The sub-array variable of every fragment (a name, not a path)."""
    ids = grid.identifiers
    if isinstance(ids, str):
        return np.full(grid.grid_shape, ids.lstrip("/"), dtype=object)
    return np.asarray(np.char.lstrip(ids.astype(str), "/"), dtype=object)


def _ints(sub: Any, name: str, dims: tuple[str, ...], values: npt.ArrayLike,
          int_type: type[np.signedinteger[Any]]) -> None:
    var = netCDF4.Dataset.createVariable(sub, name, int_type, dims)
    var[...] = np.ma.masked_array(values).astype(int_type)


def _strings(sub: Any, name: str, dims: tuple[str, ...], values: ObjectArray) -> None:
    var = netCDF4.Dataset.createVariable(sub, name, str, dims)
    var[...] = values


def data_model_of(group: Any) -> str:
    """The data model of the file that holds ``group`` (``"NETCDF4"``...)."""
    while group.parent is not None:
        group = group.parent
    return str(group.data_model)


def written_cells(model: AggregatedVariable, where: str) -> npt.NDArray[np.bool_]:
    """Per fragment, whether a file was written: what a legacy master lists.

    Raises :class:`UnsupportedFeatureError` for grids the legacy layouts cannot
    express: constant fragments (CF-1.13 ``unique_values``) and fragments stored in the
    master itself (CFA-0.6.2).
    """
    grid = model.grid
    if grid.unique is not None:
        raise UnsupportedFeatureError(
            f"constant fragments (CF-1.13 unique_values) have no CFA-0.4/0.5 form; write "
            f"CF-1.13 ({where})")
    present, uris = grid.load()
    if uris.size and np.char.startswith(uris.astype(str), MASTER_VARIABLE_PREFIX).any():
        raise UnsupportedFeatureError(
            f"fragments stored inside the master (CFA-0.6.2) have no CFA-0.4/0.5 form; write "
            f"CF-1.13 ({where})")
    return np.asarray(present & (uris != ""), dtype=bool)


def _write_where(model: AggregatedVariable, group: Any) -> str:
    path = f"{model.group_path.rstrip('/')}/{model.name}"
    with contextlib.suppress(ValueError, RuntimeError, AttributeError, OSError):
        return f"master {group.filepath()!r}, variable {path!r}"
    return f"variable {path!r}"


def declare_convention(group: Any, token: str) -> None:
    """Put ``token`` (``CFA-0.5``) in the root's ``Conventions``, replacing other CFA tokens.

    S3netCDF4 takes the version from the ``CFA-`` token, so there must be one only.
    """
    root = group
    while root.parent is not None:
        root = root.parent
    current = str(root.getncattr("Conventions")) if "Conventions" in root.ncattrs() else ""
    kept = [t for t in current.replace(",", " ").split() if not t.startswith("CFA-")]
    root.setncattr("Conventions", " ".join([*kept, token]))


# ------------------------------------------------------------------- shared helpers


def is_cfa_variable(var: Any) -> bool:
    """Whether ``var`` is a CFA-0.4/0.5 field variable (``cf_role = "cfa_variable"``)."""
    return "cf_role" in var.ncattrs() and str(var.getncattr("cf_role")) == "cfa_variable"


def dimensions_attribute(var: Any, where: str) -> tuple[tuple[str, ...], str]:
    """The field's dimensions and the attribute naming them.

    S3netCDF4 writes ``cfa_dimensions``; SemSL writes ``cf_dimensions``.
    """
    for name in ("cfa_dimensions", "cf_dimensions"):
        if name in var.ncattrs():
            dims = tuple(str(var.getncattr(name)).split())
            if not dims:
                raise UnsupportedFeatureError(f"scalar aggregated data is not supported "
                                              f"({where})")
            return dims, name
    raise AggregationFormatError(f"a CFA field variable needs a cfa_dimensions attribute "
                                 f"({where})")


def dimension_sizes(group: Any, dims: tuple[str, ...], attribute: str, where: str,
                    ) -> list[int]:
    """The sizes of the field's dimensions, found in ``group`` or its ancestors."""
    sizes = []
    for dim in dims:
        node = group
        while node is not None and dim not in node.dimensions:
            node = node.parent
        if node is None:
            raise AggregationFormatError(
                f"{attribute} names dimension {dim!r}, which does not exist ({where})")
        sizes.append(len(node.dimensions[dim]))
    return sizes


def read_strings(var: Any, where: str) -> ObjectArray:
    """All values of a string variable as ``str`` (netCDF-4 ``string`` or netCDF-3 char).

    Missing values (masked, or equal to ``_FillValue``/``missing_value``) become ``""``.
    """
    with NETCDF_LOCK:
        raw = np.ma.masked_array(var[...])
    if raw.dtype == np.dtype("S1") and var.ndim:
        raw = np.ma.masked_array(netCDF4.chartostring(raw.filled(b""), encoding="utf-8"))
    if raw.dtype.kind not in "OUS":
        raise AggregationFormatError(
            f"{var.name!r} must be a string variable, not {raw.dtype} ({where})")
    values = np.asarray(raw.filled("" if raw.dtype.kind != "S" else b""), dtype=object)
    text = np.vectorize(_text, otypes=[object])(values) if values.size else values
    missing = np.ma.getmaskarray(raw) | np.isin(text, _missing_strings(var))
    return np.asarray(np.where(missing, "", text), dtype=object).reshape(raw.shape)


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _missing_strings(var: Any) -> list[str]:
    found: list[str] = []
    for name in ("_FillValue", "missing_value"):
        if name in var.ncattrs():
            found.extend(_text(v) for v in np.atleast_1d(var.getncattr(name)))
    return found


register_parser(CFA05Parser())
