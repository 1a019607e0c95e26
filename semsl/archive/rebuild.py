"""``semsl rebuild-master``: recreate a lost master from its self-describing fragments.

Every fragment semsl writes records its place (see :mod:`semsl.cfa.fragments`):
``semsl_variable``, ``semsl_master``, ``semsl_master_dimensions``,
``semsl_unlimited_dimensions``, ``semsl_master_shape``, ``semsl_fragment_start``, and it
holds the variable's attributes, the master's global attributes and the coordinate
values of its sub-domain.  From those alone the master is rebuilt:

* the fragments are grouped by variable; each variable's grid boundaries are the
  fragments' starts and ends along each dimension (a stretch no fragment covers is cut
  into blocks of the nominal fragment length and reads as fill value);
* the master shape is, per dimension, the largest recorded master shape and fragment
  end; unlimited dimensions stay unlimited;
* the variable's attributes come from the fragment variable (``semsl_scale_factor`` and
  ``semsl_add_offset`` become ``scale_factor`` and ``add_offset`` again), the global
  attributes from the fragments without the ``semsl_*`` ones;
* coordinate variables are reassembled from the fragments' pieces of them.

Fragments that disagree with the others (overlapping places, other dimensions, data
type or master shape) are reported and never used silently: no master is written
unless ``skip_bad`` asks to leave them out.  Plain variables of the lost master other
than coordinates are not stored in fragments and cannot be recovered.
"""

from __future__ import annotations

import itertools
import os
import posixpath
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import netCDF4
import numpy as np
import numpy.typing as npt

import semsl
from semsl.archive._common import (
    NETCDF_SUFFIXES,
    Console,
    InputError,
    Problem,
    attributes,
    exists,
    folder_prefix,
    list_objects,
    open_netcdf,
    raw,
    set_conventions,
    thread_map,
)
from semsl.backends import registry
from semsl.cfa.model import AggregatedVariable, FragmentGrid
from semsl.parsers.cf_aggregation import CFAggregationParser
from semsl.resources import NETCDF_LOCK

__all__ = ["RebuildOptions", "RebuildResult", "rebuild_master"]

_PACKING = ("scale_factor", "add_offset")
_NOT_IN_FRAGMENTS = ("fragments do not hold the master's plain variables other than "
                     "coordinates, nor the attributes of its subgroups: those were not "
                     "restored")
_LENGTH_ROLE = "semsl_role"


@dataclass(frozen=True)
class RebuildOptions:
    """How ``rebuild-master`` works.

    Attributes
    ----------
    master
        Which master's fragments to use when the folder holds several (the file name
        recorded in ``semsl_master``).
    skip_bad
        Write the master even when fragments disagree, leaving them out.
    jobs
        Fragments read at once.
    overwrite
        Replace an existing master.
    """

    master: str | None = None
    skip_bad: bool = False
    jobs: int = 8
    overwrite: bool = False


@dataclass
class _Fragment:
    """What one fragment says about itself."""

    uri: str
    variable: str = ""
    master: str = ""
    dims: tuple[str, ...] = ()
    unlimited: frozenset[str] = frozenset()
    master_shape: tuple[int, ...] = ()
    start: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()
    dtype: Any = None
    var_dims: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    global_attrs: dict[str, Any] = field(default_factory=dict)
    coords: dict[str, tuple[npt.NDArray[Any], dict[str, Any], Any]] = field(
        default_factory=dict)
    data_model: str = "NETCDF4"
    error: str | None = None

    @property
    def name(self) -> str:
        """The variable's name inside the fragment."""
        return posixpath.basename(self.variable)


@dataclass
class _Layout:
    """A variable's grid, derived from its good fragments."""

    path: str
    dims: tuple[str, ...]
    unlimited: tuple[bool, ...]
    shape: tuple[int, ...]
    bounds: list[npt.NDArray[np.int64]]
    block: tuple[int, ...]
    placed: dict[tuple[int, ...], _Fragment]
    reference: _Fragment


