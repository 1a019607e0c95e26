"""``semsl split``: turn a netCDF file into a master-array file and its fragments.

Everything of the source is copied - groups, dimensions (unlimited ones stay
unlimited), attributes, coordinates and every variable - into a new aggregated dataset
written by :class:`semsl.Dataset`.  The chosen variables are aggregated (by default
those semsl aggregates: numeric variables with dimensions that are not coordinate
variables); the others stay in the master.  Data is streamed: each aggregated variable
is copied one fragment at a time (cut further when a fragment is larger than the slab
limit, a quarter of the memory budget), each plain variable in slabs of whole rows, so
no variable is ever read whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

import semsl
from semsl.archive._common import (
    Console,
    InputError,
    Problem,
    attributes,
    exists,
    fragment_slabs,
    item_bytes,
    raw,
    remove,
    slab_limit,
    walk,
)
from semsl.cfa.model import regular_boundaries

__all__ = ["SplitOptions", "SplitResult", "parse_subarray_shape", "split"]

_FORMATS = ("CFA4", "CFA3")
_COMPRESSION = ("zlib", "complevel", "shuffle", "fletcher32")
_CLASSIC_TYPES = frozenset({"i1", "i2", "i4", "f4", "f8", "S1"})


@dataclass(frozen=True)
class SplitOptions:
    """How ``split`` cuts the variables.

    Attributes
    ----------
    subarray_shape
        Fragment lengths: by position (``(12, 96, 144)``, for variables of that rank)
        or by dimension name (``{"time": 12}``; unnamed dimensions are not cut).
    max_subarray_size
        Largest fragment in bytes when ``subarray_shape`` is not given.
    file_format
        ``"CFA4"`` (netCDF-4 master and fragments) or ``"CFA3"`` (netCDF-3 classic).
    fragments_at
        Folder or URI prefix of the fragments (default: beside the master).
    variables
        Variables to aggregate (names or paths); ``None`` for semsl's default choice.
    overwrite
        Replace an existing master.
    """

    subarray_shape: tuple[int, ...] | dict[str, int] | None = None
    max_subarray_size: int | None = None
    file_format: str = "CFA4"
    fragments_at: str | None = None
    variables: tuple[str, ...] | None = None
    overwrite: bool = False


@dataclass
class SplitResult:
    """What ``split`` wrote."""

    source: str
    master: str
    file_format: str
    variables: list[dict[str, Any]] = field(default_factory=list)
    nbytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"source": self.source, "master": self.master, "format": self.file_format,
                "bytes": self.nbytes, "variables": self.variables,
                "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        aggregated = [v for v in self.variables if v["aggregated"]]
        nfrag = sum(int(np.prod(v["grid_shape"])) for v in aggregated)
        lines = [f"{self.source} -> {self.master} ({self.file_format}): "
                 f"{len(aggregated)} aggregated variable(s) in {nfrag} fragment(s), "
                 f"{len(self.variables) - len(aggregated)} plain variable(s)"]
        lines += [f"  {v['name']}: shape {tuple(v['shape'])}, fragments "
                  f"{tuple(v['grid_shape'])} of {tuple(v['fragment_shape'] or ())}"
                  for v in aggregated]
        return lines


def parse_subarray_shape(text: str) -> tuple[int, ...] | dict[str, int]:
    """Parse ``"12,96,144"`` or ``"time=12,lat=96"``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if parts and all("=" in p for p in parts):
            named = {k.strip(): int(v) for k, v in (p.split("=", 1) for p in parts)}
            if all(n > 0 for n in named.values()):
                return named
        elif parts:
            lengths = tuple(int(p) for p in parts)
            if all(n > 0 for n in lengths):
                return lengths
    except ValueError:
        pass
    raise InputError(f"--subarray-shape must be positive lengths such as 12,96,144 or "
                     f"time=12,lat=96, not {text!r}")


