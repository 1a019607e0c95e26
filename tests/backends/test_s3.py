"""The synchronous S3 backend: the conformance suite, S3 behaviour under faults, the helpers.

``S3Fixtures`` and ``S3Behaviour`` are reused by ``test_s3_async.py`` for the
asynchronous backend: both backends must behave the same.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("botocore")
pytest.importorskip("aiobotocore")

from botocore.exceptions import ClientError, ReadTimeoutError
from s3_fault_proxy import FaultProxy

from backends.conformance import BackendConformance, payload
from semsl.backends._s3common import (
    MAX_PARTS,
    MIN_PART_SIZE,
    S3BackendBase,
    S3Location,
    S3Settings,
    check_upload,
    md5_etag,
    parse_s3_uri,
    part_ranges,
    s3_location,
    translate_error,
    upload_part_size,
)
from semsl.backends.base import ByteRange
from semsl.backends.s3 import S3Backend
from semsl.errors import (
    ConfigError,
    ObjectNotFoundError,
    StorageAccessError,
    StorageError,
    StorageTimeoutError,
)

MiB = 1 << 20
#: Three parts of 5 MiB, 5 MiB and 1 MiB: the smallest honest multipart object.
BIG = 11 * MiB
MakeBackend = Callable[..., S3BackendBase]


# ----------------------------------------------------------------------- fixtures


class S3Fixtures:
    """``make_backend``/``backend``/``root``/``secret`` for one S3 backend class."""

    backend_class: ClassVar[type[S3BackendBase]] = S3Backend

    @pytest.fixture
    def make_backend(self, s3_env: str) -> Iterator[MakeBackend]:
        made: list[S3BackendBase] = []

        def make(**options: Any) -> S3BackendBase:
            backend = self.backend_class(**options)
            made.append(backend)
            return backend

        yield make
        for backend in made:
            backend.close()

    @pytest.fixture
    def backend(self, make_backend: MakeBackend, s3_server: str,
                s3_credentials: dict[str, str]) -> S3BackendBase:
        return make_backend(endpoint_url=s3_server, **s3_credentials)

    @pytest.fixture
    def root(self, bucket: str) -> str:
        return f"s3://{bucket}/t{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def secret(self, s3_credentials: dict[str, str]) -> str:
        return s3_credentials["secret_access_key"]

    @pytest.fixture
    def proxied(self, make_backend: MakeBackend, fault_proxy: FaultProxy,
                fast_backoff: None) -> MakeBackend:
        """Make a backend that talks through the fault proxy (small timeouts, 2 retries)."""
        def make(**options: Any) -> S3BackendBase:
            settings = {"endpoint_url": fault_proxy.url, "retries": 2,
                        "connect_timeout": 2.0, "read_timeout": 2.0, **options}
            return make_backend(**settings)

        return make


class TestS3Conformance(S3Fixtures, BackendConformance):
    pass


# ---------------------------------------------------------------- S3 behaviour


class S3Behaviour(S3Fixtures):
    """What every S3 backend does beyond the conformance suite."""

    # -- multipart -------------------------------------------------------------------

    def test_multipart_round_trip(self, proxied: MakeBackend, bucket: str,
                                  fault_proxy: FaultProxy, s3_admin: Any,
                                  tmp_path: Path) -> None:
        backend = proxied(max_part_size=5 * MiB)
        uri, data = f"s3://{bucket}/big.bin", payload(BIG)
        backend.put(uri, data)
        assert fault_proxy.count("PUT", r"partNumber=") == 3
        assert fault_proxy.count("POST", r"uploads") == 1  # create
        assert fault_proxy.count("POST", r"uploadId=") == 1  # complete
        digests = [hashlib.md5(data[r.start:r.end]).digest()
                   for r in part_ranges(BIG, 5 * MiB)]
        head = s3_admin.head_object(Bucket=bucket, Key="big.bin")
        assert head["ETag"].strip('"') == md5_etag(digests, multipart=True)
        fault_proxy.reset()
        assert backend.get(uri) == data
        assert fault_proxy.count("GET") == 3  # three parallel ranged parts
        target = tmp_path / "copy.bin"
        backend.get_file(uri, str(target))
        assert target.read_bytes() == data
        assert os.listdir(tmp_path) == ["copy.bin"]  # no temporary file left

    def test_multipart_from_file_and_spilled_writer(
        self, proxied: MakeBackend, bucket: str, fault_proxy: FaultProxy,
        tmp_path: Path,
    ) -> None:
        backend = proxied(max_part_size=5 * MiB, write_buffer_size=MiB,
                          cache_dir=str(tmp_path))
        uri, data = f"s3://{bucket}/big.bin", payload(BIG, seed=3)
        with backend.open(uri, "wb") as file:
            for start in range(0, BIG, 3 * MiB):
                file.write(data[start:start + 3 * MiB])
        assert fault_proxy.count("PUT", r"partNumber=") == 3
        assert backend.get(uri, ByteRange(BIG - 10, BIG + 10)) == data[-10:]
        source = tmp_path / "source.bin"
        source.write_bytes(data[::-1])
        backend.put_file(str(source), uri)
        assert backend.get(uri) == data[::-1]
        assert fault_proxy.count("PUT", r"partNumber=") == 6

    def test_multipart_can_be_switched_off(self, proxied: MakeBackend, bucket: str,
                                          fault_proxy: FaultProxy) -> None:
        backend = proxied(max_part_size=5 * MiB, multipart_upload=False,
                          multipart_download=False)
        uri, data = f"s3://{bucket}/obj.bin", payload(6 * MiB)
        backend.put(uri, data)
        assert backend.get(uri) == data
        assert fault_proxy.count("PUT") == 1
        assert fault_proxy.count("GET") == 1

    def test_failed_multipart_upload_is_aborted(self, proxied: MakeBackend, bucket: str,
                                                fault_proxy: FaultProxy,
                                                s3_admin: Any) -> None:
        backend = proxied(max_part_size=5 * MiB, retries=1)
        uri = f"s3://{bucket}/obj.bin"
        backend.put(uri, b"previous")
        fault_proxy.fail("status", times=None, method="PUT", path=r"partNumber=2",
                         status=500, code="InternalError")
        with pytest.raises(StorageError, match=uri) as info:
            backend.put(uri, payload(BIG))
        assert "retries" in str(info.value)
        assert fault_proxy.count("PUT", r"partNumber=2") == 2  # one try, one retry
        assert fault_proxy.count("DELETE", r"uploadId=") == 1
        assert s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert backend.get(uri) == b"previous"

    # -- transient and persistent faults ---------------------------------------------

    @pytest.mark.parametrize(
        ("fault", "status", "code"),
        [("status", 503, "SlowDown"), ("status", 500, "InternalError"), ("reset", 0, ""),
         ("stall", 0, "")],
    )
    def test_transient_faults_are_retried(self, proxied: MakeBackend, bucket: str,
                                          fault_proxy: FaultProxy, fault: Any,
                                          status: int, code: str) -> None:
        backend = proxied(read_timeout=0.3)
        uri, data = f"s3://{bucket}/obj.bin", payload(2000)
        fault_proxy.fail(fault, method="PUT", status=status, code=code, stall=0.6)
        backend.put(uri, data)
        fault_proxy.fail(fault, method="GET", status=status, code=code, stall=0.6)
        assert backend.get(uri) == data
        assert fault_proxy.count("PUT") == 2
        assert fault_proxy.count("GET") == 2

    def test_persistent_fault_ends_in_an_error(self, proxied: MakeBackend, bucket: str,
                                               fault_proxy: FaultProxy) -> None:
        backend = proxied(retries=2)
        uri = f"s3://{bucket}/obj.bin"
        backend.put(uri, b"data")
        fault_proxy.fail("status", times=None, method="GET", status=503,
                         code="ServiceUnavailable")
        started = time.monotonic()
        with pytest.raises(StorageError, match=uri) as info:
            backend.get(uri)
        assert time.monotonic() - started < 10
        assert "2 retries" in str(info.value)
        assert fault_proxy.count("GET") == 3  # botocore's retries only, none stacked

    def test_stalled_answers_time_out(self, proxied: MakeBackend, bucket: str,
                                      fault_proxy: FaultProxy) -> None:
        backend = proxied(read_timeout=0.3, retries=1)
        uri = f"s3://{bucket}/obj.bin"
        backend.put(uri, b"data")
        fault_proxy.fail("stall", times=None, method="GET", stall=0.6)
        started = time.monotonic()
        with pytest.raises(StorageTimeoutError, match=uri) as info:
            backend.get(uri)
        assert time.monotonic() - started < 5
        assert isinstance(info.value, TimeoutError)
        assert "read_timeout=0.3" in str(info.value)

    @pytest.mark.parametrize("how", ["get", "range", "open", "multipart"])
    def test_truncated_body_is_never_data(self, proxied: MakeBackend, bucket: str,
                                          fault_proxy: FaultProxy, how: str) -> None:
        backend = proxied(max_part_size=5 * MiB)
        uri = f"s3://{bucket}/obj.bin"
        data = payload(BIG if how == "multipart" else 100_000)
        backend.put(uri, data)
        reads: dict[str, Callable[[], bytes]] = {
            "get": lambda: backend.get(uri),
            "range": lambda: backend.get(uri, ByteRange(10, 90_000)),
            "open": lambda: backend.open(uri, "rb").read(),
            "multipart": lambda: backend.get(uri),
        }
        path = r"^/[^?]*$" if how != "multipart" else None
        fault_proxy.fail("truncate", times=None, method="GET", path=path)
        with pytest.raises(StorageError, match=uri):
            reads[how]()

    # -- access, buckets, URIs ---------------------------------------------------------

    def test_access_denied(self, proxied: MakeBackend, bucket: str, fault_proxy: FaultProxy,
                           secret: str) -> None:
        backend = proxied(access_key_id="AKIDEXAMPLE", secret_access_key=secret)
        uri = f"s3://{bucket}/obj.bin"
        fault_proxy.fail("status", times=None, status=403, code="AccessDenied")
        for attempt in (lambda: backend.get(uri), lambda: backend.size(uri),
                        lambda: backend.put(uri, b"x")):
            with pytest.raises(StorageAccessError, match=uri) as info:
                attempt()
            assert isinstance(info.value, PermissionError)
            assert "credentials" in str(info.value)
            assert secret not in f"{info.value} {info.value.__cause__}"
        assert fault_proxy.count("GET") == 1  # an error answer is not retried

    def test_missing_bucket(self, backend: S3BackendBase) -> None:
        uri = "s3://semsl-no-such-bucket/key.nc"
        with pytest.raises(ObjectNotFoundError, match="semsl-no-such-bucket") as info:
            backend.get(uri)
        assert "bucket" in str(info.value)
        with pytest.raises(ObjectNotFoundError, match="bucket"):
            backend.put(uri, b"x")
        with pytest.raises(ObjectNotFoundError, match="bucket"):
            backend.list("s3://semsl-no-such-bucket/")
        assert not backend.exists(uri)

    @pytest.mark.parametrize("uri", ["/local/file.nc", "http://host/x", "s3://",
                                     "s3://bucket-only", "s3:///key"])
    def test_bad_uris(self, backend: S3BackendBase, uri: str) -> None:
        with pytest.raises(StorageError, match="s3://"):
            backend.get(uri)

    def test_alias_uris(self, make_backend: MakeBackend, s3_server: str, bucket: str) -> None:
        backend = make_backend(endpoint_url=s3_server, alias="store")
        uri = f"s3://store/{bucket}/dir/obj.nc"
        backend.put(uri, b"aliased")
        assert backend.get(uri) == b"aliased"
        assert [info.uri for info in backend.list(f"s3://store/{bucket}/d")] == [uri]
        with pytest.raises(StorageError, match="s3://store/"):
            backend.get(f"s3://{bucket}/dir/obj.nc")

    def test_list_pages(self, proxied: MakeBackend, bucket: str,
                        fault_proxy: FaultProxy) -> None:
        backend = proxied()
        backend.list_page_size = 2
        uris = [f"s3://{bucket}/p/{index}.nc" for index in range(5)]
        for uri in uris:
            backend.put(uri, b"x")
        assert [info.uri for info in backend.list(f"s3://{bucket}/p/")] == uris
        assert fault_proxy.count("GET", r"list-type=2") == 3

    # -- credentials -----------------------------------------------------------------

    def test_standard_chain_from_environment(self, make_backend: MakeBackend,
                                             bucket: str) -> None:
        backend = make_backend()  # AWS_ENDPOINT_URL and keys from s3_env
        backend.put(f"s3://{bucket}/env.nc", b"env")
        assert backend.get(f"s3://{bucket}/env.nc") == b"env"

    def test_profile(self, make_backend: MakeBackend, bucket: str, s3_server: str,
                     s3_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                     tmp_path: Path) -> None:
        config = tmp_path / "aws-config"
        config.write_text(
            f"[profile semsl-test]\nregion = {s3_credentials['region']}\n"
            f"endpoint_url = {s3_server}\n"
            f"aws_access_key_id = {s3_credentials['access_key_id']}\n"
            f"aws_secret_access_key = {s3_credentials['secret_access_key']}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
        backend = make_backend(profile="semsl-test")
        backend.put(f"s3://{bucket}/profile.nc", b"profile")
        assert backend.get(f"s3://{bucket}/profile.nc") == b"profile"

    def test_unknown_profile(self, make_backend: MakeBackend, bucket: str) -> None:
        backend = make_backend(profile="semsl-no-such-profile")
        with pytest.raises(ConfigError, match="semsl-no-such-profile"):
            backend.get(f"s3://{bucket}/x.nc")

    def test_no_credentials(self, make_backend: MakeBackend, bucket: str,
                            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        backend = make_backend()
        with pytest.raises(StorageAccessError, match="no usable credentials"):
            backend.get(f"s3://{bucket}/x.nc")

    # -- file objects ----------------------------------------------------------------

    def test_reader_caches_the_first_block(self, proxied: MakeBackend, bucket: str,
                                           fault_proxy: FaultProxy) -> None:
        backend = proxied(block_size=1000, cache_blocks=2)
        uri, data = f"s3://{bucket}/obj.nc", payload(10_000)
        backend.put(uri, data)
        fault_proxy.reset()
        with backend.open(uri, "rb") as file:
            for pos in (0, 5000, 7000, 9000, 3000, 100):
                file.seek(pos)
                assert file.read(200) == data[pos:pos + 200]
            file.seek(2500)
            assert file.read(5000) == data[2500:7500]  # larger than the cache: direct
            stats = (file.hits, file.misses)  # type: ignore[attr-defined]
        assert stats == (1, 11)
        assert fault_proxy.count("HEAD") == 1
        assert fault_proxy.count("GET") == 6

    def test_dropped_writer_stores_nothing(self, backend: S3BackendBase,
                                           bucket: str) -> None:
        uri = f"s3://{bucket}/obj.nc"
        file = backend.open(uri, "wb")
        file.write(b"half")
        del file
        gc.collect()
        assert not backend.exists(uri)

    def test_reader_refuses_a_replaced_object(self, make_backend: MakeBackend,
                                              s3_server: str, bucket: str) -> None:
        backend = make_backend(endpoint_url=s3_server, block_size=1000)
        uri = f"s3://{bucket}/obj.nc"
        backend.put(uri, payload(50_000))
        file = backend.open(uri, "rb")
        file.read(10)
        backend.put(uri, payload(50_000, seed=9))
        with pytest.raises(StorageError, match="changed"):
            file.read(5000)
        file.close()

    # -- processes and loops -----------------------------------------------------------

    def test_works_after_fork(self, backend: S3BackendBase, bucket: str) -> None:
        uri = f"s3://{bucket}/obj.nc"
        backend.put(uri, b"before fork")
        assert backend.get(uri) == b"before fork"
        pid = os.fork()
        if pid == 0:  # the child: new connections, and a new IO loop
            try:
                backend.put(uri + ".child", b"child")
                code = 0 if backend.get(uri) == b"before fork" else 1
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert backend.get(uri + ".child") == b"child"

    def test_async_twins_from_a_running_loop(self, backend: S3BackendBase,
                                             bucket: str) -> None:
        uris = [f"s3://{bucket}/{index}.nc" for index in range(3)]

        async def main() -> list[bytes]:
            await asyncio.gather(*(backend.put_async(uri, uri.encode()) for uri in uris))
            return await asyncio.gather(*(backend.get_async(uri) for uri in uris))

        assert asyncio.run(main()) == [uri.encode() for uri in uris]


class TestS3(S3Behaviour):
    backend_class = S3Backend


# --------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("uri", "alias", "bucket", "key"),
    [("s3://b/k", None, "b", "k"), ("s3://b/dir/k.nc", None, "b", "dir/k.nc"),
     ("s3://host/b/k", "host", "b", "k"), ("s3://b/", None, "b", "")],
)
def test_parse_s3_uri(uri: str, alias: str | None, bucket: str, key: str) -> None:
    loc = parse_s3_uri(uri, alias, need_key=bool(key))
    assert (loc.bucket, loc.key, loc.uri) == (bucket, key, uri)
    assert s3_location(bucket, key, alias) == loc


@pytest.mark.parametrize(("total", "size"), [
    (0, 8 * MiB), (BIG, 8 * MiB), (MiB, 5 * MiB), (50 * 8 * MiB * MAX_PARTS, 400 * MiB)])
def test_upload_part_size(total: int, size: int) -> None:
    part = upload_part_size(total, max_part_size=8 * MiB if size != 5 * MiB else MiB)
    assert part == size
    assert part >= MIN_PART_SIZE
    assert -(-total // part) <= MAX_PARTS


def test_upload_part_size_too_large() -> None:
    with pytest.raises(StorageError, match="too large"):
        upload_part_size(6 * 2**40, 8 * MiB)


def test_part_ranges() -> None:
    assert part_ranges(11, 5) == [ByteRange(0, 5), ByteRange(5, 10), ByteRange(10, 11)]
    assert part_ranges(11, 5, start=4) == [ByteRange(4, 9), ByteRange(9, 11)]
    assert part_ranges(0, 5) == []


def test_check_upload() -> None:
    loc = s3_location("b", "k")
    digest = hashlib.md5(b"abc").digest()
    check_upload(loc, {"ETag": f'"{digest.hex()}"'}, md5_etag([digest], multipart=False))
    with pytest.raises(StorageError, match="ETag"):
        check_upload(loc, {"ETag": '"0123"'}, digest.hex())
    check_upload(loc, {"ETag": '"0123"', "SSEKMSKeyId": "x"}, digest.hex())  # KMS: no MD5
    with pytest.raises(StorageError, match="holds 2 bytes instead of 3"):
        check_upload(loc, {"ContentLength": 2}, "", size=3)


def _client_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(("err", "cls", "words"), [
    (_client_error("NoSuchKey", 404), ObjectNotFoundError, "does not exist"),
    (_client_error("404", 404), ObjectNotFoundError, "does not exist"),
    (_client_error("NoSuchBucket", 404), ObjectNotFoundError, "bucket 'b'"),
    (_client_error("AccessDenied", 403), StorageAccessError, "credentials"),
    (_client_error("InvalidAccessKeyId", 403), StorageAccessError, "access key id"),
    (_client_error("SignatureDoesNotMatch", 403), StorageAccessError, "secret key"),
    (_client_error("403", 403), StorageAccessError, "credentials"),
    (_client_error("SlowDown", 503), StorageError, "5 retries"),
    (_client_error("Teapot", 418, "secret-value brewed"), StorageError, "Teapot"),
    (ReadTimeoutError(endpoint_url="http://x"), StorageTimeoutError, "read_timeout=60"),
])
def test_translate_error(err: Exception, cls: type[Exception], words: str) -> None:
    settings = S3Settings(access_key_id="id", secret_access_key="secret-value")
    translated = translate_error(err, S3Location("b", "k", "s3://b/k"), "read", settings)
    assert type(translated) is cls
    assert str(translated).startswith("cannot read s3://b/k: ")
    assert words in str(translated)
    assert "secret-value" not in str(translated)


@pytest.mark.parametrize("options", [
    {"max_part_size": 0}, {"retries": -1}, {"read_timeout": 0}, {"access_key_id": "x"},
    {"addressing_style": "sideways"}, {"max_concurrency": 0}])
def test_settings_are_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="S3 option"):
        S3Settings(**options)


def test_settings_hide_secrets() -> None:
    settings = S3Settings(access_key_id="id", secret_access_key="hush", session_token="tok")
    assert "hush" not in repr(settings)
    assert "tok" not in repr(settings)
    assert S3Backend(secret_access_key="hush", access_key_id="id").__repr__().count("hush") == 0
    config = settings.botocore_config()
    assert config.retries == {"max_attempts": 5, "mode": "standard"}
