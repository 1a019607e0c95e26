"""``semsl verify``: check that every fragment of a master is there and fits.

For every fragment the master lists, concurrently (``jobs`` at a time): the file
exists, opens as netCDF, holds the named variable with the shape and data type of its
place in the grid (values of other numeric types, packing, units and omitted size-1
dimensions are accepted when semsl's canonical form converts them, as the reader does),
and - for fragments semsl wrote - records the same place (``semsl_variable``,
``semsl_fragment_start``, ``semsl_master_shape``).  Unless asked not to, every value is
read too, which finds truncated and corrupted files whose header still opens.

Fragments that were never written (an empty URI) are not problems: they read as fill
value.  Checksums are not recorded by masters yet; :func:`recorded_checksums` is the
hook the reliability work fills in.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import netCDF4
import numpy as np
import numpy.typing as npt

from semsl.archive._common import (
    Console,
    Problem,
    attributes,
    cut_slabs,
    item_bytes,
    open_netcdf,
    raw,
    slab_limit,
    thread_map,
    walk,
)
from semsl.backends import registry
from semsl.cfa import checksums
from semsl.cfa import fragments as frag
from semsl.cfa.canonical import MasterRules, adapter_for
from semsl.cfa.model import AggregatedVariable
from semsl.config import get_config
from semsl.errors import FragmentNotFoundError, FragmentReadError
from semsl.parsers.base import MasterContext, parser_for_group
from semsl.parsers.cf_aggregation import BOOKKEEPING_ATTRIBUTES
from semsl.resources import NETCDF_LOCK

__all__ = [
    "CHECKSUMS_NOT_RECORDED",
    "Task",
    "VerifyOptions",
    "VerifyResult",
    "check",
    "fragment_tasks",
    "recorded_checksums",
    "verify",
]

#: What ``--checksums`` says while masters do not record fragment checksums.
CHECKSUMS_NOT_RECORDED = "not recorded by this master"


@dataclass(frozen=True)
class VerifyOptions:
    """How ``verify`` works.

    Attributes
    ----------
    jobs
        Fragments checked at once.
    read_values
        Read every value of every fragment (finds corrupted data), not only headers.
    checksums
        Compare fragment checksums with those the master records.
    """

    jobs: int = 8
    read_values: bool = True
    checksums: bool = False


@dataclass(frozen=True)
class Task:
    """One fragment to check: where it is and what the master says it holds."""

    variable: str
    index: tuple[int, ...]
    uri: str
    identifier: str
    start: tuple[int, ...]
    shape: tuple[int, ...]
    dimensions: tuple[str, ...]
    unlimited: tuple[bool, ...]
    master_shape: tuple[int, ...]
    rules: MasterRules
    #: The data checksum the master records ("" for none, or when not compared).
    checksum: str = ""

    @property
    def subject(self) -> str:
        """How problems name the fragment: variable, grid index and URI."""
        return f"{self.variable}[{','.join(map(str, self.index))}] {self.uri}"


@dataclass
class VerifyResult:
    """What ``verify`` found."""

    master: str
    fragments: int = 0
    unwritten: int = 0
    values_read: bool = True
    checksums: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"master": self.master, "fragments": self.fragments,
                "unwritten": self.unwritten, "values_read": self.values_read,
                "checksums": self.checksums, "ok": not self.problems,
                "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        verdict = "OK" if not self.problems else f"{len(self.problems)} problem(s)"
        lines = [f"{self.master}: {self.fragments} fragment(s) checked"
                 f"{'' if self.values_read else ' (headers only)'}, "
                 f"{self.unwritten} never written: {verdict}"]
        if self.checksums is not None:
            lines.append(f"checksums: {self.checksums}")
        return lines


def recorded_checksums(model: AggregatedVariable) -> npt.NDArray[np.object_] | None:
    """The checksum the master records for each fragment of ``model``, if any.

    Grid-shaped, ``""`` where none was recorded; ``None`` when the master records no
    checksums (written before semsl recorded them, or by another tool).
    """
    return model.grid.checksums


def verify(master: str, options: VerifyOptions, console: Console) -> VerifyResult:
    """Check every fragment of ``master``; see the module docstring."""
    tasks, unwritten, models = fragment_tasks(master, with_checksums=options.checksums)
    result = VerifyResult(master, len(tasks), unwritten, options.read_values)
    if options.checksums:
        recorded = [recorded_checksums(m) for m in models]
        result.checksums = CHECKSUMS_NOT_RECORDED if all(r is None for r in recorded) \
            else "compared"
    with console.bar("verify", len(tasks)) as bar:
        found = thread_map(lambda t: check(t, options.read_values), tasks, options.jobs, bar)
    result.problems = [p for problems in found for p in problems]
    return result


def fragment_tasks(master: str, *, with_checksums: bool = False,
                   ) -> tuple[list[Task], int, list[AggregatedVariable]]:
    """Every recorded fragment of ``master``, the number never written, and the models."""
    tasks: list[Task] = []
    unwritten = 0
    models = []
    folder = registry.parent(master)
    with open_netcdf(master) as ds:
        for group in walk(ds):
            parser = parser_for_group(group)
            for model in parser.read(group, MasterContext(master)) if parser else []:
                if model.grid.unique is not None:  # constant fragments: no files
                    continue
                models.append(model)
                found, missing = _tasks(group, model, folder, with_checksums)
                tasks += found
                unwritten += missing
    return tasks, unwritten, models


def _tasks(group: Any, model: AggregatedVariable, folder: str, with_checksums: bool,
           ) -> tuple[list[Task], int]:
    grid = model.grid
    present, uris = grid.load()
    scalar = group.variables[model.name]
    attrs = attributes(scalar, skip=BOOKKEEPING_ATTRIBUTES)
    fill = attrs.get("_FillValue", netCDF4.default_fillvals.get(model.dtype.str[1:], 0))
    rules = MasterRules(model.dtype, fill, attrs)
    unlimited = tuple(_dimension(group, d).isunlimited() for d in model.dimensions)
    path = posixpath.join(group.path, model.name)
    tasks = []
    for raw_index in np.argwhere(present):
        index = tuple(int(i) for i in raw_index)
        where = grid.fragment_slices(index)
        recorded = grid.checksums
        checksum = str(recorded[index]) if with_checksums and recorded is not None else ""
        tasks.append(Task(path, index, frag.resolve_uri(str(uris[index]), folder),
                          grid.identifier(index), tuple(s.start for s in where),
                          grid.fragment_shape(index), model.dimensions, unlimited,
                          grid.shape, rules, checksum))
    return tasks, int(present.size - np.count_nonzero(present))


def _dimension(group: Any, name: str) -> Any:
    node = group
    while name not in node.dimensions:
        node = node.parent
    return node.dimensions[name]


def check(task: Task, read_values: bool = True) -> list[Problem]:
    """The problems of one fragment (none: it is fine)."""
    context = frag.FragmentContext("", task.variable, task.uri)
    scratch = get_config().resources.cache_dir
    try:
        entry = frag.open_fragment(task.uri, False, context, scratch=scratch)
    except FragmentNotFoundError:
        return [Problem(task.subject, "missing: the file does not exist")]
    except FragmentReadError as err:
        return [Problem(task.subject, f"unreadable, truncated or corrupted: "
                                      f"{err.__cause__ or err}")]
    try:
        with NETCDF_LOCK:
            return _check_open(entry.dataset, task, read_values)
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as err:
        return [Problem(task.subject, f"unreadable, truncated or corrupted: {err}")]
    finally:
        with NETCDF_LOCK:
            entry.close()


def _check_open(ds: Any, task: Task, read_values: bool) -> list[Problem]:
    name = task.identifier.lstrip("/")
    var = ds.variables.get(name)
    if var is None:
        return [Problem(task.subject, f"has no variable {name!r}")]
    problems = _fits(var, task) + _place(ds, var, task)
    if read_values and not problems:
        problems += _readable(var, task)
    if task.checksum and not problems:
        var.set_auto_maskandscale(False)
        if checksums.data_checksum(np.asarray(var[...])) != task.checksum:
            problems.append(Problem(task.subject, "corrupted: its data do not match the "
                                                  "checksum recorded in the master"))
    return problems


def _fits(var: Any, task: Task) -> list[Problem]:
    """Shape and data type, as the reader accepts them (CF-1.13 canonical form)."""
    adapter = adapter_for(var, task.rules, task.shape, task.dimensions)
    if isinstance(adapter, str):
        return [Problem(task.subject, f"does not fit its place: {adapter}")]
    axes = adapter.axes if adapter.axes is not None else tuple(range(len(task.shape)))
    wanted = tuple(task.shape[a] for a in axes)
    grows = [task.unlimited[a] for a in axes]
    shape = tuple(var.shape)
    if any(n > e if g else n != e for n, e, g in zip(shape, wanted, grows, strict=True)):
        return [Problem(task.subject, f"has shape {shape}, the master expects {wanted}")]
    return []


def _place(ds: Any, var: Any, task: Task) -> list[Problem]:
    """What a semsl fragment records about its place agrees with the master."""
    attrs = attributes(ds)
    if "semsl_variable" not in attrs:
        return []
    problems = []
    if str(attrs["semsl_variable"]) != task.variable:
        problems.append(f"belongs to variable {attrs['semsl_variable']!r}")
    if var.dtype != task.rules.dtype:
        problems.append(f"has data type {var.dtype}, the master says {task.rules.dtype}")
    start = _ints(attrs.get("semsl_fragment_start"))
    if start is not None and start != task.start:
        problems.append(f"records start {start}, its place in the master is {task.start}")
    recorded = _ints(attrs.get("semsl_master_shape"))
    if recorded is not None and (len(recorded) != len(task.master_shape) or any(
            r > m if g else r != m for r, m, g in
            zip(recorded, task.master_shape, task.unlimited, strict=True))):
        problems.append(f"records master shape {recorded}, the master has "
                        f"{task.master_shape}")
    return [Problem(task.subject, p) for p in problems]


def _ints(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in np.atleast_1d(value))


def _readable(var: Any, task: Task) -> list[Problem]:
    raw(var)
    region = [slice(0, n) for n in var.shape]
    try:
        for slab in cut_slabs(region, item_bytes(var), slab_limit()):
            var[slab]
    except (OSError, RuntimeError, ValueError, IndexError) as err:
        return [Problem(task.subject, f"its values cannot be read, truncated or corrupted: "
                                      f"{err}")]
    return []