def split(source: str, master: str, options: SplitOptions, console: Console) -> SplitResult:
    """Write ``source`` as the aggregated dataset ``master``; see the module docstring.

    Raises
    ------
    InputError
        The format, the variables or the fragment shape asked for do not fit the
        source, or ``master`` exists and ``options.overwrite`` is false.
    """
    if options.file_format not in _FORMATS:
        raise InputError(f"--format must be one of {', '.join(_FORMATS)}, "
                         f"not {options.file_format!r}")
    if not options.overwrite and exists(master):
        raise InputError(f"{master!r} exists; pass --overwrite to replace it")
    with semsl.Dataset(source) as src:
        chosen = _chosen(src, options.variables)
        _check_dimension_names(src, options.subarray_shape)
        if options.file_format == "CFA3":
            _check_classic(src, source)
        result = SplitResult(source, master, options.file_format)
        dst = semsl.Dataset(master, "w", format=options.file_format,
                            fragment_location=options.fragments_at,
                            max_subarray_size=options.max_subarray_size)
        try:
            pairs = _define(src, dst, chosen, options)
            result.nbytes = _copy_all(pairs, console)
        except BaseException:
            _discard(dst, master)
            raise
        dst.close()
    result.variables = _describe(master)
    return result


def _chosen(src: Any, names: Sequence[str] | None) -> set[str]:
    """Paths of the variables to aggregate."""
    variables = {_path(g, n): v for g in walk(src) for n, v in g.variables.items()}
    if names is None:
        return {p for p, v in variables.items() if _aggregatable(v) and
                tuple(v.dimensions) != (v.name,)}
    chosen = set()
    for name in names:
        found = [p for p in variables if p == "/" + name.lstrip("/")] or [
            p for p in variables if "/" not in name and p.rsplit("/", 1)[1] == name]
        if not found:
            raise InputError(f"--variables names {name!r}, which the source does not "
                             f"have (it has {', '.join(sorted(variables))})")
        if len(found) > 1:
            raise InputError(f"--variables names {name!r}, which is in several groups "
                             f"({', '.join(found)}); give its path")
        if not _aggregatable(variables[found[0]]):
            raise InputError(f"variable {found[0]!r} cannot be aggregated: only numeric "
                             "variables with dimensions can")
        chosen.add(found[0])
    return chosen


def _check_dimension_names(src: Any, spec: tuple[int, ...] | dict[str, int] | None) -> None:
    if not isinstance(spec, dict):
        return
    known = {d for g in walk(src) for d in g.dimensions}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InputError(f"--subarray-shape names dimension(s) {', '.join(unknown)}, which "
                         f"the source does not have (it has {', '.join(sorted(known))})")


def _check_classic(src: Any, source: str) -> None:
    """What a netCDF-3 classic (CFA3) archive cannot hold, named before anything is made."""
    if src.groups:
        raise InputError(f"{source!r} has groups, which CFA3 (netCDF-3) cannot hold; use "
                         "--format CFA4")
    unlimited = [n for n, d in src.dimensions.items() if d.isunlimited()]
    if len(unlimited) > 1:
        raise InputError(f"{source!r} has {len(unlimited)} unlimited dimensions; CFA3 "
                         "(netCDF-3) holds one: use --format CFA4")
    for name, var in src.variables.items():
        dtype = var.datatype
        if not isinstance(dtype, np.dtype) or dtype.str[1:] not in _CLASSIC_TYPES:
            raise InputError(f"variable {name!r} of {source!r} has a data type "
                             f"({dtype}) that CFA3 (NETCDF3_CLASSIC) cannot hold; use "
                             "--format CFA4")


def _aggregatable(var: Any) -> bool:
    dtype = var.datatype
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf" and var.ndim > 0


def _path(group: Any, name: str) -> str:
    return f"{group.path.rstrip('/')}/{name}"


def _define(src: Any, dst: Any, chosen: set[str], options: SplitOptions,
            ) -> list[tuple[Any, Any]]:
    """Recreate the structure of ``src`` in ``dst``; return (source, copy) variables."""
    pairs: list[tuple[Any, Any]] = []
    for group in walk(src):
        out = dst if group.parent is None else dst.createGroup(group.path)
        out.setncatts(attributes(group))
        for name, dim in group.dimensions.items():
            out.createDimension(name, None if dim.isunlimited() else len(dim))
    for group in walk(src):
        out = dst if group.parent is None else dst.createGroup(group.path)
        for name, var in group.variables.items():
            path = _path(group, name)
            try:
                new = _create(out, var, path in chosen, options)
                new.setncatts(attributes(var, skip=("_FillValue",)))
            except (RuntimeError, TypeError) as err:  # what netCDF-C refuses
                raise InputError(f"variable {path!r} cannot be written to a "
                                 f"{options.file_format} master ({err})") from err
            pairs.append((raw(var), raw(new)))
    return pairs


