"""Asynchronous S3 storage on aiobotocore: many objects and parts in flight at once.

Every request runs on semsl's one IO loop (:mod:`semsl._sync`).  The synchronous
methods hand their coroutine to it with :func:`semsl._sync.sync`, so they work the same
from scripts, worker threads and threads that run their own loop (Jupyter); the
``*_async`` methods awaited on another loop forward their work to it.

The aiobotocore client belongs to that loop: it is created lazily inside it, closed by
:meth:`AsyncS3Backend.close`, when the backend is garbage-collected, or at interpreter
exit (before the IO loop stops), and forgotten - never reused - in a child process
after ``fork`` or when the IO loop was replaced.  No client is ever shared between
loops.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import concurrent.futures
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractContextManager, AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from semsl._sync import gather_windowed, get_loop, sync
from semsl.backends._s3common import (
    BytesSource,
    FileSource,
    PartSource,
    S3BackendBase,
    S3Location,
    check_upload,
    content_md5,
    content_total,
    exact_slice,
    is_invalid_range,
    md5_etag,
    part_ranges,
    pwrite_all,
    share_data_loader,
    temporary_beside,
    translating,
    upload_part_size,
)
from semsl.backends.base import ByteRange, ObjectInfo
from semsl.errors import ObjectNotFoundError

try:
    import aiobotocore.session  # type: ignore[import-untyped, unused-ignore]
    import aiohttp
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped, unused-ignore]
except ImportError as _err:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the asynchronous S3 backend needs aiobotocore; install it with: '
        'pip install "semsl[s3]"'
    ) from _err
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
)

__all__ = ["AsyncS3Backend"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")
#: Seconds to wait for a client to close (at ``close()`` and at exit).
_CLOSE_TIMEOUT = 10.0


# ------------------------------------------------------------------ client ownership


@dataclass(eq=False)
class _Client:
    """One aiobotocore client, the loop and process it belongs to, and its closer."""

    loop: asyncio.AbstractEventLoop
    pid: int
    task: asyncio.Task[Any]
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    def usable(self) -> bool:
        """Whether the client may serve the running loop of this process."""
        return self.pid == os.getpid() and self.loop is asyncio.get_running_loop()

    async def aclose(self) -> None:
        """Close the client (on its own loop)."""
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await self.stack.aclose()

    def close(self, wait: bool) -> None:
        """Close the client from any thread; ``wait`` for it unless on its loop's thread."""
        _OPEN.discard(self)
        if self.pid != os.getpid() or self.loop.is_closed() or not self.loop.is_running():
            return  # a dead loop's connections cannot be closed any more
        done = asyncio.run_coroutine_threadsafe(self.aclose(), self.loop)
        if wait and not _on_thread_of(self.loop):
            with contextlib.suppress(concurrent.futures.TimeoutError):
                done.result(_CLOSE_TIMEOUT)


#: Clients not closed yet; closed at exit while the IO loop still runs.
_OPEN: set[_Client] = set()
_loop_threads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, threading.Thread] = (
    weakref.WeakKeyDictionary())


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    return _loop_threads.get(loop) is threading.current_thread()


def _close_all_at_exit() -> None:
    for client in list(_OPEN):
        client.close(wait=True)


# semsl._sync registered its own exit hook (stopping the IO loop) when it was imported,
# before this one: exit hooks run last-in first-out, so clients close while it runs.
atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_OPEN.clear)


async def _on_io_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    """Await ``coro`` on semsl's IO loop, wherever the caller's loop is."""
    io_loop = get_loop()
    if asyncio.get_running_loop() is io_loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, io_loop))


# ------------------------------------------------------------------------ backend


