"""The ``semsl`` command: split, aggregate, rebuild-master, ls, info, verify, mv.

Every command takes local paths and URIs (``s3://bucket/key``, ``s3://ALIAS/bucket/key``,
``memory://...``).  Exit codes: 0 all is well, 1 problems were found (each is printed),
2 the command was used wrongly or its input cannot be used (one line says why; with
``--verbose`` the traceback follows).  ``--json`` prints one JSON object on stdout for
machines; progress bars go to stderr, only on a terminal and never with ``--quiet``.

The jobs themselves live in :mod:`semsl.archive`; this module parses arguments and
prints results.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from semsl._version import __version__
from semsl.archive._common import Console, InputError, Problem
from semsl.config import parse_size

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
_INTERRUPTED = 130


class _Result(Protocol):
    problems: list[Problem]

    def to_json(self) -> dict[str, Any]: ...

    def to_text(self) -> list[str]: ...


_Runner = Callable[[argparse.Namespace, Console], _Result]

# ------------------------------------------------------------------------- commands


def _split(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.split import SplitOptions, parse_subarray_shape, split  # noqa: PLC0415

    options = SplitOptions(
        subarray_shape=parse_subarray_shape(args.subarray_shape)
        if args.subarray_shape else None,
        max_subarray_size=args.max_subarray_size, file_format=args.format.upper(),
        fragments_at=args.fragments_at, variables=args.variables, overwrite=args.overwrite)
    return split(args.source, args.dest, options, console)


def _aggregate(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.aggregate import AggregateOptions, aggregate  # noqa: PLC0415

    options = AggregateOptions(args.dim, args.check, args.overwrite)
    return aggregate(args.files, args.output, options, console)


def _rebuild(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.rebuild import RebuildOptions, rebuild_master  # noqa: PLC0415

    options = RebuildOptions(args.master, args.skip_bad, args.jobs, args.overwrite)
    return rebuild_master(args.fragments, args.output, options, console)


def _ls(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.inspect import ls  # noqa: PLC0415

    return ls(args.location, console)


def _info(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.inspect import info  # noqa: PLC0415

    return info(args.master, console)


def _verify(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.verify import VerifyOptions, verify  # noqa: PLC0415

    options = VerifyOptions(args.jobs, not args.headers_only, args.checksums)
    return verify(args.master, options, console)


def _move(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive.move import MoveOptions, move  # noqa: PLC0415

    options = MoveOptions(args.copy, args.jobs, args.overwrite, args.include_external)
    return move(args.source, args.dest, options, console)


@dataclass
class _Converted:
    """What ``semsl convert`` did."""

    source: str
    dest: str
    encoding: str
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "dest": self.dest, "encoding": self.encoding,
                "problems": []}

    def to_text(self) -> list[str]:
        return [f"wrote {self.dest} ({self.encoding}) from {self.source}; fragments "
                "untouched"]


def _convert(args: argparse.Namespace, console: Console) -> _Result:
    from semsl.archive._common import exists  # noqa: PLC0415
    from semsl.convert import convert  # noqa: PLC0415

    if exists(args.dest) and not args.overwrite:
        raise InputError(f"{args.dest} exists; pass --overwrite to replace it")
    convert(args.source, args.dest, cfa_version=args.cfa_version)
    return _Converted(args.source, args.dest, args.cfa_version)


# --------------------------------------------------------------------------- parser


def _size(text: str) -> int:
    try:
        return parse_size(text, what="the size")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected names separated by commas, such as tas,pr")
    return names


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}")
    return jobs


def _common() -> argparse.ArgumentParser:
    """Options every command takes (also before the command name)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="print only problems and errors; no progress bar")
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="print details, and the traceback of an error")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print the result as one JSON object")
    return common


_EXAMPLES = {
    "split": """\
example:
  semsl split run1/tas.nc run1/tas.nca --subarray-shape 120,96,144 --variables tas
      writes the master run1/tas.nca and the fragments run1/tas/tas.tas.*.nc;
      every other variable stays in the master
  semsl split s3://bucket/tas.nc s3://bucket/split/tas.nca --max-subarray-size 50MB
""",
    "aggregate": """\
example:
  semsl aggregate 'cmip/tas_day_*.nc' 'cmip/pr_day_*.nc' -o cmip/day.nca --dim time
      a master cmip/day.nca aggregating tas and pr along time over the files where
      they are (recorded relative to cmip/); no data is copied
""",
    "rebuild-master": """\
example:
  semsl rebuild-master run1/tas/ -o run1/tas.nca
      recreates the lost master from the fragments in run1/tas/
  semsl rebuild-master s3://bucket/run1/tas/ -o s3://bucket/run1/tas.nca
""",
    "ls": """\
example:
  semsl ls s3://bucket/archive/
      every master and plain netCDF file under the prefix, with its variables
  semsl ls run1 --json
""",
    "info": """\
example:
  semsl info run1/tas.nca
      formats, variables, fragment grids, sizes and where the fragments are stored
""",
    "verify": """\
example:
  semsl verify run1/tas.nca --jobs 16
      exit code 0: every fragment is there and fits; 1: the problems are listed
""",
    "convert": """\
example:
  semsl convert old/tas.nca new/tas.nca --cfa-version CF-1.13
      reads a CFA-0.4/0.5/0.6.2 (or CF-1.13) master and writes it in CF-1.13 form
""",
    "mv": """\
example:
  semsl mv run1/tas.nca s3://bucket/run1/tas.nca
      uploads the master and its fragments, checks the copy, then deletes the originals
  semsl mv s3://bucket/run1/tas.nca restored/ --copy
""",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``semsl`` command."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="semsl", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Manage semsl archives: masters (CF-1.13 aggregations) and their "
                    "fragment files, on local disk, S3 or any fsspec storage.",
        epilog="exit codes: 0 ok, 1 problems found, 2 usage or input error.\n"
               "run 'semsl COMMAND --help' for a worked example of each command.")
    parser.add_argument("--version", action="version", version=f"semsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, run: _Runner) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=summary, description=summary,
                                  epilog=_EXAMPLES[name],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=run)
        return sub

    _split_arguments(command("split", "Turn a netCDF file into a master and fragments.",
                             _split))
    _aggregate_arguments(command(
        "aggregate", "Write a CF-1.13 master over existing netCDF files, without copying "
                     "their data.", _aggregate))
    _rebuild_arguments(command(
        "rebuild-master", "Recreate a lost master from its self-describing fragments.",
        _rebuild))
    sub = command("ls", "List the datasets (masters and netCDF files) under a folder or "
                        "prefix.", _ls)
    sub.add_argument("location", metavar="URI_OR_DIR")
    sub = command("info", "Describe one master: grids, sizes, storage, encodings.", _info)
    sub.add_argument("master", metavar="MASTER")
    _verify_arguments(command("verify", "Check every fragment of a master.", _verify))
    _move_arguments(command("mv", "Move or copy a whole archive (master and fragments).",
                            _move))
    sub = command("convert", "Rewrite a master in another aggregation encoding; the "
                             "fragments stay as they are.", _convert)
    sub.add_argument("source", metavar="MASTER")
    sub.add_argument("dest", metavar="DEST")
    sub.add_argument("--cfa-version", default="CF-1.13",
                     choices=["CF-1.13", "CFA-0.5", "CFA-0.4"],
                     help="the encoding to write (default CF-1.13)")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing DEST")
    return parser


