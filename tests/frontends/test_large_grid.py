"""A master with 100,000 fragments opens and reads one point touching one fragment."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

import semsl
from semsl.cfa.model import AggregatedVariable, FragmentGrid, LazyStrings
from semsl.frontends.netcdf4 import _master_of
from semsl.parsers.cf_aggregation import CFAggregationParser

GRID = (1000, 100)  # 100,000 fragments of 2 x 3
BLOCK = (2, 3)


def build_master(path: Path) -> None:
    shape = tuple(g * b for g, b in zip(GRID, BLOCK, strict=True))
    grid = FragmentGrid.regular(shape, BLOCK, "v")
    assert grid.uris is not None
    i, j = np.indices(GRID)
    grid.uris[...] = np.char.add(np.char.add("frag/", i.astype(str)),
                                 np.char.add("_", j.astype(str))).astype(object)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("y", shape[0])
        ds.createDimension("x", shape[1])
        ds.createVariable("v", "f4", (), fill_value=-1.0)
        model = AggregatedVariable("v", "/", ("y", "x"), np.dtype("f4"), grid)
        CFAggregationParser().write(model, ds)
        ds.Conventions = "CF-1.13"
    (path.parent / "frag").mkdir()
    with netCDF4.Dataset(path.parent / "frag" / "777_42", "w") as frag:
        frag.createDimension("y", 2)
        frag.createDimension("x", 3)
        v = frag.createVariable("v", "f4", ("y", "x"), fill_value=-1.0)
        v[:] = np.arange(6.0).reshape(2, 3)


def test_point_read_touches_one_fragment(tmp_path: Path) -> None:
    path = tmp_path / "big.nca"
    build_master(path)
    with semsl.Dataset(path) as ds:
        var = ds["v"]
        assert var.shape == (2000, 300)
        assert var.fragments.nfragments == 100_000
        assert var[1555, 128] == 5.0  # fragment (777, 42), element (1, 2)
        uris = var._state.model.grid.uris
        assert isinstance(uris, LazyStrings)
        assert uris._loaded is None  # the 100,000 URIs were never read as a whole
        handles = _master_of(ds).handles
        assert handles.misses == 1
        # Every other fragment file is absent: touching any would raise.
        assert var[1554:1556, 126:129].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        assert handles.misses == 1
    assert len(handles) == 0  # closing the master closed its fragment files
