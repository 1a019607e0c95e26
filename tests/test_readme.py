"""The README's quick start runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import netCDF4
import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's quick start has no python block"
    return match.group(1)


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].startswith("python3 -m venv .venv && .venv/bin/pip install -e \".[test]\"")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert block[1] in ci


@pytest.mark.slow
def test_quick_start_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(quick_start(), str(README), "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out.strip() == "(49, 5) (13, 2, 2)"
    fragments = sorted(p.name for p in (tmp_path / "run1" / "tas").iterdir())
    assert len(fragments) == 52
    assert fragments[0] == "tas.tas.0000.0.0.nc"
    assert fragments[-1] == "tas.tas.0012.1.1.nc"
    with netCDF4.Dataset(tmp_path / "run1" / "tas.nca") as raw:
        assert raw["tas"].aggregated_dimensions == "time lat lon"
    expected = np.random.default_rng(0).normal(280, 10, (1460, 192, 288)).astype("f4")
    import semsl
    with semsl.Dataset(tmp_path / "run1" / "tas.nca") as ds:
        np.testing.assert_array_equal(ds["tas"][::30, 10, -5:], expected[::30, 10, -5:])
