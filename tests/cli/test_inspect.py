"""``semsl ls`` and ``semsl info``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import semsl
from semsl.archive._common import remove
from tests.cli._helpers import as_json, semsl_cli, write_classic


def _archive(master: str) -> None:
    with semsl.Dataset(master, "w", format="CFA4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("x", 4)
        ds.createVariable("time", "f8", ("time",))
        var = ds.createVariable("v", "i4", ("time", "x"), subarray_shape=(2, 4),
                                fill_value=np.int32(-1))
        var[0:6] = np.arange(24).reshape(6, 4)
        ds["time"][0:6] = np.arange(6.0)
        var2 = ds.createVariable("w", "f4", ("time", "x"), subarray_shape=(6, 2))
        var2[0:6, 0:2] = np.ones((6, 2), "f4")  # the second fragment is never written


def test_ls_lists_masters_and_plain_files_not_fragments(tmp_path: Path) -> None:
    _archive(str(tmp_path / "data" / "run.nca"))
    (tmp_path / "data" / "sub").mkdir()
    write_classic(tmp_path / "data" / "sub" / "plain.nc")
    (tmp_path / "data" / "notes.txt").write_text("not netCDF")
    proc = semsl_cli(tmp_path, "ls", "data", "--json")
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    kinds = {Path(d["uri"]).name: d["kind"] for d in report["datasets"]}
    assert kinds == {"run.nca": "master", "plain.nc": "netcdf"}
    assert report["fragments_skipped"] == 4
    master = next(d for d in report["datasets"] if d["kind"] == "master")
    v = next(x for x in master["variables"] if x["name"] == "/v")
    assert v == {"name": "/v", "dimensions": ["time", "x"], "shape": [6, 4], "dtype": "int32",
                 "aggregated": True, "fragments": [3, 1],
                 "encoding": {"_FillValue": -1, "aggregation": "CF-1.13",
                              "fragment_shape": [2, 4]}}
    text = semsl_cli(tmp_path, "ls", "data").stdout
    assert "run.nca  [master, NETCDF4" in text
    assert "/v int32(time=6, x=4) aggregated" in text
    assert "2 dataset(s), 4 fragment file(s) not listed" in text


def test_info_describes_grid_sizes_and_storage(tmp_path: Path) -> None:
    _archive(str(tmp_path / "run.nca"))
    proc = semsl_cli(tmp_path, "info", "run.nca", "--json")
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    assert report["format"] == "NETCDF4"
    assert report["fragment_formats"] == ["NETCDF4"]
    v, w = report["aggregated"]["/v"], report["aggregated"]["/w"]
    assert v["grid_shape"] == [3, 1]
    assert v["present"] == 3
    assert v["missing"] == 0
    assert w["grid_shape"] == [1, 2]
    assert w["present"] == 1
    assert w["unwritten"] == 1
    sizes = [f["size"] for f in v["fragments"]]
    assert sizes == [(tmp_path / "run" / f"run.v.000{i}.0.nc").stat().st_size for i in range(3)]
    assert report["fragment_bytes"] == sum(sizes) + w["fragments"][0]["size"]
    [(where, place)] = report["locations"].items()
    assert where == f"local {tmp_path / 'run'}"
    assert place["fragments"] == 4
    (tmp_path / "run" / "run.v.0001.0.nc").unlink()
    proc = semsl_cli(tmp_path, "info", "run.nca")
    assert proc.returncode == 1
    assert "2 present, 0 never written, 1 missing" in proc.stdout
    assert "problem: /v " in proc.stdout
    assert "run.v.0001.0.nc: missing" in proc.stdout


def test_ls_and_info_on_s3(tmp_path: Path, s3: str) -> None:
    _archive(f"{s3}/data/run.nca")
    report = as_json(semsl_cli(tmp_path, "ls", f"{s3}/data/", "--json"))
    assert [d["uri"] for d in report["datasets"]] == [f"{s3}/data/run.nca"]
    remove(f"{s3}/data/run/run.w.0000.0.nc")
    proc = semsl_cli(tmp_path, "info", f"{s3}/data/run.nca", "--json")
    assert proc.returncode == 1
    report = as_json(proc)
    assert report["aggregated"]["/v"]["present"] == 3
    assert report["aggregated"]["/w"]["missing"] == 1
    assert list(report["locations"]) == [f"{s3}/data/run"]
