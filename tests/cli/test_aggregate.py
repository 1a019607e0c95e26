"""``semsl aggregate``: a CF-1.13 master over CMIP-style files, in place."""

from __future__ import annotations

from pathlib import Path

import cftime
import netCDF4
import numpy as np

import semsl
from tests.cli._helpers import as_json, cmip_values, semsl_cli, write_cmip


def _360_day_set(folder: Path) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """tas in three files of unequal length, each with its own reference date (one in
    hours); pr over the same days in two files, another reference date again."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "tas": [("tas_day_19500101-19500130.nc", "days since 1950-01-01", np.arange(30) + 0.5),
                ("tas_day_19500201-19500320.nc", "days since 1950-02-01", np.arange(50) + 0.5),
                ("tas_day_19500321-19500330.nc", "hours since 1950-03-21",
                 (np.arange(10) + 0.5) * 24)],
        "pr": [("pr_day_19500101-19500320.nc", "days since 1900-01-01",
                np.arange(80) + 0.5 + 50 * 360),
               ("pr_day_19500321-19500330.nc", "days since 1950-01-01", np.arange(10) + 80.5)],
    }
    for var, entries in files.items():
        for name, units, days in entries:
            write_cmip(folder / name, var, units, "360_day", days)
    return files


def test_aggregate_cmip_set_with_360_day_calendar(tmp_path: Path) -> None:
    _360_day_set(tmp_path / "cmip")
    proc = semsl_cli(tmp_path, "aggregate", "cmip/tas_*.nc", "cmip/pr_*.nc", "-o",
                     "cmip/day.nca", "--check", "--json")
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    assert report["written"]
    assert report["calendar"] == "360_day"
    assert report["units"] == "days since 1950-01-01"  # the first file's units
    assert report["variables"]["tas"] == {"shape": [90, 3, 4], "fragments": 3}
    assert report["variables"]["pr"] == {"shape": [90, 3, 4], "fragments": 2}
    expected_days = np.arange(90) + 0.5
    with semsl.Dataset(str(tmp_path / "cmip" / "day.nca")) as ds:
        assert "CF-1.13" in ds.Conventions
        assert ds["time"].units == "days since 1950-01-01"
        np.testing.assert_allclose(ds["time"][:], expected_days)
        np.testing.assert_allclose(ds["time_bnds"][:, 0], expected_days - 0.5)
        want = cmip_values(expected_days, "days since 1950-01-01", "360_day")
        np.testing.assert_allclose(ds["tas"][:], want, rtol=1e-6)
        np.testing.assert_allclose(ds["pr"][:], want, rtol=1e-6)
        assert ds["tas"].units == "K"
        assert ds["tas"].coordinates == "height"
        assert float(ds["height"][...]) == 2.0
        np.testing.assert_array_equal(ds["lat"][:], [-30, 0, 30])
        assert ds["tas"].fragments.boundaries[0].tolist() == [0, 30, 80, 90]
    with netCDF4.Dataset(tmp_path / "cmip" / "day.nca") as raw:  # relative: in place
        assert raw["tas_fragment_uris"][:].ravel().tolist() == [
            "tas_day_19500101-19500130.nc", "tas_day_19500201-19500320.nc",
            "tas_day_19500321-19500330.nc"]


def test_aggregate_gregorian_set_given_out_of_order(tmp_path: Path) -> None:
    folder = tmp_path / "greg"
    folder.mkdir()
    # 2000 is a leap year: February has 29 days in the gregorian calendar.
    write_cmip(folder / "b.nc", "tas", "days since 2000-02-01", "gregorian", np.arange(29.0))
    write_cmip(folder / "a.nc", "tas", "days since 2000-01-01", "gregorian", np.arange(31.0))
    write_cmip(folder / "c.nc", "tas", "hours since 2000-03-01", "gregorian",
               np.arange(5.0) * 24)
    proc = semsl_cli(tmp_path, "aggregate", "greg/c.nc", "greg/b.nc", "greg/a.nc", "-o",
                     "greg.nca", "--dim", "time")
    assert proc.returncode == 0, proc.stderr
    with semsl.Dataset(str(tmp_path / "greg.nca")) as ds:
        np.testing.assert_array_equal(ds["time"][:], np.arange(65.0))
        dates = cftime.num2date(ds["time"][[30, 31, 59, 60]], ds["time"].units, "gregorian")
        assert [str(d)[:10] for d in dates] == ["2000-01-31", "2000-02-01", "2000-02-29",
                                                "2000-03-01"]
        want = cmip_values(np.arange(65.0), "days since 2000-01-01", "gregorian")
        np.testing.assert_allclose(ds["tas"][:], want, rtol=1e-6)
    with netCDF4.Dataset(tmp_path / "greg.nca") as raw:  # relative to the master
        assert raw["tas_fragment_uris"][:].ravel().tolist() == [
            "greg/a.nc", "greg/b.nc", "greg/c.nc"]


def test_aggregate_reports_every_mismatch_with_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    write_cmip(folder / "a.nc", "tas", "days since 2000-01-01", "360_day", np.arange(10.0))
    write_cmip(folder / "b.nc", "tas", "days since 2000-01-01", "360_day",
               np.arange(10.0) + 5, dtype="f8")
    write_cmip(folder / "c.nc", "tas", "days since 2000-01-01", "360_day",
               np.arange(10.0) + 20, lat=(-20.0, 0.0, 20.0))
    proc = semsl_cli(tmp_path, "aggregate", "bad/*.nc", "-o", "bad.nca")
    assert proc.returncode == 1
    problems = [line for line in proc.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 3, proc.stdout
    assert any("bad/b.nc" in p and "float64" in p and "bad/a.nc" in p for p in problems)
    assert any("bad/b.nc" in p and "overlaps" in p and "2000-01-06" in p for p in problems)
    assert any("bad/c.nc" in p and "coordinate 'lat'" in p for p in problems)
    assert not (tmp_path / "bad.nca").exists()

    write_cmip(folder / "d.nc", "tas", "days since 2000-01-01", "noleap", np.arange(3.0) + 40)
    proc = semsl_cli(tmp_path, "aggregate", "bad/a.nc", "bad/d.nc", "-o", "bad.nca", "--json")
    assert proc.returncode == 1
    [problem] = as_json(proc)["problems"]
    assert problem["subject"] == "bad/d.nc"
    assert "'noleap'" in problem["message"]
    assert "'360_day'" in problem["message"]


def test_aggregate_input_errors(tmp_path: Path) -> None:
    proc = semsl_cli(tmp_path, "aggregate", "missing_*.nc", "-o", "x.nca")
    assert proc.returncode == 2
    assert "no file matches" in proc.stderr
    proc = semsl_cli(tmp_path, "aggregate", "a.nc")
    assert proc.returncode == 2
    assert "-o" in proc.stderr


def test_aggregate_files_on_s3(tmp_path: Path, s3: str) -> None:
    from semsl.backends import registry

    files = _360_day_set(tmp_path / "cmip")
    where = registry.locate(f"{s3}/cmip/")
    for path in (tmp_path / "cmip").iterdir():
        where.backend.put_file(str(path), f"{where.uri}{path.name}")
    proc = semsl_cli(tmp_path, "aggregate", f"{s3}/cmip/tas_*.nc", "-o", f"{s3}/cmip/tas.nca")
    assert proc.returncode == 0, proc.stderr
    with semsl.Dataset(f"{s3}/cmip/tas.nca") as ds:
        assert sorted(ds.variables) == ["height", "lat", "lat_bnds", "lon", "tas", "time",
                                        "time_bnds"]
        want = cmip_values(np.arange(90) + 0.5, "days since 1950-01-01", "360_day")
        np.testing.assert_allclose(ds["tas"][:], want, rtol=1e-6)
    assert len(files["tas"]) == 3
