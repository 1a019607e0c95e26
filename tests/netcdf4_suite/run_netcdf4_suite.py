#!/usr/bin/env python3
"""Run netCDF4-python's own test suite against netCDF4 and against semsl, and diff.

semsl is meant to be a drop-in replacement (``import semsl as netCDF4``).  This
harness takes the test suite shipped in the sdist of the *installed* netCDF4
version, runs it unchanged ("baseline") and with every ``netCDF4`` import
rewritten to ``semsl`` ("semsl"), and reports the tests that pass with netCDF4
but fail, error or do not run at all with semsl.

Exit status: 0 = no regressions, 1 = regressions, 2 = the harness itself could
not run (no sdist, semsl not importable, no test file matched ``--only``, ...).

See README.md next to this file for usage.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_NAME = ".netcdf4-suite-cache"
DEFAULT_CACHE = REPO_ROOT / CACHE_NAME

#: Names imported ``from netCDF4`` that are private submodules, not API: left on netCDF4.
PRIVATE_SUBMODULES = frozenset({"utils", "_netCDF4"})
#: Files in the suite's folder whose imports are *not* rewritten (see README).
NOT_REWRITTEN = frozenset({"__init__.py"})

# Outcome ranking when one test id appears more than once in the JUnit XML
# (sub-tests, teardown errors): the worst one wins, but "passed" beats "skipped".
_RANK = {"skipped": 0, "passed": 1, "failed": 2, "error": 3}
BAD = frozenset({"failed", "error", "missing"})


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- sdist


def netcdf4_version() -> str:
    return importlib.metadata.version("netCDF4")


def _sdist_names(version: str) -> set[str]:
    # PEP 625 normalises the project name to "netcdf4"; older uploads used "netCDF4".
    return {f"netcdf4-{version}.tar.gz", f"netCDF4-{version}.tar.gz"}


def _find_cached_sdist(folder: Path, version: str) -> Path | None:
    if not folder.is_dir():
        return None
    wanted = {n.lower() for n in _sdist_names(version)}
    for p in sorted(folder.iterdir()):
        if p.name.lower() in wanted and p.stat().st_size > 0:
            return p
    return None


def _download_with_pip(version: str, dest: Path, logfile: Path) -> bool:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        "netCDF4",  # the sdist of netCDF4 only: its build tools still come as wheels
        f"netCDF4=={version}",
        "-d",
        str(dest),
    ]
    log(f"  $ {' '.join(cmd)}")
    with logfile.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=900,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0


def obtain_sdist(version: str, cache: Path) -> Path:
    folder = cache / "sdist"
    folder.mkdir(parents=True, exist_ok=True)
    found = _find_cached_sdist(folder, version)
    if found:
        log(f"Using cached sdist {found}")
        return found
    log(f"Downloading the netCDF4=={version} sdist into {folder}")
    pip_log = folder / "pip-download.log"
    if _download_with_pip(version, folder, pip_log):
        found = _find_cached_sdist(folder, version)
        if found:
            return found
    # `pip download` of an sdist runs the package's build backend to read its metadata,
    # and netCDF4's backend needs the netCDF-C headers (Debian: libnetcdf-dev).
    raise RuntimeError(
        f"pip could not download the netCDF4=={version} sdist (log: {pip_log}); install "
        "the netCDF-C headers (Debian/Ubuntu: apt-get install libnetcdf-dev) or pass "
        "--sdist PATH")


def extract_tests(sdist: Path, dest: Path) -> Path:
    """Extract the sdist's ``test/`` folder (code and data files) to ``dest/test``."""
    with tarfile.open(sdist) as tf:
        members = []
        for m in tf.getmembers():
            parts = Path(m.name).parts
            if len(parts) >= 2 and parts[1] == "test" and (m.isfile() or m.isdir()):
                m.name = str(Path(*parts[1:]))
                members.append(m)
        if not members:
            raise RuntimeError(f"{sdist} has no test/ folder")
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tf.extractall(dest, members=members)
    return dest / "test"


# --------------------------------------------------------------------------- rewrite


@dataclass
class Rewrite:
    file: str
    line: int
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.old!r} -> {self.new!r}"


def _alias(a: ast.alias) -> str:
    return a.name if a.asname is None else f"{a.name} as {a.asname}"


def _offsets(src: str) -> list[int]:
    starts = [0]
    for line in src.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _abs(lines: list[str], starts: list[int], lineno: int, col_bytes: int) -> int:
    # ast column offsets count UTF-8 bytes, not characters.
    line = lines[lineno - 1]
    return starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8"))


