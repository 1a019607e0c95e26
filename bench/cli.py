"""Command line: ``python -m bench run ...`` and ``python -m bench one ...`` (internal)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.child import WORKLOADS, run_one
from bench.generate import ensure_data
from bench.readers import READERS
from bench.sizes import SIZES
from bench.stores import STORES
from bench.writers import WRITERS

DEFAULT_DATA = Path(__file__).resolve().parent / "data"


def _names(text: str | None, known: set[str], what: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - known)
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    return names


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="generate the data if needed and run the benchmark")
    run.add_argument("--size", choices=sorted(SIZES), default="default")
    run.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    run.add_argument("--readers", help="comma-separated readers/writers (default: all)")
    run.add_argument("--repeat", type=int, default=5, help="timed runs per case (median)")
    run.add_argument("--warmup", type=int, help="discarded runs per case "
                     "(default 1, or 0 with --repeat 1)")
    run.add_argument("--json", type=Path, help="write every number to this JSON file")
    run.add_argument("--plot", type=Path, help="draw a bar chart to this PNG")
    run.add_argument("--data", type=Path, default=DEFAULT_DATA,
                     help="data folder (holds <size>/; default bench/data)")
    run.add_argument("--store", choices=sorted(STORES), default="local")
    show = commands.add_parser("report", help="print the tables (and plot) of a --json file")
    show.add_argument("json", type=Path)
    show.add_argument("--plot", type=Path)
    one = commands.add_parser("one", help="internal: one timed run, printed as JSON")
    for name in ("--data", "--size", "--store", "--workload", "--subject"):
        one.add_argument(name, required=True)
    return main


def command_run(args: argparse.Namespace) -> int:
    from bench import report
    from bench.runner import run_all

    workloads = _names(args.only, set(WORKLOADS), "workloads") or list(WORKLOADS)
    known = set(READERS) | set(WRITERS)
    names = _names(args.readers, known, "readers")
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    warmup = args.warmup if args.warmup is not None else (0 if args.repeat == 1 else 1)
    store = STORES[args.store](args.data.resolve(), SIZES[args.size])
    ensure_data(store)
    start = time.perf_counter()
    results = run_all(store, workloads, names, args.repeat, warmup)
    results["elapsed_s"] = time.perf_counter() - start
    print("\n" + report.header(results) + "\n\n" + report.tables(results) + "\n")
    if args.json:
        report.write_json(results, args.json)
    if args.plot:
        report.plot(results, args.plot)
    problems = report.failures(results)
    for line in problems:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if problems else 0


def command_report(args: argparse.Namespace) -> int:
    from bench import report

    results = json.loads(args.json.read_text())
    print(report.header(results) + "\n\n" + report.tables(results))
    if args.plot:
        report.plot(results, args.plot)
    return 0


def command_one(args: argparse.Namespace) -> int:
    store = STORES[args.store](Path(args.data), SIZES[args.size])
    print(json.dumps(run_one(store, args.workload, args.subject)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    commands = {"run": command_run, "report": command_report, "one": command_one}
    return commands[args.command](args)
