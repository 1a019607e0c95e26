"""Datasets written twice from the same arrays: a semsl master and a plain netCDF file.

Each case is a function ``case(module, path, fmt)`` that writes its dataset through
``module.Dataset`` - ``semsl`` (a CFA4/CFA3 master whose numeric data variables are
aggregated, with fragment shapes chosen so that the grids have several fragments) or
``netCDF4`` (the oracle, a plain file) - with the same calls.  ``write_pair`` makes
both; ``write_unequal_master`` writes a CF-1.13 master with unequal fragments by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

import semsl

PLAIN = {"CFA4": "NETCDF4", "CFA3": "NETCDF3_CLASSIC"}
Case = Callable[[Any, Path, str], None]


def _var(ds: Any, name: str, dtype: Any, dims: Sequence[str], subarray: Sequence[int] | None
         = None, **kwargs: Any) -> Any:
    """createVariable, with a fragment shape when ``ds`` is an aggregated semsl dataset."""
    if subarray is not None and isinstance(ds, semsl.Dataset | semsl.Group):
        kwargs["subarray_shape"] = tuple(subarray)
    return ds.createVariable(name, dtype, tuple(dims), **kwargs)


def _open(module: Any, path: Path, fmt: str) -> Any:
    if module is semsl:
        return semsl.Dataset(path, "w", format=fmt)
    return netCDF4.Dataset(path, "w", format=PLAIN[fmt])


def _globals(ds: Any) -> None:
    ds.Conventions = "CF-1.13"  # semsl declares it in every master it writes
    ds.title = "semsl xarray engine test"
    ds.history = "written twice from the same arrays"


def times_360_day(module: Any, path: Path, fmt: str) -> None:
    """An unlimited time axis in the 360_day calendar, bounds, a masked float field."""
    rng = np.random.default_rng(1)
    with _open(module, path, fmt) as ds:
        _globals(ds)
        ds.createDimension("time", None)
        ds.createDimension("lat", 6)
        ds.createDimension("lon", 8)
        ds.createDimension("nv", 2)
        time = ds.createVariable("time", "f8", ("time",))
        time.setncatts({"units": "days since 1850-01-01", "calendar": "360_day",
                        "standard_name": "time", "bounds": "time_bnds", "axis": "T"})
        bnds = _var(ds, "time_bnds", "f8", ("time", "nv"), (5, 2))
        lat = ds.createVariable("lat", "f4", ("lat",))
        lat.setncatts({"units": "degrees_north", "standard_name": "latitude"})
        tas = _var(ds, "tas", "f4", ("time", "lat", "lon"), (5, 3, 5), fill_value=1e20)
        tas.setncatts({"units": "K", "standard_name": "air_temperature",
                       "cell_methods": "time: mean"})
        days = np.arange(12) * 30.0 + 15.0
        time[0:12] = days
        bnds[0:12] = np.stack([days - 15, days + 15], axis=1)
        lat[:] = np.linspace(-75, 75, 6)
        values = rng.normal(280, 10, (12, 6, 8)).astype("f4")
        tas[0:12] = np.ma.masked_where(values > 290, values)


def times_standard(module: Any, path: Path, fmt: str) -> None:
    """Standard-calendar times, also in an aggregated variable (decoded to datetime64)."""
    with _open(module, path, fmt) as ds:
        _globals(ds)
        ds.createDimension("time", 10)
        ds.createDimension("member", 3)
        time = ds.createVariable("time", "i4", ("time",))
        time.setncatts({"units": "hours since 1990-01-01 00:00", "calendar": "standard"})
        valid = _var(ds, "valid_time", "f8", ("time", "member"), (4, 2), fill_value=-1.0)
        valid.setncatts({"units": "days since 1990-01-01", "calendar": "standard",
                         "long_name": "verification time"})
        time[:] = np.arange(10) * 6
        values = np.arange(30.0).reshape(10, 3) / 4 + 1
        values[3, 1] = -1.0  # missing: NaT
        valid[:] = values


def packed(module: Any, path: Path, fmt: str) -> None:
    """Packed integers with scale_factor/add_offset, a fill value and missing values."""
    rng = np.random.default_rng(2)
    with _open(module, path, fmt) as ds:
        _globals(ds)
        ds.createDimension("y", 9)
        ds.createDimension("x", 7)
        var = _var(ds, "pr", "i2", ("y", "x"), (4, 3), fill_value=np.int16(-32767))
        var.setncatts({"scale_factor": np.float32(0.01), "add_offset": np.float32(5.0),
                       "units": "mm/day"})
        var.set_auto_maskandscale(False)
        raw = rng.integers(-3000, 3000, (9, 7)).astype("i2")
        raw[raw % 11 == 0] = -32767
        var[:] = raw
        byte = _var(ds, "cloud", "i1", ("y", "x"), (5, 7), fill_value=np.int8(-128))
        byte.setncatts({"scale_factor": 0.5, "valid_min": np.int8(0)})
        byte.set_auto_maskandscale(False)
        byte[:] = (np.arange(63).reshape(9, 7) % 100).astype("i1") - 5


def masked_floats(module: Any, path: Path, fmt: str) -> None:
    """Floats with _FillValue and missing_value; a variable without a fill value."""
    rng = np.random.default_rng(3)
    with _open(module, path, fmt) as ds:
        _globals(ds)
        ds.createDimension("z", 4)
        ds.createDimension("y", 5)
        ds.createDimension("x", 6)
        level = ds.createVariable("z", "f8", ("z",))
        level.setncatts({"units": "hPa", "positive": "down"})
        level[:] = [1000.0, 850.0, 500.0, 250.0]
        ta = _var(ds, "ta", "f8", ("z", "y", "x"), (1, 5, 4), fill_value=-9999.0)
        ta.missing_value = -8888.0
        values = rng.normal(250, 20, (4, 5, 6))
        values[values > 270] = -8888.0
        ta.set_auto_maskandscale(False)
        ta[:] = values
        ta.set_auto_maskandscale(True)
        ta[0, 0, :2] = np.ma.masked
        plain = _var(ds, "hus", "f4", ("y", "x"), (2, 6), fill_value=False)
        plain[:] = rng.random((5, 6)).astype("f4")


def strings(module: Any, path: Path, fmt: str) -> None:
    """String variables (kept in the master) and text attributes of every kind."""
    with _open(module, path, fmt) as ds:
        _globals(ds)
        ds.institution = "Earth Ñoño Institute"  # non-ASCII text
        ds.createDimension("station", 4)
        ds.createDimension("time", 5)
        name = ds.createVariable("station_name", str, ("station",))
        name.long_name = "station name"
        name[:] = np.array(["Reading", "Chilbolton", "Lerwick", "Camborne"], dtype=object)
        obs = _var(ds, "obs", "f4", ("time", "station"), (2, 3), fill_value=np.float32(-1))
        obs.setncatts({"coordinates": "station_name", "comment": "", "flag_meanings":
                       "good suspect bad", "flag_values": np.array([0, 1, 2], "i1")})
        obs[:] = np.arange(20, dtype="f4").reshape(5, 4)


def groups(module: Any, path: Path, fmt: str) -> None:
    """Nested groups, each with its own dimensions and aggregated variables."""
    with _open(module, path, fmt) as ds:
        _globals(ds)
        ds.createDimension("x", 6)
        top = _var(ds, "top", "f4", ("x",), (4,))
        top[:] = np.arange(6.0)
        run = ds.createGroup("model").createGroup("run1")
        run.experiment = "historical"
        run.createDimension("time", 8)
        time = run.createVariable("time", "f8", ("time",))
        time.setncatts({"units": "days since 2000-01-01", "calendar": "noleap"})
        time[:] = np.arange(8.0)
        tas = _var(run, "tas", "f4", ("time", "x"), (3, 6), fill_value=np.float32(1e20))
        tas.units = "K"
        tas[:] = np.arange(48, dtype="f4").reshape(8, 6)
        tas[2, 3] = np.ma.masked
        other = ds["model"].createGroup("run2")
        other.createDimension("time", 2)
        v = _var(other, "v", "i4", ("time", "x"), (1, 6))
        v[:] = np.arange(12).reshape(2, 6)


CASES: dict[str, Case] = {
    "times_360_day": times_360_day,
    "times_standard": times_standard,
    "packed": packed,
    "masked_floats": masked_floats,
    "strings": strings,
    "groups": groups,
}
#: Cases that also exist in netCDF-3 (no string variables, no groups).
NETCDF3_CASES = ("times_360_day", "times_standard", "packed", "masked_floats")


def write_pair(case: Case, folder: Path, fmt: str = "CFA4") -> tuple[Path, Path]:
    """Write a case as a semsl master and as a plain file; return (master, plain)."""
    master, plain = folder / "master.nca", folder / "plain.nc"
    case(semsl, master, fmt)
    case(netCDF4, plain, fmt)
    return master, plain


def write_unequal_master(folder: Path, data: np.ndarray,
                         lengths: Sequence[Sequence[int]]) -> Path:
    """A CF-1.13 master of ``v(y, x)`` with unequal fragments, written with netCDF4.

    The fragments are plain netCDF files ``frag_i_j.nc`` beside the master, listed by
    relative URI; the map holds the given fragment lengths per dimension.
    """
    bounds = [np.concatenate([[0], np.cumsum(row)]) for row in lengths]
    grid = tuple(len(row) for row in lengths)
    uris = np.empty(grid, dtype=object)
    for i, j in np.ndindex(*grid):
        uris[i, j] = f"frag_{i}_{j}.nc"
        with netCDF4.Dataset(folder / uris[i, j], "w") as frag:
            piece = data[bounds[0][i]:bounds[0][i + 1], bounds[1][j]:bounds[1][j + 1]]
            frag.createDimension("y", piece.shape[0])
            frag.createDimension("x", piece.shape[1])
            frag.createVariable("v", data.dtype, ("y", "x"))[:] = piece
    master = folder / "unequal.nca"
    with netCDF4.Dataset(master, "w") as ds:
        ds.Conventions = "CF-1.13"
        ds.createDimension("y", data.shape[0])
        ds.createDimension("x", data.shape[1])
        ds.createDimension("f_y", grid[0])
        ds.createDimension("f_x", grid[1])
        ds.createDimension("rows", 2)
        ds.createDimension("cols", max(grid))
        table = np.full((2, max(grid)), -1, "i4")
        for k, row in enumerate(lengths):
            table[k, : len(row)] = row
        ds.createVariable("v_map", "i4", ("rows", "cols"), fill_value=-1)[:] = table
        ds.createVariable("v_uris", str, ("f_y", "f_x"))[:] = uris
        ids = ds.createVariable("v_ids", str, ())
        ids[...] = np.array("v", dtype=object)
        agg = ds.createVariable("v", data.dtype, ())
        agg.aggregated_dimensions = "y x"
        agg.aggregated_data = "map: v_map uris: v_uris identifiers: v_ids"
    return master


def source(strings: bool = True) -> Any:
    """An xarray dataset with every kind of encoding: times, packing, masks, strings."""
    import xarray  # the engine tests skip without it

    rng = np.random.default_rng(7)
    time = xarray.date_range("2001-01-01", periods=12, freq="MS", calendar="360_day",
                             use_cftime=True)
    tas = rng.normal(280, 10, (12, 5, 6)).astype("f4")
    tas[tas > 295] = np.nan
    pr = rng.gamma(1.0, 3.0, (12, 5, 6))
    pr[0, 0, :3] = np.nan
    stamp = np.datetime64("2020-01-01T00:00") + np.arange(12 * 2).reshape(12, 2) * \
        np.timedelta64(90, "m")
    ds = xarray.Dataset(
        {"tas": (("time", "lat", "lon"), tas, {"units": "K", "standard_name": "air_temperature"}),
         "pr": (("time", "lat", "lon"), pr, {"units": "mm/day"},
                {"dtype": "int16", "scale_factor": 0.01, "add_offset": 50.0,
                 "_FillValue": np.int16(-32767)}),
         "stamp": (("time", "pair"), stamp, {"long_name": "issue time"},
                   {"units": "minutes since 2020-01-01", "calendar": "standard",
                    "dtype": "int64"}),
         "count": (("lat", "lon"), np.arange(30, dtype="i8").reshape(5, 6)),
         "land": (("lat", "lon"), np.arange(30).reshape(5, 6) % 3 == 0)},
        coords={"time": time, "lat": ("lat", np.linspace(-60, 60, 5), {"units": "degrees_north"}),
                "lon": ("lon", np.arange(6) * 60.0, {"units": "degrees_east"}),
                "height": ((), 2.0, {"units": "m"})},
        attrs={"title": "to_semsl source", "version": np.int32(3)})
    if strings:
        ds["station"] = ("lon", np.array(["a", "bb", "ccc", "d", "é", "f"], dtype="U3"))
    return ds
