"""Writing every encoding semsl writes, updating legacy masters, and semsl.convert."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl import errors

DATA = np.arange(8 * 6, dtype="f8").reshape(8, 6)


def write(path: Path, fmt: str = "CFA4", **kwargs: object) -> None:
    with semsl.Dataset(path, "w", format=fmt, **kwargs) as ds:
        ds.createDimension("t", None)
        ds.createDimension("x", 6)
        v = ds.createVariable("v", "f8", ("t", "x"), subarray_shape=(2, 3))
        v.units = "K"
        v[:8] = DATA


def read(path: Path) -> tuple[np.ndarray, str, list[str], list[str]]:
    with semsl.Dataset(path) as ds:
        var = ds["v"]
        assert isinstance(var, semsl.AggregatedVariable)
        return var[:], var.fragments.encoding, list(ds.variables), list(ds.groups)


@pytest.mark.parametrize(("fmt", "version"), [("CFA4", "CF-1.13"), ("CFA3", "CF-1.13"),
                                             ("CFA4", "CFA-0.5"), ("CFA4", "CFA-0.4"),
                                             ("CFA3", "CFA-0.4")])
def test_write_each_encoding(tmp_path: Path, fmt: str, version: str) -> None:
    path = tmp_path / "m.nca"
    write(path, fmt, cfa_version=version)
    values, encoding, variables, groups = read(path)
    np.testing.assert_array_equal(values, DATA)
    assert encoding == version
    assert variables == ["v"]
    assert groups == []
    with netCDF4.Dataset(path) as raw:
        assert version.removeprefix("CF-").removeprefix("CFA-") in raw.Conventions


def test_encodings_semsl_does_not_write(tmp_path: Path) -> None:
    with pytest.raises(errors.UnsupportedFeatureError, match="netCDF-4"):
        write(tmp_path / "a.nca", "CFA3", cfa_version="CFA-0.5")
    with pytest.raises(errors.UnsupportedFeatureError, match=r"reads CFA-0\.6\.2"):
        write(tmp_path / "b.nca", "CFA4", cfa_version="CFA-0.6.2")
    with pytest.raises(ValueError, match="unknown aggregation encoding"):
        write(tmp_path / "c.nca", "CFA4", cfa_version="CFA-9")


@pytest.mark.parametrize("version", ["CFA-0.4", "CFA-0.5"])
def test_update_keeps_a_legacy_encoding(tmp_path: Path, version: str) -> None:
    path = tmp_path / "m.nca"
    write(path, cfa_version=version)
    with semsl.Dataset(path, "a") as ds:
        ds["v"][8] = 1.0
        assert list(ds.groups) == []
    values, encoding, variables, _ = read(path)
    assert encoding == version
    assert values.shape == (9, 6)
    assert variables == ["v"]
    with netCDF4.Dataset(path) as raw:
        assert raw.Conventions.split().count(version) == 1
        assert "aggregated_dimensions" not in raw["v"].ncattrs()


def test_update_can_change_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "m.nca"
    write(path, cfa_version="CFA-0.5")
    with semsl.Dataset(path, "a", cfa_version="CF-1.13"):
        pass
    values, encoding, _, groups = read(path)
    assert encoding == "CF-1.13"
    assert groups == []
    with netCDF4.Dataset(path) as raw:
        assert "cfa_v" not in raw.groups  # the old partition group is gone
        assert "cf_role" not in raw["v"].ncattrs()
        assert "CFA-0.5" not in raw.Conventions
    np.testing.assert_array_equal(values, DATA)


@pytest.mark.parametrize("version", ["CFA-0.4", "CFA-0.5", "CF-1.13"])
def test_convert_rewrites_only_the_master(tmp_path: Path, version: str) -> None:
    path = tmp_path / "m.nca"
    write(path)
    fragments = sorted(p.stat().st_mtime_ns for p in (tmp_path / "m").iterdir())
    other = tmp_path / "elsewhere" / f"{version}.nca"
    other.parent.mkdir()
    semsl.convert(path, other, cfa_version=version)
    values, encoding, _, _ = read(other)
    assert encoding == version
    np.testing.assert_array_equal(values, DATA)
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "m").iterdir()) == fragments
    assert not (tmp_path / "elsewhere" / version.replace(".nca", "")).exists()
    with pytest.raises(ValueError, match="not onto itself"):
        semsl.convert(path, path)
