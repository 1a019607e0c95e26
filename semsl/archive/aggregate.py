"""``semsl aggregate``: a CF-1.13 master over existing netCDF files, without copying data.

The files become the fragments where they are.  Every numeric variable spanning the
aggregation dimension (``--dim``) is aggregated, except the dimension's coordinate
variable, its bounds and other coordinates named by ``coordinates`` attributes: those
are concatenated into the master.  Variables that do not span the dimension are copied
from the first file.  File sets in the CMIP style, one variable per file, may hold
several variables: each variable gets its own fragment grid over the files that hold
it, and all must cover the same coordinate values.

Files are ordered by their coordinate values along the dimension.  Times are decoded
with cftime in their calendar, so files whose units have other reference dates are
ordered correctly; the master uses the units of the first file and the concatenated
coordinate is converted to them.  Before anything is written, the files are checked
against each other (calendars, coordinates, data types, dimensions, units, overlaps);
every mismatch is reported with the files involved and no master is written.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cftime
import netCDF4
import numpy as np
import numpy.typing as npt

import semsl
from semsl._nccopy import copy_group
from semsl.archive._common import (
    Console,
    InputError,
    Problem,
    attributes,
    cut_slabs,
    exists,
    expand,
    item_bytes,
    open_netcdf,
    raw,
    set_conventions,
    slab_limit,
    thread_map,
)
from semsl.backends import registry
from semsl.cfa.model import AggregatedVariable, FragmentGrid, boundaries_from_lengths
from semsl.parsers.cf_aggregation import CFAggregationParser
from semsl.resources import NETCDF_LOCK

__all__ = ["AggregateOptions", "AggregateResult", "aggregate"]

_SINCE = re.compile(r"^\s*\w+\s+since\s+\S", re.IGNORECASE)
_CALENDARS = {"gregorian": "standard", "noleap": "365_day", "all_leap": "366_day"}
_SCAN_JOBS = 8


@dataclass(frozen=True)
class AggregateOptions:
    """How ``aggregate`` works.

    Attributes
    ----------
    dimension
        The aggregation dimension (default: the files' unlimited dimension, else
        ``time``).
    check
        Read every value of every file to make sure it is readable.
    overwrite
        Replace an existing master.
    """

    dimension: str | None = None
    check: bool = False
    overwrite: bool = False


@dataclass
class _Var:
    """An aggregated variable as found in one file."""

    dims: tuple[str, ...]
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    attrs: dict[str, Any]

    @property
    def units(self) -> str | None:
        units = self.attrs.get("units")
        return None if units is None else str(units)


@dataclass
class _File:
    """What one file holds along the aggregation dimension."""

    uri: str
    length: int = 0
    unlimited: bool = False
    coord: npt.NDArray[Any] | None = None
    units: str | None = None
    calendar: str = "standard"
    #: The calendar as the file names it (``gregorian`` for ``standard``...).
    calendar_name: str = "standard"
    data: dict[str, _Var] = field(default_factory=dict)
    #: Coordinate-like variables spanning the dimension: values and units.
    concat: dict[str, tuple[npt.NDArray[Any], str | None]] = field(default_factory=dict)
    #: Coordinate variables of the other dimensions: values and units.
    coords: dict[str, tuple[npt.NDArray[Any], str | None]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: The first coordinate value (a cftime date for times): the sort key.
    start: Any = None
    #: The coordinate in the master's units.
    values: npt.NDArray[Any] | None = None


@dataclass
class AggregateResult:
    """What ``aggregate`` found and wrote."""

    master: str
    dimension: str
    files: list[str] = field(default_factory=list)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    units: str | None = None
    calendar: str | None = None
    written: bool = False
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"master": self.master, "dimension": self.dimension, "written": self.written,
                "units": self.units, "calendar": self.calendar, "files": self.files,
                "variables": self.variables, "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        if not self.written:
            return [f"no master written: {len(self.problems)} problem(s) found"]
        lines = [f"{self.master}: {len(self.files)} file(s) aggregated along "
                 f"{self.dimension!r}" + (f" ({self.units}, {self.calendar})"
                                          if self.units else "")]
        lines += [f"  {name}: shape {tuple(v['shape'])} in {v['fragments']} fragment(s)"
                  for name, v in self.variables.items()]
        return lines


def aggregate(patterns: Sequence[str], master: str, options: AggregateOptions,
              console: Console) -> AggregateResult:
    """Write the master ``master`` over the files ``patterns`` name (paths, URIs, globs).

    Returns the result; when it has problems no master was written.

    Raises
    ------
    InputError
        No files, no aggregation dimension, or ``master`` exists (without overwrite).
    """
    if not options.overwrite and exists(master):
        raise InputError(f"{master!r} exists; pass --overwrite to replace it")
    target = _absolute(master)
    files = [f for f in expand(patterns) if _absolute(f) != target]
    if not files:
        raise InputError("no files to aggregate")
    dim = options.dimension or _default_dimension(files[0])
    result = AggregateResult(master, dim)
    with console.bar("scan", len(files)) as bar:
        scanned = thread_map(lambda uri: _scan(uri, dim, options.check), files,
                             _SCAN_JOBS, bar)
    result.problems = [p for f in scanned for p in f.problems]
    plan = None if result.problems else _plan(scanned, dim, result)
    if plan is None or result.problems:
        return result
    _write(master, plan, dim)
    result.written = True
    _confirm(master, result)
    return result


def _absolute(uri: str) -> str:
    return uri if registry.is_remote(uri) else os.path.abspath(uri)


def _default_dimension(uri: str) -> str:
    """The files' unlimited dimension, else ``time``."""
    with open_netcdf(uri) as ds, NETCDF_LOCK:
        unlimited = [n for n, d in ds.dimensions.items() if d.isunlimited()]
        names = list(ds.dimensions)
    if len(unlimited) == 1:
        return str(unlimited[0])
    if "time" in names:
        return "time"
    raise InputError(f"cannot tell the aggregation dimension of {uri!r} (dimensions "
                     f"{', '.join(names)}); name it with --dim")


