"""What the archive jobs share: problems, console output, storage and netCDF helpers."""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import itertools
import math
import os
import posixpath
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import netCDF4
import numpy as np
import numpy.typing as npt

from semsl.backends import registry
from semsl.backends.base import ObjectInfo
from semsl.backends.registry import store_file, working_file
from semsl.cfa.fragments import open_bytes
from semsl.config import get_config
from semsl.errors import SemslError
from semsl.parsers.cf_aggregation import set_conventions
from semsl.resources import NETCDF_LOCK

__all__ = [
    "NETCDF_SUFFIXES",
    "Bar",
    "Console",
    "InputError",
    "Problem",
    "attributes",
    "basename",
    "copy_object",
    "cut_slabs",
    "exists",
    "expand",
    "folder_prefix",
    "fragment_slabs",
    "item_bytes",
    "jsonable",
    "list_objects",
    "open_netcdf",
    "raw",
    "remove",
    "set_conventions",
    "size",
    "slab_limit",
    "store_file",
    "thread_map",
    "walk",
    "working_file",
]

#: File name endings taken for netCDF files when listing folders and prefixes.
NETCDF_SUFFIXES = (".nc", ".nca", ".nc4", ".nc3", ".cdf", ".netcdf", ".h5", ".hdf5")
#: Largest slab copied at once, whatever the memory budget (progress stays smooth).
_MAX_SLAB_BYTES = 256 * 2**20
#: Bytes assumed per element of variable-length types when sizing slabs.
_VLEN_ITEM_BYTES = 64
_GLOB_CHARS = "*?["

_T = TypeVar("_T")
_R = TypeVar("_R")


class InputError(SemslError, ValueError):
    """What the user asked for cannot be done as asked (exit code 2)."""


@dataclass(frozen=True)
class Problem:
    """One thing found wrong: where (a file, fragment or variable) and what."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"

    def to_json(self) -> dict[str, str]:
        """The problem as a JSON object."""
        return {"subject": self.subject, "message": self.message}


class Bar(Protocol):
    """A progress bar: ``update`` by a count of files or bytes, then ``close``."""

    def update(self, n: float = 1) -> Any:
        """Advance the bar by ``n``."""
        ...

    def close(self) -> None:
        """Remove the bar."""
        ...


class _NoBar:
    """The bar used when progress is not shown."""

    def update(self, n: float = 1) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


@dataclass
class Console:
    """Where a job reports what it does: messages and progress bars on stderr.

    Attributes
    ----------
    quiet
        Print nothing but problems and errors.
    verbose
        Also print details (each file handled).
    progress
        Show progress bars (tqdm, when it is installed).
    """

    quiet: bool = False
    verbose: bool = False
    progress: bool = False
    _bars: list[Bar] = field(default_factory=list)

    def info(self, message: str) -> None:
        """A message worth seeing unless ``--quiet``."""
        if not self.quiet:
            self._write(message)

    def debug(self, message: str) -> None:
        """A detail shown with ``--verbose``."""
        if self.verbose:
            self._write(message)

    def _write(self, message: str) -> None:
        tqdm = _tqdm() if self._bars else None
        if tqdm is not None:  # above the bars, which are drawn again below
            tqdm.write(message, file=sys.stderr)
            return
        print(message, file=sys.stderr)

    @contextlib.contextmanager
    def bar(self, description: str, total: float | None, unit: str = "file",
            ) -> Iterator[Bar]:
        """A progress bar for ``total`` files (``unit="file"``) or bytes (``"B"``)."""
        bar = self._new_bar(description, total, unit)
        self._bars.append(bar)
        try:
            yield bar
        finally:
            self._bars.remove(bar)
            bar.close()

    def _new_bar(self, description: str, total: float | None, unit: str) -> Bar:
        tqdm = _tqdm() if self.progress else None
        if tqdm is None:
            return _NoBar()
        made: Bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr,
                         unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000,
                         leave=False, dynamic_ncols=True)
        return made


def _tqdm() -> Any:
    """The progress bar class of tqdm, or ``None`` without it (``semsl[cli]`` installs it).

    Imported by name when a bar is shown: tqdm is optional and ships no type hints.
    """
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


# ----------------------------------------------------------------------------- storage


def basename(uri: str) -> str:
    """The last part of a path or URI."""
    return posixpath.basename(uri.replace(os.sep, "/").rstrip("/"))


def exists(uri: str) -> bool:
    """Whether the object (file, S3 key) ``uri`` exists."""
    where = registry.locate(uri)
    return where.backend.exists(where.uri)


def size(uri: str) -> int:
    """The size in bytes of the object ``uri``."""
    where = registry.locate(uri)
    return where.backend.size(where.uri)


def remove(uri: str) -> None:
    """Delete the object ``uri``."""
    where = registry.locate(uri)
    where.backend.remove(where.uri)


def list_objects(prefix: str) -> list[ObjectInfo]:
    """Every object under ``prefix`` (a folder, or an S3 key prefix), with its size.

    The URIs are in the form of ``prefix`` (a host alias kept, a relative path made
    absolute), so they can be passed back to every function here.
    """
    where = registry.locate(prefix)
    found = where.backend.list(where.uri)
    given = where.given if registry.is_remote(prefix) else where.uri
    if registry.is_remote(prefix) and given != where.uri:  # s3://ALIAS/bucket/...
        head = given[: len(given) - len(where.uri.split("://", 1)[1])]
        return [ObjectInfo(head + info.uri.split("://", 1)[1], info.size) for info in found]
    return found


def folder_prefix(uri: str) -> str:
    """``uri`` as the prefix of a folder's contents (ending with one ``/``)."""
    if registry.is_remote(uri):
        return uri.rstrip("/") + "/"
    return os.path.abspath(uri).rstrip(os.sep) + os.sep


