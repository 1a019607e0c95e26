"""``to_semsl``: xarray datasets written as aggregated masters, compared with ``to_netcdf``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("dask.array")

from xarray_cases import source  # noqa: E402

import semsl  # noqa: E402
from semsl.backends import registry  # noqa: E402
from semsl.errors import SubarrayShapeError  # noqa: E402
from semsl.frontends.dask import to_dask  # noqa: E402
from semsl.frontends.xarray import SemslBackendEntrypoint  # noqa: E402
from semsl.frontends.xarray_write import to_semsl  # noqa: E402

ENGINE = SemslBackendEntrypoint
PLAIN = {"CFA4": "NETCDF4", "CFA3": "NETCDF3_CLASSIC"}


def _reference(ds: Any, folder: Path, fmt: str) -> Any:
    """What ``to_netcdf`` writes, read back by xarray, with semsl's Conventions."""
    path = folder / f"reference-{fmt}.nc"
    ds.to_netcdf(path, format=PLAIN[fmt], engine="netcdf4")
    ref = xr.open_dataset(path, engine="netcdf4").load()
    ref.attrs["Conventions"] = "CF-1.13"
    return ref


def _check(target: Any, ds: Any, folder: Path, fmt: str) -> Any:
    got = xr.open_dataset(target, engine=ENGINE).load()
    reference = _reference(ds, folder, fmt)
    xr.testing.assert_identical(got, reference)
    assert list(got.variables) == list(reference.variables)  # the order is kept
    # against the source: equal values (packing rounds pr), the same attributes
    xr.testing.assert_equal(got.drop_vars("pr"), ds.drop_vars("pr"))
    np.testing.assert_allclose(got.pr, ds.pr, atol=0.005)
    assert got.attrs == {**ds.attrs, "Conventions": "CF-1.13"}
    return got


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_round_trip_in_memory_data(tmp_path: Path, fmt: str) -> None:
    ds = source()
    target = tmp_path / "out.nca"
    assert to_semsl(ds, target, format=fmt, subarray_shape={"time": 5, "lat": 2}) is None
    _check(target, ds, tmp_path, fmt)
    with semsl.Dataset(target) as nc:
        assert nc.data_model == PLAIN[fmt]
        assert nc["tas"].fragments.grid_shape == (3, 3, 1)
        assert nc["count"].fragments.grid_shape == (3, 1)
        assert "station" not in [v.name for v in nc.variables.values()
                                 if isinstance(v, semsl.AggregatedVariable)]
        assert nc["pr"].dtype == np.int16


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_one_fragment_per_dask_chunk(tmp_path: Path, fmt: str) -> None:
    ds = source(strings=False).chunk({"time": (4, 6, 2), "lat": 3, "lon": -1})
    target = tmp_path / "out.nca"
    to_semsl(ds, target, format=fmt)
    got = _check(target, ds.compute(), tmp_path, fmt)
    assert got is not None
    with xr.open_dataset(target, engine=ENGINE, chunks={}) as lazy:
        assert lazy.tas.chunks == ds.tas.chunks
        assert lazy.stamp.chunks == ds.stamp.chunks
        assert lazy["count"].chunks == ds["count"].chunks


def test_fragments_are_self_describing(tmp_path: Path) -> None:
    ds = source(strings=False).chunk({"time": 6})
    target = tmp_path / "run" / "out.nca"
    to_semsl(ds, target)
    with semsl.Dataset(target) as nc:
        path = nc["pr"].fragments.path((1, 0, 0))
        assert nc["pr"].fragments.uri((1, 0, 0)) == "out/out.pr.1.0.0.nc"
    assert path == str(tmp_path / "run" / "out" / "out.pr.1.0.0.nc")
    with netCDF4.Dataset(path) as frag:
        assert frag.semsl_variable == "/pr"
        assert frag.semsl_master == "out.nca"
        assert frag.semsl_master_dimensions == "time lat lon"
        assert list(frag.semsl_master_shape) == [12, 5, 6]
        assert list(frag.semsl_fragment_start) == [6, 0, 0]
        assert list(frag.semsl_fragment_index) == [1, 0, 0]
        assert frag.title == "to_semsl source"
        pr = frag["pr"]
        assert pr.dtype == np.int16
        assert pr.shape == (6, 5, 6)
        assert pr.semsl_scale_factor == 0.01
        assert "scale_factor" not in pr.ncattrs()
        assert pr._FillValue == -32767
        assert frag["time"].calendar == "360_day"
        np.testing.assert_array_equal(frag["time"][:], np.arange(6, 12) * 30)


def test_subarray_shape_and_fragment_location(tmp_path: Path) -> None:
    ds = source(strings=False)[["tas", "pr"]]  # a shape per dimension fits every variable
    elsewhere = tmp_path / "store"
    target = tmp_path / "master" / "out.nca"
    to_semsl(ds, target, subarray_shape=(4, 5, 3), fragment_location=str(elsewhere))
    with semsl.Dataset(target) as nc:
        assert nc["tas"].fragments.grid_shape == (3, 1, 2)
        assert nc["tas"].fragments.uri((0, 0, 0)).startswith("file://")
    assert len(list(elsewhere.glob("out.tas.*.nc"))) == 6
    _check(target, ds, tmp_path, "CFA4")
    with pytest.raises(SubarrayShapeError, match="mapping"):
        to_semsl(source(), tmp_path / "bad.nca", subarray_shape=(4, 5, 3))
    with pytest.raises(SubarrayShapeError, match="positive"):
        to_semsl(ds, tmp_path / "bad.nca", subarray_shape={"time": 0})
    with pytest.raises(ValueError, match="CFA4"):
        to_semsl(ds, tmp_path / "bad.nca", format="NETCDF4")


