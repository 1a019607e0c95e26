"""Generate (once) every stored form of the dataset in ``<data>/<size>/``."""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path

import numpy as np

from bench.sizes import Size, point_key
from bench.stores import LocalStore
from bench.writers import FILL, Fields, make_fields, write_netcdf4, write_semsl, write_zarr

DATA_VERSION = 1
MANIFEST = "manifest.json"


def manifest(size: Size) -> dict[str, object]:
    return {"version": DATA_VERSION, "size": size.name, "shape": list(size.shape),
            "zarr": has_module("zarr")}


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def ensure_data(store: LocalStore, log: bool = True) -> None:
    """Generate the data unless ``store`` already holds this version of it."""
    path = store.root / MANIFEST
    if path.exists() and json.loads(path.read_text()) == manifest(store.size):
        return
    start = time.perf_counter()
    if log:
        print(f"generating {store.size.name} data in {store.root} ...", flush=True)
    if store.root.exists():
        shutil.rmtree(store.root)
    generate(store)
    path.write_text(json.dumps(manifest(store.size)))
    if log:
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)


def generate(store: LocalStore) -> None:
    size = store.size
    fields = make_fields(size.shape)
    for item in ("single", "time40", "tiles16", "zarr_time40", "zarr_tiles16", "open100k"):
        store.path(item).parent.mkdir(parents=True, exist_ok=True)
    write_netcdf4(store.path("single"), fields, size.shape)
    write_semsl(store.path("time40"), fields, size.time_block)
    write_semsl(store.path("tiles16"), fields, size.tile_block)
    if has_module("zarr"):
        write_zarr(store.path("zarr_time40"), fields, size.time_block)
        write_zarr(store.path("zarr_tiles16"), fields, size.tile_block)
    write_open_master(store.path("open100k"), fields, size.open_grid)


def open_grid_shape(size: Size) -> tuple[int, ...]:
    return tuple(min(g, n) for g, n in zip(size.open_grid, size.shape, strict=True))


def write_open_master(path: Path, fields: Fields, grid_shape: tuple[int, ...]) -> None:
    """A master of ``tas`` with a huge fragment grid, written with semsl's parser directly.

    Only the fragment holding the OPEN workload's point is created (with the real data
    of its block); every other URI points to a file that does not exist.
    """
    import netCDF4

    from semsl.cfa.model import AggregatedVariable, FragmentGrid
    from semsl.parsers.cf_aggregation import CFAggregationParser

    shape = fields.tas.shape
    grid_shape = tuple(min(g, n) for g, n in zip(grid_shape, shape, strict=True))
    bounds = [np.linspace(0, n, g + 1).astype(np.int64)
              for n, g in zip(shape, grid_shape, strict=True)]
    grid = FragmentGrid(bounds, np.ones(grid_shape, dtype=bool), None, "tas", None)
    grid.uris = _uris(grid_shape)
    dims = ("time", "lat", "lon")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        for name, n in zip(dims, shape, strict=True):
            ds.createDimension(name, n)
        ds.createVariable("tas", "f4", (), fill_value=FILL)
        model = AggregatedVariable("tas", "/", dims, np.dtype("f4"), grid)
        CFAggregationParser().write(model, ds)
        ds.Conventions = "CF-1.13"
    _write_touched_fragment(path.parent, grid, fields, dims)


def _uris(grid_shape: tuple[int, ...]) -> np.ndarray:
    names = np.full(grid_shape, "frag/f", dtype=object)
    for k, index in enumerate(np.indices(grid_shape)):
        names = names + ("_" if k else "") + index.astype(str).astype(object)
    return names + ".nc"


def _write_touched_fragment(folder: Path, grid: object, fields: Fields,
                            dims: tuple[str, ...]) -> None:
    import netCDF4

    bounds = grid.boundaries  # type: ignore[attr-defined]
    point = point_key(fields.tas.shape)
    index = tuple(int(np.searchsorted(b, p, side="right")) - 1
                  for b, p in zip(bounds, point, strict=True))
    where = tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(bounds, index, strict=True))
    (folder / "frag").mkdir(exist_ok=True)
    name = "f" + "_".join(str(i) for i in index) + ".nc"
    with netCDF4.Dataset(folder / "frag" / name, "w", format="NETCDF4") as ds:
        for dim, s in zip(dims, where, strict=True):
            ds.createDimension(dim, s.stop - s.start)
        var = ds.createVariable("tas", "f4", dims, fill_value=FILL)
        var.set_auto_maskandscale(False)
        var[:] = fields.tas[where]
