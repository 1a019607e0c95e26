"""The asynchronous S3 backend: the same suites as the synchronous one, plus its loop rules.

The aiobotocore client must live on semsl's IO loop only, be closed by ``close()``, by
garbage collection and at exit, and a cancelled upload must still be aborted.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiobotocore")

from s3_fault_proxy import FaultProxy

import semsl
from backends.conformance import BackendConformance, payload
from backends.test_s3 import BIG, MakeBackend, MiB, S3Behaviour, S3Fixtures
from semsl._sync import get_loop
from semsl.backends import s3_async
from semsl.backends.s3_async import AsyncS3Backend


class TestAsyncS3Conformance(S3Fixtures, BackendConformance):
    backend_class = AsyncS3Backend


class TestAsyncS3(S3Behaviour):
    backend_class = AsyncS3Backend


def client_of(backend: Any) -> Any:
    return backend._client_ref


class TestAsyncS3Loops(S3Fixtures):
    backend_class = AsyncS3Backend

    def test_supports_async(self, backend: AsyncS3Backend) -> None:
        assert backend.supports_async is True

    def test_sync_calls_inside_a_running_loop(self, backend: AsyncS3Backend,
                                              bucket: str) -> None:
        uri = f"s3://{bucket}/obj.nc"

        async def notebook_cell() -> tuple[bytes, list[bytes]]:
            # As in Jupyter: a loop runs in this thread, and the sync API is called.
            backend.put(uri, b"cell")
            return backend.get(uri), backend.get_many([uri, uri])

        assert asyncio.run(notebook_cell()) == (b"cell", [b"cell", b"cell"])

    def test_client_lives_on_the_io_loop(self, backend: AsyncS3Backend,
                                         bucket: str) -> None:
        uri = f"s3://{bucket}/obj.nc"
        backend.put(uri, b"x")
        first = client_of(backend)
        assert first.loop is get_loop()
        for _ in range(2):  # two foreign loops, one after the other
            assert asyncio.run(backend.get_async(uri)) == b"x"
        assert client_of(backend) is first

    def test_close_and_reuse(self, backend: AsyncS3Backend, bucket: str) -> None:
        uri = f"s3://{bucket}/obj.nc"
        backend.put(uri, b"x")
        first = client_of(backend)
        backend.close()
        assert client_of(backend) is None
        assert first not in s3_async._OPEN
        assert backend.get(uri) == b"x"
        assert client_of(backend) is not first

    def test_garbage_collection_closes_the_client(self, s3_server: str, bucket: str,
                                                  s3_credentials: dict[str, str]) -> None:
        backend = AsyncS3Backend(endpoint_url=s3_server, **s3_credentials)
        backend.put(f"s3://{bucket}/obj.nc", b"x")
        client = client_of(backend)
        assert client in s3_async._OPEN
        del backend
        gc.collect()
        assert client not in s3_async._OPEN

    def test_exit_closes_the_client(self, s3_env: str, bucket: str) -> None:
        # The check is registered first, so it runs last: after semsl's exit hooks.
        script = (
            "import atexit, gc, aiohttp\n"
            "def count_open_sessions():\n"
            "    sessions = [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession)]\n"
            "    print('open sessions:', sum(not s.closed for s in sessions), flush=True)\n"
            "atexit.register(count_open_sessions)\n"
            "from semsl.backends.s3_async import AsyncS3Backend\n"
            "backend = AsyncS3Backend()\n"
            f"backend.put('s3://{bucket}/exit.nc', b'x')\n"
            f"assert backend.get('s3://{bucket}/exit.nc') == b'x'\n"
        )
        env = {**os.environ, "PYTHONPATH": str(Path(semsl.__file__).parents[1])}
        done = subprocess.run([sys.executable, "-X", "dev", "-c", script], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "open sessions: 0" in done.stdout
        assert "Traceback" not in done.stderr

    def test_cancelled_upload_is_aborted(self, proxied: MakeBackend, bucket: str,
                                         fault_proxy: FaultProxy, s3_admin: Any) -> None:
        backend = proxied(max_part_size=5 * MiB, read_timeout=5.0)
        uri = f"s3://{bucket}/obj.bin"
        fault_proxy.fail("stall", times=None, method="PUT", path=r"partNumber=2", stall=2.0)

        async def impatient() -> None:
            await asyncio.wait_for(backend.put_async(uri, payload(BIG)), 0.5)

        with pytest.raises(TimeoutError):
            asyncio.run(impatient())
        deadline = time.monotonic() + 5
        while s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads"):
            assert time.monotonic() < deadline, "the cancelled upload was not aborted"
            time.sleep(0.05)
        assert fault_proxy.count("DELETE", r"uploadId=") == 1
        assert not backend.exists(uri)
