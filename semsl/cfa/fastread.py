"""A fast way to read local netCDF-4 fragments that are already in canonical form.

Opening a file with netCDF4-python costs milliseconds (it builds every dimension,
variable and attribute), more than reading a map from a contiguous fragment.  When h5py
is installed (``pip install "semsl[fast]"``), a local netCDF-4 fragment opened for
reading is inspected with h5py instead: if its variable is stored contiguously and
uncompressed, its values are memory-mapped straight from the file; otherwise h5py
reads them.  Only fragments whose raw values are canonical (same data type, same
missing-value attributes as the master, no packing, same units) take this path; every
other fragment, and every fragment opened for writing, goes through netCDF4.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from semsl.cfa.canonical import MISSING_ATTRIBUTES, Adapter, MasterRules

__all__ = ["ENABLED", "FastFragment", "open_fast"]

#: Switch for the fast path (tests compare both paths; the results must not differ).
ENABLED = True

#: Attributes of the fragment variable that must match the master's for raw values to
#: be canonical.
_CHECKED = (*MISSING_ATTRIBUTES, "scale_factor", "add_offset", "units")


class _Variable:
    """The few members of a netCDF4 variable that reading a piece uses."""

    __slots__ = ("dtype", "shape", "source")

    def __init__(self, source: Any) -> None:
        self.source = source
        self.shape = tuple(source.shape)
        self.dtype = source.dtype

    def __getitem__(self, key: Any) -> Any:
        return self.source[key]


class FastFragment:
    """An open fragment read with h5py or a memory map (see the module docstring)."""

    data_model = "NETCDF4"

    def __init__(self, path: str, name: str, source: Any, file: Any | None) -> None:
        self._path = path
        self._file = file
        self._open = True
        self.variables = {name: _Variable(source)}

    def filepath(self) -> str:
        """The fragment's path."""
        return self._path

    def isopen(self) -> bool:
        """Whether the fragment is still open."""
        return self._open

    def close(self) -> None:
        """Close the file (a memory map is released with its last view)."""
        self._open = False
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None


def open_fast(path: str, name: str, expected: Sequence[int], unlimited: Sequence[bool],
              master: MasterRules) -> tuple[FastFragment, Adapter] | None:
    """Open a canonical local netCDF-4 fragment quickly, or ``None`` to use netCDF4."""
    if not ENABLED:
        return None
    try:
        import h5py  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    except ImportError:
        return None
    try:
        file = h5py.File(path, "r", locking=False)
    except OSError:
        return None  # not HDF5 (netCDF-3), or unreadable: netCDF4 reports it
    dataset = file.get(name)
    if not isinstance(dataset, h5py.Dataset) or not _canonical(dataset, expected, unlimited,
                                                                master):
        file.close()
        return None
    adapter = Adapter(None, False, None, master.dtype, master.fill, True)
    offset = dataset.id.get_offset() if dataset.chunks is None else None
    if offset is None or dataset.compression is not None:
        return FastFragment(path, name, dataset, file), adapter
    shape, dtype = dataset.shape, dataset.dtype
    file.close()
    mapped = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    return FastFragment(path, name, mapped, None), adapter


def _canonical(dataset: Any, expected: Sequence[int], unlimited: Sequence[bool],
               master: MasterRules) -> bool:
    shape = tuple(dataset.shape)
    if dataset.dtype != master.dtype or len(shape) != len(expected):
        return False
    if any(n > e if u else n != e for n, e, u in zip(shape, expected, unlimited, strict=True)):
        return False
    return _same_attributes(dataset.attrs, master.attributes)


def _same_attributes(fragment: Any, master: Mapping[str, Any]) -> bool:
    for name in _CHECKED:
        if (name in fragment) != (name in master):
            return False
        if name in fragment and not _equal(fragment[name], master[name]):
            return False
    return True


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bytes):
        a = a.decode("utf-8", "replace")
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return bool(np.array_equal(np.asarray(a).ravel(), np.asarray(b).ravel(), equal_nan=True))