# -------------------------------------------------------------------------------- scan


def _scan(uri: str, dim: str, check: bool) -> _File:
    """Read what one file holds (values only of coordinate-like variables)."""
    found = _File(uri)
    try:
        with open_netcdf(uri) as ds, NETCDF_LOCK:
            _read_file(ds, dim, found)
            if check and not found.problems:
                found.problems += _readable(ds, found)
    except (OSError, RuntimeError, KeyError) as err:  # what netCDF4 raises for bad files
        found.problems.append(Problem(uri, f"cannot be read as netCDF ({err})"))
    return found


def _read_file(ds: Any, dim: str, found: _File) -> None:
    if dim not in ds.dimensions:
        found.problems.append(Problem(found.uri, f"has no dimension {dim!r}"))
        return
    if any("aggregated_dimensions" in v.ncattrs() for v in ds.variables.values()):
        found.problems.append(Problem(found.uri, "is a master-array file, not a fragment"))
        return
    found.length = len(ds.dimensions[dim])
    found.unlimited = ds.dimensions[dim].isunlimited()
    coordinate_like = _coordinate_like(ds)
    for name, var in ds.variables.items():
        if dim in var.dimensions:
            _spanning(var, name in coordinate_like, found)
        elif tuple(var.dimensions) == (name,):
            found.coords[name] = (np.asarray(raw(var)[...]), _units(var))
    _coordinate(ds, dim, found)
    for group in list(ds.groups.values()):
        _subgroups(group, dim, found)
    if not found.data:
        found.problems.append(Problem(found.uri, f"has no numeric variable spanning "
                                                 f"{dim!r} to aggregate"))


def _spanning(var: Any, coordinate_like: bool, found: _File) -> None:
    dtype = var.datatype
    numeric = isinstance(dtype, np.dtype) and dtype.kind in "iuf"
    if coordinate_like or not numeric or tuple(var.dimensions) == (var.name,):
        found.concat[var.name] = (np.asarray(raw(var)[...]), _units(var))
    else:
        found.data[var.name] = _Var(tuple(var.dimensions), dtype, tuple(var.shape),
                                    attributes(var))