_FROM_NETCDF4 = re.compile(r"from(?:\s|\\\r?\n)+(netCDF4)\b")


def _rewrite_node(node: ast.stmt, seg: str) -> str | None:
    """Return the replacement text for one import statement, or None to keep it."""
    if isinstance(node, ast.Import):
        if not any(a.name == "netCDF4" for a in node.names):
            return None  # `import netCDF4.utils` & co. are private: left alone
        parts = [
            f"semsl as {a.asname or 'netCDF4'}" if a.name == "netCDF4" else _alias(a)
            for a in node.names
        ]
        return "import " + ", ".join(parts)
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "netCDF4":
        public = [a for a in node.names if a.name not in PRIVATE_SUBMODULES]
        private = [a for a in node.names if a.name in PRIVATE_SUBMODULES]
        if not public:
            return None
        if not private:
            # Swap only the module name: keeps parentheses, line breaks and comments.
            m = _FROM_NETCDF4.match(seg)
            if m is None:  # pragma: no cover - ast said it is `from netCDF4 import`
                raise RuntimeError(f"cannot find the module name in {seg!r}")
            return seg[: m.start(1)] + "semsl" + seg[m.end(1) :]
        return (
            "from semsl import "
            + ", ".join(map(_alias, public))
            + "; from netCDF4 import "
            + ", ".join(map(_alias, private))
        )
    return None