def _split_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("source", metavar="SRC", help="the netCDF file to split")
    sub.add_argument("dest", metavar="DEST", help="the master to write (.nca by convention)")
    shape = sub.add_mutually_exclusive_group()
    shape.add_argument("--subarray-shape", metavar="T,Y,X",
                       help="fragment lengths, by position or by name (time=12,lat=96)")
    shape.add_argument("--max-subarray-size", metavar="SIZE", type=_size,
                       help="largest fragment, such as 50MB (default 50 MB)")
    sub.add_argument("--format", default="CFA4", choices=["CFA4", "CFA3", "cfa4", "cfa3"],
                     help="CFA4: netCDF-4 files (default); CFA3: netCDF-3 classic")
    sub.add_argument("--fragments-at", metavar="URI",
                     help="folder or URI prefix of the fragments (default: beside DEST)")
    sub.add_argument("--variables", metavar="A,B", type=_names,
                     help="aggregate only these variables; the others stay in the master")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing DEST")


def _aggregate_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("files", nargs="+", metavar="FILES_OR_GLOBS",
                     help="netCDF files, or glob patterns (quoted), local or remote")
    sub.add_argument("-o", "--output", required=True, metavar="DEST",
                     help="the master to write")
    sub.add_argument("--dim", metavar="NAME",
                     help="the aggregation dimension (default: the unlimited one, or time)")
    sub.add_argument("--check", action="store_true",
                     help="also read every value of every file")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing DEST")


def _rebuild_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("fragments", metavar="FRAGMENTS_DIR_OR_PREFIX")
    sub.add_argument("-o", "--output", required=True, metavar="DEST",
                     help="the master to write")
    sub.add_argument("--master", metavar="NAME",
                     help="use the fragments of this master (when there are several)")
    sub.add_argument("--skip-bad", action="store_true",
                     help="write the master without the fragments that disagree")
    sub.add_argument("--jobs", type=_jobs, default=8, metavar="N",
                     help="fragments read at once (default 8)")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing DEST")


def _verify_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("master", metavar="MASTER")
    sub.add_argument("--jobs", type=_jobs, default=8, metavar="N",
                     help="fragments checked at once (default 8)")
    sub.add_argument("--headers-only", action="store_true",
                     help="do not read the values (faster; misses corrupted data)")
    sub.add_argument("--checksums", action="store_true",
                     help="compare fragment checksums with those the master records")


def _move_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("source", metavar="SRC", help="the master to move")
    sub.add_argument("dest", metavar="DEST", help="the new master, or a folder for it")
    sub.add_argument("--copy", action="store_true", help="keep the originals")
    sub.add_argument("--include-external", action="store_true",
                     help="also copy fragments outside the master's folder")
    sub.add_argument("--jobs", type=_jobs, default=8, metavar="N",
                     help="fragments copied at once (default 8)")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing DEST")


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``semsl`` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    console = Console(quiet=quiet, verbose=verbose,
                      progress=not quiet and sys.stderr.isatty())
    try:
        result = args.run(args, console)
    except KeyboardInterrupt:
        print(f"semsl {args.command}: interrupted", file=sys.stderr)
        return _INTERRUPTED
    except Exception as err:  # every error ends as one line (the traceback with -v)
        if verbose:
            traceback.print_exc()
        message = _message(err)
        print(f"semsl {args.command}: error: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": message}))
        return EXIT_USAGE
    _print(result, getattr(args, "json", False), quiet)
    return EXIT_PROBLEMS if result.problems else EXIT_OK


def _message(err: BaseException) -> str:
    """One line for an error: semsl's messages name files and variables already."""
    from semsl.errors import SemslError  # noqa: PLC0415

    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, SemslError | OSError | ValueError):
        return text
    return f"{type(err).__name__}: {text} (run with --verbose for the traceback)"


def _print(result: _Result, as_json: bool, quiet: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2, default=str))
        return
    if not quiet:
        for line in result.to_text():
            print(line)
    for problem in result.problems:
        print(f"problem: {problem}")


if __name__ == "__main__":
    sys.exit(main())
