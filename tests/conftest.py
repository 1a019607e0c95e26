"""Shared fixtures: a local S3 server (moto) on 127.0.0.1 and a fault proxy in front of it.

One moto server runs for the whole session on a port the system chooses; every test
that needs S3 gets its own bucket.  No request ever leaves 127.0.0.1: the credentials
are fake, the endpoint is local and the EC2 metadata probe is switched off.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from s3_fault_proxy import FaultProxy

FAKE_KEY_ID = "semsl-test-key-id"
FAKE_SECRET = "semsl-test-secret-do-not-print"
REGION = "us-east-1"
_STARTUP_SECONDS = 60.0


@pytest.fixture(scope="session", autouse=True)
def _no_metadata_probe() -> Iterator[None]:
    # botocore would otherwise ask 169.254.169.254 for instance credentials.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1 (port chosen by the system)."""
    pytest.importorskip("moto.server")
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=log, stderr=subprocess.STDOUT, env=_server_env(),
        )
    try:
        yield _wait_for_endpoint(proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_ACCESS_KEY_ID=FAKE_KEY_ID,
               AWS_SECRET_ACCESS_KEY=FAKE_SECRET, AWS_DEFAULT_REGION=REGION)
    return env


def _wait_for_endpoint(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    # werkzeug prints the port it bound ("Running on http://127.0.0.1:NNNNN"): reading
    # it back avoids guessing a free port and racing another process for it.
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        found = re.search(rb"Running on (http://127\.0\.0\.1:\d+)", log_path.read_bytes())
        if found:
            return found.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"moto server did not start: {log_path.read_text(errors='replace')}")


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the standard AWS variables at the test server, with fake credentials.

    Shared AWS files of the user are hidden.  Returns the endpoint URL; everything is
    restored after the test.
    """
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return s3_server


@pytest.fixture
def s3_credentials() -> dict[str, str]:
    """Explicit backend arguments with the fake credentials and the region."""
    return {"access_key_id": FAKE_KEY_ID, "secret_access_key": FAKE_SECRET, "region": REGION}


@pytest.fixture(scope="session")
def s3_admin(s3_server: str) -> Iterator[Any]:
    """A plain botocore client on the test server, for setting up and inspecting."""
    botocore_session = pytest.importorskip("botocore.session")
    client = botocore_session.Session().create_client(
        "s3", endpoint_url=s3_server, region_name=REGION,
        aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET,
    )
    yield client
    client.close()


@pytest.fixture
def bucket(s3_env: str, s3_admin: Any) -> str:
    """A fresh, empty bucket on the test server (``s3_env`` is active)."""
    name = f"semsl-{uuid.uuid4().hex[:16]}"
    s3_admin.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def _fault_proxy(s3_server: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make botocore wait 10 ms between retries instead of up to 2**n seconds.

    The number of retries is unchanged; only the test's time goes down.
    """
    standard = pytest.importorskip("botocore.retries.standard")
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount",
                        lambda self, context: 0.01)


@pytest.fixture
def fault_proxy(_fault_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The fault proxy in front of the test server, with no rules and no counted requests."""
    _fault_proxy.reset()
    yield _fault_proxy
    _fault_proxy.reset()