def _coordinate(ds: Any, dim: str, found: _File) -> None:
    """The dimension's coordinate, its units and calendar; bounds inherit both."""
    var = ds.variables.get(dim)
    if var is None or tuple(var.dimensions) != (dim,):
        return
    found.coord = found.concat[dim][0]
    found.units = _units(var)
    found.calendar_name = str(getattr(var, "calendar", "standard"))
    calendar = found.calendar_name.lower()
    found.calendar = _CALENDARS.get(calendar, calendar)
    for attr in ("bounds", "climatology"):
        name = str(getattr(var, attr, ""))
        if name in found.concat and found.concat[name][1] is None:
            found.concat[name] = (found.concat[name][0], found.units)


def _subgroups(group: Any, dim: str, found: _File) -> None:
    for name, var in group.variables.items():
        if dim in var.dimensions:
            found.problems.append(Problem(found.uri, (
                f"variable {group.path}/{name} spans {dim!r} in a subgroup; only variables "
                "of the root group can be aggregated")))
    for child in group.groups.values():
        _subgroups(child, dim, found)


def _coordinate_like(ds: Any) -> set[str]:
    """Variables named as coordinates (``coordinates``), and bounds of coordinates."""
    names = {n for n, v in ds.variables.items() if tuple(v.dimensions) == (n,)}
    for var in ds.variables.values():
        names.update(str(getattr(var, "coordinates", "")).split())
    for name in list(names):
        var = ds.variables.get(name)
        if var is not None:
            names.update(str(getattr(var, a, "")) for a in ("bounds", "climatology"))
    return names


def _units(var: Any) -> str | None:
    return str(var.getncattr("units")) if "units" in var.ncattrs() else None


def _readable(ds: Any, found: _File) -> list[Problem]:
    """Read every value of the aggregated variables (``--check``)."""
    limit = slab_limit()
    for name in found.data:
        var = raw(ds.variables[name])
        region = [slice(0, n) for n in var.shape]
        try:
            for slab in cut_slabs(region, item_bytes(var), limit):
                var[slab]
        except (OSError, RuntimeError, ValueError) as err:
            return [Problem(found.uri, f"the values of {name!r} cannot be read ({err})")]
    return []


# -------------------------------------------------------------------------------- plan


@dataclass
class _Plan:
    """The checked and ordered file set."""

    files: list[_File]
    reference: list[_File]
    variables: dict[str, list[_File]]
    units: str | None
    calendar: str


def _plan(files: list[_File], dim: str, result: AggregateResult) -> _Plan | None:
    """Order the files and check them against each other; problems go to ``result``."""
    problems = result.problems
    problems += _check_calendars(files)
    problems += _check_dimension_units(files)
    if problems:
        return None
    ordered, units = _order(files, problems)
    if problems:
        return None
    variables: dict[str, list[_File]] = {}
    for f in ordered:
        for name in f.data:
            variables.setdefault(name, []).append(f)
    first = ordered[0]
    reference = variables[sorted(first.data)[0]]
    problems += _check_coordinates(ordered)
    for name, group in sorted(variables.items()):
        problems += _check_variable(name, group, dim, first.calendar)
        problems += _check_axis(name, group, reference, dim, units, first.calendar)
    problems += _check_concatenated(reference, dim)
    result.files = [f.uri for f in ordered]
    result.units, result.calendar = units, first.calendar if first.coord is not None else None
    return _Plan(ordered, reference, dict(sorted(variables.items())), units, first.calendar)