@dataclass
class RebuildResult:
    """What ``rebuild-master`` found and wrote."""

    source: str
    master: str
    fragments: int = 0
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    written: bool = False
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"source": self.source, "master": self.master, "written": self.written,
                "fragments": self.fragments, "variables": self.variables,
                "notes": self.notes, "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        if not self.written:
            return [f"no master written: {len(self.problems)} problem(s) found "
                    "(--skip-bad writes one without the fragments in question)"]
        lines = [f"{self.master}: rebuilt from {self.fragments} fragment(s) in {self.source}"]
        lines += [f"  {path}: shape {tuple(v['shape'])}, fragments {tuple(v['grid_shape'])}"
                  f", {v['present']} present" for path, v in self.variables.items()]
        return lines + [f"  note: {n}" for n in self.notes]


def rebuild_master(source: str, master: str, options: RebuildOptions,
                   console: Console) -> RebuildResult:
    """Write ``master`` from the fragments under ``source`` (a folder or URI prefix).

    Raises
    ------
    InputError
        No fragments found, fragments of several masters and no choice, or ``master``
        exists (without overwrite).
    """
    if not options.overwrite and exists(master):
        raise InputError(f"{master!r} exists; pass --overwrite to replace it")
    result = RebuildResult(source, master)
    fragments = _fragments(source, options, console, result)
    result.fragments = len(fragments)
    layouts = [_layout(path, group, result.problems) for path, group in
               sorted(_by_variable(fragments).items())]
    if result.problems and not options.skip_bad:
        return result
    _write(master, [x for x in layouts if x is not None], fragments, result)
    result.written = True
    result.notes.append(_NOT_IN_FRAGMENTS)
    _confirm(master)
    return result


# ------------------------------------------------------------------------------- read


def _fragments(source: str, options: RebuildOptions, console: Console,
               result: RebuildResult) -> list[_Fragment]:
    prefix = folder_prefix(source) if _is_folder(source) else source
    uris = [info.uri for info in list_objects(prefix)
            if info.uri.lower().endswith(NETCDF_SUFFIXES)]
    with console.bar("read fragments", len(uris)) as bar:
        found = thread_map(_read, uris, options.jobs, bar)
    for item in found:
        if item.error is not None:
            result.problems.append(Problem(item.uri, item.error))
    good = [f for f in found if f.error is None and f.variable]
    console.debug(f"{len(good)} fragment(s) among {len(uris)} file(s) under {prefix}")
    return _one_master(good, options.master, source)


def _is_folder(source: str) -> bool:
    if registry.is_remote(source):
        return source.endswith("/")
    return os.path.isdir(source)


def _one_master(fragments: list[_Fragment], wanted: str | None,
                source: str) -> list[_Fragment]:
    masters = sorted({f.master for f in fragments})
    if wanted is not None:
        chosen = [f for f in fragments if f.master == wanted]
        if not chosen:
            raise InputError(f"no fragment of master {wanted!r} under {source!r} (found: "
                             f"{', '.join(masters) or 'none'})")
        return chosen
    if not masters:
        raise InputError(f"no semsl fragments under {source!r} (files with a "
                         "'semsl_variable' attribute)")
    if len(masters) > 1:
        raise InputError(f"{source!r} holds fragments of several masters "
                         f"({', '.join(masters)}); choose one with --master")
    return fragments


def _read(uri: str) -> _Fragment:
    found = _Fragment(uri)
    try:
        with open_netcdf(uri) as ds, NETCDF_LOCK:
            if "semsl_variable" in ds.ncattrs():
                _describe(ds, found)
    except (OSError, KeyError, ValueError) as err:
        found.error = f"cannot be read as a fragment ({err})"
    return found


