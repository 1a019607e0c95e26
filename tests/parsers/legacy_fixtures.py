"""Legacy masters (CFA-0.4, CFA-0.5, CFA-0.6.2) written by hand with plain netCDF4.

Each writer follows FORMATS.md (sections 2 and 3) and the code of S3netCDF4, SemSL and
the cfa-conventions text: ``tmp(time=8, lat=4, lon=6)`` cut into blocks by a
:class:`Layout`, some of them never written.  Each returns a :class:`Legacy`: the
master's path and the values a reader must see (missing blocks masked).
:func:`rewrite_master` turns a semsl CF-1.13 master into another encoding with a
parser's ``write``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

import semsl
from semsl._nccopy import copy_group
from semsl.parsers.base import MasterContext
from semsl.parsers.cf_aggregation import BOOKKEEPING_ATTRIBUTES, CFAggregationParser

DIMS = ("time", "lat", "lon")
SHAPE = (8, 4, 6)
FILL = np.float32(-1e20)
Cell = tuple[int, ...]


def tmp_data() -> np.ndarray:
    """The values of ``tmp``: all distinct, none equal to the fill value."""
    return (np.arange(np.prod(SHAPE), dtype="f4").reshape(SHAPE) * 0.5 + 200).astype("f4")


@dataclass(frozen=True)
class Layout:
    """How ``tmp`` is cut: block lengths per dimension, and which blocks exist."""

    lengths: tuple[tuple[int, ...], ...] = ((2, 2, 2, 2), (4,), (6,))
    #: Blocks with a fragment file; ``None``: all of them.
    present: frozenset[Cell] | None = frozenset({(0, 0, 0), (1, 0, 0), (3, 0, 0)})

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(row) for row in self.lengths)

    @property
    def bounds(self) -> list[np.ndarray]:
        return [np.concatenate([[0], np.cumsum(row)]).astype(int) for row in self.lengths]

    def cells(self) -> Iterator[Cell]:
        yield from (tuple(int(i) for i in c) for c in np.ndindex(self.grid_shape))

    def exists(self, cell: Cell) -> bool:
        return self.present is None or cell in self.present

    def slices(self, cell: Cell) -> tuple[slice, ...]:
        return tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(self.bounds, cell,
                                                                      strict=True))

    def location(self, cell: Cell) -> list[list[int]]:
        """``[start, end)`` per dimension (exclusive end)."""
        return [[s.start, s.stop] for s in self.slices(cell)]

    def expected(self, data: np.ndarray) -> np.ma.MaskedArray:
        mask = np.ones(SHAPE, bool)
        for cell in self.cells():
            if self.exists(cell):
                mask[self.slices(cell)] = False
        return np.ma.masked_array(data, mask)


@dataclass
class Legacy:
    """A legacy master and what reading it must give."""

    master: Path
    expected: np.ma.MaskedArray
    layout: Layout
    files: dict[Cell, Path] = field(default_factory=dict)


def write_fragment(path: Path, values: np.ndarray, name: str = "tmp",
                   file_format: str = "NETCDF4") -> None:
    """A plain fragment file holding ``values`` as variable ``name``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w", format=file_format) as ds:
        for dim, n in zip(DIMS, values.shape, strict=True):
            ds.createDimension(dim, n)
        var = ds.createVariable(name, "f4", DIMS, fill_value=FILL)
        var.units = "K"
        var[...] = values


def _header(ds: Any, conventions: str) -> None:
    """Dimensions, coordinate variables with data, and the global attributes."""
    ds.Conventions = conventions
    ds.title = "legacy master"
    for dim, n in zip(DIMS, SHAPE, strict=True):
        ds.createDimension(dim, n)
        coord = ds.createVariable(dim, "f4", (dim,))
        coord[:] = np.arange(n, dtype="f4")
    ds["time"].units = "days since 2000-01-01"
    ds["time"].axis = "T"


def _field(group: Any, name: str = "tmp") -> Any:
    var = group.createVariable(name, "f4", (), fill_value=FILL)
    var.units = "K"
    var.long_name = "temperature"
    return var


def _fragments(folder: Path, layout: Layout, data: np.ndarray, name: Callable[[Cell], str],
               file_format: str = "NETCDF4") -> dict[Cell, Path]:
    files = {}
    for cell in layout.cells():
        if layout.exists(cell):
            files[cell] = folder / name(cell)
            write_fragment(files[cell], data[layout.slices(cell)], file_format=file_format)
    return files


def _group(ds: Any, path: str | None) -> Any:
    return ds.createGroup(path) if path else ds


# ------------------------------------------------------------------------- CFA-0.4


