"""Running the real ``semsl`` command in a subprocess, and making and comparing datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

import semsl

REPO = Path(__file__).resolve().parents[2]


def command_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the command: this process's (AWS_* of the S3 fixtures too),
    the repository on PYTHONPATH, an empty configuration and a private cache folder."""
    config = tmp_path / "semsl-config.json"
    if not config.exists():
        config.write_text("{}")
    env = dict(os.environ)
    paths = [str(REPO), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env.update(PYTHONPATH=os.pathsep.join(paths), SEMSL_CONFIG=str(config),
               SEMSL_CACHE_DIR=str(tmp_path / "semsl-cache"))
    env.pop("SEMSL_MEMORY_BUDGET", None)
    return env


def semsl_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m semsl ARGS``; return the finished process (text output)."""
    full = command_env(tmp_path)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "semsl", *args], capture_output=True,
                          text=True, env=full, cwd=cwd or tmp_path, timeout=120, check=False)


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON object the command printed."""
    return json.loads(proc.stdout)


def walk(group: Any) -> Iterator[Any]:
    yield group
    for child in group.groups.values():
        yield from walk(child)


def describe(uri: str | Path, *, ignore: tuple[str, ...] = ("Conventions",)) -> dict[str, Any]:
    """Everything a reader sees: groups, dimensions, attributes, variables and values."""
    out: dict[str, Any] = {}
    with semsl.Dataset(str(uri)) as ds:
        for group in walk(ds):
            attrs = {a: group.getncattr(a) for a in group.ncattrs() if a not in ignore}
            dims = {n: (len(d), d.isunlimited()) for n, d in group.dimensions.items()}
            out[group.path] = (attrs, dims)
            for name, var in group.variables.items():
                attrs = {a: var.getncattr(a) for a in var.ncattrs()}
                out[f"{group.path.rstrip('/')}/{name}"] = (
                    attrs, tuple(var.dimensions), str(var.dtype), var[...])
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two descriptions are equal: same keys, attributes, dimensions, values and masks."""
    assert sorted(a) == sorted(b)
    for key, entry in a.items():
        for left, right in zip(entry, b[key], strict=True):
            if isinstance(left, dict):
                assert sorted(left) == sorted(right), key
                for name, value in left.items():
                    mine, theirs = np.asarray(value), np.asarray(right[name])
                    assert mine.dtype == theirs.dtype, (key, name, mine.dtype, theirs.dtype)
                    assert np.array_equal(mine, theirs), (key, name, value, right[name])
            elif isinstance(left, np.ndarray | np.ma.MaskedArray):
                np.testing.assert_array_equal(np.ma.getmaskarray(left),
                                              np.ma.getmaskarray(right), err_msg=key)
                np.testing.assert_array_equal(np.ma.filled(left), np.ma.filled(right),
                                              err_msg=key)
            else:
                assert left == right, (key, left, right)


def write_source(path: Path) -> None:
    """A netCDF-4 file with everything split must keep: groups, an unlimited dimension,
    coordinates, bounds, packed and compressed variables, strings, scalars, missing values."""
    rng = np.random.default_rng(1)
    with netCDF4.Dataset(path, "w") as ds:
        ds.setncatts({"title": "source", "Conventions": "CF-1.8", "version": np.int32(3),
                      "weights": np.array([0.5, 0.25])})
        ds.createDimension("time", None)
        ds.createDimension("lat", 10)
        ds.createDimension("lon", 12)
        ds.createDimension("bnds", 2)
        time = ds.createVariable("time", "f8", ("time",))
        time.setncatts({"units": "days since 2000-01-01", "calendar": "360_day",
                        "bounds": "time_bnds"})
        time[:] = np.arange(30) + 0.5
        bnds = ds.createVariable("time_bnds", "f8", ("time", "bnds"))
        bnds[:] = np.stack([np.arange(30), np.arange(30) + 1], axis=1)
        ds.createVariable("lat", "f4", ("lat",))[:] = np.linspace(-45, 45, 10)
        ds["lat"].units = "degrees_north"
        ds.createVariable("lon", "f4", ("lon",))[:] = np.arange(12) * 30.0
        data = rng.normal(280, 5, (30, 10, 12)).astype("f4")
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=1e20, zlib=True)
        tas.setncatts({"units": "K", "long_name": "air temperature", "cell_methods": "time: mean"})
        tas[:] = np.ma.masked_where(data > 290, data)
        pr = ds.createVariable("pr", "i2", ("time", "lat", "lon"), fill_value=np.int16(-1))
        pr.setncatts({"scale_factor": np.float32(0.01), "add_offset": np.float32(1.0)})
        pr[:] = np.abs(data - 270) / 10
        ds.createVariable("label", str, ())[...] = "hello"
        ds.createVariable("code", "i4", ())[...] = 7
        group = ds.createGroup("sub")
        group.note = "in a group"
        group.createDimension("x", 5)
        gv = group.createVariable("gv", "f8", ("time", "x"))
        gv.units = "1"
        gv[:] = np.arange(150.0).reshape(30, 5)


def write_classic(path: Path) -> None:
    """A netCDF-3 file (what CFA3 can hold)."""
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as ds:
        ds.title = "classic"
        ds.createDimension("time", None)
        ds.createDimension("y", 6)
        ds.createVariable("time", "f8", ("time",))[:] = np.arange(20.0)
        ds["time"].units = "hours since 2001-01-01"
        tas = ds.createVariable("tas", "f4", ("time", "y"), fill_value=np.float32(-99))
        tas[:] = np.arange(120, dtype="f4").reshape(20, 6)
        pr = ds.createVariable("pr", "f8", ("time", "y"))
        pr[:] = np.arange(120.0).reshape(20, 6) * 2
        ds.createVariable("name", "S1", ("y",))[:] = np.array(list("abcdef"), "S1")


def write_cmip(path: Path, var: str, units: str, calendar: str, days: Any, *,
               dtype: str = "f4", lat: Any = (-30.0, 0.0, 30.0)) -> None:
    """One file of a CMIP-style set: one variable, split along time, with bounds."""
    days = np.asarray(days, dtype="f8")
    with netCDF4.Dataset(path, "w") as ds:
        ds.setncatts({"variable_id": var, "Conventions": "CF-1.7", "frequency": "day"})
        ds.createDimension("time", None)
        ds.createDimension("lat", len(lat))
        ds.createDimension("lon", 4)
        ds.createDimension("bnds", 2)
        time = ds.createVariable("time", "f8", ("time",))
        time.setncatts({"units": units, "calendar": calendar, "bounds": "time_bnds",
                        "axis": "T", "standard_name": "time"})
        time[:] = days
        step = np.diff(days).min() if len(days) > 1 else 1.0
        ds.createVariable("time_bnds", "f8", ("time", "bnds"))[:] = np.stack(
            [days - step / 2, days + step / 2], axis=1)
        ds.createVariable("lat", "f8", ("lat",))[:] = lat
        ds["lat"].setncatts({"units": "degrees_north", "bounds": "lat_bnds"})
        ds.createVariable("lat_bnds", "f8", ("lat", "bnds"))[:] = np.stack(
            [np.asarray(lat) - 15, np.asarray(lat) + 15], axis=1)
        ds.createVariable("lon", "f8", ("lon",))[:] = [0.0, 90.0, 180.0, 270.0]
        ds["lon"].units = "degrees_east"
        height = ds.createVariable("height", "f8", ())
        height[...] = 2.0
        height.units = "m"
        values = ds.createVariable(var, dtype, ("time", "lat", "lon"), fill_value=1e20)
        values.setncatts({"units": "K" if var == "tas" else "kg m-2 s-1",
                          "coordinates": "height", "standard_name": var})
        values[:] = cmip_values(days, units, calendar, len(lat))


def cmip_values(days: Any, units: str, calendar: str, nlat: int = 3) -> Any:
    """Values that identify the time they belong to (days since 1850 in the calendar)."""
    import cftime

    dates = cftime.num2date(np.asarray(days), units, calendar)
    absolute = np.asarray(cftime.date2num(dates, "days since 1850-01-01", calendar))
    return absolute[:, None, None] + np.arange(nlat * 4).reshape(1, nlat, 4) / 100
