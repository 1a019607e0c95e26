"""``python -m bench run``: plan the cases, time each in fresh subprocesses, check answers."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.check import digest, mismatch
from bench.child import key_for
from bench.readers import READERS
from bench.stores import LocalStore
from bench.writers import WRITERS

REPO = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT = 900
PACKAGES = ("numpy", "netCDF4", "h5py", "zarr", "xarray", "dask", "semsl")


@dataclass
class Case:
    workload: str
    subject: str
    raw: bool
    modules: tuple[str, ...]
    runs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    note: str = ""


def plan(workloads: list[str], names: list[str] | None, store: str) -> list[Case]:
    cases = []
    for workload in workloads:
        if workload == "WRITE":
            subjects = [(w.name, w.raw, w.modules) for w in WRITERS.values()]
        else:
            subjects = [(r.name, r.raw, r.modules) for r in READERS.values()
                        if workload in r.workloads and r.store == store]
        cases += [Case(workload, name, raw, modules) for name, raw, modules in subjects
                  if names is None or name in names]
    return cases


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def reference(store: LocalStore, workload: str, raw: bool) -> dict[str, Any]:
    """netCDF4's answer on the single contiguous file (raw: auto mask/scale off)."""
    import netCDF4
    key = key_for("W1" if workload == "WRITE" else workload, store.size.shape)
    with netCDF4.Dataset(store.path("single")) as ds:
        var = ds["tas"]
        var.set_auto_maskandscale(not raw)
        return digest(var[key], raw)


def run_child(store: LocalStore, case: Case) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench", "one", "--data", str(store.root.parent),
               "--size", store.size.name, "--store", store.name,
               "--workload", case.workload, "--subject", case.subject]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH", "")]))}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO,
                              check=False, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"no answer after {CHILD_TIMEOUT} s") from error
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"exit {done.returncode}: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_once(store: LocalStore, case: Case, want: dict[str, Any], keep: bool) -> None:
    try:
        run = run_child(store, case)
    except (RuntimeError, ValueError) as error:
        case.status, case.note = "failed", f"error: {error}"
        return
    problem = mismatch(run["answer"], want)
    if problem:
        what = "raw values" if case.raw else "values and mask"
        case.status, case.note = "failed", f"answer differs from netCDF4 ({what}): {problem}"
    elif keep:
        case.runs.append(run)


def run_workload(store: LocalStore, cases: list[Case], repeat: int, warmup: int) -> None:
    """Run the cases of one workload in rounds (a load spike then hits all readers alike)."""
    wants: dict[bool, dict[str, Any]] = {}
    for case in cases:
        missing = missing_modules(case.modules)
        if missing:
            case.status, case.note = "skipped", f"not installed: {', '.join(missing)}"
        elif case.raw not in wants:
            wants[case.raw] = reference(store, case.workload, case.raw)
    for round_ in range(warmup + repeat):
        for case in cases:
            if case.status == "ok":
                run_once(store, case, wants[case.raw], keep=round_ >= warmup)
    for case in cases:
        result = case.note if case.status != "ok" else \
            f"{statistics.median(r['seconds'] for r in case.runs) * 1e3:.1f} ms"
        print(f"  {case.workload:5} {case.subject:18} {result}", flush=True)


def summary(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {"workload": case.workload, "reader": case.subject,
                           "raw": case.raw, "status": case.status, "note": case.note}
    if case.status != "ok" or not case.runs:
        return out
    seconds = [r["seconds"] for r in case.runs]
    nbytes = case.runs[0]["nbytes"]
    median = statistics.median(seconds)
    out.update({
        "times_ms": [s * 1e3 for s in seconds], "median_ms": median * 1e3,
        "import_ms": statistics.median(r["import_seconds"] for r in case.runs) * 1e3,
        "result_bytes": nbytes, "mb_per_s": nbytes / 1e6 / median if median else None,
        "peak_rss_bytes": max(r["peak_rss"] for r in case.runs)})
    return out


def add_ratios(rows: list[dict[str, Any]]) -> None:
    for workload in {r["workload"] for r in rows}:
        mine = [r for r in rows if r["workload"] == workload and "median_ms" in r]
        base = {r["reader"]: r["median_ms"] for r in mine}
        for row in mine:
            for name in ("netcdf4", "h5py"):
                if name in base and (name == "netcdf4" or row["raw"]):
                    row[f"ratio_{name}"] = row["median_ms"] / base[name]


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "processor": _cpu_model()}
    for name in PACKAGES:
        info[name] = _version(name)
    import netCDF4
    info["semsl_source"] = _semsl_source()
    info["netcdf-c"] = netCDF4.__netcdf4libversion__
    info["hdf5"] = netCDF4.__hdf5libversion__
    return info


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    if importlib.util.find_spec(name) is None:
        return None
    return str(getattr(importlib.import_module(name), "__version__", "unknown"))


def _semsl_source() -> str | None:
    """Where semsl was imported from, with its git commit when it is a checkout."""
    spec = importlib.util.find_spec("semsl")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent
    git = ["git", "-C", str(folder)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)
    if head.returncode != 0:
        return str(folder)
    dirty = subprocess.run([*git, "status", "--porcelain", "."], capture_output=True,
                           text=True, check=False).stdout.strip()
    return f"{folder} @ {head.stdout.strip()}{' (modified)' if dirty else ''}"


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor()


def run_all(store: LocalStore, workloads: list[str], names: list[str] | None, repeat: int,
            warmup: int) -> dict[str, Any]:
    cases = plan(workloads, names, store.name)
    load_before = os.getloadavg()
    for workload in workloads:
        run_workload(store, [c for c in cases if c.workload == workload], repeat, warmup)
    rows = [summary(c) for c in cases]
    add_ratios(rows)
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "size": store.size.name, "shape": list(store.size.shape), "store": store.name,
            "load_average": {"start": load_before, "end": os.getloadavg()},
            "repeat": repeat, "warmup": warmup, "workloads": describe_workloads(store, workloads),
            "results": rows}


def describe_workloads(store: LocalStore, workloads: list[str]) -> dict[str, str]:
    from bench.generate import open_grid_shape
    from bench.sizes import describe, workload_keys
    size = store.size
    text = {w: describe(k) for w, k in workload_keys(size.shape).items()}
    nopen = 1
    for n in open_grid_shape(size):
        nopen *= n
    text["OPEN"] = (f"open + point read {describe(key_for('OPEN', size.shape))} "
                    f"(semsl_100k: a master of {nopen:,} fragments)")
    text["WRITE"] = "whole-variable write (with coordinates) of tas, then close"
    return {w: text[w] for w in workloads}