class AsyncS3Backend(S3BackendBase):
    """Objects in S3 (or any S3-compatible store), accessed asynchronously with aiobotocore.

    Credentials and endpoint are found as by :class:`semsl.backends.s3.S3Backend`; the
    parameters are those of :class:`semsl.backends._s3common.S3BackendBase`.  Failed
    requests are retried by botocore only (``retries``, ``standard`` mode).
    """

    supports_async = True

    def _init_state(self) -> None:
        self._client_ref: _Client | None = None
        self._finalizer = weakref.finalize(self, _nothing)

    # -- connection state ------------------------------------------------------------

    async def _client(self) -> Any:
        current = self._client_ref
        if current is None or not current.usable():
            # A client of the parent process (after fork) or of a replaced IO loop is
            # dropped, never used or closed here: its connections are not ours.
            current = self._start_client()
        try:
            return await asyncio.shield(current.task)
        except Exception:
            if self._client_ref is current:  # let the next call try again
                self._client_ref = None
                current.close(wait=False)
            raise

    def _start_client(self) -> _Client:
        loop = asyncio.get_running_loop()
        _loop_threads[loop] = threading.current_thread()
        stack = AsyncExitStack()
        task = loop.create_task(self._new_client(stack))
        current = self._client_ref = _Client(loop, os.getpid(), task, stack)
        _OPEN.add(current)
        # Garbage collection closes the client too (without waiting: it may run anywhere).
        self._finalizer = weakref.finalize(self, partial(current.close, wait=False))
        self._finalizer.atexit = False
        return current

    async def _new_client(self, stack: AsyncExitStack) -> Any:
        session = share_data_loader(
            aiobotocore.session.AioSession(profile=self.settings.profile))
        creator = session.create_client(
            "s3", config=self.settings.botocore_config(AioConfig),
            **self.settings.client_kwargs(),
        )
        return await stack.enter_async_context(creator)

    def close(self) -> None:
        """Close the client (the backend stays usable and opens a new one when needed)."""
        current, self._client_ref = self._client_ref, None
        if current is not None:
            self._finalizer.detach()
            current.close(wait=True)

    def _translating(self, loc: S3Location, action: str) -> AbstractContextManager[None]:
        return translating(loc, action, self.settings, (aiohttp.ClientError,))

    # -- public synchronous API ------------------------------------------------------

    def get(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """The object's bytes, or only ``byte_range`` of them (clipped to its end)."""
        return sync(self._get(self._loc(uri), byte_range))

    def put(self, uri: str, data: bytes | memoryview) -> None:
        """Store ``data`` as the object (in concurrent parts above ``multipart_threshold``)."""
        sync(self._upload(self._loc(uri), BytesSource(data)))

    def get_file(self, uri: str, path: str) -> None:
        """Copy the object to the local file ``path`` (written beside it, then renamed)."""
        sync(self._get_file(self._loc(uri), path))

    def put_file(self, path: str, uri: str) -> None:
        """Store the local file ``path`` as the object; parts are read as they are sent."""
        loc = self._loc(uri)
        with open(path, "rb") as file:
            fd = file.fileno()
            sync(self._upload(loc, FileSource(fd, os.fstat(fd).st_size)))

    def exists(self, uri: str) -> bool:
        """Whether the object exists (a missing bucket reads as missing)."""
        return sync(self._exists(self._loc(uri)))

    def size(self, uri: str) -> int:
        """The object's size in bytes."""
        response = sync(self._head(self._loc(uri), "inspect"))
        return int(response["ContentLength"])

    def list(self, prefix: str) -> builtins.list[ObjectInfo]:
        """Every object whose URI starts with ``prefix`` (``s3://bucket/key-prefix``)."""
        return sync(self._list(self._loc(prefix, need_key=False)))

    def remove(self, uri: str) -> None:
        """Delete the object; a missing object is an :class:`ObjectNotFoundError`."""
        sync(self._remove(self._loc(uri)))

    def get_many(self, uris: Sequence[str]) -> builtins.list[bytes]:
        """Fetch many objects, at most ``max_concurrency`` in flight, in order.

        Raises
        ------
        semsl._sync.BatchError
            Holding every failure, each naming its URI.
        """
        factories = [partial(self.get_async, uri) for uri in uris]
        return sync(gather_windowed(factories, self.settings.max_concurrency))

    # -- public asynchronous API -----------------------------------------------------

    async def get_async(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """Asynchronous :meth:`get` (runs on semsl's IO loop whatever the caller's loop)."""
        return await _on_io_loop(self._get(self._loc(uri), byte_range))

    async def put_async(self, uri: str, data: bytes | memoryview) -> None:
        """Asynchronous :meth:`put` (runs on semsl's IO loop whatever the caller's loop)."""
        await _on_io_loop(self._upload(self._loc(uri), BytesSource(data)))

    # -- what ``open`` needs (synchronous) -------------------------------------------

    def _stat(self, loc: S3Location) -> tuple[int, str | None]:
        response = sync(self._head(loc, "open"))
        return int(response["ContentLength"]), response.get("ETag")

    def _read_exact(self, loc: S3Location, etag: str | None, start: int, end: int) -> bytes:
        return sync(self._read_range(loc, etag, start, end))

    def _upload_source(self, loc: S3Location, source: PartSource) -> None:
        sync(self._upload(loc, source))

    # -- reading (on the IO loop) ----------------------------------------------------

    async def _head(self, loc: S3Location, action: str) -> dict[str, Any]:
        with self._translating(loc, action):
            client = await self._client()
            response: dict[str, Any] = await client.head_object(
                Bucket=loc.bucket, Key=loc.key)
        return response

    async def _exists(self, loc: S3Location) -> bool:
        try:
            await self._head(loc, "inspect")
        except ObjectNotFoundError:
            return False
        return True

    async def _list(self, loc: S3Location) -> builtins.list[ObjectInfo]:
        base = loc.uri[: len(loc.uri) - len(loc.key)]
        found: builtins.list[ObjectInfo] = []
        with self._translating(loc, "list"):
            client = await self._client()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=loc.bucket, Prefix=loc.key,
                PaginationConfig={"PageSize": self.list_page_size})
            async for page in pages:
                found.extend(ObjectInfo(base + item["Key"], int(item["Size"]))
                             for item in page.get("Contents", ()))
        return found

    async def _remove(self, loc: S3Location) -> None:
        await self._head(loc, "remove")  # S3 deletes missing keys silently
        with self._translating(loc, "remove"):
            client = await self._client()
            await client.delete_object(Bucket=loc.bucket, Key=loc.key)

    async def _get_object(self, loc: S3Location, byte_range: str | None = None,
                          etag: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """One GET; a 416 answer (range past the end) gives ``b""`` and no response."""
        params: dict[str, Any] = {"Bucket": loc.bucket, "Key": loc.key}
        if byte_range is not None:
            params["Range"] = byte_range
        if etag is not None:
            params["IfMatch"] = etag
        with self._translating(loc, "read"):
            client = await self._client()
            try:
                response = await client.get_object(**params)
            except ClientError as err:
                if byte_range is not None and is_invalid_range(err):
                    return b"", {}
                raise
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data, response

    async def _get(self, loc: S3Location, byte_range: ByteRange | None) -> bytes:
        if byte_range is not None:
            return await self._get_range(loc, byte_range)
        first, total, etag = await self._first_part(loc)
        if total == len(first):
            return first
        buffer = bytearray(total)
        buffer[: len(first)] = first

        async def sink(pos: int, data: bytes) -> None:
            buffer[pos:pos + len(data)] = data

        await self._fetch_parts(loc, etag, total, len(first), sink)
        return bytes(buffer)

    async def _get_range(self, loc: S3Location, byte_range: ByteRange) -> bytes:
        if byte_range.length == 0:
            await self._head(loc, "read")  # a missing object is an error even for no bytes
            return b""
        data, response = await self._get_object(
            loc, f"bytes={byte_range.start}-{byte_range.end - 1}")
        if not response:
            await self._head(loc, "read")  # 416: past the end of an existing object
            return b""
        return exact_slice(loc, data, response, byte_range.start, byte_range.end)

    async def _read_range(self, loc: S3Location, etag: str | None, start: int,
                          end: int) -> bytes:
        data, response = await self._get_object(loc, f"bytes={start}-{end - 1}", etag)
        return exact_slice(loc, data, response, start, end)

    async def _first_part(self, loc: S3Location) -> tuple[bytes, int, str | None]:
        """The first part (or the whole object): its bytes, the total size, the ETag."""
        if not self.settings.multipart_download:
            data, response = await self._get_object(loc)
            return data, len(data), response.get("ETag")
        part = self.settings.max_part_size
        data, response = await self._get_object(loc, f"bytes=0-{part - 1}")
        if not response:  # 416: the object is empty
            data, response = await self._get_object(loc)
        data = exact_slice(loc, data, response, 0, part)
        return data, content_total(response, len(data)), response.get("ETag")

    async def _fetch_parts(self, loc: S3Location, etag: str | None, total: int, start: int,
                           sink: Callable[[int, bytes], Awaitable[None]]) -> None:
        """Fetch bytes ``start:total`` in concurrent parts, each handed to ``sink``.

        ``If-Match`` with the first part's ETag makes a replaced object an error
        rather than a mix of two versions.
        """
        async def fetch(part: ByteRange) -> None:
            await sink(part.start, await self._read_range(loc, etag, part.start, part.end))

        await self._run_bounded(part_ranges(total, self.settings.max_part_size, start), fetch)

    async def _get_file(self, loc: S3Location, path: str) -> None:
        first, total, etag = await self._first_part(loc)
        with temporary_beside(path) as fd:

            async def sink(pos: int, data: bytes) -> None:
                await asyncio.to_thread(pwrite_all, fd, pos, data)

            await sink(0, first)
            await self._fetch_parts(loc, etag, total, len(first), sink)

    # -- writing (on the IO loop) ----------------------------------------------------

    async def _upload(self, loc: S3Location, source: PartSource) -> None:
        if self._multipart(source.size):
            await self._put_multipart(loc, source)
        else:
            await self._put_single(loc, source)

    async def _put_single(self, loc: S3Location, source: PartSource) -> None:
        data, digest, md5 = await _read_and_hash(source, 0, source.size)
        with self._translating(loc, "write"):
            client = await self._client()
            response = await client.put_object(
                Bucket=loc.bucket, Key=loc.key, Body=data, ContentMD5=md5)
        check_upload(loc, response, md5_etag([digest], multipart=False))

    async def _put_multipart(self, loc: S3Location, source: PartSource) -> None:
        with self._translating(loc, "write"):
            client = await self._client()
            created = await client.create_multipart_upload(Bucket=loc.bucket, Key=loc.key)
        upload_id = created["UploadId"]
        try:
            await self._send_parts(loc, upload_id, source)
        except BaseException:
            # Shielded: a cancelled upload must still be aborted, or its parts stay.
            await asyncio.shield(self._abort(loc, upload_id))
            raise

    async def _send_parts(self, loc: S3Location, upload_id: str, source: PartSource) -> None:
        size = upload_part_size(source.size, self.settings.max_part_size)
        send = partial(self._put_part, loc, upload_id, source)
        parts = await self._run_bounded(
            list(enumerate(part_ranges(source.size, size), start=1)), send)
        with self._translating(loc, "write"):
            client = await self._client()
            await client.complete_multipart_upload(
                Bucket=loc.bucket, Key=loc.key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e, _ in parts]})
        expected = md5_etag([digest for _, _, digest in parts], multipart=True)
        check_upload(loc, await self._head(loc, "check"), expected, source.size)

    async def _put_part(self, loc: S3Location, upload_id: str, source: PartSource,
                        item: tuple[int, ByteRange]) -> tuple[int, str, bytes]:
        number, part = item
        data, digest, md5 = await _read_and_hash(source, part.start, part.end)
        with self._translating(loc, f"write part {number} of"):
            client = await self._client()
            response = await client.upload_part(
                Bucket=loc.bucket, Key=loc.key, UploadId=upload_id, PartNumber=number,
                Body=data, ContentMD5=md5)
        check_upload(loc, response, digest.hex())
        return number, str(response["ETag"]), digest

    async def _abort(self, loc: S3Location, upload_id: str) -> None:
        try:
            client = await self._client()
            await client.abort_multipart_upload(
                Bucket=loc.bucket, Key=loc.key, UploadId=upload_id)
        except (BotoCoreError, ClientError, aiohttp.ClientError) as err:
            # The upload's own failure is what the caller must see; this one is logged.
            _log.warning("could not abort the multipart upload of %s (%s); its parts may "
                         "remain until a bucket lifecycle rule removes them",
                         loc.uri, type(err).__name__)

    async def _run_bounded(self, items: Sequence[_T],
                           work: Callable[[_T], Awaitable[_R]]) -> builtins.list[_R]:
        """``work`` over ``items``, ``max_concurrency`` at once; the first error cancels.

        A fixed set of workers takes items in turn, so there is never a task per item.
        """
        results: dict[int, _R] = {}
        queue = iter(enumerate(items))

        async def worker() -> None:
            for index, item in queue:
                results[index] = await work(item)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.settings.max_concurrency, len(items))):
                    group.create_task(worker())
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [results[index] for index in range(len(items))]


def _nothing() -> None:
    return None


async def _read_and_hash(source: PartSource, start: int, end: int) -> tuple[bytes, bytes, str]:
    """Bytes ``start:end`` of ``source``, their MD5 digest and ``Content-MD5`` value.

    Done in a worker thread: reading a local file and hashing megabytes (hashlib
    releases the GIL) must not stall the other requests on the IO loop.
    """
    return await asyncio.to_thread(_read_and_hash_now, source, start, end)


def _read_and_hash_now(source: PartSource, start: int, end: int) -> tuple[bytes, bytes, str]:
    if isinstance(source, BytesSource) and start == 0 and end == source.size:
        data = source.whole()
    else:
        data = source.read(start, end)
    return (data, *content_md5(data))
