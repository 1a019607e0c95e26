"""Synchronous S3 storage on botocore: ranged GETs, parallel multipart up- and download.

One botocore client per backend (botocore clients are thread-safe), created on first use
and again in a child process after ``fork``.  Large objects move in parts on a small
thread pool per call, at most ``max_concurrency`` parts at once; a failed multipart
upload is aborted, so no parts are left behind and the previous object stays intact.
The asynchronous twins run the synchronous methods in worker threads.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import closing
from functools import partial
from typing import Any, TypeVar

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
)

from semsl._sync import gather_windowed, sync
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
    upload_part_size,
)
from semsl.backends.base import ByteRange, ObjectInfo
from semsl.errors import ObjectNotFoundError

__all__ = ["S3Backend"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")


class S3Backend(S3BackendBase):
    """Objects in S3 (or any S3-compatible store), accessed synchronously with botocore.

    Credentials come from the arguments, else the ``profile``, else the standard AWS
    chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, the shared
    files, instance roles); the endpoint from ``endpoint_url``, else ``AWS_ENDPOINT_URL``
    or the shared config.  Failed requests are retried by botocore only (``retries``,
    ``standard`` mode).  See :class:`semsl.backends._s3common.S3BackendBase` for the
    parameters.
    """

    supports_async = False

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._client_obj: Any = None
        self._pool_obj: ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    # -- connection state ------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:
            self._forget_after_fork()
            if self._client_obj is None:
                session = share_data_loader(
                    botocore.session.Session(profile=self.settings.profile))
                self._client_obj = session.create_client(
                    "s3", config=self.settings.botocore_config(),
                    **self.settings.client_kwargs(),
                )
            return self._client_obj

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            self._forget_after_fork()
            if self._pool_obj is None:
                self._pool_obj = ThreadPoolExecutor(
                    self.settings.max_concurrency, thread_name_prefix="semsl-s3")
            return self._pool_obj

    def _forget_after_fork(self) -> None:
        # A child process must not use the parent's connections or threads.
        if self._pid != os.getpid():
            self._client_obj, self._pool_obj, self._pid = None, None, os.getpid()

    def close(self) -> None:
        """Close the connections and stop the worker threads (the backend stays usable)."""
        with self._lock:
            self._forget_after_fork()
            client, pool = self._client_obj, self._pool_obj
            self._client_obj = self._pool_obj = None
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()

    # -- reading ---------------------------------------------------------------------

    def get(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """The object's bytes, or only ``byte_range`` of them (clipped to its end).

        Without a range and with ``multipart_download``, an object larger than
        ``max_part_size`` is fetched in parallel ranged parts of that size.
        """
        loc = self._loc(uri)
        if byte_range is not None:
            return self._get_range(loc, byte_range)
        first, total, etag = self._first_part(loc)
        if total == len(first):
            return first
        buffer = bytearray(total)
        buffer[: len(first)] = first

        def sink(pos: int, data: bytes) -> None:
            buffer[pos:pos + len(data)] = data

        self._fetch_parts(loc, etag, total, len(first), sink)
        return bytes(buffer)

    def get_file(self, uri: str, path: str) -> None:
        """Copy the object to the local file ``path`` (written beside it, then renamed)."""
        loc = self._loc(uri)
        first, total, etag = self._first_part(loc)
        with temporary_beside(path) as fd:
            pwrite_all(fd, 0, first)
            self._fetch_parts(loc, etag, total, len(first), partial(pwrite_all, fd))

    def exists(self, uri: str) -> bool:
        """Whether the object exists (a missing bucket reads as missing)."""
        try:
            self._head(self._loc(uri), "inspect")
        except ObjectNotFoundError:
            return False
        return True

    def size(self, uri: str) -> int:
        """The object's size in bytes."""
        return int(self._head(self._loc(uri), "inspect")["ContentLength"])

    def list(self, prefix: str) -> builtins.list[ObjectInfo]:
        """Every object whose URI starts with ``prefix`` (``s3://bucket/key-prefix``)."""
        loc = self._loc(prefix, need_key=False)
        base = loc.uri[: len(loc.uri) - len(loc.key)]
        with self._translating(loc, "list"):
            pages = self._client().get_paginator("list_objects_v2").paginate(
                Bucket=loc.bucket, Prefix=loc.key,
                PaginationConfig={"PageSize": self.list_page_size})
            return [ObjectInfo(base + item["Key"], int(item["Size"]))
                    for page in pages for item in page.get("Contents", ())]

    def _head(self, loc: S3Location, action: str) -> dict[str, Any]:
        with self._translating(loc, action):
            response: dict[str, Any] = self._client().head_object(
                Bucket=loc.bucket, Key=loc.key)
        return response

    def _stat(self, loc: S3Location) -> tuple[int, str | None]:
        response = self._head(loc, "open")
        return int(response["ContentLength"]), response.get("ETag")

    def _get_object(self, loc: S3Location, byte_range: str | None = None,
                    etag: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """One GET; a 416 answer (range past the end) gives ``b""`` and no response."""
        params: dict[str, Any] = {"Bucket": loc.bucket, "Key": loc.key}
        if byte_range is not None:
            params["Range"] = byte_range
        if etag is not None:
            params["IfMatch"] = etag
        with self._translating(loc, "read"):
            try:
                response = self._client().get_object(**params)
            except ClientError as err:
                if byte_range is not None and is_invalid_range(err):
                    return b"", {}
                raise
            with closing(response["Body"]) as body:
                data: bytes = body.read()
        return data, response

    def _get_range(self, loc: S3Location, byte_range: ByteRange) -> bytes:
        if byte_range.length == 0:
            self._head(loc, "read")  # a missing object is an error even for no bytes
            return b""
        data, response = self._get_object(
            loc, f"bytes={byte_range.start}-{byte_range.end - 1}")
        if not response:
            self._head(loc, "read")  # 416: past the end of an existing object
            return b""
        return exact_slice(loc, data, response, byte_range.start, byte_range.end)

    def _read_exact(self, loc: S3Location, etag: str | None, start: int, end: int) -> bytes:
        data, response = self._get_object(loc, f"bytes={start}-{end - 1}", etag)
        return exact_slice(loc, data, response, start, end)

    def _first_part(self, loc: S3Location) -> tuple[bytes, int, str | None]:
        """The first part (or the whole object): its bytes, the total size, the ETag."""
        if not self.settings.multipart_download:
            data, response = self._get_object(loc)
            return data, len(data), response.get("ETag")
        part = self.settings.max_part_size
        data, response = self._get_object(loc, f"bytes=0-{part - 1}")
        if not response:  # 416: the object is empty
            data, response = self._get_object(loc)
        data = exact_slice(loc, data, response, 0, part)
        return data, content_total(response, len(data)), response.get("ETag")

    def _fetch_parts(self, loc: S3Location, etag: str | None, total: int, start: int,
                     sink: Callable[[int, bytes], None]) -> None:
        """Fetch bytes ``start:total`` in parallel parts, each handed to ``sink(pos, data)``.

        ``If-Match`` with the first part's ETag makes a replaced object an error
        rather than a mix of two versions.
        """
        def fetch(part: ByteRange) -> None:
            sink(part.start, self._read_exact(loc, etag, part.start, part.end))

        self._run_parallel(part_ranges(total, self.settings.max_part_size, start), fetch)

    # -- writing ---------------------------------------------------------------------

    def put(self, uri: str, data: bytes | memoryview) -> None:
        """Store ``data`` as the object (in parallel parts above ``multipart_threshold``)."""
        self._upload_source(self._loc(uri), BytesSource(data))

    def put_file(self, path: str, uri: str) -> None:
        """Store the local file ``path`` as the object; parts are read as they are sent."""
        loc = self._loc(uri)
        with open(path, "rb") as file:
            fd = file.fileno()
            self._upload_source(loc, FileSource(fd, os.fstat(fd).st_size))

    def remove(self, uri: str) -> None:
        """Delete the object; a missing object is an :class:`ObjectNotFoundError`."""
        loc = self._loc(uri)
        self._head(loc, "remove")  # S3 deletes missing keys silently
        with self._translating(loc, "remove"):
            self._client().delete_object(Bucket=loc.bucket, Key=loc.key)

    def _upload_source(self, loc: S3Location, source: PartSource) -> None:
        if self._multipart(source.size):
            self._put_multipart(loc, source)
        else:
            self._put_single(loc, source)

    def _put_single(self, loc: S3Location, source: PartSource) -> None:
        data = source.whole() if isinstance(source, BytesSource) else source.read(
            0, source.size)
        digest, md5 = content_md5(data)
        with self._translating(loc, "write"):
            response = self._client().put_object(
                Bucket=loc.bucket, Key=loc.key, Body=data, ContentMD5=md5)
        check_upload(loc, response, md5_etag([digest], multipart=False))

    def _put_multipart(self, loc: S3Location, source: PartSource) -> None:
        with self._translating(loc, "write"):
            upload_id = self._client().create_multipart_upload(
                Bucket=loc.bucket, Key=loc.key)["UploadId"]
        try:
            self._send_parts(loc, upload_id, source)
        except BaseException:
            self._abort(loc, upload_id)
            raise

    def _send_parts(self, loc: S3Location, upload_id: str, source: PartSource) -> None:
        ranges = part_ranges(source.size, upload_part_size(source.size,
                                                           self.settings.max_part_size))
        send = partial(self._put_part, loc, upload_id, source)
        parts = self._run_parallel(list(enumerate(ranges, start=1)), send)
        with self._translating(loc, "write"):
            self._client().complete_multipart_upload(
                Bucket=loc.bucket, Key=loc.key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e, _ in parts]})
        expected = md5_etag([digest for _, _, digest in parts], multipart=True)
        check_upload(loc, self._head(loc, "check"), expected, source.size)

    def _put_part(self, loc: S3Location, upload_id: str, source: PartSource,
                  item: tuple[int, ByteRange]) -> tuple[int, str, bytes]:
        number, part = item
        data = source.read(part.start, part.end)
        digest, md5 = content_md5(data)
        with self._translating(loc, f"write part {number} of"):
            response = self._client().upload_part(
                Bucket=loc.bucket, Key=loc.key, UploadId=upload_id, PartNumber=number,
                Body=data, ContentMD5=md5)
        check_upload(loc, response, digest.hex())
        return number, str(response["ETag"]), digest

    def _abort(self, loc: S3Location, upload_id: str) -> None:
        try:
            self._client().abort_multipart_upload(
                Bucket=loc.bucket, Key=loc.key, UploadId=upload_id)
        except (BotoCoreError, ClientError) as err:
            # The upload's own failure is what the caller must see; this one is logged.
            _log.warning("could not abort the multipart upload of %s (%s); its parts may "
                         "remain until a bucket lifecycle rule removes them",
                         loc.uri, type(err).__name__)

    def _run_parallel(self, items: Sequence[_T],
                      work: Callable[[_T], _R]) -> builtins.list[_R]:
        """``work`` over ``items`` on up to ``max_concurrency`` threads; first error wins."""
        if len(items) <= 1:
            return [work(item) for item in items]
        workers = min(self.settings.max_concurrency, len(items))
        with ThreadPoolExecutor(workers, thread_name_prefix="semsl-s3-part") as pool:
            futures = [pool.submit(work, item) for item in items]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in futures:
                    if future in done and future.exception() is not None:
                        future.result()  # raises that first failure
                return [future.result() for future in futures]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    # -- bulk and async twins --------------------------------------------------------

    async def get_async(self, uri: str, byte_range: ByteRange | None = None) -> bytes:
        """:meth:`get` in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), partial(self.get, uri, byte_range))

    async def put_async(self, uri: str, data: bytes | memoryview) -> None:
        """:meth:`put` in a worker thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool(), partial(self.put, uri, data))

    def get_many(self, uris: Sequence[str]) -> builtins.list[bytes]:
        """Fetch many objects, ``max_concurrency`` at a time, in order.

        Raises
        ------
        semsl._sync.BatchError
            Holding every failure, each naming its URI.
        """
        factories = [partial(self.get_async, uri) for uri in uris]
        return sync(gather_windowed(factories, self.settings.max_concurrency))
