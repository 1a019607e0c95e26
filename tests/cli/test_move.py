"""``semsl mv``: a whole archive moved or copied, checked before the originals go."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import semsl
from semsl.archive._common import exists, list_objects
from tests.cli._helpers import as_json, assert_same, describe, semsl_cli


def _archive(master: str, fragments_at: str | None = None) -> None:
    with semsl.Dataset(master, "w", format="CFA4", fragment_location=fragments_at) as ds:
        ds.title = "movable"
        ds.createDimension("time", None)
        ds.createDimension("x", 6)
        ds.createVariable("time", "f8", ("time",))[0:8] = np.arange(8.0)
        var = ds.createVariable("v", "f4", ("time", "x"), subarray_shape=(3, 3))
        var[0:8] = np.arange(48, dtype="f4").reshape(8, 6)


def test_move_local_to_s3_and_back(tmp_path: Path, s3: str) -> None:
    _archive(str(tmp_path / "run" / "a.nca"))
    before = describe(tmp_path / "run" / "a.nca")
    proc = semsl_cli(tmp_path, "mv", "run/a.nca", f"{s3}/store/", "--json")
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    assert report["target"] == f"{s3}/store/a.nca"
    assert report["fragments_copied"] == 6
    assert report["originals_deleted"]
    assert not (tmp_path / "run" / "a.nca").exists()
    assert not (tmp_path / "run" / "a").exists()
    assert len(list_objects(f"{s3}/store/a/")) == 6
    assert_same(before, describe(f"{s3}/store/a.nca"))
    proc = semsl_cli(tmp_path, "mv", f"{s3}/store/a.nca", "back/b.nca")
    assert proc.returncode == 0, proc.stderr
    assert "moved the master and 6 fragment(s)" in proc.stdout
    assert not exists(f"{s3}/store/a.nca")
    assert list_objects(f"{s3}/store/") == []
    assert_same(before, describe(tmp_path / "back" / "b.nca"))
    assert len(list((tmp_path / "back" / "a").iterdir())) == 6  # the folder keeps its name
    assert semsl_cli(tmp_path, "verify", "back/b.nca").returncode == 0


def test_copy_keeps_the_originals_and_external_fragments(tmp_path: Path) -> None:
    _archive(str(tmp_path / "run" / "a.nca"), fragments_at=str(tmp_path / "shared"))
    before = describe(tmp_path / "run" / "a.nca")
    proc = semsl_cli(tmp_path, "mv", "run/a.nca", "copy/a.nca", "--copy")
    assert proc.returncode == 0, proc.stderr
    assert "6 fragment(s) outside the archive left in place" in proc.stdout
    assert (tmp_path / "run" / "a.nca").exists()
    assert_same(before, describe(tmp_path / "copy" / "a.nca"))
    proc = semsl_cli(tmp_path, "mv", "run/a.nca", "copy2/a.nca", "--copy", "--include-external")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "copy2" / "a").iterdir())) == 6
    assert_same(before, describe(tmp_path / "copy2" / "a.nca"))
    proc = semsl_cli(tmp_path, "mv", "run/a.nca", "copy/a.nca")
    assert proc.returncode == 2
    assert "--overwrite" in proc.stderr


def test_a_failed_copy_leaves_the_originals(tmp_path: Path) -> None:
    _archive(str(tmp_path / "a.nca"))
    (tmp_path / "a" / "a.v.0001.1.nc").unlink()
    proc = semsl_cli(tmp_path, "mv", "a.nca", "elsewhere/")
    assert proc.returncode == 1
    assert "originals are untouched" in proc.stdout
    assert "a.v.0001.1.nc" in proc.stdout
    assert (tmp_path / "a.nca").exists()
    assert len(list((tmp_path / "a").iterdir())) == 5
    assert not (tmp_path / "elsewhere" / "a.nca").exists()