def s3nc_cfa04(folder: Path, layout: Layout | None = None, *,
               data_model: str = "NETCDF3_CLASSIC", group: str | None = None,
               absolute: bool = True) -> Legacy:
    """S3netCDF4's CFA-0.4: only the written partitions, inclusive locations, absolute paths."""
    layout, data = layout or Layout(), tmp_data()
    files = _fragments(folder, layout, data, lambda c: "ex/ex.tmp." + ".".join(map(str, c))
                       + ".nc", "NETCDF3_CLASSIC" if data_model != "NETCDF4" else "NETCDF4")
    partitions = [{
        "subarray": {"ncvar": "tmp", "file": str(path) if absolute else
                     str(path.relative_to(folder)), "format": data_model,
                     "shape": [s.stop - s.start for s in layout.slices(cell)]},
        "index": list(cell),
        "location": [[a, b - 1] for a, b in layout.location(cell)],
    } for cell, path in files.items()]
    master = folder / "ex.nc"
    with netCDF4.Dataset(master, "w", format=data_model) as ds:
        _header(ds, "CF-1.6 CFA-0.4")
        var = _field(_group(ds, group))
        var.cf_role = "cfa_variable"
        var.cfa_dimensions = " ".join(DIMS)
        var.cfa_array = json.dumps({"pmshape": list(layout.grid_shape),
                                    "pmdimensions": list(DIMS), "Partitions": partitions})
    return Legacy(master, layout.expected(data), layout, files)


def semsl_cfa04(folder: Path, layout: Layout | None = None) -> Legacy:
    """SemSL's flavour: ``cf_dimensions``, every partition declared, format ``netCDF``.

    Only the layout's present blocks have a file; the others were declared when the
    variable was created and never written.
    """
    layout, data = layout or Layout(), tmp_data()
    name = lambda c: f"ex/ex_tmp_[{'.'.join(map(str, c))}].nc"  # noqa: E731
    files = _fragments(folder, layout, data, name)
    partitions = [{
        "index": list(cell),
        "location": [[a, b - 1] for a, b in layout.location(cell)],
        "subarray": {"ncvar": "tmp", "file": "./" + name(cell), "format": "netCDF",
                     "shape": [s.stop - s.start for s in layout.slices(cell)]},
    } for cell in layout.cells()]
    master = folder / "ex.nc"
    with netCDF4.Dataset(master, "w") as ds:
        _header(ds, "CF-1.6 CFA-0.4")
        var = _field(ds)
        var.cf_role = "cfa_variable"
        var.cf_dimensions = " ".join(DIMS)
        var.cfa_array = json.dumps({"pmshape": list(layout.grid_shape),
                                    "pmdimensions": list(DIMS), "Partitions": partitions})
    return Legacy(master, layout.expected(data), layout, files)


# ------------------------------------------------------------------------- CFA-0.5


def s3nc_cfa05(folder: Path, layout: Layout | None = None, *, group: str | None = None,
               ) -> Legacy:
    """S3netCDF4's CFA-0.5: the partition matrix in group ``cfa_tmp`` (exclusive ends)."""
    layout, data = layout or Layout(), tmp_data()
    files = _fragments(folder, layout, data,
                       lambda c: "ex/ex.tmp." + ".".join(map(str, c)) + ".nc")
    master = folder / "ex.nc"
    with netCDF4.Dataset(master, "w", format="NETCDF4") as ds:
        _header(ds, "CF-1.6 CFA-0.5")
        parent = _group(ds, group)
        var = _field(parent)
        var.cf_role = "cfa_variable"
        var.cfa_dimensions = " ".join(DIMS)
        var.cfa_group = "cfa_tmp"
        _partition_group(parent.createGroup("cfa_tmp"), layout, files)
    return Legacy(master, layout.expected(data), layout, files)


def _partition_group(sub: Any, layout: Layout, files: dict[Cell, Path]) -> None:
    """The group as S3netCDF4's ``__createNCPartition`` and ``writePartition`` fill it."""
    for dim, n in zip(DIMS, layout.grid_shape, strict=True):
        sub.createDimension(dim, n)
    sub.createDimension("ndimensions", len(DIMS))
    sub.createDimension("bounds", 2)
    sub.createVariable("pmshape", "i4", ("ndimensions",))[:] = layout.grid_shape
    sub.createVariable("pmdimensions", str)[0] = ", ".join(DIMS)
    index = sub.createVariable("index", "i4", (*DIMS, "ndimensions"))
    location = sub.createVariable("location", "i4", (*DIMS, "ndimensions", "bounds"))
    ncvar, file, fmt = (sub.createVariable(n, str, DIMS) for n in ("ncvar", "file", "format"))
    shape = sub.createVariable("shape", "i4", (*DIMS, "ndimensions"))
    for cell, path in files.items():
        index[cell] = cell
        location[cell] = layout.location(cell)
        ncvar[cell], file[cell], fmt[cell] = "tmp", str(path), "NETCDF4"
        shape[cell] = [s.stop - s.start for s in layout.slices(cell)]


