"""The storage backend protocol: where the bytes of masters and fragments live.

A backend moves whole objects (or byte ranges of them) between memory or local files
and one kind of storage: POSIX files, S3 (synchronously or asynchronously), or any
fsspec filesystem.  It knows nothing of netCDF.  Every backend has the same outcome for
a missing object (:class:`semsl.errors.ObjectNotFoundError`, a ``FileNotFoundError``)
and translates its library's errors into :class:`semsl.errors.StorageError` subclasses
once, at this boundary, with messages that name the URI and never a secret.

Bulk operations are asynchronous twins named with an ``_async`` suffix; a backend whose
library is synchronous runs them in a worker thread.  Capability flags say what a
backend can do, so callers never probe with ``hasattr``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol, runtime_checkable

__all__ = ["Backend", "ByteRange", "ObjectInfo"]


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` (inclusive) to ``end`` (exclusive) of an object."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid byte range {self.start}:{self.end}")

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start


@dataclass(frozen=True)
class ObjectInfo:
    """One object found by :meth:`Backend.list`: its URI and size in bytes."""

    uri: str
    size: int


@runtime_checkable
class Backend(Protocol):
    """What every storage backend provides.

    URIs are absolute: a path or ``file://`` URI for POSIX, ``s3://bucket/key`` (or
    ``s3://alias/bucket/key``) for S3, ``protocol://...`` for fsspec.
    """

    #: The backend's name in the user configuration (``"posix"``, ``"s3"``, ...).
    name: str
    #: Whether the ``*_async`` methods do real concurrent I/O (not a thread shim).
    supports_async: bool
    #: Whether ranged reads fetch only the requested bytes.
    supports_ranges: bool
    #: Whether ``open(uri, "wb")`` and ``put`` are allowed.
    writable: bool

    def open(self, uri: str, mode: Literal["rb", "wb"] = "rb") -> BinaryIO:
        """A file object: ``"rb"`` seekable for reading, ``"wb"`` stored on ``close()``."""
        ...

    def get(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """The object's bytes, or only ``byte_range`` of them."""
        ...

    def put(self, uri: str, data: bytes | memoryview) -> None:
        """Store ``data`` as the object ``uri`` (replacing it whole, never half)."""
        ...

    def get_file(self, uri: str, path: str) -> None:
        """Copy the object to the local file ``path``."""
        ...

    def put_file(self, path: str, uri: str) -> None:
        """Store the local file ``path`` as the object ``uri``."""
        ...

    def exists(self, uri: str) -> bool:
        """Whether the object exists."""
        ...

    def size(self, uri: str) -> int:
        """The object's size in bytes."""
        ...

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose URI starts with ``prefix`` (a folder or key prefix)."""
        ...

    def remove(self, uri: str) -> None:
        """Delete the object (a missing object is an error)."""
        ...

    async def get_async(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """Asynchronous :meth:`get`."""
        ...

    async def put_async(self, uri: str, data: bytes | memoryview) -> None:
        """Asynchronous :meth:`put`."""
        ...

    def get_many(self, uris: Sequence[str]) -> builtins.list[bytes]:
        """Fetch many objects concurrently (bounded), in order; all failures reported."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...
