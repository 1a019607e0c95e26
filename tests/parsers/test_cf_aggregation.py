"""CF-1.13 features beyond semsl's own files: unique values, aggregated coordinates,
strict mode for sparse datasets."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl import errors


def unique_values_master(path: Path, values: np.ma.MaskedArray) -> None:
    """``v(y=4, x=6)`` from 2 x 2 constant fragments of 2 x 3."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.Conventions = "CF-1.13"
        ds.createDimension("y", 4)
        ds.createDimension("x", 6)
        var = ds.createVariable("v", "f8", (), fill_value=-99.0)
        var.aggregated_dimensions = "y x"
        var.aggregated_data = "map: m unique_values: u"
        ds.createDimension("rows", 2)
        ds.createDimension("cols", 2)
        ds.createDimension("fy", 2)
        ds.createDimension("fx", 2)
        ds.createVariable("m", "i4", ("rows", "cols"))[:] = [[2, 2], [3, 3]]
        u = ds.createVariable("u", "f8", ("fy", "fx"), fill_value=-99.0)
        u[:] = values


def test_unique_values_fragments(tmp_path: Path) -> None:
    path = tmp_path / "u.nc"
    unique_values_master(path, np.ma.masked_array([[1.0, 2.0], [3.0, 0.0]],
                                                  mask=[[0, 0], [0, 1]]))
    with semsl.Dataset(path) as ds:
        got = ds["v"][:]
        assert got[:2, :3].tolist() == [[1.0] * 3] * 2
        assert got[:2, 3:].tolist() == [[2.0] * 3] * 2
        assert got[2:, :3].tolist() == [[3.0] * 3] * 2
        assert got[2:, 3:].mask.all()  # a wholly missing fragment
        assert ds["v"][1:3, 2:4].tolist() == [[1.0, 2.0], [3.0, None]]
        assert list(ds.variables) == ["v"]


def test_unique_values_survive_an_update(tmp_path: Path) -> None:
    path = tmp_path / "u.nc"
    unique_values_master(path, np.ma.masked_array([[1.0, 2.0], [3.0, 4.0]]))
    with semsl.Dataset(path, "a") as ds:
        with pytest.raises(errors.UnsupportedFeatureError, match="unique_values"):
            ds["v"][0, 0] = 5.0
        ds.history = "touched"
    with semsl.Dataset(path) as ds:
        assert ds.history == "touched"
        assert ds["v"][3, 5] == 4.0
    with netCDF4.Dataset(path) as raw:
        assert "unique_values" in raw["v"].aggregated_data


def test_aggregated_coordinate_variable(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    for i, values in enumerate(([0.0, 1.0], [2.0, 3.0, 4.0])):
        with netCDF4.Dataset(tmp_path / "f" / f"t{i}.nc", "w") as frag:
            frag.createDimension("time", len(values))
            frag.createVariable("time", "f8", ("time",))[:] = values
    path = tmp_path / "c.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 5)
        time = ds.createVariable("time", "f8", ())
        time.units = "days since 2000-01-01"
        time.aggregated_dimensions = "time"
        time.aggregated_data = "map: m uris: u identifiers: i"
        ds.createDimension("rows", 1)
        ds.createDimension("cols", 2)
        ds.createVariable("m", "i4", ("rows", "cols"))[:] = [[2, 3]]
        ds.createVariable("u", str, ("cols",))[:] = np.array(["f/t0.nc", "f/t1.nc"], object)
        ds.createVariable("i", str, ())[...] = "time"
    with semsl.Dataset(path) as ds:
        time = ds["time"]
        assert isinstance(time, semsl.AggregatedVariable)
        assert time.dimensions == ("time",)
        assert time[:].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert semsl.num2date(time[-1], time.units).day == 5


def test_strict_cf_writes_every_fragment(tmp_path: Path) -> None:
    path = tmp_path / "s.nca"
    with semsl.Dataset(path, "w", format="CFA4", strict_cf=True) as ds:
        ds.createDimension("y", 4)
        ds.createDimension("x", 6)
        v = ds.createVariable("v", "f4", ("y", "x"), subarray_shape=(2, 3), fill_value=-1.0)
        v[0, 0] = 5.0
    assert len(list((tmp_path / "s").iterdir())) == 4
    with netCDF4.Dataset(path) as raw:
        uris = raw["v_fragment_uris"][:]
        assert all(uri for uri in uris.ravel())  # no empty (semsl-only) URIs
    with semsl.Dataset(path) as ds:
        got = ds["v"][:]
        assert got.count() == 1
        assert got[0, 0] == 5.0


def test_sparse_default_leaves_fragments_out(tmp_path: Path) -> None:
    path = tmp_path / "s.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("y", 4)
        ds.createDimension("x", 6)
        ds.createVariable("v", "f4", ("y", "x"), subarray_shape=(2, 3))[0, 0] = 5.0
    assert len(list((tmp_path / "s").iterdir())) == 1
