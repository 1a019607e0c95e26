"""Aggregated variables as dask arrays: one chunk per fragment (:func:`to_dask`).

The graph holds no open file: each task knows the master's path or URI and the
variable's path, opens the master with semsl (kept open per process, see
:func:`_open_master`) and reads its fragment, so the array can be computed on a
``dask.distributed`` cluster whose workers reach the same storage.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import numpy.typing as npt

from semsl.backends import registry
from semsl.frontends.netcdf4 import Dataset
from semsl.resources import NETCDF_LOCK

__all__ = ["FragmentArray", "fragment_lengths", "to_dask"]

#: Masters kept open per process by the tasks (least recently used are closed).
OPEN_MASTERS = 8
_OPEN: OrderedDict[tuple[str, int | None], Any] = OrderedDict()
_OPEN_LOCK = threading.Lock()


def _forget_after_fork() -> None:
    # a child must not use (or close) the parent's netCDF handles
    _OPEN.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _version(master: str) -> int | None:
    """A token that changes when a local master is rewritten (``None`` if remote)."""
    if registry.is_remote(master):
        return None
    try:
        return os.stat(master).st_mtime_ns
    except OSError:
        return None


def _open_master(master: str, version: int | None) -> Any:
    """The master opened read-only with semsl, shared by the tasks of one process."""
    key = (master, version)
    with _OPEN_LOCK:
        ds = _OPEN.get(key)
        if ds is not None and ds.isopen():
            _OPEN.move_to_end(key)
            return ds
        with NETCDF_LOCK:
            ds = _OPEN[key] = Dataset(master, "r")
        while len(_OPEN) > OPEN_MASTERS:
            _, old = _OPEN.popitem(last=False)
            with NETCDF_LOCK:
                old.close()
        return ds


def _lock() -> Any:
    """The lock of semsl's netCDF calls, combined with xarray's when xarray is in use.

    xarray's netCDF engines hold their own locks around netCDF-C/HDF5 calls; a
    process that imported xarray may run them next to these tasks.
    """
    if "xarray" in sys.modules:
        from semsl.frontends.xarray import SEMSL_XARRAY_LOCK  # noqa: PLC0415

        return SEMSL_XARRAY_LOCK
    return NETCDF_LOCK


def _find_variable(ds: Any, path: str) -> Any:
    *groups, name = [p for p in path.split("/") if p]
    node = ds
    for group in groups:
        node = node.groups[group]
    return node.variables[name]


class FragmentArray:
    """A lazy, picklable array-like over one variable of a master, for ``da.from_array``.

    Parameters
    ----------
    master
        Path or URI of the master file.
    variable
        Path of the variable in the master (``"/tas"``, ``"/group/tas"``).
    shape, dtype
        The variable's shape and the data type of what is read.
    mask_and_scale
        Apply the variable's mask and scale rules (as netCDF4 does by default), or
        return raw values.
    version
        A token of the master's version (see :func:`_version`): a rewritten master
        is opened anew.
    """

    __slots__ = ("dtype", "mask_and_scale", "master", "ndim", "shape", "variable", "version")

    def __init__(self, master: str, variable: str, shape: tuple[int, ...],
                 dtype: np.dtype[Any], mask_and_scale: bool = True,
                 version: int | None = None) -> None:
        self.master = master
        self.variable = variable
        self.shape = shape
        self.ndim = len(shape)
        self.dtype = dtype
        self.mask_and_scale = mask_and_scale
        self.version = version

    def __getitem__(self, key: Any) -> npt.NDArray[Any]:
        with _lock():  # netCDF-C/HDF5 calls are serialised per process
            var = _find_variable(_open_master(self.master, self.version), self.variable)
            var.set_auto_maskandscale(self.mask_and_scale)
            values = var[key]
        if isinstance(values, np.ma.MaskedArray):
            return values.astype(self.dtype, copy=False)
        return np.asarray(values, dtype=self.dtype)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (FragmentArray, (self.master, self.variable, self.shape, self.dtype,
                                self.mask_and_scale, self.version))


def to_dask(source: Any, name: str | None = None, *, mask_and_scale: bool = True) -> Any:
    """A dask array over an aggregated variable, with one chunk per fragment.

    Parameters
    ----------
    source
        An aggregated variable of an open :class:`semsl.Dataset`, or the path or URI
        of a master file.
    name
        With a path: the variable's path in the master (``"tas"``, ``"/group/tas"``);
        ignored with a variable.
    mask_and_scale
        Values as netCDF4 returns them by default (masked arrays, packed values
        unpacked), or raw values.

    Returns
    -------
    dask.array.Array
        Chunk ``(i, j, ...)`` is fragment ``(i, j, ...)``.  Tasks capture the master's
        path and the variable's path only; each opens the master itself.
    """
    import dask.array as da  # noqa: PLC0415 (an optional dependency)

    master, path = _source(source, name)
    version = _version(master)
    with NETCDF_LOCK:
        var = _find_variable(_open_master(master, version), path) \
            if isinstance(source, str | os.PathLike) else source
        chunks = fragment_lengths(var)
        shape = tuple(var.shape)
        dtype = _read_dtype(var, mask_and_scale)
    array = FragmentArray(master, path, shape, dtype, mask_and_scale, version)
    meta: Any = np.empty((0,) * len(shape), dtype=dtype)
    if mask_and_scale:
        meta = np.ma.masked_array(meta)
    from_array: Any = da.from_array  # untyped
    return from_array(array, chunks=chunks, meta=meta, asarray=False, lock=False,
                      name=f"semsl-{_token(master, path, version, mask_and_scale)}")


def _source(source: Any, name: str | None) -> tuple[str, str]:
    """The master's path or URI and the variable's path."""
    if isinstance(source, str | os.PathLike):
        if not name:
            raise TypeError("to_dask(path, name): give the variable's path in the master")
        text = os.fspath(source)
        master = text if registry.is_remote(text) else os.path.abspath(text)
        return master, "/" + name.strip("/")
    group = source.group()
    root = group
    while root.parent is not None:
        root = root.parent
    return str(root.filepath()), f"{group.path.rstrip('/')}/{source.name}"


def fragment_lengths(var: Any) -> tuple[tuple[int, ...], ...]:
    """Per dimension, the lengths of the fragments of a variable: its dask chunks.

    Past the end of the grid an unlimited dimension reads as fill value: that part is
    one more chunk.  A plain variable is one chunk.
    """
    fragments = getattr(var, "fragments", None)
    if fragments is None:
        return tuple((int(n),) for n in var.shape)
    out = []
    for size, bounds in zip(var.shape, fragments.boundaries, strict=True):
        lengths = [int(n) for n in np.diff(bounds)]
        if size > sum(lengths):
            lengths.append(size - sum(lengths))
        out.append(tuple(lengths) if lengths else (int(size),))
    return tuple(out)


def _read_dtype(var: Any, mask_and_scale: bool) -> np.dtype[Any]:
    """The data type netCDF4 returns: the raw type, or that of the unpacked values."""
    raw: np.dtype[Any] = np.dtype(var.dtype)
    attrs = set(var.ncattrs())
    if not mask_and_scale or not attrs & {"scale_factor", "add_offset"}:
        return raw
    values: npt.NDArray[Any] = np.zeros(1, raw)
    if "scale_factor" in attrs:
        values = values * var.getncattr("scale_factor")
    if "add_offset" in attrs:
        values = values + var.getncattr("add_offset")
    return np.asarray(values).dtype


def _token(*parts: Any) -> str:
    from dask.base import tokenize  # noqa: PLC0415

    return str(tokenize(*parts))
