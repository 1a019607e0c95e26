"""What both S3 backends share: URIs, settings, the retry policy, errors, part sizes, files.

One place for each S3 rule, so that the synchronous backend (:mod:`semsl.backends.s3`)
and the asynchronous one (:mod:`semsl.backends.s3_async`) cannot drift apart:

* :func:`parse_s3_uri` turns ``s3://bucket/key`` (or ``s3://alias/bucket/key`` for a
  backend built for a host alias) into an :class:`S3Location`;
* :class:`S3Settings` holds every option and builds the botocore ``Config``, which carries
  the one retry policy: botocore's own ``standard`` retry mode.  Nothing in semsl retries
  on top of it;
* :func:`translate_error` is the one table from botocore error codes, HTTP statuses and
  exceptions to :class:`semsl.errors.StorageError` subclasses;
* :func:`upload_part_size` and :func:`part_ranges` do the multipart arithmetic;
* :class:`S3ReadFile` and :class:`S3WriteFile` are the file objects ``open`` returns.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import io
import os
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, BinaryIO, Literal, Protocol, cast

from semsl.backends.base import ByteRange
from semsl.errors import (
    ConfigError,
    ObjectNotFoundError,
    SemslError,
    StorageAccessError,
    StorageError,
    StorageTimeoutError,
)

try:
    from botocore import exceptions as bx  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
    from botocore.loaders import create_loader  # type: ignore[import-untyped, unused-ignore]
except ImportError as _err:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the S3 backends need botocore; install them with: pip install "semsl[s3]"'
    ) from _err

__all__ = [
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "BytesSource",
    "FileSource",
    "PartSource",
    "S3BackendBase",
    "S3Location",
    "S3ReadFile",
    "S3Settings",
    "S3WriteFile",
    "check_upload",
    "content_md5",
    "content_total",
    "exact_slice",
    "is_invalid_range",
    "is_not_found",
    "md5_etag",
    "parse_s3_uri",
    "part_ranges",
    "pwrite_all",
    "s3_location",
    "share_data_loader",
    "temporary_beside",
    "translate_error",
    "translating",
    "upload_part_size",
]

#: S3's smallest part (every part but the last), largest part, most parts, largest object.
MIN_PART_SIZE = 5 * 2**20
MAX_PART_SIZE = 5 * 2**30
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 2**40

_MiB = 2**20


# --------------------------------------------------------------------------- URIs


@dataclass(frozen=True)
class S3Location:
    """One S3 object (or key prefix): its bucket, key, and the URI as the user wrote it.

    ``uri`` is what error messages and listings show, so a user who wrote
    ``s3://alias/bucket/key`` sees that form back.
    """

    bucket: str
    key: str
    uri: str


def s3_location(bucket: str, key: str, alias: str | None = None) -> S3Location:
    """An :class:`S3Location` from a bucket and key already split (e.g. by the registry).

    Parameters
    ----------
    bucket, key
        The bucket name and the object key (or key prefix).
    alias
        The host alias the user wrote before the bucket, if any; only used to spell the
        URI in messages and listings.
    """
    head = f"s3://{alias}/" if alias else "s3://"
    return S3Location(bucket, key, f"{head}{bucket}/{key}")


def parse_s3_uri(uri: str, alias: str | None = None, *, need_key: bool = True) -> S3Location:
    """Split ``s3://bucket/key`` (or ``s3://<alias>/bucket/key``) into an :class:`S3Location`.

    Parameters
    ----------
    uri
        The object's URI.
    alias
        The host alias a backend was built for: URIs then read ``s3://<alias>/bucket/key``
        and the alias is dropped before talking to S3.
    need_key
        Whether an empty key is an error (objects) or allowed (list prefixes).

    Raises
    ------
    StorageError
        If the URI is not an ``s3://`` URI naming a bucket (and a key when ``need_key``).
    """
    if not uri.startswith("s3://"):
        raise StorageError(f"{uri!r} is not an S3 URI; write it as s3://bucket/key")
    rest = uri[len("s3://"):]
    if alias is not None:
        if not (rest == alias or rest.startswith(f"{alias}/")):
            raise StorageError(
                f"{uri!r} does not start with s3://{alias}/, the host alias of this backend"
            )
        rest = rest[len(alias) + 1:]
    bucket, _, key = rest.partition("/")
    if not bucket or (need_key and not key):
        raise StorageError(f"{uri!r} does not name a bucket and a key; write s3://bucket/key")
    return s3_location(bucket, key, alias)


# ----------------------------------------------------------------------- settings


@dataclass(frozen=True)
class S3Settings:
    """Every option of an S3 backend, validated once.

    Parameters
    ----------
    endpoint_url
        The S3 service URL; ``None`` lets botocore decide (``AWS_ENDPOINT_URL``,
        ``AWS_ENDPOINT_URL_S3``, the shared config file, else AWS).
    region
        The region; ``None`` lets botocore decide (``AWS_REGION``, the profile).
    profile
        A profile of the shared AWS config/credentials files.
    access_key_id, secret_access_key, session_token
        Explicit credentials; without them the profile, else the standard AWS chain.
    addressing_style
        ``"path"``, ``"virtual"`` or ``"auto"`` (``None``: botocore's choice).
    signature_version
        botocore's request signature (``"s3v4"``, or ``"s3"`` for old stores; ``None``:
        botocore's choice).
    max_part_size
        Size of multipart parts (uploads use at least 5 MiB and at most 10000 parts).
    multipart_threshold
        Objects larger than this are uploaded in parts (``None``: ``max_part_size``).
    max_concurrency
        Most requests in flight at once for one call (parts, or objects of ``get_many``).
    multipart_upload, multipart_download
        Whether large objects are moved in parallel parts.
    connect_timeout, read_timeout
        Seconds to wait for a connection and for each answer.
    retries
        Retries of a failed request (botocore ``standard`` mode: 5xx, throttling,
        timeouts, dropped connections), after the first attempt.
    block_size, cache_blocks
        Block size and number of cached blocks of files opened for reading.
    write_buffer_size
        Bytes a file opened for writing keeps in memory before spilling to ``cache_dir``.
    cache_dir
        Folder for spilled write buffers (``None``: the system temporary folder).
    """

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    addressing_style: str | None = None
    signature_version: str | None = None
    max_part_size: int = 8 * _MiB
    multipart_threshold: int | None = None
    max_concurrency: int = 16
    multipart_upload: bool = True
    multipart_download: bool = True
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5
    block_size: int = 2 * _MiB
    cache_blocks: int = 16
    write_buffer_size: int = 64 * _MiB
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_part_size", "max_concurrency", "block_size", "cache_blocks",
                     "write_buffer_size"):
            _require(getattr(self, name) >= 1, name, "must be at least 1")
        _require(self.retries >= 0, "retries", "must be 0 or more")
        _require(self.connect_timeout > 0 and self.read_timeout > 0,
                 "connect_timeout/read_timeout", "must be more than 0 seconds")
        _require(self.multipart_threshold is None or self.multipart_threshold >= 0,
                 "multipart_threshold", "must be 0 or more")
        _require((self.access_key_id is None) == (self.secret_access_key is None),
                 "access_key_id/secret_access_key", "must be given together")
        _require(self.addressing_style in (None, "auto", "path", "virtual"),
                 "addressing_style", "must be 'auto', 'path' or 'virtual'")

    @property
    def threshold(self) -> int:
        """Objects larger than this many bytes are uploaded in parts."""
        if self.multipart_threshold is None:
            return self.max_part_size
        return self.multipart_threshold

    def botocore_config(self, config_cls: Any = None) -> Any:
        """The botocore ``Config`` (or ``config_cls``, e.g. aiobotocore's ``AioConfig``).

        This is the one retry policy of semsl's S3 access: botocore's ``standard`` mode
        with ``retries`` retries after the first attempt.
        """
        if config_cls is None:
            config_cls = Config
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retries": {"max_attempts": self.retries, "mode": "standard"},
            "max_pool_connections": self.max_concurrency,
            "user_agent_extra": "semsl",
        }
        if self.addressing_style is not None:
            options["s3"] = {"addressing_style": self.addressing_style}
        if self.signature_version is not None:
            options["signature_version"] = self.signature_version
        if "request_checksum_calculation" in config_cls.OPTION_DEFAULTS:
            # botocore >= 1.36 adds CRC checksums to every upload by default, which many
            # S3-compatible stores (Ceph, older MinIO) reject.  semsl sends Content-MD5
            # itself and checks the ETag, which every S3 implementation understands.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        return config_cls(**options)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``session.create_client("s3", ...)`` besides the config."""
        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
        }
        if self.access_key_id is not None:
            kwargs["aws_access_key_id"] = self.access_key_id
            kwargs["aws_secret_access_key"] = self.secret_access_key
            kwargs["aws_session_token"] = self.session_token
        return kwargs

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credential strings that must never appear in a message."""
        values = (self.secret_access_key, self.session_token)
        return tuple(value for value in values if value)


_loader_lock = threading.Lock()
_loader: Any = None


def share_data_loader(session: Any) -> Any:
    """Give a botocore (or aiobotocore) session the process's one botocore data loader.

    The loader parses and caches botocore's JSON service models; sharing it makes a
    new client cost about 15 ms instead of about 100 ms.  Returns ``session``.
    """
    global _loader  # noqa: PLW0603 -- one read-only model cache per process
    with _loader_lock:
        if _loader is None:
            _loader = create_loader()
        session.register_component("data_loader", _loader)
    return session


def _require(ok: bool, name: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"S3 option {name} {what}; fix it in the semsl configuration")


# ------------------------------------------------------------------------- errors

_NOT_FOUND = "the object does not exist; check the key (and that it was written)"
_NO_BUCKET = "bucket {bucket!r} does not exist; check the bucket name and the endpoint"
_DENIED = (
    "access denied; check the credentials (access_key_id/secret_access_key or profile "
    "in the semsl configuration, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the shared "
    "AWS files) and the bucket policy (a missing object also reads as denied without "
    "s3:ListBucket)"
)
_BUSY = (
    "the service failed or is overloaded ({code}) after {retries} retries; try again "
    "later, or lower max_concurrency"
)
_TIMEOUT = (
    "no answer within connect_timeout={connect}s/read_timeout={read}s after {retries} "
    "retries; check the network and the endpoint, or raise the timeouts"
)
_CUT_SHORT = (
    "the answer was cut short while it was read (the connection broke); nothing was "
    "returned, try again"
)

#: The one table: S3 error code or HTTP status -> (error class, what it means / what to do).
ERROR_TABLE: dict[str, tuple[type[StorageError], str]] = {
    "NoSuchKey": (ObjectNotFoundError, _NOT_FOUND),
    "NotFound": (ObjectNotFoundError, _NOT_FOUND),
    "404": (ObjectNotFoundError, "the object or its bucket does not exist; check the "
            "bucket and the key"),
    "NoSuchBucket": (ObjectNotFoundError, _NO_BUCKET),
    "AccessDenied": (StorageAccessError, _DENIED),
    "AllAccessDisabled": (StorageAccessError, _DENIED),
    "AccountProblem": (StorageAccessError, _DENIED),
    "InvalidAccessKeyId": (StorageAccessError, "the access key id is unknown; " + _DENIED),
    "SignatureDoesNotMatch": (StorageAccessError, "the secret key is wrong; " + _DENIED),
    "ExpiredToken": (StorageAccessError, "the session token expired; renew it"),
    "InvalidToken": (StorageAccessError, "the session token is invalid; renew it"),
    "TokenRefreshRequired": (StorageAccessError, "the session token expired; renew it"),
    "403": (StorageAccessError, _DENIED),
    "SlowDown": (StorageError, _BUSY),
    "InternalError": (StorageError, _BUSY),
    "ServiceUnavailable": (StorageError, _BUSY),
    "500": (StorageError, _BUSY),
    "502": (StorageError, _BUSY),
    "503": (StorageError, _BUSY),
    "504": (StorageError, _BUSY),
    "RequestTimeout": (StorageTimeoutError, _TIMEOUT),
    "PreconditionFailed": (StorageError, "the object changed while it was read; read again"),
    "412": (StorageError, "the object changed while it was read; read again"),
    "InvalidRange": (StorageError, "the byte range lies outside the object"),
    "BadDigest": (StorageError, "the data was corrupted on the way; write it again"),
    "InvalidDigest": (StorageError, "the data was corrupted on the way; write it again"),
    "EntityTooSmall": (StorageError, "a part is below the 5 MiB minimum; raise max_part_size"),
    "EntityTooLarge": (StorageError, "the object or a part is too large for this service"),
    "NoSuchUpload": (StorageError, "the multipart upload was aborted; write it again"),
    "InvalidBucketName": (StorageError, "{bucket!r} is not a valid bucket name"),
}


def translate_error(
    err: BaseException, loc: S3Location, action: str, settings: S3Settings
) -> SemslError:
    """The semsl error for a botocore/aiobotocore failure; ``raise ... from err``.

    Parameters
    ----------
    err
        What botocore raised (``ClientError`` or a ``BotoCoreError``) or a timeout.
    loc
        The object concerned; its URI starts the message.
    action
        A verb phrase: ``"read"``, ``"write"``, ``"list"``, ...
    settings
        The backend's settings, for timeouts and retries in the advice and for the
        credential strings that are scrubbed from any text taken from the server.
    """
    cls, reason = _classify(err, settings)
    text = reason.format(
        bucket=loc.bucket, retries=settings.retries, code=_code(err) or type(err).__name__,
        connect=settings.connect_timeout, read=settings.read_timeout,
    )
    error: SemslError = cls(f"cannot {action} {loc.uri}: {_scrub(text, settings.secrets)}")
    return error


def _classify(err: BaseException, settings: S3Settings) -> tuple[type[Any], str]:
    if isinstance(err, bx.ClientError):
        for code in (_code(err), _status(err)):
            if code in ERROR_TABLE:
                return ERROR_TABLE[code]
        message = str(err.response.get("Error", {}).get("Message", ""))[:200]
        return StorageError, f"the service answered {{code}}: {message}"
    if isinstance(err, bx.ProfileNotFound):
        return ConfigError, f"AWS profile {settings.profile!r} not found; check its name"
    if isinstance(err, bx.NoCredentialsError | bx.PartialCredentialsError
                  | bx.CredentialRetrievalError):
        return StorageAccessError, "no usable credentials; " + _DENIED
    if isinstance(err, bx.ReadTimeoutError | bx.ConnectTimeoutError | TimeoutError):
        return StorageTimeoutError, _TIMEOUT
    if isinstance(err, bx.EndpointConnectionError):
        return StorageError, ("cannot connect to the endpoint after {retries} retries; "
                              "check endpoint_url and the network")
    if isinstance(err, bx.ResponseStreamingError | bx.IncompleteReadError):
        return StorageError, _CUT_SHORT
    if isinstance(err, bx.HTTPClientError):
        return StorageError, "the connection broke after {retries} retries; try again"
    if isinstance(err, bx.ParamValidationError):
        return StorageError, "invalid bucket name or key"
    if isinstance(err, bx.BotoCoreError):
        return StorageError, f"botocore failed ({type(err).__name__})"
    return StorageError, f"{_CUT_SHORT} ({type(err).__name__})"


def _code(err: BaseException) -> str:
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _status(err: BaseException) -> str:
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def is_not_found(err: BaseException) -> bool:
    """Whether a botocore ``ClientError`` says the object (or bucket) does not exist."""
    return _code(err) in ("NoSuchKey", "NotFound", "NoSuchBucket", "404") or _status(err) == "404"


def is_invalid_range(err: BaseException) -> bool:
    """Whether a botocore ``ClientError`` is S3's 416 for a range past the object's end."""
    return _code(err) == "InvalidRange" or _status(err) == "416"


@contextmanager
def translating(loc: S3Location, action: str, settings: S3Settings,
                extra: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Translate botocore errors raised inside the block; semsl errors pass unchanged.

    ``extra`` adds the HTTP library's own errors that escape botocore (aiohttp's
    ``ClientPayloadError`` for a body cut short).
    """
    try:
        yield
    except SemslError:
        raise
    except (bx.BotoCoreError, bx.ClientError, TimeoutError, *extra) as err:
        raise translate_error(err, loc, action, settings) from err


# -------------------------------------------------------------------- multipart


def upload_part_size(total: int, max_part_size: int) -> int:
    """The part size for uploading ``total`` bytes: ``max_part_size`` within S3's limits.

    Parts are at least 5 MiB (S3 refuses smaller ones but the last) and large enough
    that at most 10000 parts cover the object (rounded up to whole MiB).
    """
    if total > MAX_OBJECT_SIZE:
        raise StorageError(f"an object of {total} bytes is too large for S3 (5 TiB at most)")
    size = max(max_part_size, MIN_PART_SIZE)
    least = -(-total // MAX_PARTS)
    if size < least:
        size = -(-least // _MiB) * _MiB
    return min(size, MAX_PART_SIZE)


def part_ranges(total: int, part_size: int, start: int = 0) -> list[ByteRange]:
    """Consecutive ranges of ``part_size`` bytes (the last shorter) from ``start`` to ``total``."""
    return [ByteRange(pos, min(pos + part_size, total))
            for pos in range(start, total, part_size)]


def md5_etag(digests: list[bytes], multipart: bool) -> str:
    """The ETag S3 gives an unencrypted object: MD5 of it, or MD5 of part MD5s + ``-N``."""
    if not multipart:
        return digests[0].hex()
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def content_md5(data: bytes | memoryview) -> tuple[bytes, str]:
    """The MD5 digest of ``data`` and its base64 form for the ``Content-MD5`` header."""
    digest = hashlib.md5(data).digest()
    return digest, base64.b64encode(digest).decode("ascii")


def check_upload(
    loc: S3Location, response: dict[str, Any], expected_etag: str, size: int | None = None
) -> None:
    """Raise :class:`StorageError` if an upload's ETag (and size when given) are not ours.

    S3's ETag is an MD5 only for objects without SSE-KMS/SSE-C encryption, so the ETag is
    compared only then; ``Content-MD5`` on every request already made the service check
    the bytes.
    """
    etag = str(response.get("ETag", "")).strip('"')
    encrypted = "SSEKMSKeyId" in response or "SSECustomerAlgorithm" in response or str(
        response.get("ServerSideEncryption", "")).startswith("aws:kms")
    if etag and not encrypted and etag != expected_etag:
        raise StorageError(f"wrote {loc.uri} but its ETag {etag!r} is not the expected "
                           f"{expected_etag!r}; the stored object is damaged, write it again")
    stored = response.get("ContentLength")
    if size is not None and stored is not None and int(stored) != size:
        raise StorageError(f"wrote {loc.uri} but it holds {stored} bytes instead of {size}; "
                           "write it again")


# ----------------------------------------------------------------- part sources


class PartSource(Protocol):
    """Bytes to upload: its size and any range of it (read when its part is sent)."""

    size: int

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end``."""
        ...


class BytesSource:
    """A :class:`PartSource` over bytes in memory."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = data
        self._view = memoryview(data).cast("B")
        self.size = self._view.nbytes

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end`` (a copy, made when the part is sent)."""
        return bytes(self._view[start:end])

    def whole(self) -> bytes:
        """All the bytes (copied only if they are not ``bytes`` already)."""
        if isinstance(self._data, bytes):
            return self._data
        return bytes(self._view)


class FileSource:
    """A :class:`PartSource` over an open local file, read with ``os.pread``."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self.size = size

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of the file (safe from many threads at once)."""
        data = os.pread(self._fd, end - start, start)
        if len(data) != end - start:
            raise StorageError(f"local file shrank while it was uploaded (fd {self._fd})")
        return data


def pwrite_all(fd: int, pos: int, data: bytes) -> None:
    """Write all of ``data`` at offset ``pos`` of the file ``fd`` (safe from many threads)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, pos)
        view, pos = view[written:], pos + written


@contextmanager
def temporary_beside(path: str) -> Iterator[int]:
    """A new file beside ``path`` (a descriptor), moved onto ``path`` if the block succeeds.

    The target never holds a half-written copy: the data goes to a hidden sibling that
    replaces ``path`` with :func:`os.replace` only after every byte is written.
    """
    folder, name = os.path.split(os.path.abspath(path))
    temp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        yield fd
        os.close(fd)
        fd = -1
        os.replace(temp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        os.unlink(temp)
        raise


# -------------------------------------------------------------------------- files


class S3ReadFile(io.RawIOBase):
    """A read-only, seekable file over an S3 object, read by ranged GETs.

    Reads go through a cache of ``block_size`` blocks: the first block stays cached
    for the life of the file (netCDF and HDF5 read their headers there again and
    again) and up to ``cache_blocks`` others are kept least-recently-used.  Missing
    neighbouring blocks are fetched with one request; a read larger than the whole
    cache bypasses it.  ``hits`` and ``misses`` count blocks served from the cache and
    fetched.

    Parameters
    ----------
    uri
        The object's URI (the file's ``name``).
    size
        The object's size in bytes.
    fetch
        ``fetch(start, end)`` returns exactly the bytes ``start:end`` of the object.
    block_size, cache_blocks
        Cache geometry.
    """

    def __init__(self, uri: str, size: int, fetch: Callable[[int, int], bytes],
                 block_size: int, cache_blocks: int) -> None:
        super().__init__()
        self.name = uri
        self.size = size
        self._fetch = fetch
        self._block = block_size
        self._capacity = cache_blocks
        self._first: bytes | None = None
        self._lru: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.hits = 0
        self.misses = 0

    @property
    def mode(self) -> str:
        """Always ``"rb"``."""
        return "rb"

    def readable(self) -> bool:
        """Always ``True``."""
        return True

    def seekable(self) -> bool:
        """Always ``True``."""
        return True

    def tell(self) -> int:
        """The current position."""
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end."""
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset} in {self.name}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all that is left if negative)."""
        self._check_open()
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self._read_range(self._pos, end)
        self._pos = end
        return data

    def readall(self) -> bytes:
        """Everything from the current position to the end."""
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        """Read into a writable buffer; the number of bytes read."""
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Drop the cache."""
        self._first, self._lru = None, OrderedDict()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.name}")

    def _read_range(self, start: int, end: int) -> bytes:
        first, last = start // self._block, (end - 1) // self._block
        if last - first + 1 > self._capacity:
            self.misses += last - first + 1
            return self._fetch(start, end)
        self._load(range(first, last + 1))
        blocks = b"".join(self._cached(index) for index in range(first, last + 1))
        offset = first * self._block
        return blocks[start - offset:end - offset]

    def _cached(self, index: int) -> bytes:
        if index == 0 and self._first is not None:
            return self._first
        self._lru.move_to_end(index)
        return self._lru[index]

    def _load(self, indices: range) -> None:
        missing = [i for i in indices if not self._has(i)]
        self.hits += len(indices) - len(missing)
        self.misses += len(missing)
        for run in _runs(missing):
            start = run[0] * self._block
            data = self._fetch(start, min(self.size, (run[-1] + 1) * self._block))
            for i in run:
                self._store(i, data[(i - run[0]) * self._block:(i - run[0] + 1) * self._block])

    def _has(self, index: int) -> bool:
        return (index == 0 and self._first is not None) or index in self._lru

    def _store(self, index: int, data: bytes) -> None:
        if index == 0:
            self._first = data
            return
        self._lru[index] = data
        while len(self._lru) > self._capacity:
            self._lru.popitem(last=False)


def _runs(indices: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for index in indices:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


class S3WriteFile(io.RawIOBase):
    """A write-only file whose bytes are stored as an S3 object on ``close()``.

    Bytes are kept in memory up to ``spill_size``, then in an anonymous temporary file
    in ``cache_dir``.  ``close()`` uploads them (the object appears whole or not at
    all); ``abort()`` discards them.  Leaving a ``with`` block by an exception, or
    dropping the file without closing it, aborts instead of storing half-written data.

    Parameters
    ----------
    uri
        The object's URI (the file's ``name``).
    upload
        Called once with a :class:`PartSource` of everything written.
    spill_size
        Bytes kept in memory before spilling to disk.
    cache_dir
        Folder for the spill file (``None``: the system temporary folder).
    """

    def __init__(self, uri: str, upload: Callable[[PartSource], None], spill_size: int,
                 cache_dir: str | None) -> None:
        super().__init__()
        self.name = uri
        self._upload = upload
        self._spill_size = spill_size
        self._cache_dir = cache_dir
        self._memory: bytearray | None = bytearray()
        self._disk: Any = None
        self._size = 0

    @property
    def mode(self) -> str:
        """Always ``"wb"``."""
        return "wb"

    def writable(self) -> bool:
        """Always ``True``."""
        return True

    def tell(self) -> int:
        """The number of bytes written so far."""
        return self._size

    def write(self, data: Any) -> int:
        """Append bytes; the number written."""
        if self.closed:
            raise ValueError(f"write to closed file {self.name}")
        view = memoryview(data).cast("B")
        if self._memory is not None and self._size + view.nbytes > self._spill_size:
            self._spill()
        if self._memory is not None:
            self._memory += view
        else:
            self._disk.write(view)
        self._size += view.nbytes
        return view.nbytes

    def close(self) -> None:
        """Upload everything written (once) and release the buffers."""
        if self.closed:
            return
        try:
            self._upload(self._source())
        finally:
            self._release()
            super().close()

    def abort(self) -> None:
        """Discard everything written; nothing is stored."""
        if not self.closed:
            self._release()
            super().close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # io objects close when collected; this one must not store half-written data.
        self.abort()

    def _spill(self) -> None:
        # Closed by _release(), at close() or abort(): it outlives this method.
        disk = tempfile.TemporaryFile(  # noqa: SIM115
            dir=self._cache_dir, prefix="semsl-upload-")
        disk.write(self._memory or b"")
        self._memory, self._disk = None, disk

    def _source(self) -> PartSource:
        if self._memory is not None:
            return BytesSource(self._memory)
        self._disk.flush()
        return FileSource(self._disk.fileno(), self._size)

    def _release(self) -> None:
        self._memory = None
        if self._disk is not None:
            self._disk.close()
            self._disk = None


# ---------------------------------------------------------------- backend base


class S3BackendBase(abc.ABC):
    """What both S3 backends share: settings, URI parsing, ``open`` and the flags.

    Subclasses provide ``_stat``, ``_read_exact`` and ``_upload_source`` (synchronous;
    the asynchronous backend runs its coroutines through :func:`semsl._sync.sync`).

    Parameters
    ----------
    endpoint_url, region, profile, access_key_id, secret_access_key, session_token, \
addressing_style, max_part_size, multipart_threshold, max_concurrency, multipart_upload, \
multipart_download, connect_timeout, read_timeout, retries, block_size, cache_blocks, \
write_buffer_size, cache_dir
        See :class:`S3Settings`.
    alias
        The host alias this backend serves: its URIs read ``s3://<alias>/bucket/key``.
        ``None`` (the default): ``s3://bucket/key``.
    """

    #: The backend's name in the user configuration.
    name = "s3"
    supports_async: bool = False
    supports_ranges = True
    writable = True
    #: Keys asked for per ListObjectsV2 request (S3's most; tests lower it).
    list_page_size = 1000

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        addressing_style: str | None = None,
        signature_version: str | None = None,
        max_part_size: int = 8 * _MiB,
        multipart_threshold: int | None = None,
        max_concurrency: int = 16,
        multipart_upload: bool = True,
        multipart_download: bool = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retries: int = 5,
        block_size: int = 2 * _MiB,
        cache_blocks: int = 16,
        write_buffer_size: int = 64 * _MiB,
        cache_dir: str | None = None,
        alias: str | None = None,
    ) -> None:
        self.settings = S3Settings(
            endpoint_url=endpoint_url, region=region, profile=profile,
            access_key_id=access_key_id, secret_access_key=secret_access_key,
            session_token=session_token, addressing_style=addressing_style,
            signature_version=signature_version, max_part_size=max_part_size,
            multipart_threshold=multipart_threshold,
            max_concurrency=max_concurrency, multipart_upload=multipart_upload,
            multipart_download=multipart_download, connect_timeout=connect_timeout,
            read_timeout=read_timeout, retries=retries, block_size=block_size,
            cache_blocks=cache_blocks, write_buffer_size=write_buffer_size,
            cache_dir=cache_dir,
        )
        self.alias = alias
        self._init_state()

    @abc.abstractmethod
    def _init_state(self) -> None:
        """Set up the connection state (called last by ``__init__``)."""

    def __repr__(self) -> str:
        s = self.settings
        return (f"{type(self).__name__}(endpoint_url={s.endpoint_url!r}, "
                f"region={s.region!r}, alias={self.alias!r})")

    @property
    def max_concurrency(self) -> int:
        """The most requests one call keeps in flight (parts, or objects of ``get_many``)."""
        return self.settings.max_concurrency

    def open(self, uri: str, mode: Literal["rb", "wb"] = "rb") -> BinaryIO:
        """A file object over the object ``uri``.

        ``"rb"``: a seekable reader doing cached ranged GETs (:class:`S3ReadFile`); the
        object must exist.  ``"wb"``: a writer that uploads on ``close()`` and stores
        nothing on ``abort()`` or when its ``with`` block raises (:class:`S3WriteFile`).
        """
        loc = self._loc(uri)
        s = self.settings
        if mode == "rb":
            size, etag = self._stat(loc)
            fetch = partial(self._read_exact, loc, etag)
            return cast(BinaryIO, S3ReadFile(loc.uri, size, fetch, s.block_size,
                                             s.cache_blocks))
        if mode == "wb":
            upload = partial(self._upload_source, loc)
            return cast(BinaryIO, S3WriteFile(loc.uri, upload, s.write_buffer_size,
                                              s.cache_dir))
        raise ValueError(f"mode must be 'rb' or 'wb', not {mode!r} (opening {uri})")

    def _loc(self, uri: str, *, need_key: bool = True) -> S3Location:
        return parse_s3_uri(uri, self.alias, need_key=need_key)

    def _translating(self, loc: S3Location, action: str) -> AbstractContextManager[None]:
        return translating(loc, action, self.settings)

    def _multipart(self, size: int) -> bool:
        return self.settings.multipart_upload and size > self.settings.threshold

    @abc.abstractmethod
    def _stat(self, loc: S3Location) -> tuple[int, str | None]:
        """The object's size and ETag (each backend asks S3 its own way)."""

    @abc.abstractmethod
    def _read_exact(self, loc: S3Location, etag: str | None, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of the object, exactly that many."""

    @abc.abstractmethod
    def _upload_source(self, loc: S3Location, source: PartSource) -> None:
        """Store ``source`` as the object (multipart when large)."""


def content_total(response: dict[str, Any], received: int) -> int:
    """The whole object's size from a GET answer (``Content-Range`` when ranged)."""
    content_range = str(response.get("ContentRange") or "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    return int(response.get("ContentLength", received))


def exact_slice(loc: S3Location, data: bytes, response: dict[str, Any], start: int,
                end: int) -> bytes:
    """Bytes ``start:end`` (clipped to the object) from a ranged GET answer.

    A service that ignores ``Range`` answers the whole object (no ``Content-Range``);
    that is cut here.  An answer shorter than the clipped range is an error, never data.
    """
    total = content_total(response, len(data))
    if not response.get("ContentRange"):
        data = data[start:end]
    expected = max(0, min(end, total) - start)
    if len(data) != expected:
        raise StorageError(f"cannot read {loc.uri}: asked for bytes {start}:{end} but got "
                           f"{len(data)} bytes; the object may have changed, read again")
    return data
