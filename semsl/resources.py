"""Shared resources: the netCDF-C/HDF5 lock and the cache of open fragment files.

netCDF-C and HDF5 are not safe to call from several threads at once, so every call
into them from semsl's fragment I/O holds :data:`NETCDF_LOCK`.  Opening a netCDF file
costs milliseconds, more than reading a map from it, so fragment files stay open in a
:class:`HandleCache` across reads and are closed least-recently-used when the
open-file budget is reached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_OPEN_FILES", "NETCDF_LOCK", "HandleCache", "OpenFragment"]

#: One lock around every call into netCDF-C/HDF5 made for fragment I/O.
NETCDF_LOCK = threading.RLock()

#: Default number of fragment files kept open per dataset.
DEFAULT_OPEN_FILES = 64


@dataclass
class OpenFragment:
    """An open fragment file.

    Attributes
    ----------
    dataset
        The ``netCDF4.Dataset`` of the fragment.
    writable
        Whether it was opened for writing.
    checked
        Whether its variable was already checked against the master's grid.
    """

    dataset: Any
    writable: bool
    checked: bool = False

    def close(self) -> None:
        """Close the file if it is still open."""
        if self.dataset.isopen():
            self.dataset.close()


class HandleCache:
    """Least-recently-used cache of open fragment files, keyed by path.

    Parameters
    ----------
    capacity
        Most files kept open at once; the least recently used is closed when a new one
        would exceed it (a written file is flushed by closing it and reopened for
        update when written again).
    """

    def __init__(self, capacity: int = DEFAULT_OPEN_FILES) -> None:
        if capacity < 1:
            raise ValueError(f"the open-file budget must be at least 1, not {capacity}")
        self.capacity = capacity
        self._open: OrderedDict[str, OpenFragment] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, path: object) -> bool:
        return path in self._open

    def get(self, path: str, writable: bool, opener: Callable[[], OpenFragment],
            ) -> OpenFragment:
        """Return the open fragment at ``path``, opening it with ``opener`` if needed.

        A file open read-only is closed and reopened when ``writable`` is asked for.
        """
        with NETCDF_LOCK:
            entry = self._open.get(path)
            if entry is not None and (entry.writable or not writable):
                self._open.move_to_end(path)
                self.hits += 1
                return entry
            if entry is not None:
                self.discard(path)
            self.misses += 1
            entry = opener()
            self._open[path] = entry
            while len(self._open) > self.capacity:
                _, oldest = self._open.popitem(last=False)
                oldest.close()
            return entry

    def discard(self, path: str) -> None:
        """Close and forget the file at ``path`` if it is open."""
        with NETCDF_LOCK:
            entry = self._open.pop(path, None)
            if entry is not None:
                entry.close()

    def close_all(self) -> None:
        """Close every open file (errors of the first failing close are raised)."""
        with NETCDF_LOCK:
            entries = list(self._open.values())
            self._open.clear()
            first_error: BaseException | None = None
            for entry in entries:
                try:
                    entry.close()
                except (OSError, RuntimeError) as err:
                    first_error = first_error or err
            if first_error is not None:
                raise first_error
