"""Tables (Markdown, printed and pasted into the README), JSON and a bar chart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _sig(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.3g}"


def _row(row: dict[str, Any], peak: bool) -> str:
    if row["status"] != "ok":
        cells = [row["reader"], f"{row['status']}: {row['note']}"] + [""] * (6 + peak)
        return "| " + " | ".join(cells) + " |"
    cells = [row["reader"] + (" (raw)" if row["raw"] else ""), _sig(row["median_ms"]),
             _sig(min(row["times_ms"])), _sig(row["mb_per_s"]), _num(row.get("ratio_netcdf4"), 2),
             _num(row.get("ratio_h5py"), 2), _num(row["import_ms"], 0)]
    if peak:
        mb = row["peak_rss_bytes"] / 1e6
        cells += [f"{mb:,.0f} MB ({row['peak_rss_bytes'] / row['result_bytes']:.2f}x)"]
    return "| " + " | ".join(cells) + " |"


def table(results: dict[str, Any], workload: str) -> str:
    rows = [r for r in results["results"] if r["workload"] == workload]
    size = next((r["result_bytes"] for r in rows if "result_bytes" in r), None)
    title = f"**{workload}** `{results['workloads'][workload]}`"
    if size is not None:
        title += f" — {size / 1e6:,.3f} MB"
    peak = workload == "W1"
    head = ["reader", "ms (median)", "ms (min)", "MB/s", "x netcdf4", "x h5py", "import ms"]
    head += ["peak RSS (x result)"] if peak else []
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + [_row(r, peak) for r in rows])


def tables(results: dict[str, Any]) -> str:
    return "\n\n".join(table(results, w) for w in results["workloads"])


def header(results: dict[str, Any]) -> str:
    m = results["machine"]
    versions = ", ".join(f"{k} {m[k]}" for k in ("python", "numpy", "netCDF4", "netcdf-c",
                                                  "hdf5", "h5py", "zarr", "xarray", "dask",
                                                  "semsl") if m.get(k))
    return (f"{results['date']} — size {results['size']} {tuple(results['shape'])}, "
            f"store {results['store']}, median of {results['repeat']} runs "
            f"({results['warmup']} discarded) — {m['cpu_count']} CPUs ({m['processor']}), "
            f"load average {_load(results)}\n"
            f"{versions}")


def _load(results: dict[str, Any]) -> str:
    load = results.get("load_average") or {}
    return " -> ".join(f"{v[0]:.1f}" for v in (load.get("start"), load.get("end")) if v)


def failures(results: dict[str, Any]) -> list[str]:
    return [f"{r['workload']} {r['reader']}: {r['note']}" for r in results["results"]
            if r["status"] == "failed"]


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=1))


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    workloads = list(results["workloads"])
    cols = min(4, len(workloads))
    rows = -(-len(workloads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, workload in zip(axes.flat, workloads, strict=False):
        done = [r for r in results["results"] if r["workload"] == workload and "median_ms" in r]
        names = [r["reader"] for r in done]
        colors = [_color(n) for n in names]
        times = [r["median_ms"] for r in done]
        bars = ax.barh(names, times, color=colors)
        ax.bar_label(bars, [_sig(t) for t in times], fontsize=6, padding=2)
        ax.invert_yaxis()
        ax.set_xscale("log")
        if times:
            ax.set_xlim(min(times) / 2, max(times) * 4)
        ax.xaxis.set_minor_formatter(NullFormatter())
        title = textwrap.fill(f"{workload} {results['workloads'][workload]}", 48)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("ms (median, log)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(workloads):]:
        ax.axis("off")
    fig.suptitle(f"semsl bench — {results['size']} {tuple(results['shape'])} — "
                 f"{results['date'][:10]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _color(name: str) -> str:
    for prefix, color in (("semsl", "tab:red"), ("netcdf4", "tab:blue"), ("h5py", "tab:cyan"),
                          ("naive", "tab:gray"), ("xarray", "tab:purple"),
                          ("zarr", "tab:green")):
        if name.startswith(prefix):
            return color
    return "tab:olive"
