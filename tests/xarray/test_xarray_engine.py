"""The ``semsl`` xarray engine against ``engine="netcdf4"`` on the same data in a plain file."""

from __future__ import annotations

import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("dask.array")

from xarray_cases import (  # noqa: E402
    CASES,
    NETCDF3_CASES,
    groups,
    times_360_day,
    write_pair,
    write_unequal_master,
)

import semsl  # noqa: E402
from semsl.backends import registry  # noqa: E402
from semsl.errors import FragmentNotFoundError  # noqa: E402
from semsl.frontends.xarray import SemslBackendEntrypoint  # noqa: E402

pytestmark = pytest.mark.filterwarnings(  # xarray's own note, with either engine
    "ignore:variable 'ta' has multiple fill values")
ENGINE = SemslBackendEntrypoint
CFTIME = ({"decode_times": xr.coders.CFDatetimeCoder(use_cftime=True)}
          if hasattr(xr, "coders") else {"use_cftime": True})
DECODING = [
    {},
    {"mask_and_scale": False},
    {"decode_times": False, "decode_timedelta": False},
    CFTIME,
    {"decode_coords": "all", "concat_characters": False},
]


def _pair(master: Path, plain: Path, **kwargs: Any) -> tuple[Any, Any]:
    return (xr.open_dataset(master, engine=ENGINE, **kwargs),
            xr.open_dataset(plain, engine="netcdf4", **kwargs))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("options", DECODING, ids=["default", "raw", "no_times", "cftime",
                                                   "all_coords"])
def test_same_as_netcdf4_engine(tmp_path: Path, name: str, options: dict[str, Any]) -> None:
    master, plain = write_pair(CASES[name], tmp_path)
    got, want = _pair(master, plain, **options)
    with got, want:
        xr.testing.assert_identical(got, want)
        for var in want.variables:
            assert got[var].dtype == want[var].dtype, var


@pytest.mark.parametrize("name", NETCDF3_CASES)
def test_same_as_netcdf4_engine_netcdf3(tmp_path: Path, name: str) -> None:
    master, plain = write_pair(CASES[name], tmp_path, "CFA3")
    got, want = _pair(master, plain)
    with got, want:
        xr.testing.assert_identical(got, want)


@pytest.mark.parametrize("name", ["times_360_day", "packed", "masked_floats"])
def test_chunked_reads_are_the_same(tmp_path: Path, name: str) -> None:
    master, plain = write_pair(CASES[name], tmp_path)
    got, want = _pair(master, plain, chunks={})
    with got, want:
        xr.testing.assert_identical(got.compute(scheduler="threads", num_workers=8),
                                    want.compute())


def test_outer_indexing_is_the_same(tmp_path: Path) -> None:
    master, plain = write_pair(times_360_day, tmp_path)
    got, want = _pair(master, plain)
    keys = [{"time": [0, 5, 11], "lon": slice(None, None, 3)},
            {"time": slice(10, 2, -3), "lat": [4, 0]},
            {"lat": 2, "lon": [7, 1, 2]}]
    with got, want:
        for key in keys:
            xr.testing.assert_identical(got.tas.isel(key), want.tas.isel(key))


# xarray decodes a variable with time units by reading its first and last element, so
# aggregated time variables (time_bnds) are opened undecoded here.
@pytest.mark.parametrize(("name", "options"), [("masked_floats", {}), ("packed", {}),
                                              ("times_360_day", {"decode_times": False})])
def test_open_reads_only_the_master(tmp_path: Path, name: str, options: dict[str, Any]) -> None:
    master, plain = write_pair(CASES[name], tmp_path)
    var = {"masked_floats": "ta", "packed": "pr", "times_360_day": "tas"}[name]
    with semsl.Dataset(master) as ds:
        grid = ds[var].fragments
        paths = {grid.path(index) for index in np.ndindex(*grid.grid_shape)}
        last = grid.path(tuple(n - 1 for n in grid.grid_shape))
    shutil.rmtree(tmp_path / "master")  # every fragment gone
    with xr.open_dataset(master, engine=ENGINE, **options) as got, \
            xr.open_dataset(plain, engine="netcdf4", **options) as want:
        xr.testing.assert_identical(got.coords.to_dataset(), want.coords.to_dataset())
        assert got[var].shape == want[var].shape
        assert got[var].attrs == want[var].attrs
        with pytest.raises(FragmentNotFoundError) as caught:
            got[var].load()
        assert caught.value.uri in paths
        assert caught.value.uri in str(caught.value)
    with xr.open_dataset(master, engine=ENGINE, chunks={}, **options) as chunked:
        corner = chunked[var].isel({d: slice(-1, None) for d in chunked[var].dims})
        with pytest.raises(FragmentNotFoundError) as caught:
            corner.compute()  # the last fragment only
        assert caught.value.uri == last


def test_preferred_chunks_equal_fragments(tmp_path: Path) -> None:
    master, _ = write_pair(times_360_day, tmp_path)
    with xr.open_dataset(master, engine=ENGINE, chunks={}) as ds, semsl.Dataset(master) as nc:
        assert ds.tas.encoding["preferred_chunks"] == {"time": 5, "lat": 3, "lon": 5}
        assert ds.tas.chunks == ((5, 5, 2), (3, 3), (5, 3))
        assert ds.tas.data.numblocks == nc["tas"].fragments.grid_shape
        assert ds.time_bnds.chunks == ((5, 5, 2), (2,))


