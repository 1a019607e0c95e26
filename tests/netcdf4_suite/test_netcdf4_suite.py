"""netCDF4-python's own test suite passes with ``import semsl as netCDF4``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("run_netcdf4_suite.py")


@pytest.mark.slow
def test_netcdf4_suite_has_no_regressions(tmp_path: Path) -> None:
    result = tmp_path / "suite.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", str(result)],
        capture_output=True, text=True, timeout=1200, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode == 2 and "could not download" in proc.stdout + proc.stderr \
            and not os.environ.get("CI"):
        pytest.skip("the netCDF4 sdist could not be downloaded: pip needs the netCDF-C "
                    "headers to read it (Debian: apt-get install libnetcdf-dev)")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(result.read_text())
    assert report["regressions"] == []
    assert report["totals"]["semsl"]["passed"] >= 150  # the suite really ran
