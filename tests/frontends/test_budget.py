"""Tiny memory and open-file budgets give the same files and values as no limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl.config import Config, ResourceConfig, set_config
from semsl.frontends.netcdf4 import _master_of


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[Path]:
    """A configuration with room for two open fragments and 4 kB of memory."""
    cache = tmp_path / "cache"
    set_config(Config(resources=ResourceConfig(memory_budget=4000, open_files=2,
                                               cache_dir=str(cache))))
    try:
        yield cache
    finally:
        set_config(None)


def write(path: str) -> np.ndarray:
    data = np.arange(24 * 30, dtype="f8").reshape(24, 30)
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("t", None)
        ds.createDimension("x", 30)
        v = ds.createVariable("v", "f8", ("t", "x"), subarray_shape=(4, 10))
        for row in range(24):  # row by row: every fragment is reopened many times
            v[row] = data[row]
        v[0:24:5, ::7] = -data[::5, ::7]
    data[::5, ::7] *= -1
    return data


def fragment_values(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted(folder.iterdir()):
        with netCDF4.Dataset(path) as frag:
            out[path.name] = frag["v"][:]
    return out


def test_tight_budget_writes_the_same_files(tmp_path: Path, tight: Path) -> None:
    limited = write(str(tmp_path / "a" / "m.nca"))
    set_config(None)
    unlimited = write(str(tmp_path / "b" / "m.nca"))
    np.testing.assert_array_equal(limited, unlimited)
    got, want = fragment_values(tmp_path / "a" / "m"), fragment_values(tmp_path / "b" / "m")
    assert list(got) == list(want)
    assert len(got) == 18
    for name, values in want.items():
        np.testing.assert_array_equal(got[name], values)


def test_tight_budget_reads_and_evicts(tmp_path: Path, tight: Path) -> None:
    data = write(str(tmp_path / "m.nca"))
    with semsl.Dataset(tmp_path / "m.nca") as ds:
        np.testing.assert_array_equal(ds["v"][:], data)
        handles = _master_of(ds).handles
        assert len(handles) <= 2
        assert handles.evictions > 0


def test_remote_reads_stay_within_the_memory_budget(tight: Path) -> None:
    pytest.importorskip("fsspec")
    uri = f"memory://semsl-budget/{uuid.uuid4().hex}/m.nca"
    data = write(uri)
    with semsl.Dataset(uri) as ds:
        np.testing.assert_array_equal(ds["v"][:], data)
        handles = _master_of(ds).handles
        assert handles.evictions > 0
        assert len(handles) == 1 or handles.nbytes <= 4000


def test_large_read_goes_to_a_memory_map(tmp_path: Path, tight: Path) -> None:
    data = write(str(tmp_path / "m.nca"))
    with semsl.Dataset(tmp_path / "m.nca") as ds:
        ds.set_auto_mask(False)
        whole = ds["v"][:]
        assert isinstance(whole, np.memmap)
        np.testing.assert_array_equal(whole, data)
        small = ds["v"][0, :10]
        assert not isinstance(small, np.memmap)
    assert list(tight.iterdir()) == []  # the mapped file was unlinked at once
    del whole


def test_remote_file_larger_than_the_budget_is_read_from_the_cache(tight: Path) -> None:
    pytest.importorskip("fsspec")
    uri = f"memory://semsl-budget/{uuid.uuid4().hex}/big.nc"
    with semsl.Dataset(uri, "w") as ds:
        ds.createDimension("x", 2000)
        ds.createVariable("v", "f8", ("x",))[:] = np.arange(2000.0)
    with semsl.Dataset(uri) as ds:
        assert ds.filepath() == uri
        np.testing.assert_array_equal(ds["v"][:], np.arange(2000.0))
    assert [p for p in tight.iterdir() if not p.name.startswith(".fragment")] == []
