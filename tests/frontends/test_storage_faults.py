"""Datasets on S3 when the network misbehaves: retried, reported, nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import semsl
from semsl import errors
from semsl.backends import registry
from semsl.config import Config, HostConfig, S3Options, set_config

pytest.importorskip("botocore")


@pytest.fixture(params=["s3", "s3_async"])
def flaky(request: pytest.FixtureRequest, bucket: str, fault_proxy: object,
          s3_credentials: dict[str, str], fast_backoff: None) -> Iterator[str]:
    """A URI prefix on a host reached through the fault proxy (2 retries, 2 s timeouts)."""
    host = HostConfig(alias="flaky", endpoint_url=fault_proxy.url,  # type: ignore[attr-defined]
                      backend=request.param, **s3_credentials)
    set_config(Config(hosts={"flaky": host},
                      s3=S3Options(retries=2, connect_timeout=2.0, read_timeout=2.0)))
    registry.reset()
    try:
        yield f"s3://flaky/{bucket}"
    finally:
        registry.reset()
        set_config(None)


def write(uri: str, value: float) -> None:
    with semsl.Dataset(uri, "w", format="CFA4") as ds:
        ds.createDimension("x", 8)
        v = ds.createVariable("v", "f4", ("x",), subarray_shape=(4,))
        v[:] = value


def test_transient_faults_are_retried(flaky: str, fault_proxy: object) -> None:
    proxy = fault_proxy
    proxy.fail("status", times=2, method="PUT")  # type: ignore[attr-defined]
    write(f"{flaky}/m.nca", 1.0)
    proxy.fail("status", times=1, method="GET", status=500,  # type: ignore[attr-defined]
               code="InternalError")
    proxy.fail("reset", times=1, method="GET")  # type: ignore[attr-defined]
    with semsl.Dataset(f"{flaky}/m.nca") as ds:
        assert ds["v"][:].tolist() == [1.0] * 8


def test_failed_master_upload_keeps_the_previous_master(flaky: str, fault_proxy: object,
                                                        ) -> None:
    uri = f"{flaky}/m.nca"
    write(uri, 1.0)
    fault_proxy.fail("status", times=None, method="PUT",  # type: ignore[attr-defined]
                     path=r"/m\.nca$")
    with pytest.raises(errors.MasterWriteError, match=r"m\.nca"):
        write(uri, 2.0)
    fault_proxy.reset()  # type: ignore[attr-defined]
    with semsl.Dataset(uri) as ds:
        # The master still describes the old data; its fragments were rewritten in
        # place (crash-safe fragment updates belong to the reliability work).
        assert ds["v"].shape == (8,)


def test_persistent_fault_names_the_fragment(flaky: str, fault_proxy: object) -> None:
    uri = f"{flaky}/m.nca"
    write(uri, 1.0)
    fault_proxy.fail("status", times=None, method="GET",  # type: ignore[attr-defined]
                     path=r"m\.v\.1\.nc$", status=503)
    with semsl.Dataset(uri) as ds:
        assert ds["v"][:4].tolist() == [1.0] * 4
        with pytest.raises(errors.FragmentReadError, match=r"m\.v\.1\.nc"):
            ds["v"][4:]


def test_missing_bucket_and_unknown_alias(s3_env: str) -> None:
    registry.reset()
    with pytest.raises(errors.ObjectNotFoundError, match="no-such-bucket"):
        semsl.Dataset("s3://no-such-bucket/a/b.nc")
    with pytest.raises(FileNotFoundError, match="nosuchalias"):
        semsl.Dataset("s3://nosuchalias/bucket/key.nc")
    registry.reset()


def test_truncated_body_is_never_data(flaky: str, fault_proxy: object) -> None:
    uri = f"{flaky}/plain.nc"
    with semsl.Dataset(uri, "w") as ds:
        ds.createDimension("x", 1000)
        ds.createVariable("v", "f8", ("x",))[:] = np.arange(1000.0)
    fault_proxy.fail("truncate", times=1, method="GET")  # type: ignore[attr-defined]
    with pytest.raises(errors.StorageError, match=r"plain\.nc"):
        semsl.Dataset(uri)
    with semsl.Dataset(uri) as ds:  # the next read is whole
        np.testing.assert_array_equal(ds["v"][:], np.arange(1000.0))