def _describe(ds: Any, found: _Fragment) -> None:
    attrs = attributes(ds)
    found.variable = str(attrs["semsl_variable"])
    found.master = str(attrs.get("semsl_master", ""))
    found.dims = tuple(str(attrs.get("semsl_master_dimensions", "")).split())
    found.unlimited = frozenset(str(attrs.get("semsl_unlimited_dimensions", "")).split())
    found.master_shape = _ints(attrs.get("semsl_master_shape"))
    found.start = _ints(attrs.get("semsl_fragment_start"))
    found.global_attrs = {k: v for k, v in attrs.items() if not k.startswith("semsl_")}
    found.data_model = ds.data_model
    var = ds.variables.get(found.name)
    if var is None:
        found.error = f"has no variable {found.name!r} (its semsl_variable)"
        return
    found.shape, found.dtype = tuple(var.shape), var.datatype
    found.var_dims, found.attrs = tuple(var.dimensions), attributes(var)
    for dim in found.dims:
        coord = ds.variables.get(dim)
        if coord is not None and tuple(coord.dimensions) == (dim,) and dim != found.name:
            found.coords[dim] = (np.asarray(raw(coord)[...]), attributes(coord),
                                 coord.datatype)


def _ints(value: Any) -> tuple[int, ...]:
    return () if value is None else tuple(int(v) for v in np.atleast_1d(value))


def _by_variable(fragments: list[_Fragment]) -> dict[str, list[_Fragment]]:
    groups: dict[str, list[_Fragment]] = {}
    for f in sorted(fragments, key=lambda f: f.uri):
        groups.setdefault(f.variable, []).append(f)
    return groups


# ----------------------------------------------------------------------------- layout


def _layout(path: str, fragments: list[_Fragment], problems: list[Problem]) -> _Layout | None:
    """The grid of one variable; fragments that do not fit are reported."""
    good = _agreeing(path, fragments, problems)
    if not good:
        return None
    ref = good[0]
    unlimited = tuple(d in ref.unlimited for d in ref.dims)
    shape = _master_shape(path, good, unlimited, problems)
    block = tuple(max(f.shape[k] for f in good) for k in range(len(ref.dims)))
    bounds = [_boundaries([f.start[k] for f in good], [f.start[k] + f.shape[k] for f in good],
                          shape[k], block[k]) for k in range(len(ref.dims))]
    placed = _place(path, good, bounds, problems)
    return _Layout(path, ref.dims, unlimited, shape, bounds, block, placed, ref)


def _agreeing(path: str, fragments: list[_Fragment],
              problems: list[Problem]) -> list[_Fragment]:
    """The fragments that agree with the most common description of the variable."""
    def signature(f: _Fragment) -> tuple[Any, ...]:
        return (f.dims, f.var_dims, str(f.dtype), f.master, f.data_model)

    common = Counter(signature(f) for f in fragments).most_common(1)[0][0]
    good = []
    for f in fragments:
        ndim = len(f.dims)
        if signature(f) != common:
            problems.append(Problem(f.uri, _difference(f, common, path)))
        elif not ndim or not (len(f.start) == len(f.shape) == len(f.master_shape) == ndim):
            problems.append(Problem(f.uri, f"its place in {path!r} (start, shape, master "
                                           "shape) does not match its dimensions"))
        else:
            good.append(f)
    return good


def _difference(f: _Fragment, common: tuple[Any, ...], path: str) -> str:
    names = ("master dimensions", "dimensions", "data type", "master", "format")
    mine = (f.dims, f.var_dims, str(f.dtype), f.master, f.data_model)
    what = next(n for n, a, b in zip(names, mine, common, strict=True) if a != b)
    index = names.index(what)
    return (f"its {what} {mine[index]!r} differ from {common[index]!r} of the other "
            f"fragments of {path!r}")


