"""``semsl verify``: every fragment exists, opens and fits; each problem reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import semsl
from semsl.archive._common import remove
from tests.cli._helpers import as_json, semsl_cli


def _archive(master: str) -> None:
    with semsl.Dataset(master, "w", format="CFA4") as ds:
        ds.createDimension("time", 12)
        ds.createDimension("x", 50)
        var = ds.createVariable("v", "f8", ("time", "x"), subarray_shape=(3, 50), zlib=True)
        var[:] = np.arange(600.0).reshape(12, 50)


def test_verify_finds_missing_truncated_and_corrupted_fragments(tmp_path: Path) -> None:
    _archive(str(tmp_path / "a.nca"))
    proc = semsl_cli(tmp_path, "verify", "a.nca", "--checksums")
    assert proc.returncode == 0, proc.stderr
    assert "4 fragment(s) checked" in proc.stdout
    assert "OK" in proc.stdout
    assert "checksums: compared" in proc.stdout
    folder = tmp_path / "a"
    (folder / "a.v.0.0.nc").unlink()  # missing
    truncated = folder / "a.v.1.0.nc"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    corrupted = folder / "a.v.2.0.nc"
    data = bytearray(corrupted.read_bytes())
    data[:8] = b"garbage!"  # the format signature
    corrupted.write_bytes(bytes(data))
    proc = semsl_cli(tmp_path, "verify", "a.nca", "--jobs", "3", "--json")
    assert proc.returncode == 1
    report = as_json(proc)
    assert not report["ok"]
    assert report["fragments"] == 4
    problems = {p["subject"].split()[1].rsplit("/", 1)[-1]: p["message"]
                for p in report["problems"]}
    assert sorted(problems) == ["a.v.0.0.nc", "a.v.1.0.nc", "a.v.2.0.nc"]
    assert problems["a.v.0.0.nc"].startswith("missing")
    assert "truncated or corrupted" in problems["a.v.1.0.nc"]
    assert "truncated or corrupted" in problems["a.v.2.0.nc"]
    assert all(p["subject"].startswith("/v[") for p in report["problems"])


def test_verify_finds_a_fragment_in_the_wrong_place(tmp_path: Path) -> None:
    _archive(str(tmp_path / "a.nca"))
    folder = tmp_path / "a"
    (folder / "a.v.1.0.nc").replace(folder / "a.v.0.0.nc")  # same shape, wrong place
    proc = semsl_cli(tmp_path, "verify", "a.nca", "--headers-only")
    assert proc.returncode == 1
    assert "records start (3, 0), its place in the master is (0, 0)" in proc.stdout
    assert "missing" in proc.stdout  # a.v.1.0.nc is gone now


def test_verify_on_s3(tmp_path: Path, s3: str) -> None:
    master = f"{s3}/arch/a.nca"
    _archive(master)
    assert semsl_cli(tmp_path, "verify", master, "-q").returncode == 0
    remove(f"{s3}/arch/a/a.v.3.0.nc")
    proc = semsl_cli(tmp_path, "verify", master, "-q")
    assert proc.returncode == 1
    assert proc.stdout.count("problem:") == 1
    assert "a.v.3.0.nc: missing" in proc.stdout


def test_verify_checksums_catch_changed_data(tmp_path: Path) -> None:
    import netCDF4

    _archive(str(tmp_path / "a.nca"))
    with netCDF4.Dataset(tmp_path / "a" / "a.v.3.0.nc", "a") as frag:
        frag["v"][1, 7] = -1.0  # still a valid file; only the data changed
    plain = semsl_cli(tmp_path, "verify", "a.nca")
    assert plain.returncode == 0
    proc = semsl_cli(tmp_path, "verify", "a.nca", "--checksums", "--json")
    assert proc.returncode == 1
    report = as_json(proc)
    assert report["checksums"] == "compared"
    (problem,) = report["problems"]
    assert "a.v.3.0.nc" in problem["subject"]
    assert "checksum" in problem["message"]


def test_old_masters_without_checksums_say_so(tmp_path: Path) -> None:
    import netCDF4

    _archive(str(tmp_path / "a.nca"))
    with netCDF4.Dataset(tmp_path / "a.nca", "a") as raw:
        raw["v"].delncattr("semsl_fragment_checksums")
    proc = semsl_cli(tmp_path, "verify", "a.nca", "--checksums")
    assert proc.returncode == 0
    assert "checksums: not recorded by this master" in proc.stdout
