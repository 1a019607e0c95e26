"""From a URI to the backend that stores it, following the user configuration.

* A path, or a ``file://`` URI: local files (:class:`~semsl.backends.posix.PosixBackend`).
* ``s3://ALIAS/bucket/key`` where ``ALIAS`` is a host in the configuration: that host,
  with its endpoint, credentials and backend choice (``s3_async`` by default).
* ``s3://bucket/key`` otherwise: the standard AWS configuration (environment variables
  including ``AWS_ENDPOINT_URL``, shared credentials and profiles), so semsl works where
  boto3 works.
* Any other scheme: the fsspec filesystem of that protocol, with the configuration's
  storage options for it.

Backends are created once per host and kept for the life of the process.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from semsl.backends.base import Backend
from semsl.config import Config, HostConfig, get_config
from semsl.errors import UnsupportedFeatureError

__all__ = [
    "Location",
    "building",
    "is_remote",
    "join",
    "locate",
    "parent",
    "relative_reference",
    "store_file",
    "working_file",
]


@dataclass(frozen=True)
class Location:
    """Where an object lives: its backend and its URI in that backend's own form.

    For local files ``uri`` is an absolute path; for S3 it is ``s3://bucket/key`` (the
    host alias removed); for fsspec it is the URI as given.
    """

    backend: Backend
    uri: str
    #: The URI as the user wrote it (with the alias), for messages and paths.
    given: str

    @property
    def is_local(self) -> bool:
        """Whether the object is a local file (netCDF-C can open it directly)."""
        return self.backend.name == "posix"


_LOCK = threading.Lock()
_BACKENDS: dict[tuple[str, ...], Backend] = {}


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names something other than a local file."""
    scheme = urlsplit(os.fspath(uri)).scheme
    return scheme not in ("", "file") and not (len(scheme) == 1 and os.name == "nt")


def locate(uri: str | os.PathLike[str], config: Config | None = None) -> Location:
    """Return the :class:`Location` of ``uri``."""
    text = os.fspath(uri)
    config = config or get_config()
    if not is_remote(text):
        return Location(_backend(("posix",), _posix), _local_path(text), text)
    parts = urlsplit(text)
    if parts.scheme == "s3":
        host = config.hosts.get(parts.netloc)
        if host is not None:
            rest = parts.path.lstrip("/")
            return Location(_backend(("s3", host.alias), lambda: _s3(host, config)),
                            f"s3://{rest}", text)
        return Location(_backend(("s3", ""), lambda: _s3(None, config)), text, text)
    options = dict(config.fsspec.get(parts.scheme, {}))
    return Location(_backend(("fsspec", parts.scheme), lambda: _fsspec(parts.scheme, options)),
                    text, text)


def parent(uri: str) -> str:
    """The folder (or key prefix) holding ``uri``, in the same form."""
    if is_remote(uri):
        parts = urlsplit(uri)
        return parts._replace(path=posixpath.dirname(parts.path)).geturl()
    return os.path.dirname(os.path.abspath(uri))


def join(folder: str, reference: str) -> str:
    """Resolve a URI reference found in a master against the master's folder.

    Absolute URIs (``s3://``, ``https://``, ``file://``) and absolute paths stand as
    they are; relative references (CF-1.13 section 2.8) are joined to ``folder``.
    """
    parts = urlsplit(reference)
    if parts.scheme == "file":
        return unquote(parts.path)
    if is_remote(reference):
        return reference
    if is_remote(folder):
        base = urlsplit(folder)
        path = posixpath.normpath(posixpath.join(base.path or "/", unquote(reference)))
        return base._replace(path=path).geturl()
    return os.path.normpath(os.path.join(folder, unquote(reference)))


