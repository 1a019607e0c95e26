"""The fast read path (h5py, memory maps) gives exactly what the netCDF4 path gives."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl.cfa import fastread
from semsl.frontends.netcdf4 import _master_of

pytest.importorskip("h5py")

KEYS = [np.s_[:], np.s_[3], np.s_[:, 2, 1], np.s_[::-3, 1:4, ::2], np.s_[[0, 5, 2], -1],
        np.s_[..., 0]]


def write(path: Path, **kwargs: object) -> np.ndarray:
    data = np.arange(11 * 5 * 4, dtype="f4").reshape(11, 5, 4)
    data[2, 2, 2] = -1.0
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("t", None)
        ds.createDimension("y", 5)
        ds.createDimension("x", 4)
        v = ds.createVariable("v", "f4", ("t", "y", "x"), fill_value=-1.0,
                              subarray_shape=(4, 3, 4), **kwargs)
        v.units = "K"
        v[:] = data
    return data


def read_all(path: Path) -> list[np.ma.MaskedArray]:
    with semsl.Dataset(path) as ds:
        out = [ds["v"][key] for key in KEYS]
        ds.set_auto_mask(False)
        return [*out, ds["v"][:]]


@pytest.mark.parametrize("options", [{}, {"zlib": True}, {"contiguous": False,
                                                           "chunksizes": (2, 2, 2)}])
def test_fast_and_netcdf4_paths_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      options: dict[str, object]) -> None:
    path = tmp_path / "m.nca"
    write(path, **options)
    fast = read_all(path)
    monkeypatch.setattr(fastread, "ENABLED", False)
    slow = read_all(path)
    for a, b in zip(fast, slow, strict=True):
        assert type(a) is type(b)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
        np.testing.assert_array_equal(np.ma.filled(a, 0), np.ma.filled(b, 0))


def test_fast_path_is_taken_for_canonical_fragments(tmp_path: Path) -> None:
    path = tmp_path / "m.nca"
    write(path)
    with semsl.Dataset(path) as ds:
        ds["v"][0, 0, 0]
        entries = list(_master_of(ds).handles._open.values())
        assert isinstance(entries[0].dataset, fastread.FastFragment)


def test_changed_fragment_attributes_fall_back_to_netcdf4(tmp_path: Path) -> None:
    path = tmp_path / "m.nca"
    data = write(path)
    with netCDF4.Dataset(tmp_path / "m" / "m.v.0000.0.0.nc", "a") as frag:
        frag["v"].units = "m"  # not convertible to the master's units
    with semsl.Dataset(path) as ds:
        with pytest.raises(semsl.errors.FragmentUnitsError):
            ds["v"][0, 0, 0]
        np.testing.assert_array_equal(ds["v"][10], data[10])


def test_fragments_open_for_writing_use_netcdf4(tmp_path: Path) -> None:
    path = tmp_path / "m.nca"
    write(path)
    with semsl.Dataset(path, "a") as ds:
        ds["v"][0, 0, 0] = 7.0
        assert ds["v"][0, 0, 0] == 7.0
        entries = list(_master_of(ds).handles._open.values())
        assert not any(isinstance(e.dataset, fastread.FastFragment) for e in entries)
