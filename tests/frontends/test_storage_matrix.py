"""The same reads and writes on every storage: fsspec memory://, S3 (sync and async).

Plain netCDF-4 and netCDF-3 files, CFA4 and CFA3 datasets, with the master and the
fragments on the store, or one of them on local disk and the other on the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import semsl
from semsl import errors
from semsl.backends import registry
from semsl.config import Config, HostConfig, set_config

STORES = ["memory", "s3", "s3_async"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URI prefix unique to the test on one kind of storage."""
    kind = request.param
    if kind == "memory":
        pytest.importorskip("fsspec")
        yield f"memory://semsl-tests/{uuid.uuid4().hex}"
        return
    pytest.importorskip("botocore")
    bucket = request.getfixturevalue("bucket")
    endpoint = request.getfixturevalue("s3_env")
    creds = request.getfixturevalue("s3_credentials")
    alias = f"test-{kind.replace('_', '-')}"
    set_config(Config(hosts={alias: HostConfig(alias=alias, endpoint_url=endpoint,
                                               backend=kind, **creds)}))
    registry.reset()
    try:
        yield f"s3://{alias}/{bucket}/{uuid.uuid4().hex[:8]}"
    finally:
        registry.reset()
        set_config(None)


def exists(uri: str) -> bool:
    location = registry.locate(uri)
    return location.backend.exists(location.uri)


def listing(prefix: str) -> list[str]:
    location = registry.locate(prefix)
    return [info.uri.rsplit("/", 1)[-1] for info in location.backend.list(location.uri)]


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF3_CLASSIC"])
def test_plain_file_round_trip_and_append(store: str, fmt: str) -> None:
    uri = f"{store}/plain.nc"
    with semsl.Dataset(uri, "w", format=fmt) as ds:
        ds.createDimension("t", None)
        ds.title = "on the store"
        v = ds.createVariable("v", "f4", ("t",), fill_value=-1.0)
        v[:3] = [1.0, 2.0, 3.0]
        assert ds.filepath() == uri
    assert exists(uri)
    with semsl.Dataset(uri, "a") as ds:
        ds["v"][3] = 4.0
    with semsl.Dataset(uri) as ds:
        assert ds.file_format == fmt
        assert ds.title == "on the store"
        assert ds["v"][:].tolist() == [1.0, 2.0, 3.0, 4.0]
        assert ds.filepath() == uri
    with pytest.raises(FileExistsError):
        semsl.Dataset(uri, "x", format=fmt)


def test_missing_remote_file(store: str) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.nc"):
        semsl.Dataset(f"{store}/nothing.nc")


def write_aggregated(uri: str, fmt: str, **kwargs: Any) -> np.ndarray:
    data = np.arange(60.0).reshape(6, 10)
    with semsl.Dataset(uri, "w", format=fmt, **kwargs) as ds:
        ds.createDimension("t", None)
        ds.createDimension("x", 10)
        x = ds.createVariable("x", "f8", ("x",))
        x[:] = np.arange(10.0)
        v = ds.createVariable("v", "f8", ("t", "x"), subarray_shape=(2, 5), fill_value=-9.0)
        v[:6] = data
    return data


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_aggregated_dataset_on_store(store: str, fmt: str) -> None:
    uri = f"{store}/run/tas.nca"
    data = write_aggregated(uri, fmt)
    names = listing(f"{store}/run/tas/")
    assert len(names) == 6
    assert names[0] == "tas.v.0000.0.nc"
    with semsl.Dataset(uri) as ds:
        v = ds["v"]
        assert v.fragments.path((0, 0)) == f"{store}/run/tas/tas.v.0000.0.nc"
        np.testing.assert_array_equal(v[:], data)
        np.testing.assert_array_equal(v[::-2, 3], data[::-2, 3])
    with semsl.Dataset(uri, "a") as ds:
        ds["v"][6] = 100.0
    with semsl.Dataset(uri) as ds:
        assert ds["v"].shape == (7, 10)
        assert (ds["v"][6] == 100.0).all()
        np.testing.assert_array_equal(ds["v"][:6], data)


def test_master_local_fragments_on_store(store: str, tmp_path: Path) -> None:
    master = tmp_path / "local.nca"
    data = write_aggregated(str(master), "CFA4", fragment_location=f"{store}/frags")
    assert len(listing(f"{store}/frags/")) == 6
    assert not (tmp_path / "local").exists()
    with semsl.Dataset(master) as ds:
        assert ds["v"].fragments.uri((0, 0)) == f"{store}/frags/local.v.0000.0.nc"
        np.testing.assert_array_equal(ds["v"][:], data)


def test_master_on_store_fragments_local(store: str, tmp_path: Path) -> None:
    uri = f"{store}/remote.nca"
    data = write_aggregated(uri, "CFA3", fragment_location=str(tmp_path / "frags"))
    assert len(list((tmp_path / "frags").iterdir())) == 6
    with semsl.Dataset(uri) as ds:
        assert ds["v"].fragments.uri((0, 0)).startswith("file://")
        np.testing.assert_array_equal(ds["v"][:], data)


def test_missing_remote_fragment_names_it(store: str) -> None:
    uri = f"{store}/m.nca"
    write_aggregated(uri, "CFA4")
    gone = f"{store}/m/m.v.0001.1.nc"
    location = registry.locate(gone)
    location.backend.remove(location.uri)
    with semsl.Dataset(uri) as ds:
        np.testing.assert_array_equal(ds["v"][0:2, :], np.arange(20.0).reshape(2, 10))
        with pytest.raises(errors.FragmentNotFoundError, match=r"m\.v\.0001\.1\.nc"):
            ds["v"][:]