def rewrite_source(src: str, filename: str) -> tuple[str, list[Rewrite]]:
    tree = ast.parse(src, filename=filename)
    lines = src.splitlines(keepends=True)
    starts = _offsets(src)
    edits: list[tuple[int, int, str, Rewrite]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        a = _abs(lines, starts, node.lineno, node.col_offset)
        b = _abs(lines, starts, node.end_lineno, node.end_col_offset)
        seg = src[a:b]
        new = _rewrite_node(node, seg)
        if new is not None and new != seg:
            edits.append((a, b, new, Rewrite(filename, node.lineno, seg, new)))
    edits.sort(key=lambda e: e[0])
    out, pos = [], 0
    for a, b, new, _ in edits:
        out.append(src[pos:a])
        out.append(new)
        pos = b
    out.append(src[pos:])
    result = "".join(out)
    ast.parse(result, filename=filename)  # must still be valid Python
    return result, [e[3] for e in edits]


def leftover_netcdf4_imports(src: str) -> list[int]:
    """Line numbers of public netCDF4 imports that survived the rewrite (should be none)."""
    bad = []
    for node in ast.walk(ast.parse(src)):
        plain = isinstance(node, ast.Import) and any(a.name == "netCDF4" for a in node.names)
        from_ = (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module == "netCDF4"
            and any(a.name not in PRIVATE_SUBMODULES for a in node.names)
        )
        if plain or from_:
            bad.append(node.lineno)
    return bad


def shadowing_imports(src: str) -> list[int]:
    """Lines with ``import netCDF4.x`` (no ``as``), which rebinds the name ``netCDF4``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(src))
        if isinstance(node, ast.Import)
        and any(a.name.startswith("netCDF4.") and a.asname is None for a in node.names)
    ]


def rewrite_tree(test_dir: Path) -> list[Rewrite]:
    rewrites: list[Rewrite] = []
    for path in sorted(test_dir.glob("*.py")):
        if path.name in NOT_REWRITTEN:
            continue
        src = path.read_text(encoding="utf-8")
        new, done = rewrite_source(src, path.name)
        left = leftover_netcdf4_imports(new)
        if left:
            raise RuntimeError(f"{path.name}: netCDF4 imports left at lines {left}")
        shadow = shadowing_imports(new)
        if shadow:
            log(
                f"WARNING: {path.name} lines {shadow}: `import netCDF4.<sub>` binds the name "
                "netCDF4 to the real package; that file may test netCDF4, not semsl"
            )
        if done:
            path.write_text(new, encoding="utf-8")
            rewrites.extend(done)
    return rewrites


# --------------------------------------------------------------------------- running


@dataclass
class FileResult:
    file: str
    copy: str
    rc: int | None = None
    duration: float = 0.0
    timed_out: bool = False
    xml_ok: bool = False
    tests: dict[str, dict[str, str]] = field(default_factory=dict)
    log: str = ""

    def status(self) -> str:
        if self.timed_out:
            return "timeout"
        if not self.xml_ok:
            return f"no-junit-xml (rc={self.rc})"
        if any(t.endswith("::<collection>") for t in self.tests):
            return "collection-error"
        if self.rc not in (0, 1, 5):
            return f"rc={self.rc}"
        return "ok"

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(_RANK, 0)
        for t in self.tests.values():
            c[t["outcome"]] += 1
        return c

    def to_json(self) -> dict[str, object]:
        return {
            "rc": self.rc,
            "duration": round(self.duration, 3),
            "timed_out": self.timed_out,
            "status": self.status(),
            "counts": self.counts(),
            "log": self.log,
        }


def _test_id(file: str, classname: str, name: str) -> str:
    stem = file.removesuffix(".py")
    if not classname:  # collection error: classname="" name="<pkg>.<module>"
        return f"{file}::<collection>"
    parts = classname.split(".")
    cls = ".".join(parts[parts.index(stem) + 1 :]) if stem in parts else classname
    return "::".join(p for p in (file, cls, name) if p)


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("E ")]
    return (errs or lines or [""])[-1].removeprefix("E").strip()


def parse_junit(xml_path: Path, file: str) -> dict[str, dict[str, str]] | None:
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError):
        return None
    tests: dict[str, dict[str, str]] = {}
    for tc in root.iter("testcase"):
        outcome, message = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").strip()
                if message == "collection failure":  # the useful part is in the text
                    message = _last_error_line(child.text or "") or message
                break
        tid = _test_id(file, tc.get("classname", ""), tc.get("name", ""))
        old = tests.get(tid)
        if old is None or _RANK[outcome] > _RANK[old["outcome"]]:
            tests[tid] = {"outcome": outcome, "message": message[:500]}
    return tests


def run_file(
    copy: str, test_dir: Path, file: str, *, results: Path, env: dict[str, str], timeout: float
) -> FileResult:
    out = results / copy
    out.mkdir(parents=True, exist_ok=True)
    stem = file.removesuffix(".py")
    xml_path, log_path = out / f"{stem}.xml", out / f"{stem}.log"
    xml_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml_path}",
        file,
    ]
    res = FileResult(file=file, copy=copy, log=str(log_path))
    start = time.monotonic()
    with log_path.open("w") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=test_dir,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            res.rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            res.timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # our own session: pytest + children
            proc.wait()
            fh.write(f"\n[run_netcdf4_suite] killed after {timeout:.0f} s timeout\n")
    res.duration = time.monotonic() - start
    tests = parse_junit(xml_path, file)
    res.xml_ok = tests is not None
    res.tests = tests or {}
    return res


def base_env(allow_net: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    # The suite needs only pytest's built-ins; third-party plugins (e.g. hypothesis,
    # ~0.8 s to import) would be paid once per file and could change outcomes.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if not allow_net:
        env["NO_NET"] = "1"  # skips test_dap.py (OPeNDAP, needs the internet)
    return env


def semsl_env(env: dict[str, str], semsl_path: str | None) -> dict[str, str]:
    env = dict(env)
    if semsl_path:
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = semsl_path + (os.pathsep + old if old else "")
    return env


def preflight(module: str, env: dict[str, str], cwd: Path) -> tuple[bool, str]:
    code = (
        f"import {module}; print({module}.__file__); "
        f"print(getattr({module}, '__version__', '?')); "
        f"print('' if hasattr({module}, 'Dataset') else '(WARNING: it has no Dataset)')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        return False, proc.stderr.strip()
    return True, " ".join(proc.stdout.split())


# --------------------------------------------------------------------------- main


def ensure_gitignored(cache: Path) -> None:
    if cache.resolve() != DEFAULT_CACHE:
        return
    gitignore = REPO_ROOT / ".gitignore"
    entry = f"{CACHE_NAME}/"
    text = gitignore.read_text() if gitignore.exists() else ""
    listed = {ln.strip().strip("/") for ln in text.splitlines()}
    if CACHE_NAME not in listed:
        with gitignore.open("a") as fh:
            fh.write(("" if not text or text.endswith("\n") else "\n") + entry + "\n")
        log(f"Added {entry} to {gitignore}")


def select_files(test_dir: Path, patterns: list[str]) -> list[str]:
    files = sorted(p.name for p in test_dir.glob("test_*.py"))
    if not patterns:
        return files

    def match(name: str, pat: str) -> bool:
        if any(ch in pat for ch in "*?["):
            return fnmatch.fnmatch(name, pat)
        return pat in name

    return [f for f in files if any(match(f, p) for p in patterns)]


def fmt_counts(c: dict[str, int]) -> str:
    return " ".join(f"{v} {k}" for k, v in c.items() if v) or "no tests"


def compare(
    files: list[str], base: dict[str, FileResult], sem: dict[str, FileResult]
) -> dict[str, list[dict[str, str]]]:
    regressions, newly_skipped, fixed = [], [], []
    for f in files:
        b, s = base[f], sem[f]
        for tid, bt in sorted(b.tests.items()):
            st = s.tests.get(tid)
            if st is None:
                st = {"outcome": "missing", "message": f"not run with semsl ({s.status()})"}
                coll = s.tests.get(f"{f}::<collection>")
                if coll:
                    st["message"] += ": " + coll["message"]
            row = {
                "id": tid,
                "baseline": bt["outcome"],
                "semsl": st["outcome"],
                "message": st["message"],
            }
            if bt["outcome"] == "passed" and st["outcome"] in BAD:
                regressions.append(row)
            elif bt["outcome"] == "passed" and st["outcome"] == "skipped":
                newly_skipped.append(row)
            elif bt["outcome"] in ("failed", "error") and st["outcome"] == "passed":
                fixed.append(row)
    return {"regressions": regressions, "newly_skipped": newly_skipped, "fixed": fixed}


def totals(results: dict[str, FileResult]) -> dict[str, int]:
    c = dict.fromkeys(_RANK, 0)
    for r in results.values():
        for k, v in r.counts().items():
            c[k] += v
    return c


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run netCDF4-python's test suite against netCDF4 and semsl and diff.",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"download/work folder (default: <repo>/{CACHE_NAME}/)",
    )
    p.add_argument("--sdist", type=Path, help="use this local netCDF4 sdist tarball")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only test files matching PATTERN (glob, or substring if it "
        "has no wildcard); repeatable",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the full result here")
    p.add_argument(
        "--semsl-path",
        metavar="DIR",
        help="prepend DIR to PYTHONPATH for the semsl run (default: use the importable semsl)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per test file")
    p.add_argument(
        "--jobs",
        type=int,
        choices=(1, 2),
        default=2,
        help="2 = run the baseline and semsl copies of a file concurrently",
    )
    p.add_argument(
        "--allow-net",
        action="store_true",
        help="do not set NO_NET=1 (lets test_dap.py try OPeNDAP servers)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="also count tests that pass with netCDF4 but skip with semsl",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list every rewrite")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.monotonic()
    cache: Path = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    ensure_gitignored(cache)

    version = netcdf4_version()
    log(f"netCDF4 {version} (installed in {sys.executable})")
    try:
        sdist = args.sdist.resolve() if args.sdist else obtain_sdist(version, cache)
    except Exception as exc:
        log(f"ERROR: could not obtain the netCDF4 sdist: {exc}")
        return 2
    sdist_sha = hashlib.sha256(sdist.read_bytes()).hexdigest()

    work = cache / "work"
    for sub in ("baseline", "semsl", "results"):
        shutil.rmtree(work / sub, ignore_errors=True)
    dirs = {}
    for copy in ("baseline", "semsl"):
        dirs[copy] = extract_tests(sdist, work / copy)
        # Own rootdir/inifile so pytest never picks up the repo's pyproject.toml.
        (work / copy / "pytest.ini").write_text("[pytest]\n")
    try:
        rewrites = rewrite_tree(dirs["semsl"])
    except (RuntimeError, SyntaxError) as exc:
        log(f"ERROR: rewriting imports failed: {exc}")
        return 2
    (work / "rewrites.txt").write_text("".join(f"{r}\n" for r in rewrites))
    n_files_rw = len({r.file for r in rewrites})
    log(f"Test suite from {sdist.name} extracted to {work}/{{baseline,semsl}}/test")
    log(
        f"Rewrote {len(rewrites)} netCDF4 imports in {n_files_rw} files "
        f"(list: {work / 'rewrites.txt'})"
    )
    if args.verbose:
        for r in rewrites:
            log(f"  {r}")

    files = select_files(dirs["baseline"], args.only)
    if not files:
        log(f"ERROR: no test file matches {args.only}")
        return 2

    env_b = base_env(args.allow_net)
    env_s = semsl_env(env_b, args.semsl_path)
    ok, info = preflight("netCDF4", env_b, dirs["baseline"])
    if not ok:
        log(f"ERROR: netCDF4 does not import:\n{info}")
        return 2
    ok, semsl_info = preflight("semsl", env_s, dirs["semsl"])
    if not ok:
        log(
            "ERROR: `import semsl` fails in the semsl run's environment"
            f" (PYTHONPATH={env_s.get('PYTHONPATH', '')!r}):\n{semsl_info}\n"
            "Install semsl (pip install -e .) or pass --semsl-path DIR."
        )
        return 2
    log(f"semsl: {semsl_info}")

    results = work / "results"
    base: dict[str, FileResult] = {}
    sem: dict[str, FileResult] = {}
    wall = {"baseline": 0.0, "semsl": 0.0}
    log(f"Running {len(files)} test files (timeout {args.timeout:.0f} s each, jobs={args.jobs})")
    w = max(len(f) for f in files)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for i, f in enumerate(files, 1):
            fb = pool.submit(
                run_file,
                "baseline",
                dirs["baseline"],
                f,
                results=results,
                env=env_b,
                timeout=args.timeout,
            )
            fs = pool.submit(
                run_file,
                "semsl",
                dirs["semsl"],
                f,
                results=results,
                env=env_s,
                timeout=args.timeout,
            )
            base[f], sem[f] = fb.result(), fs.result()
            wall["baseline"] += base[f].duration
            wall["semsl"] += sem[f].duration
            flag = ""
            for r in (base[f], sem[f]):
                if r.status() != "ok":
                    flag += f"  [{r.copy}: {r.status()}]"
            log(
                f"[{i:>2}/{len(files)}] {f:<{w}}  netCDF4: {fmt_counts(base[f].counts()):<28}"
                f" semsl: {fmt_counts(sem[f].counts()):<28} "
                f"({base[f].duration:.1f}s / {sem[f].duration:.1f}s){flag}"
            )

    diff = compare(files, base, sem)
    regressions = diff["regressions"] + (diff["newly_skipped"] if args.strict else [])
    tb, ts = totals(base), totals(sem)
    elapsed = time.monotonic() - t0

    log("")
    log(
        f"Test files: {len(files)}; tests: {sum(tb.values())} with netCDF4, "
        f"{sum(ts.values())} with semsl"
    )
    log(f"  netCDF4: {fmt_counts(tb)}  (sum of file times {wall['baseline']:.1f} s)")
    log(f"  semsl:   {fmt_counts(ts)}  (sum of file times {wall['semsl']:.1f} s)")
    log(f"  wall time {elapsed:.1f} s")
    if diff["fixed"]:
        log(f"Fail with netCDF4 but pass with semsl: {len(diff['fixed'])}")
    if diff["newly_skipped"]:
        log(
            f"Pass with netCDF4 but skipped with semsl ({len(diff['newly_skipped'])})"
            f"{'' if args.strict else ' [not counted; --strict counts them]'}:"
        )
        for row in diff["newly_skipped"]:
            log(f"  {row['id']}: {row['message'][:150]}")
    if regressions:
        log(f"REGRESSIONS: {len(regressions)} tests pass with netCDF4 but not with semsl:")
        for row in regressions:
            msg = row["message"].splitlines()[0][:160] if row["message"] else ""
            log(f"  {row['id']}  [{row['semsl']}]  {msg}")
    else:
        log("No regressions: every test that passes with netCDF4 passes with semsl.")

    if args.json:
        report = {
            "netcdf4_version": version,
            "sdist": str(sdist),
            "sdist_sha256": sdist_sha,
            "python": sys.executable,
            "semsl_path": args.semsl_path,
            "semsl": semsl_info,
            "work": str(work),
            "files": {f: {"baseline": base[f].to_json(), "semsl": sem[f].to_json()} for f in files},
            "totals": {"baseline": tb, "semsl": ts},
            "durations": {**wall, "wall": round(elapsed, 3)},
            "tests": {
                tid: {
                    "baseline": base[f].tests.get(tid, {}).get("outcome", "missing"),
                    "semsl": sem[f].tests.get(tid, {}).get("outcome", "missing"),
                }
                for f in files
                for tid in sorted(set(base[f].tests) | set(sem[f].tests))
            },
            "regressions": regressions,
            "newly_skipped": diff["newly_skipped"],
            "fixed": diff["fixed"],
            "rewrites": [vars(r) for r in rewrites],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"Wrote {args.json}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