# ----------------------------------------------------------------------- CFA-0.6.2


@dataclass(frozen=True)
class Cfa06Options:
    """Variations of a CFA-0.6.2 master."""

    #: Child group holding the definition (and in-file fragment) variables.
    group: str | None = None
    #: Use ``${BASE}`` (an absolute file URI) and ``${DIR}`` (relative) substitutions.
    substitutions: bool = True
    #: A trailing dimension of two alternatives (a bad second copy, or a blank first).
    alternatives: bool = False
    #: Blocks stored in the master itself as variables ``tmp_<i>``.
    inside: frozenset[Cell] = frozenset()
    #: netCDF-4 ``string`` variables, or netCDF-3 char arrays (``"S1"``).
    strings: str = "str"
    #: One address for every fragment (allowed since 0.6.2).
    scalar_address: bool = False
    #: The ``aggregated_data`` attribute (``{L} {F} {O} {A}`` stand for variable names).
    terms: str = "location: {L} file: {F} format: {O} address: {A}"
    conventions: str = "CF-1.10 CFA-0.6.2"


def cfa06(folder: Path, layout: Layout | None = None,
          options: Cfa06Options | None = None) -> Legacy:
    """A CFA-0.6.2 master as cf-python 3.16 writes it (missing strings are ``""``)."""
    layout, options, data = layout or Layout(), options or Cfa06Options(), tmp_data()
    outside = Layout(layout.lengths, frozenset(c for c in layout.cells()
                                               if layout.exists(c) and c not in options.inside))
    files = _fragments(folder, outside, data,
                       lambda c: "ex/ex.tmp." + ".".join(map(str, c)) + ".nc")
    master = folder / "agg.nc"
    fmt = "NETCDF4" if options.strings == "str" else "NETCDF3_CLASSIC"
    with netCDF4.Dataset(master, "w", format=fmt) as ds:
        _header(ds, options.conventions)
        defs = _group(ds, options.group)
        prefix = f"/{options.group}/" if options.group else ""
        var = _field(ds)
        var.aggregated_dimensions = " ".join(DIMS)
        var.aggregated_data = options.terms.format(
            L=prefix + "cfa_location", F=prefix + "cfa_file", O=prefix + "cfa_format",
            A=prefix + "cfa_address")
        _location(defs, layout)
        names, addresses = _cfa06_names(folder, layout, options, files)
        _cfa06_strings(defs, "cfa_file", names, options.strings)
        _cfa06_strings(defs, "cfa_address", addresses, options.strings)
        _cfa06_strings(defs, "cfa_format", np.array("nc", dtype=object), options.strings)
        if options.substitutions:
            defs["cfa_file"].substitutions = (f"${{BASE}}: {(folder / 'ex').as_uri()}/ "
                                              "${DIR}:   ex")
        for cell in options.inside:
            block = data[layout.slices(cell)]
            defs.createDimension(f"tmp_{cell[0]}_time", block.shape[0])
            frag = defs.createVariable(f"tmp_{cell[0]}", "f4", (f"tmp_{cell[0]}_time",
                                                                *DIMS[1:]), fill_value=FILL)
            frag.units = "K"
            frag[...] = block
    return Legacy(master, layout.expected(data), layout, files)


def _location(defs: Any, layout: Layout) -> None:
    width = max(layout.grid_shape)
    defs.createDimension("j", len(DIMS))
    defs.createDimension("i", width)
    var = defs.createVariable("cfa_location", "i4", ("j", "i"), fill_value=-1)
    table = np.full((len(DIMS), width), -1, np.int32)
    for k, row in enumerate(layout.lengths):
        table[k, : len(row)] = row
    var[...] = np.ma.masked_equal(table, -1)
    for k, n in enumerate(layout.grid_shape):
        defs.createDimension(f"f_{DIMS[k]}", n)


def _cfa06_names(folder: Path, layout: Layout, options: Cfa06Options,
                 files: dict[Cell, Path]) -> tuple[np.ndarray, np.ndarray]:
    """File names (substituted or relative) and addresses, with alternatives last."""
    copies = 2 if options.alternatives else 1
    names = np.full((*layout.grid_shape, copies), "", dtype=object)
    addresses = np.full((*layout.grid_shape, copies), "", dtype=object)
    for cell, path in files.items():
        relative = path.relative_to(folder).as_posix()
        if options.substitutions:
            tail = relative.removeprefix("ex/")
            relative = f"${{BASE}}{tail}" if cell[0] % 2 == 0 else f"${{DIR}}/{tail}"
        slot = 1 if options.alternatives and cell[0] == 1 else 0  # blank first copy
        names[(*cell, slot)], addresses[(*cell, slot)] = relative, "tmp"
        if options.alternatives and slot == 0:
            names[(*cell, 1)], addresses[(*cell, 1)] = "missing/nowhere.nc", "tmp"
    for cell in options.inside:
        addresses[(*cell, 0)] = f"tmp_{cell[0]}"
    if options.scalar_address:
        return names, np.array("tmp", dtype=object)
    return names, addresses


