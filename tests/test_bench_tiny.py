"""Smoke run of the benchmark (bench/, issue 7) on the tiny size: correctness only."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

for _peer in ("h5py", "zarr", "xarray", "dask"):
    if importlib.util.find_spec(_peer) is None:  # the bench extra: pip install -e ".[bench]"
        pytest.importorskip(_peer)


@pytest.mark.slow
def test_tiny_run_checks_every_reader(tmp_path: Path) -> None:
    from bench.readers import READERS
    from bench.writers import WRITERS

    out = tmp_path / "tiny.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--size", "tiny", "--repeat", "1",
         "--data", str(tmp_path / "data"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["workloads"]) == {"W1", "W2", "W3", "W4", "W5", "OPEN", "WRITE"}
    rows = {(r["workload"], r["reader"]): r for r in results["results"]}
    for workload in ("W1", "W2", "W3", "W4", "W5"):
        for name in READERS:
            if workload in READERS[name].workloads:
                assert rows[workload, name]["status"] == "ok", rows[workload, name]
    assert {n for w, n in rows if w == "OPEN"} == {"netcdf4", "semsl_time40", "semsl_100k"}
    assert {n for w, n in rows if w == "WRITE"} == set(WRITERS)
    assert all(r["status"] == "ok" and r["median_ms"] > 0 for r in rows.values())
    assert results["machine"]["semsl"]
