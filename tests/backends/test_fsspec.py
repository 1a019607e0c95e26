"""The fsspec backend: the conformance suite on memory:// and file://, and https read-only."""

from __future__ import annotations

import re
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backends.conformance import BackendConformance, payload
from semsl._sync import BatchError
from semsl.backends.base import Backend, ByteRange
from semsl.backends.fsspec import FsspecBackend
from semsl.errors import ObjectNotFoundError, StorageError, UnsupportedFeatureError

pytest.importorskip("fsspec")

SECRET = "s3cr3t-do-not-show"


class TestFsspecMemory(BackendConformance):
    @pytest.fixture
    def backend(self) -> Iterator[FsspecBackend]:
        # An option the filesystem ignores stands for a credential.
        backend = FsspecBackend("memory", api_token=SECRET)
        yield backend
        backend.close()

    @pytest.fixture
    def secret(self) -> str:
        return SECRET

    @pytest.fixture
    def root(self, backend: FsspecBackend) -> Iterator[str]:
        root = f"memory://semsl-tests/{uuid.uuid4().hex}"
        yield root
        if backend.fs.exists(root):
            backend.fs.rm(root, recursive=True)


class TestFsspecLocal(BackendConformance):
    @pytest.fixture
    def backend(self) -> FsspecBackend:
        return FsspecBackend("file")

    @pytest.fixture
    def root(self, tmp_path: Path) -> str:
        return (tmp_path / "store").as_uri()


def test_missing_fsspec_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(UnsupportedFeatureError, match=r'pip install "semsl\[fsspec\]"'):
        FsspecBackend("memory")


def test_unknown_protocol() -> None:
    with pytest.raises(UnsupportedFeatureError, match="no-such-protocol"):
        FsspecBackend("no-such-protocol")


def test_repr_hides_storage_options() -> None:
    backend = FsspecBackend("memory", api_token=SECRET)
    assert SECRET not in repr(backend)
    assert "memory" in repr(backend)


def test_memory_backend_satisfies_the_protocol() -> None:
    assert isinstance(FsspecBackend("memory"), Backend)


# -- https: read only ------------------------------------------------------------------

FILES = {"/data/obj.bin": payload(3000, seed=5), "/data/small.nc": b"CDF\x01"}


class RangeHandler(BaseHTTPRequestHandler):
    """Serves ``FILES`` with HEAD, GET and single byte ranges, as object stores do."""

    def do_HEAD(self) -> None:
        self.respond(send_body=False)

    def do_GET(self) -> None:
        self.respond(send_body=True)

    def respond(self, send_body: bool) -> None:
        data = FILES.get(self.path)
        if data is None:
            self.send_error(404)
            return
        status, body = 200, data
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start = int(match[1])
            end = int(match[2]) + 1 if match[2] else len(data)
            if start >= len(data):
                self.send_error(416)
                return
            status, body = 206, data[start:end]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            last = start + len(body) - 1
            self.send_header("Content-Range", f"bytes {start}-{last}/{len(data)}")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def http() -> FsspecBackend:
    pytest.importorskip("aiohttp")
    return FsspecBackend("http")


def test_http_is_read_only(http: FsspecBackend) -> None:
    assert http.writable is False
    assert http.supports_ranges is True
    assert isinstance(http, Backend)


def test_http_reads(http: FsspecBackend, server: str) -> None:
    uri = f"{server}/data/obj.bin"
    data = FILES["/data/obj.bin"]
    assert http.exists(uri)
    assert http.size(uri) == len(data)
    assert http.get(uri) == data
    assert http.get(uri, ByteRange(10, 20)) == data[10:20]
    assert http.get(uri, ByteRange(2990, 4000)) == data[2990:]
    assert http.get(uri, ByteRange(5000, 6000)) == b""
    assert http.get(uri, ByteRange(7, 7)) == b""
    with http.open(uri, "rb") as file:
        file.seek(100)
        assert file.read(10) == data[100:110]
    assert http.get_many([uri, f"{server}/data/small.nc"]) == [data, b"CDF\x01"]


def test_http_missing_object(http: FsspecBackend, server: str) -> None:
    uri = f"{server}/data/missing.nc"
    assert not http.exists(uri)
    with pytest.raises(ObjectNotFoundError) as info:
        http.get(uri)
    assert uri in str(info.value)
    with pytest.raises(BatchError) as group:
        http.get_many([uri])
    assert uri in str(group.value.exceptions[0])


def test_http_writes_are_refused(http: FsspecBackend, server: str, tmp_path: Path) -> None:
    uri = f"{server}/data/new.nc"
    source = tmp_path / "new.nc"
    source.write_bytes(b"x")
    attempts = [
        lambda: http.put(uri, b"x"),
        lambda: http.open(uri, "wb"),
        lambda: http.put_file(str(source), uri),
        lambda: http.remove(uri),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError, match="read-only") as info:
            attempt()
        assert uri in str(info.value)
