"""Aggregated datasets: round trips, files on disk, growth, sparse writes, groups."""

from __future__ import annotations

import os
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl


def make_tas(path: Path, fmt: str = "CFA4", **kwargs: object) -> np.ndarray:
    rng = np.random.default_rng(1)
    data = (rng.random((30, 6, 8)) * 300).astype("f4")
    data[2, 3, 4] = 1e20
    with semsl.Dataset(path, "w", format=fmt) as ds:
        ds.title = "test run"
        ds.createDimension("time", None)
        ds.createDimension("lat", 6)
        ds.createDimension("lon", 8)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        t.calendar = "360_day"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-75, 75, 6)
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=1e20,
                                **({"subarray_shape": (12, 3, 8)} | kwargs))
        tas.units = "K"
        tas[0:30] = data
        t[0:30] = np.arange(30.0)
    return data


@pytest.mark.parametrize("fmt", ["CFA3", "CFA4"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "run1" / "tas.nca"
    data = make_tas(path, fmt)
    with semsl.Dataset(path) as ds:
        tas = ds["tas"]
        assert isinstance(tas, semsl.AggregatedVariable)
        assert isinstance(tas, netCDF4.Variable)
        assert tas.shape == (30, 6, 8)
        assert tas.dimensions == ("time", "lat", "lon")
        assert tas.dtype == np.float32
        assert tas.ncattrs() == ["_FillValue", "units"]
        got = tas[:]
        assert isinstance(got, np.ma.MaskedArray)
        np.testing.assert_array_equal(got.mask, data == 1e20)
        np.testing.assert_array_equal(got.filled(1e20), data)
        assert ds.data_model == ("NETCDF4" if fmt == "CFA4" else "NETCDF3_CLASSIC")
        assert ds.filepath() == str(path)
        assert ds.title == "test run"
        assert list(ds.dimensions) == ["time", "lat", "lon"]
        assert list(ds.variables) == ["time", "lat", "tas"]
        assert tas.fragments.grid_shape == (3, 2, 1)


def test_repr_shows_logical_variables_only(tmp_path: Path) -> None:
    path = tmp_path / "tas.nca"
    make_tas(path)
    with semsl.Dataset(path) as ds:
        text = repr(ds)
        assert "float32 tas(time, lat, lon)" in text
        assert "dimensions(sizes): time(30), lat(6), lon(8)" in text
        assert "fragment" not in text
        var_text = repr(ds["tas"])
        assert "float32 tas(time, lat, lon)" in var_text
        assert "current shape = (30, 6, 8)" in var_text
        assert "aggregated" not in var_text
        assert "_FillValue" in ds["tas"].__dict__
        assert "aggregated_data" not in ds["tas"].__dict__


def test_master_is_cf_1_13(tmp_path: Path) -> None:
    path = tmp_path / "run1" / "tas.nca"
    make_tas(path)
    with netCDF4.Dataset(path) as raw:
        assert "CF-1.13" in raw.Conventions.split()
        tas = raw["tas"]
        assert tas.ndim == 0
        assert tas.dtype == np.float32
        assert tas.aggregated_dimensions == "time lat lon"
        terms = dict(zip(tas.aggregated_data.split()[::2], tas.aggregated_data.split()[1::2],
                         strict=True))
        assert set(terms) == {"map:", "uris:", "identifiers:"}
        fmap = raw[terms["map:"]][:]
        assert fmap.shape == (3, 3)
        assert fmap[0].tolist() == [12, 12, 6]
        assert fmap[1].compressed().tolist() == [3, 3]
        assert fmap[2].compressed().tolist() == [8]
        uris = raw[terms["uris:"]][:]
        assert uris.shape == (3, 2, 1)
        assert uris[0, 0, 0] == "tas/tas.tas.0000.0.0.nc"
        assert raw[terms["identifiers:"]][...] == "tas"
        for uri in uris.flat:
            assert (path.parent / uri).is_file()
        assert len(raw.dimensions["time"]) == 30


@pytest.mark.parametrize("fmt", ["CFA3", "CFA4"])
def test_fragments_are_self_describing(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "tas.nca"
    data = make_tas(path, fmt)
    frag_path = path.parent / "tas" / "tas.tas.0001.1.0.nc"
    with netCDF4.Dataset(frag_path) as frag:
        assert frag.semsl_variable == "/tas"
        assert frag.semsl_master == "tas.nca"
        assert frag.semsl_master_dimensions == "time lat lon"
        assert frag.semsl_unlimited_dimensions == "time"
        assert list(frag.semsl_master_shape) == [30, 6, 8]
        assert list(frag.semsl_fragment_start) == [12, 3, 0]
        assert list(frag.semsl_fragment_index) == [1, 1, 0]
        assert frag.title == "test run"
        var = frag["tas"]
        assert var.units == "K"
        assert var._FillValue == np.float32(1e20)
        var.set_auto_mask(False)
        np.testing.assert_array_equal(var[:], data[12:24, 3:6, :])
        np.testing.assert_array_equal(frag["time"][:], np.arange(12.0, 24.0))
        assert frag["time"].calendar == "360_day"
        np.testing.assert_allclose(frag["lat"][:], np.linspace(-75, 75, 6)[3:6])


def test_unwritten_fragments_do_not_exist_and_read_as_fill(tmp_path: Path) -> None:
    path = tmp_path / "sparse.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("y", 10)
        ds.createDimension("x", 10)
        v = ds.createVariable("v", "i4", ("y", "x"), subarray_shape=(5, 5), fill_value=-1)
        v[6, 7] = 42
    files = sorted(os.listdir(tmp_path / "sparse"))
    assert files == ["sparse.v.1.1.nc"]
    with semsl.Dataset(path) as ds:
        got = ds["v"][:]
        assert got.count() == 1
        assert got[6, 7] == 42
        assert ds["v"].fragments.present().tolist() == [[False, False], [False, True]]
        assert ds["v"].fragments.path((0, 0)) is None
        ds.set_auto_mask(False)
        raw = ds["v"][:]
        assert (raw == -1).sum() == 99


def test_partial_fragment_write_keeps_fill_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "p.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("x", 10)
        v = ds.createVariable("v", "f8", ("x",), subarray_shape=(4,))
        v[1:3] = [1.0, 2.0]
        v[5] = 5.0
    with semsl.Dataset(path) as ds:
        got = ds["v"][:]
        assert got.mask.tolist() == [True, False, False, True, True, False] + [True] * 4


@pytest.mark.parametrize("fmt", ["CFA3", "CFA4"])
def test_unlimited_growth(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "grow.nca"
    with semsl.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", None)
        ds.createDimension("x", 3)
        v = ds.createVariable("v", "f4", ("time", "x"), subarray_shape=(4, 3))
        assert v.shape == (0, 3)
        v[0:2] = 1.0
        assert v.shape == (2, 3)
        assert len(ds.dimensions["time"]) == 2
        v[9] = [7.0, 8.0, 9.0]
        assert v.shape == (10, 3)
        assert len(ds.dimensions["time"]) == 10
        assert v.fragments.grid_shape == (3, 1)
        np.testing.assert_array_equal(v[9], [7.0, 8.0, 9.0])
        assert v[5].mask.all()
    with semsl.Dataset(path) as ds:
        v = ds["v"]
        assert v.shape == (10, 3)
        assert v[0:2].tolist() == [[1.0] * 3] * 2
        assert v[2:9].mask.all()
        assert list(ds.variables) == ["v"]  # the length carrier stays hidden
        assert v.fragments.present().ravel().tolist() == [True, False, True]
    with netCDF4.Dataset(path) as raw:
        assert len(raw.dimensions["time"]) == 10


def test_unlimited_dimension_follows_coordinate(tmp_path: Path) -> None:
    path = tmp_path / "c.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("time", None)
        t = ds.createVariable("time", "f8", ("time",))
        v = ds.createVariable("v", "f4", ("time",), subarray_shape=(4,))
        t[:6] = np.arange(6.0)
        assert v.shape == (6,)
        v[:2] = 3.0
    with semsl.Dataset(path) as ds:
        assert ds["v"].shape == (6,)
        assert ds["v"][:].count() == 2
        assert ds["v"].fragments.grid_shape == (2,)
    with netCDF4.Dataset(path) as raw:
        assert "semsl_length_time" not in raw.variables


def test_aggregated_variables_in_groups(tmp_path: Path) -> None:
    path = tmp_path / "g.nca"
    data = np.arange(24.0).reshape(4, 6)
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("y", 4)
        grp = ds.createGroup("model/atmos")
        assert isinstance(grp, semsl.Group)
        grp.createDimension("x", 6)
        v = grp.createVariable("v", "f8", ("y", "x"), subarray_shape=(2, 3))
        assert isinstance(v, semsl.AggregatedVariable)
        v[:] = data
    with semsl.Dataset(path) as ds:
        v = ds["/model/atmos/v"]
        assert isinstance(v, semsl.AggregatedVariable)
        np.testing.assert_array_equal(v[:], data)
        assert list(ds["model/atmos"].dimensions) == ["x"]
        assert list(ds["model/atmos"].variables) == ["v"]
    assert sorted(os.listdir(tmp_path / "g"))[0] == "g.model.atmos.v.0.0.nc"


def test_coordinates_and_plain_variables_stay_in_master(tmp_path: Path) -> None:
    path = tmp_path / "m.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("x", 5)
        x = ds.createVariable("x", "f8", ("x",))
        keep = ds.createVariable("keep", "f8", ("x",), aggregate=False)
        agg = ds.createVariable("agg", "f8", ("x",))
        label = ds.createVariable("label", str, ("x",))
        assert not isinstance(x, semsl.AggregatedVariable)
        assert not isinstance(keep, semsl.AggregatedVariable)
        assert not isinstance(label, semsl.AggregatedVariable)
        assert isinstance(agg, semsl.AggregatedVariable)
        x[:] = keep[:] = agg[:] = np.arange(5.0)
        label[:] = np.array(list("abcde"), dtype=object)
    with netCDF4.Dataset(path) as raw:
        assert raw["x"].shape == (5,)
        assert raw["keep"][:].tolist() == [0, 1, 2, 3, 4]
        assert raw["agg"].ndim == 0


def test_max_subarray_size_chooses_grid(tmp_path: Path) -> None:
    path = tmp_path / "s.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("time", 40)
        ds.createDimension("lat", 20)
        ds.createDimension("lon", 30)
        v = ds.createVariable("v", "f8", ("time", "lat", "lon"), max_subarray_size="20kB")
        grid = v.fragments
        assert np.prod(grid.fragment_shape) * 8 <= 20_000
        assert grid.nfragments > 1
        v[:] = 1.0
    with semsl.Dataset(path) as ds:
        assert ds["v"][:].sum() == 40 * 20 * 30


def test_default_fragment_size_keeps_small_variables_whole(tmp_path: Path) -> None:
    with semsl.Dataset(tmp_path / "d.nca", "w", format="CFA4") as ds:
        ds.createDimension("lat", 20)
        ds.createDimension("lon", 30)
        v = ds.createVariable("v", "f8", ("lat", "lon"))
        assert v.fragments.grid_shape == (1, 1)


def test_append_mode_updates_and_grows(tmp_path: Path) -> None:
    path = tmp_path / "tas.nca"
    data = make_tas(path)
    with semsl.Dataset(path, "a") as ds:
        tas = ds["tas"]
        assert tas.shape == (30, 6, 8)
        tas[0, 0, 0] = 5.0
        tas[30:32] = 7.0
        ds["time"][30:32] = [30.0, 31.0]
        ds.history = "appended"
    with semsl.Dataset(path) as ds:
        tas = ds["tas"]
        assert tas.shape == (32, 6, 8)
        assert tas[0, 0, 0] == 5.0
        np.testing.assert_array_equal(tas[1:30].filled(1e20), data[1:30])
        assert (tas[30:32] == 7.0).all()
        assert ds.history == "appended"
        assert list(ds.variables) == ["time", "lat", "tas"]
    with netCDF4.Dataset(path) as raw:
        names = [n for n in raw.variables if n.startswith("tas_")]
        assert len(names) == 3  # map, uris, identifiers: no leftovers of the old master


def test_r_plus_mode_is_append(tmp_path: Path) -> None:
    path = tmp_path / "tas.nca"
    make_tas(path)
    with semsl.Dataset(path, "r+") as ds:
        ds["tas"][1, 1, 1] = 3.0
    with semsl.Dataset(path) as ds:
        assert ds["tas"][1, 1, 1] == 3.0


def test_set_auto_settings_apply_to_aggregated(tmp_path: Path) -> None:
    path = tmp_path / "p.nca"
    with semsl.Dataset(path, "w", format="CFA3") as ds:
        ds.createDimension("x", 6)
        v = ds.createVariable("v", "i2", ("x",), fill_value=-9, subarray_shape=(4,))
        v.scale_factor = 0.25
        v.add_offset = 10.0
        v[:] = np.ma.masked_array([10.0, 10.25, 10.5, 0, 11, 12], mask=[0, 0, 0, 1, 0, 0])
    with semsl.Dataset(path) as ds:
        v = ds["v"]
        assert v[:].tolist() == [10.0, 10.25, 10.5, None, 11.0, 12.0]
        ds.set_auto_maskandscale(False)
        assert v[:].tolist() == [0, 1, 2, -9, 4, 8]
        assert v[:].dtype == np.int16
    with netCDF4.Dataset(tmp_path / "p" / "p.v.0.nc") as frag:
        assert "scale_factor" not in frag["v"].ncattrs()
        assert frag["v"].semsl_scale_factor == 0.25


def test_closing_twice_and_isopen(tmp_path: Path) -> None:
    ds = semsl.Dataset(tmp_path / "c.nca", "w", format="CFA4")
    ds.createDimension("x", 2)
    ds.createVariable("v", "f4", ("x",))[:] = 1.0
    assert ds.isopen()
    ds.close()
    assert not ds.isopen()
    assert (tmp_path / "c.nca").exists()
    assert [p.name for p in tmp_path.iterdir() if "semsl-tmp" in p.name] == []


def test_variable_path_creates_groups(tmp_path: Path) -> None:
    path = tmp_path / "p.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("x", 4)
        v = ds.createVariable("/a/b/v", "f4", ("x",), subarray_shape=(2,))
        assert isinstance(v, semsl.AggregatedVariable)
        v[:] = [1.0, 2.0, 3.0, 4.0]
    with semsl.Dataset(path) as ds:
        assert ds["/a/b/v"][:].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_rename_variable_and_dimension_in_append_mode(tmp_path: Path) -> None:
    path = tmp_path / "tas.nca"
    data = make_tas(path)
    with semsl.Dataset(path, "a") as ds:
        ds.renameVariable("tas", "air_temperature")
        ds.renameDimension("lon", "longitude")
        var = ds["air_temperature"]
        assert var.dimensions == ("time", "lat", "longitude")
        var[0, 0, 0] = 1.0
    with semsl.Dataset(path) as ds:
        var = ds["air_temperature"]
        assert "tas" not in ds.variables
        assert var.dimensions == ("time", "lat", "longitude")
        assert var[0, 0, 0] == 1.0
        np.testing.assert_array_equal(var[5].filled(1e20), data[5])


@pytest.mark.filterwarnings("ignore:endian-ness of dtype:UserWarning")  # netCDF4 warns too
def test_storage_keywords_apply_to_fragments(tmp_path: Path) -> None:
    path = tmp_path / "z.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("y", 10)
        ds.createDimension("x", 10)
        v = ds.createVariable("v", "f8", ("y", "x"), subarray_shape=(5, 5), zlib=True,
                              complevel=6, shuffle=True, chunksizes=(8, 8), endian="big")
        v[:] = 1.0
    with netCDF4.Dataset(tmp_path / "z" / "z.v.0.0.nc") as frag:
        filters = frag["v"].filters()
        assert filters["zlib"] is True
        assert filters["complevel"] == 6
        assert frag["v"].chunking() == [5, 5]
        assert frag["v"].endian() == "big"
