"""Shared resources: the netCDF-C/HDF5 lock and the cache of open fragment files.

netCDF-C and HDF5 are not safe to call from several threads at once, so every call
into them from semsl's fragment I/O holds :data:`NETCDF_LOCK`.  Opening a netCDF file
costs milliseconds, more than reading a map from it, so fragment files stay open in a
:class:`HandleCache` across reads and are closed least-recently-used when the
open-file budget is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_OPEN_FILES", "NETCDF_LOCK", "HandleCache", "OpenFragment", "Upload"]

#: One lock around every call into netCDF-C/HDF5 made for fragment I/O.
NETCDF_LOCK = threading.RLock()

#: Default number of fragment files kept open per dataset.
DEFAULT_OPEN_FILES = 64
#: Fragments uploaded at once when a dataset on remote storage is closed.
UPLOADS_IN_FLIGHT = 8


@dataclass(frozen=True)
class Upload:
    """A fragment built in a local scratch file, to be stored at ``uri`` when closed."""

    backend: Any
    uri: str
    path: str

    def run(self) -> None:
        """Store the scratch file and remove it."""
        self.backend.put_file(self.path, self.uri)
        os.remove(self.path)

    def discard(self) -> None:
        """Remove the scratch file without storing it."""
        with contextlib.suppress(OSError):
            os.remove(self.path)


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
    upload
        For a remote fragment opened for writing: where its scratch file goes.
    nbytes
        Memory the open file holds (a remote fragment read into memory), counted
        against the memory budget.
    """

    dataset: Any
    writable: bool
    checked: bool = False
    upload: Upload | None = None
    nbytes: int = 0
    #: Per fragment variable, how its values become canonical (see semsl.cfa.canonical).
    adapters: dict[str, Any] = field(default_factory=dict)
    #: Whether its data were checked against the master's checksum.
    verified: bool = False

    def close(self) -> None:
        """Close the file if it is still open, and store it if it is remote."""
        self.close_local()
        if self.upload is not None:
            upload, self.upload = self.upload, None
            upload.run()

    def close_local(self) -> None:
        """Close the netCDF file (a remote fragment is not stored yet)."""
        with NETCDF_LOCK:
            if self.dataset.isopen():
                self.dataset.close()


class HandleCache:
    """Least-recently-used cache of open fragment files, keyed by path.

    Parameters
    ----------
    capacity
        Most files kept open at once; the least recently used is closed when a new one
        would exceed it (a written file is flushed by closing it - a remote one is
        uploaded - and reopened for update when written again).
    memory_budget
        Most bytes held by fragments read into memory; the least recently used are
        closed beyond it (the newest always stays open).
    """

    def __init__(self, capacity: int = DEFAULT_OPEN_FILES,
                 memory_budget: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"the open-file budget must be at least 1, not {capacity}")
        self.capacity = capacity
        self.memory_budget = memory_budget
        self.evictions = 0
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
            while len(self._open) > 1 and self._over_budget():
                _, oldest = self._open.popitem(last=False)
                self.evictions += 1
                oldest.close()
            return entry

    @property
    def nbytes(self) -> int:
        """Memory held by the open fragments."""
        return sum(entry.nbytes for entry in self._open.values())

    def _over_budget(self) -> bool:
        if len(self._open) > self.capacity:
            return True
        return self.memory_budget is not None and self.nbytes > self.memory_budget

    def discard(self, path: str) -> None:
        """Close and forget the file at ``path`` if it is open."""
        with NETCDF_LOCK:
            entry = self._open.pop(path, None)
            if entry is not None:
                entry.close()

    def close_all(self) -> None:
        """Close every open file; store the remote ones concurrently.

        Every file is closed even if some fail; the first error is raised after.
        """
        with NETCDF_LOCK:
            entries = list(self._open.values())
            self._open.clear()
            errors: list[BaseException] = []
            for entry in entries:
                try:
                    entry.close_local()
                except (OSError, RuntimeError) as err:
                    errors.append(err)
        uploads = [e.upload for e in entries if e.upload is not None]
        for entry in entries:
            entry.upload = None
        if errors:
            for upload in uploads:
                upload.discard()
            raise errors[0]
        if uploads:
            _store_all(uploads)

    def discard_all(self) -> None:
        """Close every open file without storing remote ones (after a failure)."""
        with NETCDF_LOCK:
            entries = list(self._open.values())
            self._open.clear()
        for entry in entries:
            with contextlib.suppress(Exception):
                entry.close_local()
            if entry.upload is not None:
                entry.upload.discard()
                entry.upload = None


def _store_all(uploads: list[Upload]) -> None:
    """Upload scratch files concurrently (bounded); every failure is reported."""
    from semsl._sync import gather_windowed, sync  # noqa: PLC0415 (starts the IO thread)

    async def store(upload: Upload) -> None:
        await asyncio.to_thread(upload.run)

    factories = [functools.partial(store, upload) for upload in uploads]
    try:
        sync(gather_windowed(factories, UPLOADS_IN_FLIGHT))
    finally:
        for upload in uploads:
            upload.discard()