def _master_shape(path: str, fragments: list[_Fragment], unlimited: tuple[bool, ...],
                  problems: list[Problem]) -> tuple[int, ...]:
    """Per dimension: the largest recorded master shape or fragment end.

    Along a fixed dimension every fragment must record the same master length.
    """
    shape = []
    for k, grows in enumerate(unlimited):
        recorded = Counter(f.master_shape[k] for f in fragments)
        if not grows and len(recorded) > 1:
            usual = recorded.most_common(1)[0][0]
            problems += [Problem(f.uri, f"records a master length {f.master_shape[k]} "
                                        f"along {fragments[0].dims[k]!r}; the other fragments "
                                        f"of {path!r} record {usual}")
                         for f in fragments if f.master_shape[k] != usual]
        ends = max(f.start[k] + f.shape[k] for f in fragments)
        shape.append(max(ends, *recorded))
    return tuple(shape)


def _boundaries(starts: Sequence[int], ends: Sequence[int], size: int, block: int,
                ) -> npt.NDArray[np.int64]:
    """Block offsets along one dimension; stretches no fragment covers cut by ``block``."""
    points = sorted({0, size, *starts, *ends})
    begun = set(starts)
    edges = set(points)
    for low, high in itertools.pairwise(points):
        if low not in begun and block > 0:
            edges.update(range((low // block + 1) * block, high, block))
    return np.array(sorted(e for e in edges if 0 <= e <= size), dtype=np.int64)


def _place(path: str, fragments: list[_Fragment], bounds: list[npt.NDArray[np.int64]],
           problems: list[Problem]) -> dict[tuple[int, ...], _Fragment]:
    """Each fragment's grid index; overlapping or misaligned fragments are reported.

    Two fragments claiming one place are both left out: neither can be trusted.
    """
    placed: dict[tuple[int, ...], _Fragment] = {}
    doubled: set[tuple[int, ...]] = set()
    for f in fragments:
        index = tuple(int(np.searchsorted(b, s)) for b, s in zip(bounds, f.start, strict=True))
        ends = [int(b[i + 1]) if i + 1 < len(b) else -1 for b, i in zip(bounds, index,
                                                                         strict=True)]
        if list(f.shape) != [e - s for e, s in zip(ends, f.start, strict=True)]:
            problems.append(Problem(f.uri, f"its place in {path!r} (start {f.start}, shape "
                                           f"{f.shape}) overlaps other fragments"))
        elif index in placed:
            problems.append(Problem(f.uri, f"has the same place in {path!r} as "
                                           f"{placed[index].uri!r}"))
            doubled.add(index)
        else:
            placed[index] = f
    return {index: f for index, f in placed.items() if index not in doubled}


# ------------------------------------------------------------------------------ write


def _write(master: str, layouts: list[_Layout], fragments: list[_Fragment],
           result: RebuildResult) -> None:
    if not layouts:
        raise InputError("no fragment can be used to rebuild the master")
    with registry.building(master) as temp:
        out = netCDF4.Dataset(temp, "w", format=cast(Any, layouts[0].reference.data_model))
        try:
            out.setncatts(layouts[0].reference.global_attrs)
            for layout in sorted(layouts, key=lambda x: x.path.count("/")):
                _variable(out, layout, fragments, master, result)
            set_conventions(out)
        finally:
            out.close()


def _variable(out: Any, layout: _Layout, fragments: list[_Fragment], master: str,
              result: RebuildResult) -> None:
    folder, _, name = layout.path.rpartition("/")
    group = out.createGroup(folder) if folder.strip("/") else out
    for dim, size, grows in zip(layout.dims, layout.shape, layout.unlimited, strict=True):
        _dimension(group, dim, size, grows, fragments, result)
    attrs = _restored(layout.reference.attrs)
    var = group.createVariable(name, layout.reference.dtype, (),
                               fill_value=attrs.pop("_FillValue", None))
    var.setncatts(attrs)
    grid = _grid(layout, registry.parent(master))
    CFAggregationParser().write(AggregatedVariable(name, group.path, layout.dims,
                                                   np.dtype(layout.reference.dtype), grid),
                                group)
    present = len(layout.placed)
    result.variables[layout.path] = {"shape": list(layout.shape),
                                     "grid_shape": list(grid.grid_shape),
                                     "present": present, "missing": grid.nfragments - present}


def _restored(attrs: dict[str, Any]) -> dict[str, Any]:
    """The master variable's attributes: packing attributes under their own names."""
    out = {k: v for k, v in attrs.items() if not k.startswith("semsl_")}
    for name in _PACKING:
        if f"semsl_{name}" in attrs:
            out[name] = attrs[f"semsl_{name}"]
    return out


def _grid(layout: _Layout, folder: str) -> FragmentGrid:
    grid_shape = tuple(len(b) - 1 for b in layout.bounds)
    present = np.zeros(grid_shape, dtype=bool)
    uris = np.full(grid_shape, "", dtype=object)
    for index, f in layout.placed.items():
        present[index] = True
        uris[index] = registry.relative_reference(f.uri, folder)
    return FragmentGrid(layout.bounds, present, uris, layout.reference.name, layout.block)


def _dimension(group: Any, dim: str, size: int, grows: bool, fragments: list[_Fragment],
               result: RebuildResult) -> None:
    """Create ``dim`` (unless visible already) with its reassembled coordinate."""
    node = group
    while node is not None:
        if dim in node.dimensions:
            existing = node.dimensions[dim]
            if not existing.isunlimited() and len(existing) != size:
                result.problems.append(Problem(f"dimension {dim!r}", (
                    f"has length {len(existing)} for one variable and {size} for another")))
            return
        node = node.parent
    group.createDimension(dim, None if grows else size)
    if not _coordinate(group, dim, size, fragments, result) and grows:
        _length_carrier(group, dim, size)


def _coordinate(group: Any, dim: str, size: int, fragments: list[_Fragment],
                result: RebuildResult) -> bool:
    """The coordinate variable of ``dim`` from the fragments' pieces of it."""
    pieces = [(f.start[f.dims.index(dim)], f.coords[dim], f.uri) for f in fragments
              if dim in f.coords and dim in f.dims and f.start]
    if not pieces:
        return False
    _, (values, attrs, datatype), _ = pieces[0]
    fill = attrs.get("_FillValue", netCDF4.default_fillvals.get(values.dtype.str[1:], 0))
    out = np.full(size, fill, dtype=values.dtype)
    seen = np.zeros(size, dtype=bool)
    for start, (piece, _, _), uri in pieces:
        stop = min(size, start + len(piece))
        clash = seen[start:stop] & (out[start:stop] != piece[: stop - start])
        if clash.any():
            result.problems.append(Problem(uri, f"its values of coordinate {dim!r} differ "
                                                "from those of other fragments"))
        out[start:stop], seen[start:stop] = piece[: stop - start], True
    if not seen.all():
        result.notes.append(f"{int((~seen).sum())} value(s) of coordinate {dim!r} are in no "
                            "fragment and were written as fill values")
    var = group.createVariable(dim, datatype, (dim,), fill_value=attrs.get("_FillValue"))
    var.setncatts({k: v for k, v in attrs.items() if k != "_FillValue"})
    if size:
        raw(var)[...] = out
    return True


def _length_carrier(group: Any, dim: str, size: int) -> None:
    """Give an unlimited dimension without coordinate its length, as semsl itself does."""
    if not size:
        return
    var = group.createVariable(f"semsl_length_{dim}", "i1", (dim,))
    var.setncattr(_LENGTH_ROLE, "dimension_length")
    raw(var)[size - 1] = netCDF4.default_fillvals["i1"]


def _confirm(master: str) -> None:
    """Open the rebuilt master with semsl: its aggregations must parse."""
    with semsl.Dataset(master):
        pass