def _check_calendars(files: list[_File]) -> list[Problem]:
    with_coord = [f for f in files if f.coord is not None]
    if len(with_coord) != len(files) and with_coord:
        missing = [f.uri for f in files if f.coord is None]
        return [Problem(u, f"has no coordinate variable for the dimension, which "
                           f"{with_coord[0].uri!r} has") for u in missing]
    first = with_coord[0] if with_coord else None
    return [Problem(f.uri, f"calendar {f.calendar_name!r} differs from "
                           f"{first.calendar_name!r} of {first.uri!r}") for f in with_coord
            if first is not None and f.calendar != first.calendar]


def _check_dimension_units(files: list[_File]) -> list[Problem]:
    """The dimension's coordinate has the same units everywhere, or times in any units."""
    first = files[0]
    return [Problem(f.uri, f"its coordinate along the dimension has units {f.units!r}, "
                           f"{first.uri!r} has {first.units!r}")
            for f in files[1:] if f.units != first.units and not (
                f.units and first.units and _SINCE.match(f.units) and _SINCE.match(first.units))]


def _order(files: list[_File], problems: list[Problem]) -> tuple[list[_File], str | None]:
    """Sort by first coordinate value (dates decoded); convert to the first file's units."""
    if files[0].coord is None:
        return files, None
    for f in files:
        f.start = _start(f, problems)
    if problems:
        return files, None
    empty = [f for f in files if f.start is None]
    problems += [Problem(f.uri, "has no values along the dimension") for f in empty]
    if empty:
        return files, None
    ordered = sorted(files, key=lambda f: f.start)
    if _descending(ordered[0]):
        ordered.reverse()
    units = ordered[0].units
    for f in ordered:
        f.values = None if f.coord is None else _convert(f.coord, f.units, units, f.calendar)
        f.concat = {n: (_convert(v, u, units, f.calendar) if u == f.units else v, u)
                    for n, (v, u) in f.concat.items()}
    return ordered, units


def _start(f: _File, problems: list[Problem]) -> Any:
    if f.coord is None or f.coord.size == 0:
        return None
    value = f.coord.reshape(-1)[0]
    if f.units is None or not _SINCE.match(f.units):
        return float(value)
    try:
        return cftime.num2date(value, f.units, f.calendar)
    except (ValueError, TypeError) as err:
        problems.append(Problem(f.uri, f"times in units {f.units!r} cannot be decoded ({err})"))
        return None


def _descending(f: _File) -> bool:
    coord = f.coord
    return coord is not None and coord.size > 1 and bool(coord[1] < coord[0])


def _convert(values: npt.NDArray[Any], units: str | None, target: str | None,
             calendar: str) -> npt.NDArray[Any]:
    """Times in ``units`` converted to ``target`` units (the same calendar)."""
    if units is None or target is None or units == target or not _SINCE.match(units) or \
            values.dtype.kind not in "iuf":
        return values
    dates = cftime.num2date(values, units, calendar)
    converted = np.asarray(cftime.date2num(dates, target, calendar), dtype=np.float64)
    if values.dtype.kind in "iu" and np.array_equal(converted, np.round(converted)):
        return converted.astype(values.dtype)
    return converted


def _check_coordinates(files: list[_File]) -> list[Problem]:
    """The other dimensions' coordinates (values and units) agree across all files."""
    problems = []
    seen: dict[str, tuple[_File, npt.NDArray[Any], str | None]] = {}
    for f in files:
        for name, (values, units) in f.coords.items():
            if name not in seen:
                seen[name] = (f, values, units)
                continue
            first, ref, ref_units = seen[name]
            if values.shape != ref.shape or not _same_values(values, ref):
                problems.append(Problem(f.uri, f"coordinate {name!r} has other values than "
                                               f"in {first.uri!r}"))
            elif units != ref_units:
                problems.append(Problem(f.uri, f"coordinate {name!r} has units {units!r}, "
                                               f"{first.uri!r} has {ref_units!r}"))
    return problems


