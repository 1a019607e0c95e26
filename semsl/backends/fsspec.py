"""The fsspec backend: objects on any fsspec filesystem (``memory://``, ``https://``, ...).

fsspec is imported when a backend is made, so semsl works without it; the error then
says which extra to install.  Filesystems that cannot write (``http``, ``https`` and
archive readers) give a backend with ``writable`` false whose writes raise
:class:`~semsl.errors.StorageError`.

Every call goes through fsspec's synchronous API; the ``*_async`` methods run it in a
worker thread of semsl's IO loop and ``supports_async`` is false.  fsspec's own async
filesystems keep their coroutines on fsspec's IO thread, so driving them from semsl's
loop would mean two loops handing work to each other; the thread shim is simpler and
still concurrent (fsspec's sync calls from several threads run at once on its loop).

For local files prefer :class:`~semsl.backends.posix.PosixBackend`: writes through
fsspec are as atomic as the filesystem makes them (``memory://`` is; ``file://`` is not).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import importlib
import io
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType, TracebackType
from typing import Any, BinaryIO, Literal, cast

from semsl._sync import gather_windowed, sync
from semsl.backends.base import ByteRange, ObjectInfo
from semsl.backends.posix import AtomicWriter
from semsl.errors import (
    ObjectNotFoundError,
    StorageAccessError,
    StorageError,
    StorageTimeoutError,
    UnsupportedFeatureError,
)

__all__ = ["FsspecBackend"]

#: fsspec protocols that can only read.
READ_ONLY_PROTOCOLS = frozenset({"http", "https", "github", "tar", "libarchive", "reference"})
_COPY_CHUNK = 1 << 20
_HTTP_RANGE_NOT_SATISFIABLE = 416


def _import_fsspec() -> ModuleType:
    try:
        return importlib.import_module("fsspec")
    except ImportError as err:
        raise UnsupportedFeatureError(
            'the fsspec backend needs the fsspec package: pip install "semsl[fsspec]"'
        ) from err


def _make_filesystem(protocol: str, storage_options: dict[str, Any]) -> Any:
    fsspec = _import_fsspec()
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ValueError as err:
        raise UnsupportedFeatureError(
            f"fsspec knows no filesystem {protocol!r}; see fsspec.available_protocols()"
        ) from err
    except ImportError as err:
        raise UnsupportedFeatureError(
            f"the fsspec filesystem {protocol!r} needs a package that is not installed "
            f"({err}); for http/https: pip install \"fsspec[http]\""
        ) from err
    return cls(**storage_options)


def _library_errors(protocols: frozenset[str]) -> tuple[type[Exception], ...]:
    """The exceptions a filesystem raises besides ``OSError`` (translated too)."""
    if protocols & {"http", "https"}:
        aiohttp = importlib.import_module("aiohttp")  # already imported by fsspec's http
        return (OSError, aiohttp.ClientError)
    return (OSError,)


def _translate(err: Exception, uri: str, action: str) -> StorageError:
    """The :class:`StorageError` for a library error; the message names ``uri`` only."""
    status = getattr(err, "status", None)  # aiohttp.ClientResponseError
    if isinstance(err, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return ObjectNotFoundError(f"cannot {action} {uri!r}: no such object")
    if status == 404:
        return ObjectNotFoundError(f"cannot {action} {uri!r}: no such object (HTTP 404)")
    if isinstance(err, PermissionError) or status in (401, 403):
        return StorageAccessError(
            f"cannot {action} {uri!r}: access denied; check the credentials and "
            "permissions given in the storage options"
        )
    if isinstance(err, TimeoutError):
        return StorageTimeoutError(f"cannot {action} {uri!r}: timed out")
    reason = f"HTTP {status}" if status else getattr(err, "strerror", None)
    return StorageError(f"cannot {action} {uri!r}: {reason or type(err).__name__}")


class _UploadOnClose(io.BytesIO):
    """Collects the bytes in memory and stores them in one call when closed."""

    def __init__(self, upload: Callable[[bytes], None]) -> None:
        super().__init__()
        self._upload = upload

    def close(self) -> None:
        """Store what was written (once; later calls do nothing)."""
        if self.closed:
            return
        data = self.getvalue()
        super().close()
        self._upload(data)

    def abort(self) -> None:
        """Discard what was written; the object keeps its previous content (if any)."""
        super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # Never store a possibly incomplete object when collected unclosed.
        if "_upload" in self.__dict__ and not self.closed:
            self.abort()


class FsspecBackend:
    """Objects on an fsspec filesystem; URIs are ``protocol://...`` as fsspec takes them.

    Parameters
    ----------
    protocol
        The fsspec protocol (``"memory"``, ``"file"``, ``"https"``, ...).
    max_concurrency
        Reads in flight at once in :meth:`get_many`.
    **storage_options
        Passed to the fsspec filesystem; never shown in messages or ``repr``.

    Raises
    ------
    semsl.errors.UnsupportedFeatureError
        If fsspec, or a package the filesystem needs, is not installed, or fsspec knows
        no such protocol.
    """

    name: str = "fsspec"
    supports_async: bool = False
    supports_ranges: bool = True
    writable: bool

    def __init__(self, protocol: str, *, max_concurrency: int = 16, **storage_options: Any):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.protocol = protocol
        self.max_concurrency = max_concurrency
        self.fs = _make_filesystem(protocol, storage_options)
        fs_protocols = self.fs.protocol
        names = {fs_protocols} if isinstance(fs_protocols, str) else set(fs_protocols)
        protocols = frozenset({protocol, *names})
        self.writable = not protocols & READ_ONLY_PROTOCOLS
        self._library_errors = _library_errors(protocols)

    def __repr__(self) -> str:
        return f"FsspecBackend({self.protocol!r})"

    @contextlib.contextmanager
    def _errors(self, uri: str, action: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except self._library_errors as err:
            raise _translate(err, uri, action) from err

    def _path(self, uri: str) -> str:
        return cast(str, self.fs._strip_protocol(uri))

    def _check_writable(self, uri: str) -> None:
        if not self.writable:
            raise StorageError(
                f"cannot write {uri!r}: the fsspec filesystem {self.protocol!r} is read-only"
            )

    def open(self, uri: str, mode: Literal["rb", "wb"] = "rb") -> BinaryIO:
        """A file object: ``"rb"`` fsspec's seekable file, ``"wb"`` stored on close.

        In ``"wb"`` mode the bytes are held in memory and stored in one call by
        ``close()``; the object has ``abort()`` and aborts when its ``with`` block exits
        by an exception.  (``memory://`` hands every reader the same file object, so
        two readers of one object share its position.)
        """
        if mode == "rb":
            with self._errors(uri, "open"):
                return cast(BinaryIO, self.fs.open(self._path(uri), "rb"))
        if mode == "wb":
            self._check_writable(uri)
            return _UploadOnClose(functools.partial(self.put, uri))
        raise ValueError(f"mode must be 'rb' or 'wb', not {mode!r}")

    def get(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """The object's bytes, or only those of ``byte_range``.

        A range reaching past the end is clipped to it; one starting at or after the
        end gives ``b""``.
        """
        if byte_range is None:
            start, end = None, None
        elif byte_range.length == 0:
            self.size(uri)  # a missing object is still an error
            return b""
        else:
            start, end = byte_range.start, byte_range.end
        try:
            return bytes(self.fs.cat_file(self._path(uri), start=start, end=end))
        except self._library_errors as err:
            if getattr(err, "status", None) == _HTTP_RANGE_NOT_SATISFIABLE:
                return b""  # the range starts past the end
            raise _translate(err, uri, "read") from err

    def put(self, uri: str, data: bytes | memoryview) -> None:
        """Store ``data`` as ``uri``, creating parent folders where the filesystem has them."""
        self._check_writable(uri)
        self._write(uri, lambda path: self.fs.pipe_file(path, bytes(data)))

    def _write(self, uri: str, store: Callable[[str], object]) -> None:
        path = self._path(uri)
        with self._errors(uri, "write"):
            try:
                store(path)
            except FileNotFoundError:  # the parent folder is missing (file://)
                self.fs.makedirs(self.fs._parent(path), exist_ok=True)
                store(path)

    def get_file(self, uri: str, path: str) -> None:
        """Copy the object to the local file ``path`` (written atomically)."""
        with (
            self.open(uri, "rb") as source,
            AtomicWriter(path) as target,
            self._errors(uri, "read"),
        ):
            shutil.copyfileobj(source, target, _COPY_CHUNK)

    def put_file(self, path: str, uri: str) -> None:
        """Store the local file ``path`` as ``uri``."""
        self._check_writable(uri)
        if not os.path.isfile(path):
            raise ObjectNotFoundError(f"cannot store {uri!r}: no local file {path!r}")
        self._write(uri, lambda target: self.fs.put_file(path, target))

    def exists(self, uri: str) -> bool:
        """Whether ``uri`` is an object (a folder is not)."""
        with self._errors(uri, "check"):
            return bool(self.fs.isfile(self._path(uri)))

    def size(self, uri: str) -> int:
        """The object's size in bytes."""
        with self._errors(uri, "get the size of"):
            info = self.fs.info(self._path(uri))
        if info.get("type") != "file":
            raise ObjectNotFoundError(f"cannot get the size of {uri!r}: it is a folder")
        if info.get("size") is None:
            raise StorageError(f"cannot get the size of {uri!r}: the server does not say")
        return int(info["size"])

    def list(self, prefix: str) -> builtins.list[ObjectInfo]:
        """Every object whose URI starts with ``prefix``, recursively, sorted by URI.

        The match is on the string, as for S3 prefixes: ``.../run1`` finds
        ``.../run1/a.nc`` and ``.../run10.nc``; ``.../run1/`` only the former.
        """
        stripped = self._path(prefix)
        if prefix.endswith("/") and not stripped.endswith("/"):
            stripped += "/"
        with self._errors(prefix, "list"):
            found = dict(self._find(stripped))
        infos = (
            ObjectInfo(prefix + path[len(stripped):], int(size))
            for path, size in found.items()
            if path.startswith(stripped)
        )
        return sorted(infos, key=lambda info: info.uri)

    def _find(self, stripped: str) -> Iterator[tuple[str, int]]:
        """(path, size) of the files whose path starts with ``stripped``."""
        candidates: builtins.list[dict[str, Any]]
        if stripped.endswith("/"):
            candidates = [{"name": stripped.rstrip("/"), "type": "directory"}]
        else:
            try:
                candidates = self.fs.ls(self.fs._parent(stripped), detail=True)
            except FileNotFoundError:
                return
        for entry in candidates:
            name = entry["name"]
            if entry["type"] == "file" and name.startswith(stripped):
                yield name, entry["size"]
            elif entry["type"] == "directory" and (name + "/").startswith(stripped):
                for path, info in self.fs.find(name, detail=True).items():
                    yield path, info["size"]

    def remove(self, uri: str) -> None:
        """Delete the object (a missing one is an :class:`ObjectNotFoundError`)."""
        self._check_writable(uri)
        with self._errors(uri, "remove"):
            self.fs.rm_file(self._path(uri))

    async def get_async(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """:meth:`get` in a worker thread."""
        return await asyncio.to_thread(self.get, uri, byte_range)

    async def put_async(self, uri: str, data: bytes | memoryview) -> None:
        """:meth:`put` in a worker thread."""
        await asyncio.to_thread(self.put, uri, data)

    def get_many(self, uris: Sequence[str]) -> builtins.list[bytes]:
        """Read many objects, ``max_concurrency`` at a time, in order.

        Raises
        ------
        semsl._sync.BatchError
            Holding every failure, each naming its URI.
        """
        factories = (functools.partial(self.get_async, uri) for uri in uris)
        return sync(gather_windowed(factories, self.max_concurrency))

    def close(self) -> None:
        """Nothing to release: fsspec shares filesystem instances and closes them itself."""
