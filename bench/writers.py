"""The synthetic ``tas`` field and the writers (data generation and the WRITE workload).

Adding a writer = adding one function decorated with ``@writer``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FILL = np.float32(1e20)
MISSING_FRACTION = 0.03


@dataclass
class Fields:
    tas: npt.NDArray[np.float32]
    time: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float32]
    lon: npt.NDArray[np.float32]


def make_fields(shape: tuple[int, int, int], seed: int = 7) -> Fields:
    """A climate-like daily near-surface temperature with a few % missing values."""
    nt, ny, nx = shape
    time = np.arange(nt, dtype=np.float64)
    lat = np.linspace(-90 + 90 / ny, 90 - 90 / ny, ny, dtype=np.float32)
    lon = (np.arange(nx) * (360 / nx)).astype(np.float32)
    rng = np.random.default_rng(seed)
    tas = rng.standard_normal(shape, dtype=np.float32)
    tas *= 3
    coslat = np.cos(np.deg2rad(lat))[None, :, None]
    season = np.cos(2 * np.pi * time / 360)[:, None, None] * np.sin(np.deg2rad(lat))[None, :,
                                                                                       None]
    tas += (250 + 40 * coslat + 15 * season).astype(np.float32)
    tas[rng.random(shape, dtype=np.float32) < MISSING_FRACTION] = FILL
    return Fields(tas, time, lat, lon)


def define_coordinates(ds: Any, fields: Fields, unlimited_time: bool) -> None:
    nt = None if unlimited_time else len(fields.time)
    for name, n in (("time", nt), ("lat", len(fields.lat)), ("lon", len(fields.lon))):
        ds.createDimension(name, n)
    t = ds.createVariable("time", "f8", ("time",))
    t.units, t.calendar, t.axis = "days since 2000-01-01", "360_day", "T"
    lat = ds.createVariable("lat", "f4", ("lat",))
    lat.units, lat.standard_name = "degrees_north", "latitude"
    lon = ds.createVariable("lon", "f4", ("lon",))
    lon.units, lon.standard_name = "degrees_east", "longitude"
    lat[:], lon[:] = fields.lat, fields.lon


def _set_tas(ds: Any, var: Any, fields: Fields) -> None:
    var.units, var.standard_name = "K", "air_temperature"
    var[:] = fields.tas
    ds["time"][:] = fields.time


WriteFn = Callable[[Path, Fields, tuple[int, ...]], None]


@dataclass(frozen=True)
class Writer:
    name: str
    write: WriteFn
    read_back: Callable[[Path], Any]
    leaf: str
    raw: bool = False
    modules: tuple[str, ...] = ("netCDF4",)
    chunking: str = "time"  # "time" (40 time fragments) or "tiles" (16 tiles)


WRITERS: dict[str, Writer] = {}


def writer(name: str, read_back: Callable[[Path], Any], leaf: str,
           **options: Any) -> Callable[[WriteFn], WriteFn]:
    def register(fn: WriteFn) -> WriteFn:
        WRITERS[name] = Writer(name, fn, read_back, leaf, **options)
        return fn
    return register


def _read_netcdf4(path: Path) -> Any:
    import netCDF4
    with netCDF4.Dataset(path) as ds:
        return ds["tas"][:]


def _read_semsl(path: Path) -> Any:
    import semsl
    with semsl.Dataset(path) as ds:
        return ds["tas"][:]


def _read_zarr(path: Path) -> Any:
    import zarr
    array: Any = zarr.open_group(path, mode="r")["tas"]
    return array[:]


@writer("netcdf4", _read_netcdf4, "tas.nc")
def write_netcdf4(path: Path, fields: Fields, block: tuple[int, ...]) -> None:
    import netCDF4
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        define_coordinates(ds, fields, unlimited_time=False)
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=FILL,
                                contiguous=True)
        _set_tas(ds, tas, fields)


@writer("semsl_time40", _read_semsl, "tas.nca", modules=("semsl",))
def write_semsl(path: Path, fields: Fields, block: tuple[int, ...]) -> None:
    import semsl
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        define_coordinates(ds, fields, unlimited_time=True)
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=FILL,
                                subarray_shape=block)
        _set_tas(ds, tas, fields)


@writer("zarr_time40", _read_zarr, "tas.zarr", raw=True, modules=("zarr",))
def write_zarr(path: Path, fields: Fields, block: tuple[int, ...]) -> None:
    import zarr
    root = zarr.open_group(path, mode="w", zarr_format=3)
    dims = ("time", "lat", "lon")
    tas = root.create_array("tas", shape=fields.tas.shape, dtype="f4", chunks=block,
                            fill_value=FILL, compressors=None, dimension_names=dims)
    tas.attrs.update({"units": "K", "standard_name": "air_temperature"})
    tas[:] = fields.tas
    for name in dims:
        values = getattr(fields, name)
        coord = root.create_array(name, shape=values.shape, dtype=values.dtype,
                                  chunks=values.shape, compressors=None, dimension_names=(name,))
        coord[:] = values