def test_unequal_fragments_give_unequal_chunks(tmp_path: Path) -> None:
    data = np.arange(10 * 7, dtype="f8").reshape(10, 7)
    master = write_unequal_master(tmp_path, data, [(3, 5, 2), (4, 1, 2)])
    with xr.open_dataset(master, engine=ENGINE, chunks={}) as ds:
        assert ds.v.encoding["preferred_chunks"] == {"y": (3, 5, 2), "x": (4, 1, 2)}
        assert ds.v.chunks == ((3, 5, 2), (4, 1, 2))
        np.testing.assert_array_equal(ds.v.values, data)
    with xr.open_dataset(master, engine=ENGINE, chunks="auto") as ds:
        np.testing.assert_array_equal(ds.v.values, data)


def test_open_mfdataset(tmp_path: Path) -> None:
    masters, plains = [], []
    for k in range(2):
        folder = tmp_path / f"part{k}"
        folder.mkdir()
        master, plain = write_pair(times_360_day, folder)
        for path in (master, plain):  # consecutive years
            with semsl.Dataset(path, "a") as ds:
                ds["time"].units = f"days since {1850 + k}-01-01"
        masters.append(master)
        plains.append(plain)
    got = xr.open_mfdataset(masters, engine=ENGINE, combine="by_coords")
    want = xr.open_mfdataset(plains, engine="netcdf4", combine="by_coords")
    with got, want:
        assert got.tas.chunks[0] == (5, 5, 2, 5, 5, 2)
        xr.testing.assert_identical(got.load(), want.load())


def test_group(tmp_path: Path) -> None:
    master, plain = write_pair(groups, tmp_path)
    for group in ("model/run1", "/model/run2", "model"):
        got, want = _pair(master, plain, group=group)
        with got, want:
            xr.testing.assert_identical(got, want)
    with pytest.raises(OSError, match="group not found"):
        xr.open_dataset(master, engine=ENGINE, group="model/run9")


def test_open_datatree(tmp_path: Path) -> None:
    master, plain = write_pair(groups, tmp_path)
    got = xr.open_datatree(master, engine=ENGINE)
    want = xr.open_datatree(plain, engine="netcdf4")
    xr.testing.assert_identical(got, want)
    got.close()
    want.close()


def test_pickled_dataset_reads_in_another_process_state(tmp_path: Path) -> None:
    master, plain = write_pair(times_360_day, tmp_path)
    got, want = _pair(master, plain, chunks={})
    with got, want:
        copy = pickle.loads(pickle.dumps(got))
        got.close()  # the copy reopens the master from its path
        xr.testing.assert_identical(copy.load(), want.load())
        lazy = xr.open_dataset(master, engine=ENGINE)
        wrapper = lazy.tas.variable._data
        again = pickle.loads(pickle.dumps(wrapper))
        np.testing.assert_array_equal(np.asarray(again), np.asarray(wrapper))
        lazy.close()


def test_entry_point_registered(tmp_path: Path) -> None:
    assert isinstance(xr.backends.list_engines()["semsl"], SemslBackendEntrypoint)
    master, plain = write_pair(times_360_day, tmp_path)
    with xr.open_dataset(master, engine="semsl") as got, xr.open_dataset(plain) as want:
        xr.testing.assert_identical(got, want)


def test_guess_can_open(tmp_path: Path) -> None:
    engine = SemslBackendEntrypoint()
    master, plain = write_pair(times_360_day, tmp_path)
    renamed = tmp_path / "master_as.nc"
    shutil.copy(master, renamed)
    assert engine.guess_can_open(master)
    assert engine.guess_can_open(str(renamed))  # recognised by its attributes
    assert not engine.guess_can_open(plain)
    assert not engine.guess_can_open(tmp_path / "missing.nc")
    assert engine.guess_can_open("s3://bucket/run/tas.nca")
    assert not engine.guess_can_open("s3://bucket/run/tas.nc")  # no fetch to guess
    assert not engine.guess_can_open(b"CDF\x01")
    text = tmp_path / "notes.txt"
    text.write_text("CDF is not here")
    assert not engine.guess_can_open(text)


@pytest.fixture
def s3_prefix(bucket: str) -> Any:
    registry.reset()  # backends follow the test server's environment
    yield f"s3://{bucket}/{uuid.uuid4().hex[:8]}"
    registry.reset()


def test_s3_master_and_plain_file(tmp_path: Path, s3_prefix: str) -> None:
    times_360_day(semsl, f"{s3_prefix}/tas.nca", "CFA4")  # type: ignore[arg-type]
    _master, plain = write_pair(times_360_day, tmp_path)
    location = registry.locate(f"{s3_prefix}/plain.nc")
    location.backend.put_file(str(plain), location.uri)
    with xr.open_dataset(plain, engine="netcdf4") as want:
        for uri in (f"{s3_prefix}/tas.nca", f"{s3_prefix}/plain.nc"):
            with xr.open_dataset(uri, engine=ENGINE, chunks={}) as got:
                assert got.tas.encoding["source"] == uri
                xr.testing.assert_identical(got.load(), want)
