"""Fragments from other writers are converted to canonical form (CF-1.13 2.8.3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

import semsl
from semsl import errors

FragmentWriter = Callable[[Any, tuple[int, int]], None]


def build(folder: Path, master_attrs: dict[str, Any], write: FragmentWriter,
          dtype: str = "f4", fill: Any = -1e30) -> Path:
    """A CF-1.13 master ``v(t=4, x=3)`` with 2 x 1 fragments written by ``write``."""
    (folder / "f").mkdir()
    for i in range(2):
        with netCDF4.Dataset(folder / "f" / f"{i}.nc", "w") as frag:
            write(frag, (i, 0))
    path = folder / "master.nc"
    with netCDF4.Dataset(path, "w") as master:
        master.Conventions = "CF-1.13"
        master.createDimension("t", 4)
        master.createDimension("x", 3)
        var = master.createVariable("v", dtype, (), fill_value=fill)
        var.setncatts(master_attrs)
        var.aggregated_dimensions = "t x"
        var.aggregated_data = "map: m uris: u identifiers: i"
        master.createDimension("rows", 2)
        master.createDimension("cols", 2)
        master.createDimension("ft", 2)
        master.createDimension("fx", 1)
        fmap = master.createVariable("m", "i4", ("rows", "cols"), fill_value=-1)
        fmap[:] = np.ma.masked_equal([[2, 2], [3, -1]], -1)
        master.createVariable("u", str, ("ft", "fx"))[:] = np.array([["f/0.nc"], ["f/1.nc"]],
                                                                   dtype=object)
        master.createVariable("i", str, ())[...] = "frag"
    return path


def fragment(frag: Any, values: Any, dtype: str = "f4", dims: tuple[str, ...] = ("t", "x"),
             **kwargs: Any) -> Any:
    shape = np.shape(values)
    for dim, n in zip(dims, shape, strict=True):
        frag.createDimension(dim, n)
    var = frag.createVariable("frag", dtype, dims, **kwargs)
    return var, values


VALUES = np.arange(12.0).reshape(4, 3)


def test_other_numeric_type_is_cast(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], "i2")
        var[:] = values
    with semsl.Dataset(build(tmp_path, {}, write)) as ds:
        got = ds["v"][:]
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, VALUES)


def test_fragment_missing_values_become_the_masters(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], fill_value=-999.0)
        var.missing_value = np.float32(-888.0)
        data = values.copy()
        data[0, 0] = -999.0
        data[1, 1] = -888.0
        var.set_auto_mask(False)
        var[:] = data
    with semsl.Dataset(build(tmp_path, {}, write)) as ds:
        got = ds["v"][:]
        assert got.mask.sum() == 4
        assert got.mask[[0, 1, 2, 3], [0, 1, 0, 1]].all()
        ds.set_auto_mask(False)
        assert ds["v"][0, 0] == np.float32(-1e30)  # the master's fill value


def test_packed_fragments_are_unpacked(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], "i2")
        var.scale_factor = 0.5
        var.add_offset = 1.0
        var[:] = values
    with semsl.Dataset(build(tmp_path, {}, write)) as ds:
        np.testing.assert_allclose(ds["v"][:], VALUES)


def test_unpacked_fragment_values_are_the_masters_packed_values(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], "f8")
        var[:] = values
    path = build(tmp_path, {"scale_factor": 0.25}, write, dtype="i2", fill=-32767)
    with semsl.Dataset(path) as ds:
        np.testing.assert_allclose(ds["v"][:], VALUES * 0.25)
        ds.set_auto_scale(False)
        assert ds["v"][:].dtype == np.int16


def test_omitted_size_one_dimensions(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    uris = []
    for t in range(4):  # one fragment per time step, without the time dimension
        with netCDF4.Dataset(tmp_path / "f" / f"{t}.nc", "w") as frag:
            var, values = fragment(frag, VALUES[t], dims=("x",))
            var[:] = values
        uris.append([f"f/{t}.nc"])
    path = tmp_path / "master.nc"
    with netCDF4.Dataset(path, "w") as master:
        master.createDimension("t", 4)
        master.createDimension("x", 3)
        var = master.createVariable("v", "f4", ())
        var.aggregated_dimensions = "t x"
        var.aggregated_data = "map: m uris: u identifiers: i"
        master.createDimension("rows", 2)
        master.createDimension("cols", 4)
        master.createDimension("ft", 4)
        master.createDimension("fx", 1)
        master.createVariable("m", "i4", ("rows", "cols"), fill_value=-1)[:] = \
            np.ma.masked_equal([[1, 1, 1, 1], [3, -1, -1, -1]], -1)
        master.createVariable("u", str, ("ft", "fx"))[:] = np.array(uris, dtype=object)
        master.createVariable("i", str, ())[...] = "frag"
    with semsl.Dataset(path) as ds:
        np.testing.assert_array_equal(ds["v"][:], VALUES)
        np.testing.assert_array_equal(ds["v"][1:3, ::2], VALUES[1:3, ::2])


def test_reference_time_units_are_converted(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], "f8")
        var.units = "days since 2000-01-02" if index[0] else "hours since 2000-01-01"
        var[:] = values - 1 if index[0] else values * 24
    attrs = {"units": "days since 2000-01-01", "calendar": "360_day"}
    with semsl.Dataset(build(tmp_path, attrs, write, dtype="f8")) as ds:
        np.testing.assert_allclose(ds["v"][:], VALUES)


def test_units_that_cannot_be_converted_name_both(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2])
        var.units = "m"
        var[:] = values
    with semsl.Dataset(build(tmp_path, {"units": "K"}, write)) as ds, \
            pytest.raises(errors.FragmentUnitsError) as info:
        ds["v"][:]
    assert "'m'" in str(info.value)
    assert "'K'" in str(info.value)
    assert "f/0.nc" in str(info.value)


def test_converting_fragments_are_not_updated(tmp_path: Path) -> None:
    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], "i2")
        var[:] = values
    path = build(tmp_path, {}, write)
    with semsl.Dataset(path, "a") as ds:
        with pytest.raises(errors.UnsupportedFeatureError, match="canonical form"):
            ds["v"][0, 0] = 5.0
        np.testing.assert_array_equal(ds["v"][:], VALUES)


def test_equivalent_units_are_converted(tmp_path: Path) -> None:
    try:
        import cfunits  # noqa: F401
    except (ImportError, OSError):
        pytest.skip("converting physical units needs cf-units or cfunits with UDUNITS-2 "
                    "(Debian: libudunits2-0)")

    def write(frag: Any, index: tuple[int, int]) -> None:
        var, values = fragment(frag, VALUES[2 * index[0]: 2 * index[0] + 2], "f8")
        var.units = "degC" if index[0] else "K"
        var[:] = values - 273.15 if index[0] else values
    with semsl.Dataset(build(tmp_path, {"units": "K"}, write, dtype="f8")) as ds:
        np.testing.assert_allclose(ds["v"][:], VALUES)