def _create(group: Any, var: Any, aggregated: bool, options: SplitOptions) -> Any:
    kwargs: dict[str, Any] = {}
    if "_FillValue" in var.ncattrs():
        kwargs["fill_value"] = var.getncattr("_FillValue")
    filters = var.filters() if options.file_format == "CFA4" else None
    if filters:
        kwargs.update({k: filters[k] for k in _COMPRESSION if filters.get(k)})
    if aggregated:
        kwargs["subarray_shape"] = _shape_for(var, options.subarray_shape)
    return group.createVariable(var.name, var.datatype, var.dimensions,
                                aggregate=aggregated, **kwargs)


def _shape_for(var: Any, spec: tuple[int, ...] | dict[str, int] | None,
               ) -> tuple[int, ...] | None:
    """The fragment shape asked for ``var``: by position or by dimension name."""
    if spec is None:
        return None
    dims, shape = tuple(var.dimensions), tuple(var.shape)
    if isinstance(spec, dict):
        wanted = tuple(spec.get(d, n) for d, n in zip(dims, shape, strict=True))
    elif len(spec) != len(dims):
        raise InputError(
            f"--subarray-shape has {len(spec)} lengths but variable {var.name!r} has "
            f"{len(dims)} dimensions ({', '.join(dims)}); give the lengths by dimension "
            f"name (time=12,lat=96) or choose the variables with --variables")
    else:
        wanted = spec
    # A length beyond the data is the whole dimension (one fragment along it).
    return tuple(max(1, min(b, n) if n else b) for b, n in zip(wanted, shape, strict=True))


def _copy_all(pairs: list[tuple[Any, Any]], console: Console) -> int:
    """Copy the data of every variable; return the number of bytes copied."""
    total = sum(int(np.prod(s.shape, dtype=np.int64)) * item_bytes(s) for s, _ in pairs)
    limit = slab_limit()
    copied = 0
    with console.bar("split", total, "B") as bar:
        for src, dst in pairs:
            console.debug(f"copying {_path(src.group(), src.name)} {tuple(src.shape)}")
            for nbytes in _copy(src, dst, limit):
                copied += nbytes
                bar.update(nbytes)
    return copied


def _copy(src: Any, dst: Any, limit: int) -> Any:
    """Copy one variable slab by slab, yielding the bytes of each slab."""
    if src.ndim == 0:
        dst[...] = src[...]
        yield item_bytes(src)
        return
    itemsize = item_bytes(src)
    for slab in fragment_slabs(_blocks(src, dst), itemsize, limit):
        dst[slab] = src[slab]
        yield int(np.prod([s.stop - s.start for s in slab])) * itemsize


def _blocks(src: Any, dst: Any) -> list[npt.NDArray[np.int64]]:
    """Block boundaries for copying: the fragments, or one block for a plain variable."""
    fragments = getattr(dst, "fragments", None)
    shape = tuple(src.shape)
    if fragments is None:
        return [np.array([0, n], np.int64) for n in shape]
    block = fragments.fragment_shape
    if block is None:
        return list(fragments.boundaries)
    # Unlimited dimensions are still empty in the new master: cut them as the grid will.
    return [regular_boundaries(n, b) for n, b in zip(shape, block, strict=True)]


def _discard(dst: Any, master: str) -> None:
    """After a failure: drop what was written, so no half-made archive is left."""
    written = []
    for group in walk(dst):
        for var in group.variables.values():
            info = getattr(var, "fragments", None)
            if info is not None:
                written += [info.path(tuple(int(i) for i in idx))
                            for idx in np.argwhere(info.present())]
    with contextlib.suppress(Exception):
        dst.close()
    for uri in [*written, master]:
        with contextlib.suppress(Exception):
            if uri and exists(uri):
                remove(uri)


def _describe(master: str) -> list[dict[str, Any]]:
    """Each variable of the new master: aggregated or not, shape, fragment grid."""
    found = []
    with semsl.Dataset(master) as ds:
        for group in walk(ds):
            for name, var in group.variables.items():
                info = getattr(var, "fragments", None)
                entry: dict[str, Any] = {"name": _path(group, name), "shape": list(var.shape),
                                         "aggregated": info is not None}
                if info is not None:
                    entry["grid_shape"] = list(info.grid_shape)
                    entry["fragment_shape"] = list(info.fragment_shape or ())
                found.append(entry)
    return found