def _cfa06_strings(defs: Any, name: str, values: np.ndarray, kind: str) -> None:
    dims: tuple[str, ...] = ()
    if values.ndim:
        dims = tuple(f"f_{d}" for d in DIMS)
    if values.ndim == len(DIMS) + 1:
        if "k" not in defs.dimensions:
            defs.createDimension("k", values.shape[-1])
        dims = (*dims, "k")
    if kind == "str":
        defs.createVariable(name, str, dims)[...] = values
        return
    width = max(1, max((len(str(v)) for v in values.reshape(-1)), default=1))
    strlen = f"{name}_strlen"
    defs.createDimension(strlen, width)
    var = defs.createVariable(name, "S1", (*dims, strlen))
    var[...] = netCDF4.stringtochar(np.asarray(values, dtype=f"S{width}"))


# ----------------------------------------------- semsl masters, checks, rewriting


def make_cf_master(folder: Path, file_format: str = "CFA4") -> tuple[Path, np.ma.MaskedArray]:
    """A semsl master: tmp with 4 time blocks, blocks 0, 1 and 3 written."""
    data, path = tmp_data(), folder / "cf.nc"
    with semsl.Dataset(path, "w", format=file_format) as ds:
        for dim, n in zip(DIMS, SHAPE, strict=True):
            ds.createDimension(dim, n)
            ds.createVariable(dim, "f4", (dim,))[:] = np.arange(n)
        ds.Conventions = "CF-1.13"
        var = ds.createVariable("tmp", "f4", DIMS, fill_value=-1e20, subarray_shape=(2, 4, 6))
        var.units = "K"
        var[0:4] = data[0:4]
        var[6:8] = data[6:8]
    return path, Layout().expected(data)


def assert_reads(master: Path, expected: np.ma.MaskedArray, variable: str = "tmp") -> Any:
    """semsl reads ``expected`` (mask included); return the variable's fragment info."""
    with semsl.Dataset(master) as ds:
        got = ds[variable][:]
        np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(expected))
        np.testing.assert_array_equal(got.compressed(), expected.compressed())
        return ds[variable].fragments




def rewrite_master(source: Path, target: Path, parser: Any,
                   file_format: str | None = None) -> None:
    """Copy a semsl CF-1.13 master without its bookkeeping and write it with ``parser``.

    ``target`` should be in the same folder, so that relative URIs keep pointing at
    the fragments.
    """
    with netCDF4.Dataset(source) as src:
        models = _cf_models(src, str(source))
        variables = {p for ms in models.values() for m in ms for p in m.bookkeeping_variables}
        dims = {(g, d) for g, ms in models.items() for m in ms for d in m.bookkeeping_dimensions}
        scalars = {(g, m.name) for g, ms in models.items() for m in ms}
        with netCDF4.Dataset(target, "w", format=file_format or src.data_model) as dst:
            copy_group(src, dst,
                       skip_variables=lambda g, v: f"{g.rstrip('/')}/{v}" in variables,
                       skip_dimensions=lambda g, d: (g, d) in dims,
                       skip_attributes=lambda g, v, a: (g, v) in scalars
                       and a in BOOKKEEPING_ATTRIBUTES)
            for path, found in models.items():
                for model in found:
                    parser.write(model, dst if path == "/" else dst[path])


def _cf_models(src: Any, master: str) -> dict[str, list[Any]]:
    found = {}
    for group in _walk(src):
        models = CFAggregationParser().read(group, MasterContext(master))
        for model in models:
            model.grid.load()
        found[group.path] = models
    return found


def _walk(group: Any) -> Iterator[Any]:
    yield group
    for child in group.groups.values():
        yield from _walk(child)


def edited(path: Path, edit: Callable[[Any], None]) -> Path:
    """Apply ``edit`` to the raw master (netCDF4, append mode); return its path."""
    with netCDF4.Dataset(path, "a") as raw:
        edit(raw)
    return path


def set_json(name: str, change: Callable[[dict[str, Any]], object]) -> Callable[[Any], None]:
    """An edit that changes the ``cfa_array`` JSON of variable ``name``."""
    def edit(raw: Any) -> None:
        doc = json.loads(raw[name].cfa_array)
        change(doc)
        raw[name].cfa_array = json.dumps(doc)
    return edit
