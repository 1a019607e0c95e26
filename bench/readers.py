"""The readers: one small function each, registered with ``@reader``.

A reader opens one stored form of the dataset, reads ``key`` and returns the answer in
memory (a numpy array, masked or not).  Its library is imported inside the function;
the modules named in ``modules`` are imported (and timed) before it is called.
Adding a reader = adding one decorated function here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.sizes import Key
from bench.stores import DataStore

READ_WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
ReadFn = Callable[[DataStore, Key], Any]


@dataclass(frozen=True)
class Reader:
    name: str
    read: ReadFn
    item: str  # the stored form it reads (see bench.stores.ITEMS)
    raw: bool = False  # True: no masking; checked against netCDF4's raw values
    modules: tuple[str, ...] = ("netCDF4",)
    workloads: tuple[str, ...] = READ_WORKLOADS
    store: str = "local"


READERS: dict[str, Reader] = {}


def reader(name: str, item: str, **options: Any) -> Callable[[ReadFn], ReadFn]:
    def register(fn: ReadFn) -> ReadFn:
        READERS[name] = Reader(name, fn, item, **options)
        return fn
    return register


@reader("netcdf4", "single", workloads=(*READ_WORKLOADS, "OPEN"))
def netcdf4(store: DataStore, key: Key) -> Any:
    import netCDF4
    with netCDF4.Dataset(store.location("single")) as ds:
        return ds["tas"][key]


@reader("netcdf4_raw", "single", raw=True)
def netcdf4_raw(store: DataStore, key: Key) -> Any:
    import netCDF4
    with netCDF4.Dataset(store.location("single")) as ds:
        var = ds["tas"]
        var.set_auto_maskandscale(False)
        return var[key]


@reader("h5py", "single", raw=True, modules=("h5py",))
def h5py_(store: DataStore, key: Key) -> Any:
    import h5py
    with h5py.File(store.location("single"), "r") as f:
        return f["tas"][key]


@reader("semsl_time40", "time40", modules=("semsl",), workloads=(*READ_WORKLOADS, "OPEN"))
def semsl_time40(store: DataStore, key: Key) -> Any:
    import semsl
    with semsl.Dataset(store.location("time40")) as ds:
        return ds["tas"][key]


@reader("semsl_time40_raw", "time40", raw=True, modules=("semsl",))
def semsl_time40_raw(store: DataStore, key: Key) -> Any:
    import semsl
    with semsl.Dataset(store.location("time40")) as ds:
        var = ds["tas"]
        var.set_auto_maskandscale(False)
        return var[key]


@reader("semsl_tiles16", "tiles16", modules=("semsl",))
def semsl_tiles16(store: DataStore, key: Key) -> Any:
    import semsl
    with semsl.Dataset(store.location("tiles16")) as ds:
        return ds["tas"][key]


@reader("semsl_100k", "open100k", modules=("semsl",), workloads=("OPEN",))
def semsl_100k(store: DataStore, key: Key) -> Any:
    import semsl
    with semsl.Dataset(store.location("open100k")) as ds:
        return ds["tas"][key]


@reader("naive_loop", "time40")
def naive_loop(store: DataStore, key: Key) -> Any:
    """What users write by hand: open each time file in turn and read its part."""
    import netCDF4
    pieces, offset = [], 0
    for path in store.fragments("time40"):
        with netCDF4.Dataset(path) as ds:
            var = ds["tas"]
            local = _local(key[0], offset, var.shape[0])
            if local is not None:
                pieces.append(var[(local, *key[1:])])
            offset += var.shape[0]
    concatenate: Callable[[list[Any]], Any] = np.ma.concatenate
    return pieces[0] if isinstance(key[0], int) else concatenate(pieces)


def _local(k: int | slice, offset: int, n: int) -> int | slice | None:
    """``k`` (a time index or a slice with a non-negative start) within one file."""
    if isinstance(k, int):
        return k - offset if offset <= k < offset + n else None
    start, step = k.start or 0, k.step or 1
    first = start + max(0, -(-(offset - start) // step)) * step
    stop = min(offset + n, n + offset if k.stop is None else k.stop)
    return slice(first - offset, stop - offset, step) if first < stop else None


@reader("xarray_mfdataset", "time40", modules=("xarray", "dask", "netCDF4"))
def xarray_mfdataset(store: DataStore, key: Key) -> Any:
    import xarray as xr
    with xr.open_mfdataset(store.fragments("time40"), engine="netcdf4", combine="by_coords",
                           data_vars="minimal", coords="minimal", compat="override") as ds:
        return ds["tas"][key].values


@reader("zarr_time40", "zarr_time40", raw=True, modules=("zarr",))
def zarr_time40(store: DataStore, key: Key) -> Any:
    import zarr
    array: Any = zarr.open_group(store.location("zarr_time40"), mode="r")["tas"]
    return array[key]


@reader("zarr_tiles16", "zarr_tiles16", raw=True, modules=("zarr",))
def zarr_tiles16(store: DataStore, key: Key) -> Any:
    import zarr
    array: Any = zarr.open_group(store.location("zarr_tiles16"), mode="r")["tas"]
    return array[key]