def relative_reference(uri: str, folder: str) -> str:
    """The reference to record for ``uri`` in a master in ``folder``.

    Relative when ``uri`` is under ``folder`` (so an archive can be moved whole),
    otherwise absolute (a ``file://`` URI for local files).
    """
    if is_remote(uri) or is_remote(folder):
        if is_remote(uri) and is_remote(folder) and uri.startswith(folder.rstrip("/") + "/"):
            return uri[len(folder.rstrip("/")) + 1:]
        return uri if is_remote(uri) else Path(os.path.abspath(uri)).as_uri()
    rel = os.path.relpath(uri, folder)
    if rel.startswith(os.pardir):
        return Path(os.path.abspath(uri)).as_uri()
    return Path(rel).as_posix()


def _local_path(text: str) -> str:
    if text.startswith("file:"):
        return os.path.abspath(unquote(urlsplit(text).path))
    return os.path.abspath(text)


def _backend(key: tuple[str, ...], make: Any) -> Backend:
    with _LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = _BACKENDS[key] = make()
        return backend


def _posix() -> Backend:
    from semsl.backends.posix import PosixBackend  # noqa: PLC0415 (cheap, but lazy like the rest)

    return PosixBackend()


def _fsspec(protocol: str, options: dict[str, Any]) -> Backend:
    from semsl.backends.fsspec import FsspecBackend  # noqa: PLC0415 (optional dependency)

    return FsspecBackend(protocol, **options)


def _s3(host: HostConfig | None, config: Config) -> Backend:
    """Create the S3 backend for ``host`` (``None``: the standard AWS configuration)."""
    choice = host.backend if host is not None else "s3_async"
    options = _s3_options(host, config)
    try:
        if choice == "s3":
            from semsl.backends.s3 import S3Backend  # noqa: PLC0415 (optional dependency)

            return S3Backend(**options)
        from semsl.backends.s3_async import AsyncS3Backend  # noqa: PLC0415

        return AsyncS3Backend(**options)
    except ImportError as err:
        raise UnsupportedFeatureError(
            f"S3 storage needs botocore and aiobotocore: pip install \"semsl[s3]\" ({err})"
        ) from err


def _s3_options(host: HostConfig | None, config: Config) -> dict[str, Any]:
    s3 = config.s3
    options: dict[str, Any] = {
        "max_part_size": s3.max_part_size,
        "multipart_threshold": s3.multipart_threshold,
        "max_concurrency": s3.max_concurrency,
        "multipart_upload": s3.multipart_upload,
        "multipart_download": s3.multipart_download,
        "connect_timeout": s3.connect_timeout,
        "read_timeout": s3.read_timeout,
        "retries": s3.retries,
    }
    if host is not None:
        options.update(
            endpoint_url=host.endpoint_url, region=host.region, profile=host.profile,
            access_key_id=host.access_key_id, secret_access_key=host.secret_access_key,
            session_token=host.session_token, signature_version=host.signature_version,
            addressing_style=None if host.addressing_style == "auto" else host.addressing_style)
    options["cache_dir"] = config.resources.cache_dir
    return options


def working_file(target: str) -> str:
    """A new empty local file to build ``target`` in before :func:`store_file` puts it.

    Beside a local target (so that the final rename is atomic), in the configured cache
    folder for a remote one.
    """
    if is_remote(target):
        folder = get_config().resources.cache_dir
        name = posixpath.basename(urlsplit(target).path) or "object"
    else:
        folder, name = os.path.split(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".semsl-tmp", dir=folder)
    os.close(handle)
    return path


def store_file(path: str, target: str) -> None:
    """Put the local file ``path`` in place as ``target``.

    Renamed over a local target, uploaded to a remote one; ``path`` is gone either way.
    """
    where = locate(target)
    if where.is_local:
        os.replace(path, where.uri)
        return
    try:
        where.backend.put_file(path, where.uri)
    finally:
        os.remove(path)


@contextlib.contextmanager
def building(target: str) -> Iterator[str]:
    """Yield a working file for ``target``; store it there if the block succeeds.

    On any failure the working file is removed and ``target`` stays as it was.
    """
    path = working_file(target)
    try:
        yield path
        store_file(path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(path)
        raise


def reset() -> None:
    """Close and forget every backend (after the configuration changed; for tests)."""
    with _LOCK:
        backends = list(_BACKENDS.values())
        _BACKENDS.clear()
    for backend in backends:
        backend.close()