def test_unlimited_dimensions(tmp_path: Path) -> None:
    ds = source(strings=False)
    ds.encoding["unlimited_dims"] = {"time"}
    ds["only_aggregated"] = (("step", "lat"), np.ones((3, 5)))
    ds.encoding["unlimited_dims"] = {"time", "step"}  # step: no plain variable spans it
    target = tmp_path / "out.nca"
    to_semsl(ds.chunk({"time": 5}), target)
    with semsl.Dataset(target) as nc:
        assert nc.dimensions["time"].isunlimited()
        assert not nc.dimensions["step"].isunlimited()
        path = nc["tas"].fragments.path((2, 0, 0))
    with netCDF4.Dataset(path) as frag:  # the short last fragment can grow
        assert frag.dimensions["time"].isunlimited()
    _check(target, ds, tmp_path, "CFA4")
    with semsl.Dataset(target, "a") as nc:  # semsl appends along time
        nc["tas"][12:14] = np.ones((2, 5, 6))
        nc["time"][12:14] = [360, 390]
    with xr.open_dataset(target, engine=ENGINE, drop_variables="stamp") as grown:
        assert grown.sizes["time"] == 14
        np.testing.assert_array_equal(grown.tas[:12], ds.tas)


def test_compute_false_writes_nothing_until_computed(tmp_path: Path) -> None:
    ds = source(strings=False).chunk({"time": 3})
    target = tmp_path / "late.nca"
    delayed = to_semsl(ds, target, compute=False)
    assert delayed is not None
    assert not target.exists()
    assert not (tmp_path / "late").exists()
    delayed.compute()
    _check(target, ds.compute(), tmp_path, "CFA4")


def test_master_written_last(tmp_path: Path) -> None:
    ds = source(strings=False).chunk({"time": 3})
    target = tmp_path / "out.nca"
    to_semsl(ds, target)
    before = target.read_bytes()
    broken = ds.copy()
    broken["tas"] = broken.tas.copy(data=broken.tas.data.map_blocks(_fail_on_last))
    with pytest.raises(RuntimeError, match="fragment task failed"):
        to_semsl(broken, target)
    assert target.read_bytes() == before  # the previous master is untouched
    assert not list(tmp_path.glob(".out.nca.*"))


def _fail_on_last(block: Any, block_info: Any = None) -> Any:
    if block_info and block_info[0]["chunk-location"][0] == 3:
        raise RuntimeError("fragment task failed")
    return block


def test_opened_dataset_written_again_keeps_its_grid(tmp_path: Path) -> None:
    ds = source(strings=False)
    first = tmp_path / "first.nca"
    to_semsl(ds, first, subarray_shape={"time": 5})
    with xr.open_dataset(first, engine=ENGINE, chunks={}) as opened:
        to_semsl(opened, tmp_path / "second.nca")
    with semsl.Dataset(tmp_path / "second.nca") as nc:
        assert nc["tas"].fragments.grid_shape == (3, 1, 1)
    _check(tmp_path / "second.nca", ds, tmp_path, "CFA4")


def test_to_dask_one_chunk_per_fragment(tmp_path: Path) -> None:
    ds = source(strings=False).chunk({"time": (5, 5, 2), "lon": 4})
    target = tmp_path / "out.nca"
    to_semsl(ds, target)
    with semsl.Dataset(target) as nc:
        by_variable = to_dask(nc["pr"])
        by_path = to_dask(target, "/pr")
        raw = to_dask(target, "pr", mask_and_scale=False)
        want = nc["pr"][:]
        nc["pr"].set_auto_maskandscale(False)
        want_raw = nc["pr"][:]
    assert by_variable.chunks == ds.pr.chunks == by_path.chunks
    assert by_variable.name == by_path.name
    got = by_path.compute(scheduler="threads")
    assert isinstance(got, np.ma.MaskedArray)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.mask, want.mask)
    np.testing.assert_array_equal(got.filled(0), want.filled(0))
    np.testing.assert_array_equal(raw.compute(), want_raw)
    with pytest.raises(TypeError, match="variable"):
        to_dask(target)


@pytest.fixture
def s3_prefix(bucket: str) -> Any:
    registry.reset()  # backends follow the test server's environment
    yield f"s3://{bucket}/{uuid.uuid4().hex[:8]}"
    registry.reset()


def test_round_trip_on_s3(tmp_path: Path, s3_prefix: str) -> None:
    ds = source()
    target = f"{s3_prefix}/run/out.nca"
    to_semsl(ds.chunk({"time": 4}), target)
    location = registry.locate(f"{s3_prefix}/run/out/out.tas.0.0.0.nc")
    assert location.backend.exists(location.uri)
    _check(target, ds, tmp_path, "CFA4")
    local = tmp_path / "local.nca"
    to_semsl(ds, local, fragment_location=f"{s3_prefix}/fragments")
    with semsl.Dataset(local) as nc:
        assert nc["tas"].fragments.uri((0, 0, 0)).startswith(f"{s3_prefix}/fragments/")
    _check(local, ds, tmp_path, "CFA4")
    array = to_dask(target, "tas")
    assert array.numblocks == (3, 1, 1)
    np.testing.assert_array_equal(array.compute().filled(np.nan), ds.tas.values)
