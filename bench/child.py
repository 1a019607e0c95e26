"""``python -m bench one``: one timed run in a fresh process, reported as a JSON line."""

from __future__ import annotations

import importlib
import resource
import shutil
import time
from typing import Any

import numpy as np

from bench.check import digest
from bench.sizes import Key, point_key, workload_keys
from bench.stores import DataStore, LocalStore
from bench.writers import WRITERS, Fields

WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "OPEN", "WRITE")


def key_for(workload: str, shape: tuple[int, ...]) -> Key:
    return point_key(shape) if workload == "OPEN" else workload_keys(shape)[workload]


def import_seconds(modules: tuple[str, ...]) -> float:
    start = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    return time.perf_counter() - start


def reset_peak_rss() -> None:
    """Forget the peak RSS inherited from the parent (Linux keeps ru_maxrss across exec)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss() -> int:
    """This process's peak resident set size in bytes (VmHWM, else ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_read(store: DataStore, workload: str, subject: str) -> dict[str, Any]:
    from bench.readers import READERS

    reader = READERS[subject]
    imported = import_seconds(reader.modules)
    key = key_for(workload, store.size.shape)
    start = time.perf_counter()
    answer = reader.read(store, key)
    if not np.ma.isMaskedArray(answer):
        answer = np.asarray(answer)
    seconds = time.perf_counter() - start
    rss = peak_rss()
    return {"seconds": seconds, "import_seconds": imported, "peak_rss": rss,
            "nbytes": int(np.ma.getdata(answer).nbytes), "answer": digest(answer, reader.raw)}


def load_fields(store: LocalStore) -> Fields:
    import netCDF4
    with netCDF4.Dataset(store.path("single")) as ds:
        ds.set_auto_maskandscale(False)
        return Fields(ds["tas"][:], ds["time"][:], ds["lat"][:], ds["lon"][:])


def run_write(store: LocalStore, subject: str) -> dict[str, Any]:
    writer = WRITERS[subject]
    imported = import_seconds(writer.modules)
    fields = load_fields(store)
    size = store.size
    block = size.time_block if writer.chunking == "time" else size.tile_block
    folder = store.scratch(writer.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start = time.perf_counter()
    writer.write(folder / writer.leaf, fields, block)
    seconds = time.perf_counter() - start
    rss = peak_rss()
    answer = writer.read_back(folder / writer.leaf)
    shutil.rmtree(folder)
    return {"seconds": seconds, "import_seconds": imported, "peak_rss": rss,
            "nbytes": int(fields.tas.nbytes), "answer": digest(answer, writer.raw)}


def run_one(store: LocalStore, workload: str, subject: str) -> dict[str, Any]:
    reset_peak_rss()
    if workload == "WRITE":
        return run_write(store, subject)
    return run_read(store, workload, subject)