def expand(patterns: Sequence[str]) -> list[str]:
    """Paths and URIs matching ``patterns`` (shell globs), in order, without repeats.

    A pattern without glob characters names one file, which must exist.  Remote globs
    list the prefix before the first glob character and match the rest.
    """
    found: dict[str, None] = {}
    for pattern in patterns:
        matches = _expand_one(pattern)
        if not matches:
            raise InputError(f"no file matches {pattern!r}")
        found.update(dict.fromkeys(matches))
    return list(found)


def _expand_one(pattern: str) -> list[str]:
    magic = any(c in pattern for c in _GLOB_CHARS)
    if not magic:
        return [pattern] if exists(pattern) else []
    if not registry.is_remote(pattern):
        import glob  # noqa: PLC0415

        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    cut = min(pattern.index(c) for c in _GLOB_CHARS if c in pattern)
    prefix = pattern[:cut]
    return sorted(info.uri for info in list_objects(prefix)
                  if fnmatch.fnmatchcase(info.uri, pattern))


def copy_object(source: str, target: str) -> int:
    """Copy one object between any two storages; return its size in bytes."""
    src, dst = registry.locate(source), registry.locate(target)
    if src.is_local:
        if dst.is_local:
            os.makedirs(os.path.dirname(dst.uri), exist_ok=True)
        dst.backend.put_file(src.uri, dst.uri)
        return os.path.getsize(src.uri)
    if dst.is_local:
        os.makedirs(os.path.dirname(dst.uri), exist_ok=True)
        src.backend.get_file(src.uri, dst.uri)
        return os.path.getsize(dst.uri)
    scratch = working_file(target)
    try:
        src.backend.get_file(src.uri, scratch)
        nbytes = os.path.getsize(scratch)
        dst.backend.put_file(scratch, dst.uri)
    finally:
        with contextlib.suppress(OSError):
            os.remove(scratch)
    return nbytes


