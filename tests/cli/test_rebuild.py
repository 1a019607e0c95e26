"""``semsl rebuild-master``: a lost master recreated from its fragments alone."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl.archive._common import remove
from tests.cli._helpers import as_json, assert_same, describe, semsl_cli


def _write_archive(master: str, file_format: str = "CFA4") -> None:
    """An archive semsl writes: coordinates, packing, fill values, a sparse grid."""
    rng = np.random.default_rng(2)
    with semsl.Dataset(master, "w", format=file_format) as ds:
        ds.setncatts({"title": "lost", "institution": "here", "count": np.int32(4)})
        ds.createDimension("time", None)
        ds.createDimension("lat", 6)
        ds.createDimension("lon", 8)
        time = ds.createVariable("time", "f8", ("time",))
        time.setncatts({"units": "days since 1900-01-01", "calendar": "noleap"})
        lat = ds.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-50, 50, 6)
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(-1e30),
                                subarray_shape=(4, 3, 8))
        tas.setncatts({"units": "K", "long_name": "temperature"})
        pr = ds.createVariable("pr", "i2", ("time", "lat"), fill_value=np.int16(-9),
                               subarray_shape=(5, 6))
        pr.setncatts({"scale_factor": 0.5, "add_offset": 10.0, "units": "mm"})
        tas[0:10] = rng.normal(280, 3, (10, 6, 8)).astype("f4")
        tas[10:14, 3:6] = np.ones((4, 3, 8), "f4")  # fragment (3, 0, 0) is never written
        pr[0:14] = rng.integers(0, 40, (14, 6)) / 2 + 10
        time[0:14] = np.arange(14.0) * 30


@pytest.mark.parametrize("file_format", ["CFA4", "CFA3"])
def test_rebuild_after_losing_the_master(tmp_path: Path, file_format: str) -> None:
    master = tmp_path / "run" / "lost.nca"
    _write_archive(str(master), file_format)
    before = describe(master, ignore=())
    master.unlink()
    proc = semsl_cli(tmp_path, "rebuild-master", "run/lost", "-o", "run/lost.nca", "--json")
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    assert report["variables"]["/tas"]["grid_shape"] == [4, 2, 1]
    assert report["variables"]["/tas"]["missing"] == 1
    assert_same(before, describe(master, ignore=()))
    with semsl.Dataset(str(master)) as ds:
        assert ds.data_model == ("NETCDF4" if file_format == "CFA4" else "NETCDF3_CLASSIC")
        assert ds.dimensions["time"].isunlimited()
        assert ds["tas"].fragments.present()[3, 0, 0] == False  # noqa: E712
        assert ds["tas"].chunking() == [4, 3, 8]  # the nominal fragment shape again
        # relative URIs: the archive can still be moved
        assert ds["tas"].fragments.uri((0, 0, 0)) == "lost/lost.tas.0000.0.0.nc"


def test_disagreeing_fragments_are_reported_not_used(tmp_path: Path) -> None:
    master = tmp_path / "lost.nca"
    _write_archive(str(master))
    master.unlink()
    stray = tmp_path / "lost" / "lost.tas.0001.1.0.nc"
    with netCDF4.Dataset(stray, "a") as ds:  # claims the place of another fragment
        ds.semsl_fragment_start = np.array([0, 3, 0], "i8")
    proc = semsl_cli(tmp_path, "rebuild-master", str(tmp_path / "lost"), "-o", "lost.nca")
    assert proc.returncode == 1
    assert "lost.tas.0001.1.0.nc" in proc.stdout
    assert "no master written" in proc.stdout
    assert not master.exists()
    proc = semsl_cli(tmp_path, "rebuild-master", str(tmp_path / "lost"), "-o", "lost.nca",
                     "--skip-bad", "-q")
    assert proc.returncode == 1
    with semsl.Dataset(str(master)) as ds:
        assert ds["tas"].shape == (14, 6, 8)
        assert ds["tas"][0, 0, 0] is not np.ma.masked


def test_rebuild_input_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = semsl_cli(tmp_path, "rebuild-master", "empty", "-o", "x.nca")
    assert proc.returncode == 2
    assert "no semsl fragments" in proc.stderr
    _write_archive(str(tmp_path / "a" / "one.nca"))
    _write_archive(str(tmp_path / "a" / "two.nca"))
    (tmp_path / "a" / "two").rename(tmp_path / "a" / "one" / "more")
    proc = semsl_cli(tmp_path, "rebuild-master", "a/one", "-o", "x.nca")
    assert proc.returncode == 2
    assert "--master" in proc.stderr
    proc = semsl_cli(tmp_path, "rebuild-master", "a/one", "-o", "x.nca", "--master", "two.nca")
    assert proc.returncode == 0, proc.stderr


def test_rebuild_on_s3(tmp_path: Path, s3: str) -> None:
    master = f"{s3}/run/lost.nca"
    _write_archive(master)
    before = describe(master, ignore=())
    remove(master)
    proc = semsl_cli(tmp_path, "rebuild-master", f"{s3}/run/lost/", "-o", master)
    assert proc.returncode == 0, proc.stderr
    assert_same(before, describe(master, ignore=()))
