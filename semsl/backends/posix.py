"""The POSIX backend: objects are local files, named by paths or ``file://`` URIs.

Writes are atomic: the bytes go to a hidden temporary file in the target's own folder,
are flushed to disk (``fsync``) and then moved over the target with :func:`os.replace`,
so readers see the old object or the new one, never half of one.  The temporary file is
never put in the system temp folder, which may be another filesystem.

Objects are regular files.  A folder is not an object: ``exists`` is false for it and
reading it is an :class:`~semsl.errors.ObjectNotFoundError`, as for a missing S3 key.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import io
import os
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.parse import quote, unquote, urlsplit

from semsl._sync import gather_windowed, sync
from semsl.backends.base import ByteRange, ObjectInfo
from semsl.errors import (
    ObjectNotFoundError,
    StorageAccessError,
    StorageError,
    StorageTimeoutError,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

__all__ = ["AtomicWriter", "PosixBackend", "local_path"]

#: Suffix of the temporary files of atomic writes; :meth:`PosixBackend.list` skips them.
TEMP_SUFFIX = ".semsl-tmp"
_COPY_CHUNK = 1 << 20
#: What a missing object looks like when reading: the file, or a parent, is missing, or
#: the path names a folder.
_MISSING_ON_READ: tuple[type[OSError], ...] = (
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
)


def local_path(uri: str) -> str:
    """The local path named by a path or a ``file://`` URI.

    Parameters
    ----------
    uri
        A path (returned unchanged) or a ``file:`` URI with no host (or ``localhost``),
        percent-encoded as RFC 8089 says (``file:///data/my%20run/a.nc``).

    Returns
    -------
    str
        The decoded path.

    Raises
    ------
    semsl.errors.StorageError
        If the URI names another host, or has an unencoded ``?`` or ``#``.
    """
    if not _is_file_uri(uri):
        return uri
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise StorageError(
            f"{uri!r} names the host {parts.netloc!r}; the posix backend reads local "
            "files only: use file:///path (no host) or a plain path"
        )
    if parts.query or parts.fragment:
        raise StorageError(
            f"{uri!r} contains '?' or '#'; percent-encode them in file:// URIs "
            "(%3F, %23) or use a plain path"
        )
    return unquote(parts.path)


def _is_file_uri(uri: str) -> bool:
    return uri[:5].lower() == "file:"


@contextlib.contextmanager
def _storage_errors(
    uri: str, action: str, missing: tuple[type[OSError], ...] = (FileNotFoundError,)
) -> Iterator[None]:
    """Translate ``OSError`` into :class:`StorageError` subclasses naming ``uri``."""
    try:
        yield
    except StorageError:
        raise
    except OSError as err:
        raise _translate(err, uri, action, missing) from err


def _translate(
    err: OSError, uri: str, action: str, missing: tuple[type[OSError], ...]
) -> StorageError:
    reason = err.strerror or type(err).__name__
    if isinstance(err, missing):
        return ObjectNotFoundError(f"cannot {action} {uri!r}: no such object ({reason})")
    if isinstance(err, PermissionError):
        return StorageAccessError(
            f"cannot {action} {uri!r}: {reason}; check the permissions of the file "
            "and its folders"
        )
    if isinstance(err, TimeoutError):
        return StorageTimeoutError(f"cannot {action} {uri!r}: {reason}")
    return StorageError(f"cannot {action} {uri!r}: {reason}")


def _is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


class AtomicWriter(io.BufferedWriter):
    """A binary file that replaces ``path`` when closed, and leaves it alone if aborted.

    The bytes are written to a hidden temporary file beside ``path``; :meth:`close`
    flushes it to disk and moves it over ``path`` with :func:`os.replace`.  Leaving a
    ``with`` block by an exception, calling :meth:`abort`, or dropping the object
    unclosed removes the temporary file instead.  Missing parent folders are created.

    Parameters
    ----------
    path
        The local file to write.
    uri
        How to name the target in error messages (default: ``path``).
    """

    def __init__(self, path: str, uri: str | None = None) -> None:
        self.target = path
        self.uri = path if uri is None else uri
        folder, name = os.path.split(os.path.abspath(path))
        # A short, recognisable stem keeps the name under the 255-byte limit.
        temp = os.path.join(folder, f".{name[:50]}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        with _storage_errors(self.uri, "write"):
            os.makedirs(folder, exist_ok=True)
            raw = io.FileIO(temp, "xb")  # created with 0o666 & ~umask, like open()
        super().__init__(raw)
        self.temp = temp

    def write(self, data: Buffer, /) -> int:
        """Write ``data`` to the temporary file; returns the number of bytes."""
        with _storage_errors(self.uri, "write"):
            return super().write(data)

    def close(self) -> None:
        """Flush to disk and replace the target (once; later calls do nothing)."""
        if self.closed:
            return
        try:
            with _storage_errors(self.uri, "write"):
                self.flush()
                os.fsync(self.fileno())
                super().close()
                os.replace(self.temp, self.target)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard what was written; the target keeps its previous content (if any)."""
        self.raw.close()  # closes this writer too, without flushing the buffer
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)

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
        # Unlike ordinary files, an unclosed writer is not committed when collected:
        # its content may be incomplete.
        if "temp" in self.__dict__ and not self.closed:
            self.abort()


