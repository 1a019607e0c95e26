"""The ``semsl`` command itself: help with examples, exit codes, errors, progress, JSON."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from semsl.cli import build_parser, main
from tests.cli._helpers import as_json, command_env, semsl_cli, write_classic

COMMANDS = ["split", "aggregate", "rebuild-master", "ls", "info", "verify", "mv"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_a_worked_example(command: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text
    assert f"semsl {command} " in text
    assert "--quiet" in text
    assert "--verbose" in text
    assert "--json" in text


def test_python_dash_m_semsl_help_version_and_usage_errors(tmp_path: Path) -> None:
    proc = semsl_cli(tmp_path, "--help")
    assert proc.returncode == 0
    assert all(command in proc.stdout for command in COMMANDS)
    assert "exit codes: 0 ok, 1 problems found, 2 usage or input error" in proc.stdout
    assert semsl_cli(tmp_path, "--version").stdout.startswith("semsl ")
    assert semsl_cli(tmp_path).returncode == 2  # no command
    proc = semsl_cli(tmp_path, "verify")  # missing argument
    assert proc.returncode == 2
    assert "usage: semsl verify" in proc.stderr
    assert semsl_cli(tmp_path, "verify", "x.nca", "--jobs", "0").returncode == 2


def test_errors_are_one_line_and_the_traceback_comes_with_verbose(tmp_path: Path) -> None:
    (tmp_path / "broken.nca").write_bytes(b"not a netCDF file at all")
    proc = semsl_cli(tmp_path, "info", "broken.nca")
    assert proc.returncode == 2
    assert proc.stderr.startswith("semsl info: error: ")
    assert proc.stderr.count("\n") == 1
    assert "broken.nca" in proc.stderr
    assert proc.stdout == ""
    proc = semsl_cli(tmp_path, "info", "broken.nca", "--verbose")
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    proc = semsl_cli(tmp_path, "verify", "missing.nca", "--json")
    assert proc.returncode == 2
    assert "missing.nca" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "missing.nca" in as_json(proc)["error"]


def test_global_options_before_the_command(tmp_path: Path) -> None:
    write_classic(tmp_path / "c.nc")
    proc = semsl_cli(tmp_path, "--quiet", "split", "c.nc", "c.nca")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr == ""
    proc = semsl_cli(tmp_path, "--json", "verify", "c.nca")
    assert proc.returncode == 0
    assert proc.stdout.lstrip().startswith("{")


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    write_classic(tmp_path / "c.nc")
    assert semsl_cli(tmp_path, "split", "c.nc", "c.nca", "--max-subarray-size",
                     "100B").returncode == 0
    plain = semsl_cli(tmp_path, "verify", "c.nca")
    assert plain.stderr == ""  # not a terminal: no bar
    leader, follower = os.openpty()
    # A terminal of 24 x 100 characters (a new pty has none, and tqdm draws nothing then).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run([sys.executable, "-m", "semsl", "verify", "c.nca"],
                              stdout=subprocess.PIPE, stderr=follower, env=command_env(tmp_path),
                              cwd=tmp_path, timeout=60, check=False)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert b"verify" in shown
    assert b"file" in shown
    proc = semsl_cli(tmp_path, "verify", "c.nca", "-q")
    assert proc.stdout == ""
    assert proc.stderr == ""


def test_parser_is_importable_without_side_effects() -> None:
    parser = build_parser()
    args = parser.parse_args(["mv", "a.nca", "b/", "--copy", "-v"])
    assert args.command == "mv"
    assert args.copy
    assert args.verbose


def test_convert_rewrites_the_master(tmp_path: Path) -> None:
    import numpy as np

    import semsl

    master = tmp_path / "m.nca"
    with semsl.Dataset(master, "w", format="CFA4", cfa_version="CFA-0.4") as ds:
        ds.createDimension("x", 4)
        ds.createVariable("v", "f8", ("x",), subarray_shape=(2,))[:] = np.arange(4.0)
    out = tmp_path / "new" / "m.nca"
    out.parent.mkdir()
    done = semsl_cli(tmp_path, "convert", str(master), str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert as_json(done)["encoding"] == "CF-1.13"
    with semsl.Dataset(out) as ds:
        assert ds["v"].fragments.encoding == "CF-1.13"
        assert ds["v"][:].tolist() == [0.0, 1.0, 2.0, 3.0]
    again = semsl_cli(tmp_path, "convert", str(master), str(out))
    assert again.returncode == 2
    assert "--overwrite" in again.stderr
