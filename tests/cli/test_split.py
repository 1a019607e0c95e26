"""``semsl split``: a netCDF file into a master and fragments that read back the same."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl.archive._common import cut_slabs, fragment_slabs
from semsl.cfa.model import regular_boundaries
from tests.cli._helpers import (
    as_json,
    assert_same,
    describe,
    semsl_cli,
    write_classic,
    write_source,
)


def test_split_reads_back_equal_streaming_in_slabs(tmp_path: Path) -> None:
    write_source(tmp_path / "src.nc")
    # A tiny memory budget: every variable is copied in many fragment-aligned slabs.
    proc = semsl_cli(tmp_path, "split", "src.nc", "out/tas.nca", "--subarray-shape",
                     "time=7,lat=5", "--json", env={"SEMSL_MEMORY_BUDGET": "8kB"})
    assert proc.returncode == 0, proc.stderr
    report = as_json(proc)
    assert report["problems"] == []
    aggregated = {v["name"]: v for v in report["variables"] if v["aggregated"]}
    assert set(aggregated) == {"/tas", "/pr", "/time_bnds", "/sub/gv"}
    assert aggregated["/tas"]["grid_shape"] == [5, 2, 1]
    assert aggregated["/tas"]["fragment_shape"] == [7, 5, 12]
    assert len(list((tmp_path / "out" / "tas").glob("tas.tas.*.nc"))) == 10
    assert_same(describe(tmp_path / "src.nc"), describe(tmp_path / "out" / "tas.nca"))
    with semsl.Dataset(str(tmp_path / "out" / "tas.nca")) as ds:
        assert "CF-1.13" in ds.Conventions
        assert ds["pr"].scale_factor == np.float32(0.01)


def test_split_chosen_variables_into_cfa3(tmp_path: Path) -> None:
    write_classic(tmp_path / "classic.nc")
    proc = semsl_cli(tmp_path, "split", "classic.nc", "c.nca", "--format", "CFA3",
                     "--variables", "tas", "--max-subarray-size", "100B",
                     "--fragments-at", str(tmp_path / "elsewhere"))
    assert proc.returncode == 0, proc.stderr
    assert "1 aggregated variable(s)" in proc.stdout
    with semsl.Dataset(str(tmp_path / "c.nca")) as ds:
        assert ds.data_model == "NETCDF3_CLASSIC"
        assert hasattr(ds["tas"], "fragments")
        assert not hasattr(ds["pr"], "fragments")  # not listed: stays in the master
        assert ds["tas"].fragments.nfragments > 1
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir())[0].startswith("c.tas.")
    assert_same(describe(tmp_path / "classic.nc"), describe(tmp_path / "c.nca"))


@pytest.mark.parametrize(("args", "words"), [
    (["--variables", "nope"], "names 'nope'"),
    (["--subarray-shape", "3,2"], "give the lengths by dimension name"),
    (["--subarray-shape", "a,b"], "positive lengths"),
    (["--subarray-shape", "tme=3"], "names dimension(s) tme"),
    (["--variables", "label"], "cannot be aggregated"),
    (["--format", "CFA3"], "use --format CFA4"),
])
def test_split_input_errors_are_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    write_source(tmp_path / "src.nc")
    proc = semsl_cli(tmp_path, "split", "src.nc", "out.nca", *args)
    assert proc.returncode == 2
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "out.nca").exists()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_split_refuses_an_existing_master(tmp_path: Path) -> None:
    write_classic(tmp_path / "classic.nc")
    assert semsl_cli(tmp_path, "split", "classic.nc", "c.nca").returncode == 0
    proc = semsl_cli(tmp_path, "split", "classic.nc", "c.nca")
    assert proc.returncode == 2
    assert "--overwrite" in proc.stderr
    assert semsl_cli(tmp_path, "split", "-q", "classic.nc", "c.nca",
                     "--overwrite").returncode == 0


def test_split_to_and_from_s3(tmp_path: Path, s3: str) -> None:
    write_source(tmp_path / "src.nc")
    proc = semsl_cli(tmp_path, "split", "src.nc", f"{s3}/run/tas.nca", "--max-subarray-size",
                     "4kB")
    assert proc.returncode == 0, proc.stderr
    assert_same(describe(tmp_path / "src.nc"), describe(f"{s3}/run/tas.nca"))
    proc = semsl_cli(tmp_path, "split", f"{s3}/run/tas.nca", "local.nca", "--variables", "tas")
    assert proc.returncode == 0, proc.stderr
    assert_same(describe(tmp_path / "src.nc"), describe(tmp_path / "local.nca"))


def test_slabs_cover_each_fragment_within_the_limit() -> None:
    bounds = [regular_boundaries(10, 4), regular_boundaries(7, 7), regular_boundaries(5, 2)]
    seen = np.zeros((10, 7, 5), dtype=int)
    for slab in fragment_slabs(bounds, itemsize=8, limit=100):
        assert np.prod([s.stop - s.start for s in slab]) * 8 <= 100
        # every slab stays inside one fragment
        for b, s in zip(bounds, slab, strict=True):
            i = np.searchsorted(b, s.start, side="right") - 1
            assert s.stop <= b[i + 1]
        seen[slab] += 1
    assert (seen == 1).all()
    assert list(cut_slabs([slice(0, 3), slice(0, 4)], 1, 100)) == [(slice(0, 3), slice(0, 4))]


def test_split_keeps_strings_and_finds_variables_in_groups(tmp_path: Path) -> None:
    write_source(tmp_path / "src.nc")
    assert semsl_cli(tmp_path, "split", "src.nc", "s.nca", "--variables", "gv").returncode == 0
    with netCDF4.Dataset(tmp_path / "s.nca") as ds:
        assert ds["label"][...] == "hello"
        assert ds.groups["sub"].note == "in a group"
        assert "aggregated_dimensions" in ds.groups["sub"]["gv"].ncattrs()
        assert ds["tas"].ndim == 3  # not listed: a plain variable
