"""Fragment locations named by a master are checked against the allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl import errors
from semsl.config import Config, set_config


def write(path: Path, **kwargs: object) -> None:
    with semsl.Dataset(path, "w", format="CFA4", **kwargs) as ds:
        ds.createDimension("x", 4)
        ds.createVariable("v", "f4", ("x",), subarray_shape=(2,))[:] = np.arange(4.0)


def point_fragment_at(master: Path, uri: str) -> None:
    with netCDF4.Dataset(master, "a") as raw:
        raw["v_fragment_uris"][0] = uri


@pytest.mark.parametrize("uri", ["../outside/secret.nc", "/etc/passwd",
                                 "file:///etc/hostname", "https://169.254.169.254/latest",
                                 "s3://other-bucket/x.nc"])
def test_escaping_fragments_are_refused(tmp_path: Path, uri: str) -> None:
    master = tmp_path / "run" / "m.nca"
    write(master)
    point_fragment_at(master, uri)
    with semsl.Dataset(master, allowed_roots=[]) as ds:
        assert ds["v"][2:].tolist() == [2.0, 3.0]  # fragments under the master's folder
        with pytest.raises(errors.FragmentLocationError) as info:
            ds["v"][0]
    assert isinstance(info.value, PermissionError)
    assert str(master) in str(info.value)
    assert "'/v'" in str(info.value)


def test_symlinks_are_resolved_before_the_check(tmp_path: Path) -> None:
    master = tmp_path / "run" / "m.nca"
    write(master)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.replace(tmp_path / "run" / "m" / "m.v.0.nc", outside / "m.v.0.nc")
    os.symlink(outside / "m.v.0.nc", tmp_path / "run" / "m" / "m.v.0.nc")
    with semsl.Dataset(master, allowed_roots=[]) as ds, \
            pytest.raises(errors.FragmentLocationError):
        ds["v"][0]
    with semsl.Dataset(master, allowed_roots=[str(outside)]) as ds:
        assert ds["v"][:].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_configured_roots_widen_the_limit(tmp_path: Path) -> None:
    master = tmp_path / "run" / "m.nca"
    write(master, fragment_location=str(tmp_path / "shared"))
    set_config(Config(allowed_roots=(str(tmp_path / "elsewhere"),)))
    try:
        with semsl.Dataset(master) as ds, pytest.raises(errors.FragmentLocationError):
            ds["v"][0]
        set_config(Config(allowed_roots=(str(tmp_path / "shared"),)))
        with semsl.Dataset(master) as ds:
            assert ds["v"][:].tolist() == [0.0, 1.0, 2.0, 3.0]
    finally:
        set_config(None)


def test_verify_checksums_on_read(tmp_path: Path) -> None:
    master = tmp_path / "m.nca"
    write(master)
    with netCDF4.Dataset(tmp_path / "m" / "m.v.1.nc", "a") as frag:
        frag["v"][0] = 99.0
    with semsl.Dataset(master) as ds:
        assert ds["v"][2] == 99.0  # unchecked by default
    with semsl.Dataset(master, verify_checksums=True) as ds:
        assert ds["v"][0] == 0.0
        with pytest.raises(errors.FragmentChecksumError, match=r"m\.v\.1\.nc"):
            ds["v"][2]