@contextlib.contextmanager
def open_netcdf(uri: str) -> Iterator[Any]:
    """Open a netCDF file read-only with netCDF4 itself (never as a semsl master).

    A remote file is fetched whole and read from memory.  The caller holds
    :data:`~semsl.resources.NETCDF_LOCK` for netCDF calls when threads are involved.
    """
    where = registry.locate(uri)
    if where.is_local:
        with NETCDF_LOCK:
            ds = netCDF4.Dataset(where.uri, "r")
    else:
        data = where.backend.get(where.uri)
        with NETCDF_LOCK:
            ds = open_bytes(basename(where.uri) or "remote.nc", data)
    try:
        yield ds
    finally:
        with NETCDF_LOCK:
            ds.close()


# ----------------------------------------------------------------------------- netCDF


def walk(group: Any) -> Iterator[Any]:
    """A netCDF4 group and all its subgroups, parents first."""
    yield group
    for child in group.groups.values():
        yield from walk(child)


def attributes(obj: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The attributes of a group or variable, in order, without ``skip``."""
    left_out = set(skip)
    return {name: obj.getncattr(name) for name in obj.ncattrs() if name not in left_out}


def raw(var: Any) -> Any:
    """Switch a variable to raw values: no masking, scaling or character conversion."""
    var.set_auto_maskandscale(False)
    var.set_always_mask(False)
    with contextlib.suppress(AttributeError):
        var.set_auto_chartostring(False)
    return var


def item_bytes(var: Any) -> int:
    """Bytes per element of a variable (an estimate for variable-length types)."""
    dtype = getattr(var, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind not in "OU":
        return max(1, dtype.itemsize)
    return _VLEN_ITEM_BYTES


def slab_limit() -> int:
    """Bytes copied at once: a quarter of the memory budget, at most 256 MiB."""
    budget = get_config().resources.memory_budget
    return max(1, min(budget // 4, _MAX_SLAB_BYTES))


def cut_slabs(region: Sequence[slice], itemsize: int, limit: int,
              ) -> Iterator[tuple[slice, ...]]:
    """Cut ``region`` into slabs of at most ``limit`` bytes, leading dimensions first.

    A region that fits is one slab; otherwise it is cut along its first dimension into
    runs of whole rows, and a single row that is still too large is cut along the next.
    """
    lengths = [s.stop - s.start for s in region]
    if not region or math.prod(lengths) * itemsize <= limit:
        yield tuple(region)
        return
    row = math.prod(lengths[1:]) * itemsize
    head = region[0]
    if row > limit:
        for i in range(head.start, head.stop):
            for rest in cut_slabs(region[1:], itemsize, limit):
                yield (slice(i, i + 1), *rest)
        return
    step = max(1, limit // row)
    for start in range(head.start, head.stop, step):
        yield (slice(start, min(start + step, head.stop)), *region[1:])


def fragment_slabs(boundaries: Sequence[npt.NDArray[np.int64]], itemsize: int, limit: int,
                   ) -> Iterator[tuple[slice, ...]]:
    """Slabs aligned with a fragment grid: each fragment, cut further if too large."""
    ranges = [range(len(b) - 1) for b in boundaries]
    for index in itertools.product(*ranges):
        region = [slice(int(b[i]), int(b[i + 1])) for b, i in zip(boundaries, index,
                                                                    strict=True)]
        if all(s.stop > s.start for s in region):
            yield from cut_slabs(region, itemsize, limit)


def thread_map(func: Callable[[_T], _R], items: Sequence[_T], jobs: int,
               bar: Bar | None = None) -> list[_R]:
    """``func`` over ``items`` on ``jobs`` threads, in order; the bar advances per item."""
    def run(item: _T) -> _R:
        result = func(item)
        if bar is not None:
            bar.update(1)
        return result

    if jobs <= 1 or len(items) <= 1:
        return [run(item) for item in items]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run, items))


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into JSON-ready Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