class PosixBackend:
    """Objects as local files, named by paths or ``file://`` URIs.

    Parameters
    ----------
    max_concurrency
        Reads in flight at once in :meth:`get_many`.

    Notes
    -----
    The library is synchronous, so ``supports_async`` is false and the ``*_async``
    methods run their synchronous twins in worker threads of semsl's IO loop.
    """

    name: str = "posix"
    supports_async: bool = False
    supports_ranges: bool = True
    writable: bool = True

    def __init__(self, *, max_concurrency: int = 16) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency

    def __repr__(self) -> str:
        return f"PosixBackend(max_concurrency={self.max_concurrency})"

    def open(self, uri: str, mode: Literal["rb", "wb"] = "rb") -> BinaryIO:
        """A file object: ``"rb"`` to read (seekable), ``"wb"`` an :class:`AtomicWriter`.

        Parameters
        ----------
        uri
            Path or ``file://`` URI.
        mode
            ``"rb"`` or ``"wb"``.

        Returns
        -------
        BinaryIO
            In ``"wb"`` mode the target is replaced on ``close()``; the object has
            ``abort()`` and aborts when its ``with`` block exits by an exception.
        """
        if mode == "rb":
            with _storage_errors(uri, "open", _MISSING_ON_READ):
                return open(local_path(uri), "rb")  # the caller closes it
        if mode == "wb":
            return AtomicWriter(local_path(uri), uri)
        raise ValueError(f"mode must be 'rb' or 'wb', not {mode!r}")

    def get(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """The object's bytes, or only those of ``byte_range``.

        A range reaching past the end of the object is clipped to it, as S3 does; one
        starting at or after the end gives ``b""``.  Only the range's bytes are read.
        """
        path = local_path(uri)
        with _storage_errors(uri, "read", _MISSING_ON_READ), open(path, "rb", 0) as file:
            if byte_range is None:
                return file.readall()
            file.seek(byte_range.start)
            return _read_up_to(file, byte_range.length)

    def put(self, uri: str, data: bytes | memoryview) -> None:
        """Store ``data`` as ``uri`` atomically, creating parent folders."""
        with AtomicWriter(local_path(uri), uri) as file:
            file.write(data)

    def get_file(self, uri: str, path: str) -> None:
        """Copy the object to the local file ``path`` (written atomically)."""
        with (
            self.open(uri, "rb") as source,
            AtomicWriter(path) as target,
            _storage_errors(uri, "read"),
        ):
            shutil.copyfileobj(source, target, _COPY_CHUNK)

    def put_file(self, path: str, uri: str) -> None:
        """Store the local file ``path`` as ``uri`` atomically."""
        with _storage_errors(path, "read the local file", _MISSING_ON_READ):
            source = open(path, "rb")  # noqa: SIM115 -- closed by the with below
        with (
            source,
            AtomicWriter(local_path(uri), uri) as target,
            _storage_errors(path, "read the local file"),
        ):
            shutil.copyfileobj(source, target, _COPY_CHUNK)

    def exists(self, uri: str) -> bool:
        """Whether ``uri`` is a file (a folder is not an object)."""
        try:
            info = os.stat(local_path(uri))
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as err:
            raise _translate(err, uri, "check", ()) from err
        return stat.S_ISREG(info.st_mode)

    def size(self, uri: str) -> int:
        """The object's size in bytes."""
        with _storage_errors(uri, "get the size of", _MISSING_ON_READ):
            info = os.stat(local_path(uri))
        if not stat.S_ISREG(info.st_mode):
            raise ObjectNotFoundError(f"cannot get the size of {uri!r}: it is a folder")
        return info.st_size

    def list(self, prefix: str) -> builtins.list[ObjectInfo]:
        """Every file whose URI starts with ``prefix``, recursively, sorted by URI.

        As with S3 prefixes, the match is on the string: ``.../run1`` finds
        ``.../run1/a.nc`` and ``.../run10.nc``; ``.../run1/`` finds only the former.
        URIs are returned in the form of ``prefix`` (paths for a path, percent-encoded
        ``file://`` URIs for a URI).  Symbolic links are followed (each folder once);
        temporary files of unfinished writes are skipped.
        """
        tail = prefix.rpartition("/")[2]
        head = prefix[: len(prefix) - len(tail)]  # up to and including the last "/"
        is_uri = _is_file_uri(prefix)
        folder = local_path(head) if head else "."
        start = unquote(tail) if is_uri else tail
        with _storage_errors(prefix, "list"):
            found = list(_walk(folder, start))
        encode = quote if is_uri else str
        return sorted(
            (ObjectInfo(head + encode(rel), size) for rel, size in found),
            key=lambda info: info.uri,
        )

    def remove(self, uri: str) -> None:
        """Delete the file (a missing one is an :class:`ObjectNotFoundError`)."""
        with _storage_errors(uri, "remove", _MISSING_ON_READ):
            os.remove(local_path(uri))

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
        """Nothing to release (files are opened per call)."""


def _read_up_to(file: io.FileIO, length: int) -> bytes:
    """Read ``length`` bytes or up to the end (a read may return fewer than asked)."""
    chunks: list[bytes] = []
    while length > 0:
        chunk = file.read(length)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _walk(folder: str, start: str) -> Iterator[tuple[str, int]]:
    """(path relative to ``folder``, size) of the files below entries named ``start*``."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    seen: set[tuple[int, int]] = set()
    for entry in entries:
        if entry.name.startswith(start):
            yield from _walk_entry(entry, entry.name, seen)


def _walk_entry(
    entry: os.DirEntry[str], rel: str, seen: set[tuple[int, int]]
) -> Iterator[tuple[str, int]]:
    if _is_temp_name(entry.name):
        return
    if entry.is_file():
        yield rel, entry.stat().st_size
    elif entry.is_dir():
        info = entry.stat()
        if (info.st_dev, info.st_ino) in seen:  # a link back up the tree
            return
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(entry.path) as children:
            for child in children:
                yield from _walk_entry(child, f"{rel}/{child.name}", seen)