def _same_values(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _check_variable(name: str, files: list[_File], dim: str, calendar: str) -> list[Problem]:
    """Each file's variable has the first file's dimensions, data type and units."""
    problems = []
    first = files[0]
    ref = first.data[name]
    for f in files[1:]:
        var = f.data[name]
        where = f"variable {name!r}"
        if var.dims != ref.dims:
            problems.append(Problem(f.uri, f"{where} has dimensions {var.dims}, "
                                           f"{first.uri!r} has {ref.dims}"))
            continue
        if var.dtype != ref.dtype:
            problems.append(Problem(f.uri, f"{where} has data type {var.dtype}, "
                                           f"{first.uri!r} has {ref.dtype}"))
        other = [(d, n, m) for d, n, m in zip(var.dims, var.shape, ref.shape, strict=True)
                 if d != dim and n != m]
        problems += [Problem(f.uri, f"{where} has {n} elements along {d!r}, {first.uri!r} "
                                    f"has {m}") for d, n, m in other]
        if not _same_units(var.units, ref.units):
            problems.append(Problem(f.uri, f"{where} has units {var.units!r}, "
                                           f"{first.uri!r} has {ref.units!r}"))
    return problems


def _same_units(a: str | None, b: str | None) -> bool:
    """Equal units, or times that semsl converts on read (canonical form)."""
    if a is None or b is None:
        return a == b
    return " ".join(a.split()) == " ".join(b.split()) or bool(_SINCE.match(a) and
                                                              _SINCE.match(b))


def _check_axis(name: str, files: list[_File], reference: list[_File], dim: str,
                units: str | None, calendar: str) -> list[Problem]:
    """The files of a variable follow each other without overlap, over the same axis."""
    problems = []
    for before, after in itertools.pairwise(files):
        if before.values is None or after.values is None:
            continue
        last, first = before.values.reshape(-1)[-1], after.values.reshape(-1)[0]
        if (first >= last) if _descending(before) else (first <= last):
            ends, starts = _label(last, units, calendar), _label(first, units, calendar)
            problems.append(Problem(after.uri, (
                f"overlaps {before.uri!r} along {dim!r} (variable {name!r}): it starts at "
                f"{starts}, the other ends at {ends}")))
    if files is reference:
        return problems
    mine, ref = _axis(files, dim), _axis(reference, dim)
    if mine.shape != ref.shape or not np.allclose(mine, ref, rtol=0, atol=1e-6):
        uris = ", ".join(repr(f.uri) for f in files)
        problems.append(Problem(f"variable {name!r}", (
            f"its files ({uris}) cover other {dim!r} values than those of "
            f"{reference[0].uri!r} and the files that follow it")))
    return problems


def _label(value: Any, units: str | None, calendar: str) -> str:
    """A coordinate value for messages: a date for times."""
    if units is not None and _SINCE.match(units):
        with contextlib.suppress(ValueError, TypeError):
            return str(cftime.num2date(value, units, calendar))
    return str(value)


def _axis(files: list[_File], dim: str) -> npt.NDArray[Any]:
    parts = [f.values if f.values is not None else np.arange(f.length) for f in files]
    return np.concatenate(parts).astype(np.float64)


def _check_concatenated(reference: list[_File], dim: str) -> list[Problem]:
    """The coordinate-like variables are in every file of the reference variable."""
    first = reference[0]
    problems = []
    for f in reference[1:]:
        for name, (values, _) in first.concat.items():
            if name not in f.concat:
                problems.append(Problem(f.uri, f"has no variable {name!r}, which "
                                               f"{first.uri!r} has"))
            elif f.concat[name][0].ndim != values.ndim:
                problems.append(Problem(f.uri, f"variable {name!r} has other dimensions "
                                               f"than in {first.uri!r}"))
    return problems


# ------------------------------------------------------------------------------- write


def _write(master: str, plan: _Plan, dim: str) -> None:
    """Write the master to a working file, then store it as ``master``."""
    with registry.building(master) as temp, open_netcdf(plan.reference[0].uri) as src:
        out = netCDF4.Dataset(temp, "w", format=src.data_model)
        try:
            _structure(src, out, plan, dim)
            _extras(out, plan, dim)
            for name, files in plan.variables.items():
                _aggregation(out, name, files, dim, registry.parent(master))
            set_conventions(out)
        finally:
            out.close()


def _structure(src: Any, out: Any, plan: _Plan, dim: str) -> None:
    """The first file without the variables spanning ``dim``; then the concatenated ones."""
    spanning = {n for n, v in src.variables.items() if dim in v.dimensions}
    skipped = spanning | set(plan.variables)
    copy_group(src, out, skip_variables=lambda g, v: g == "/" and v in skipped,
               skip_dimensions=lambda g, d: g == "/" and d == dim)
    first = plan.reference[0]
    total = sum(f.length for f in plan.reference)
    keep_unlimited = first.unlimited and bool(first.concat)
    out.createDimension(dim, None if keep_unlimited else total)
    for name in first.concat:
        _concatenated(src.variables[name], out, plan, dim)


def _concatenated(var: Any, out: Any, plan: _Plan, dim: str) -> None:
    axis = list(var.dimensions).index(dim)
    values = np.concatenate([f.concat[var.name][0] for f in plan.reference], axis=axis)
    attrs = attributes(var, skip=("_FillValue",))
    if plan.units is not None and attrs.get("units") == plan.reference[0].units:
        attrs["units"] = plan.units
    datatype = var.datatype
    if isinstance(datatype, np.dtype) and datatype.kind in "iu" and values.dtype.kind == "f":
        datatype = np.dtype(np.float64)  # times that are not whole in the master's units
    fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
    new = out.createVariable(var.name, datatype, var.dimensions, fill_value=fill)
    new.setncatts(attrs)
    if values.size:
        raw(new)[...] = values


def _extras(out: Any, plan: _Plan, dim: str) -> None:
    """Variables not spanning ``dim`` that only the files of other variables have."""
    seen = {plan.reference[0].uri}
    for files in plan.variables.values():
        if files[0].uri in seen:
            continue
        seen.add(files[0].uri)
        with open_netcdf(files[0].uri) as src:
            for name, var in src.variables.items():
                if name not in out.variables and dim not in var.dimensions:
                    _copy_variable(var, out)


def _copy_variable(var: Any, out: Any) -> None:
    for name, size in zip(var.dimensions, var.shape, strict=True):
        if name not in out.dimensions:
            out.createDimension(name, size)
    fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
    new = out.createVariable(var.name, var.datatype, var.dimensions, fill_value=fill)
    new.setncatts(attributes(var, skip=("_FillValue",)))
    raw(new)[...] = raw(var)[...]


def _aggregation(out: Any, name: str, files: list[_File], dim: str, folder: str) -> None:
    """The scalar aggregation variable and its fragment grid (CF-1.13 section 2.8)."""
    ref = files[0].data[name]
    var = out.createVariable(name, ref.dtype, (), fill_value=ref.attrs.get("_FillValue"))
    var.setncatts({k: v for k, v in ref.attrs.items() if k != "_FillValue"})
    axis = ref.dims.index(dim)
    lengths = [f.data[name].shape[axis] for f in files]
    bounds = [boundaries_from_lengths(lengths) if k == axis else np.array([0, n], np.int64)
              for k, n in enumerate(ref.shape)]
    grid_shape = tuple(len(b) - 1 for b in bounds)
    uris = np.empty(grid_shape, dtype=object)
    uris.reshape(-1)[:] = [registry.relative_reference(_absolute(f.uri), folder)
                           for f in files]
    grid = FragmentGrid(bounds, np.ones(grid_shape, dtype=bool), uris, name)
    model = AggregatedVariable(name, "/", ref.dims, ref.dtype, grid)
    CFAggregationParser().write(model, out)


def _confirm(master: str, result: AggregateResult) -> None:
    """Open the new master with semsl; record each aggregated variable's shape."""
    with semsl.Dataset(master) as ds:
        for name in sorted(ds.variables):
            info = getattr(ds.variables[name], "fragments", None)
            if info is not None:
                result.variables[name] = {"shape": list(ds.variables[name].shape),
                                          "fragments": info.nfragments}
