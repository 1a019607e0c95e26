"""``semsl mv``: move or copy a whole archive - master and fragments - between storages.

Fragments recorded relative to the master's folder move with it and keep their place
under the new master's folder; fragments elsewhere (absolute URIs) stay where they are
unless ``include_external`` copies them into a folder named after the new master.  The
new master is the old one with its fragment locations rewritten (relative when under
its folder, CF-1.13 section 2.8).

Nothing of the original is touched until the copy is verified: every copied fragment
must have its original's size, and the new master must open and every fragment it
lists must open with the expected variable and shape.  Only then are the originals
deleted (master first, so that an interruption leaves no master pointing at deleted
fragments), unless ``copy`` keeps them.  A plain netCDF file is moved as it is.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

import netCDF4
import numpy as np

import semsl
from semsl._nccopy import copy_group
from semsl.archive._common import (
    Console,
    InputError,
    Problem,
    basename,
    copy_object,
    exists,
    open_netcdf,
    remove,
    size,
    store_file,
    thread_map,
    walk,
    working_file,
)
from semsl.archive.verify import check, fragment_tasks
from semsl.backends import registry
from semsl.cfa.fragments import resolve_uri
from semsl.cfa.model import AggregatedVariable
from semsl.errors import SemslError
from semsl.parsers.base import MasterContext, parser_for_group
from semsl.parsers.cf_aggregation import BOOKKEEPING_ATTRIBUTES, CFAggregationParser

__all__ = ["MoveOptions", "MoveResult", "move"]


@dataclass(frozen=True)
class MoveOptions:
    """How ``mv`` works.

    Attributes
    ----------
    copy
        Keep the originals.
    jobs
        Fragments copied and checked at once.
    overwrite
        Replace an existing target master.
    include_external
        Also copy fragments outside the master's folder (into ``<target stem>/``).
    """

    copy: bool = False
    jobs: int = 8
    overwrite: bool = False
    include_external: bool = False


@dataclass
class MoveResult:
    """What ``mv`` copied, checked and deleted."""

    source: str
    target: str
    copied: int = 0
    nbytes: int = 0
    left_in_place: int = 0
    unchanged: int = 0
    originals_deleted: bool = False
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"source": self.source, "target": self.target, "fragments_copied": self.copied,
                "bytes": self.nbytes, "left_in_place": self.left_in_place,
                "unchanged": self.unchanged, "originals_deleted": self.originals_deleted,
                "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        if self.problems:
            return [f"{self.source} -> {self.target}: the copy failed verification; the "
                    "originals are untouched"]
        verb = "moved" if self.originals_deleted else "copied"
        text = (f"{self.source} -> {self.target}: {verb} the master and {self.copied} "
                f"fragment(s) ({self.nbytes} bytes)")
        if self.unchanged:
            text += f"; {self.unchanged} fragment(s) already in place"
        if self.left_in_place:
            text += f"; {self.left_in_place} fragment(s) outside the archive left in place"
        return [text]


@dataclass(frozen=True)
class _Transfer:
    """One fragment: where it is, where it goes, and the reference the new master records."""

    old: str
    new: str
    reference: str
    external: bool

    @property
    def moves(self) -> bool:
        return self.old != self.new


def move(source: str, target: str, options: MoveOptions, console: Console) -> MoveResult:
    """Move (or copy) the archive of the master ``source`` to ``target``.

    Raises
    ------
    InputError
        ``source`` does not exist, ``target`` is ``source``, or ``target`` exists
        (without overwrite).
    """
    target = _target_name(source, target)
    if not exists(source):
        raise InputError(f"{source!r} does not exist")
    if _same(source, target):
        raise InputError(f"{source!r} and {target!r} are the same file")
    if not options.overwrite and exists(target):
        raise InputError(f"{target!r} exists; pass --overwrite to replace it")
    result = MoveResult(source, target)
    temp = working_file(target)
    try:
        transfers = _rewrite(source, target, temp, options.include_external)
        moving = [t for t in transfers if t.moves]
        result.left_in_place = sum(1 for t in transfers if t.external and not t.moves)
        result.unchanged = sum(1 for t in transfers if not t.external and not t.moves)
        result.problems = _copy(moving, options.jobs, console, result)
        if result.problems:
            return result
        store_file(temp, target)
    finally:
        with contextlib.suppress(OSError):
            os.remove(temp)
    result.problems = _check_copy(moving, target, options.jobs, console)
    if result.problems or options.copy:
        return result
    _delete_originals(source, moving, {t.new for t in transfers}, console)
    result.originals_deleted = True
    return result


def _target_name(source: str, target: str) -> str:
    """``target``, or ``target/<source file name>`` when it names a folder."""
    if target.endswith(("/", os.sep)) or (not registry.is_remote(target)
                                          and os.path.isdir(target)):
        return registry.join(target.rstrip("/" + os.sep) or "/", basename(source))
    return target


def _same(a: str, b: str) -> bool:
    def resolve(uri: str) -> str:
        return uri if registry.is_remote(uri) else os.path.realpath(uri)

    return resolve(a) == resolve(b)


def _rewrite(source: str, target: str, temp: str, include_external: bool,
             ) -> list[_Transfer]:
    """Write the new master into ``temp`` (fragment locations rewritten); plan the copy.

    A plain netCDF file (no aggregation) is copied byte for byte.
    """
    with open_netcdf(source) as src:
        models = _models(src, source)
        if any(models.values()):
            transfers = _plan(models, source, target, include_external)
            _write(src, temp, models, transfers, source)
            return list(transfers.values())
    copy_object(source, temp)
    return []


def _models(src: Any, source: str) -> dict[str, list[AggregatedVariable]]:
    models: dict[str, list[AggregatedVariable]] = {}
    for group in walk(src):
        parser = parser_for_group(group)
        found = parser.read(group, MasterContext(source)) if parser else []
        for model in found:
            if model.grid.unique is None:
                model.grid.load()
        models[group.path] = found
    return models


def _plan(models: dict[str, list[AggregatedVariable]], source: str, target: str,
          include_external: bool) -> dict[str, _Transfer]:
    old_folder, new_folder = registry.parent(source), registry.parent(target)
    stem = posixpath.splitext(basename(target))[0]
    transfers: dict[str, _Transfer] = {}
    for found in models.values():
        for model in found:
            if model.grid.unique is not None:
                continue
            _, uris = model.grid.load()
            for index in np.argwhere(uris != ""):
                ref = str(uris[tuple(index)])
                old = resolve_uri(ref, old_folder)
                if old not in transfers:
                    new = _new_place(ref, old, new_folder, stem, include_external)
                    transfers[old] = _Transfer(old, new, registry.relative_reference(
                        new, new_folder), not _is_relative(ref))
    return transfers


def _is_relative(reference: str) -> bool:
    return not registry.is_remote(reference) and not reference.startswith(("/", "file:"))


def _new_place(reference: str, old: str, new_folder: str, stem: str,
               include_external: bool) -> str:
    if _is_relative(reference):
        return registry.join(new_folder, reference)
    if include_external:
        return registry.join(new_folder, f"{stem}/{basename(old)}")
    return old


def _write(src: Any, temp: str, models: dict[str, list[AggregatedVariable]],
           transfers: dict[str, _Transfer], source: str) -> None:
    """The master without its bookkeeping, then the grids with the new references."""
    hidden_vars = {v for found in models.values() for m in found
                   for v in m.bookkeeping_variables}
    hidden_dims = {(p, d) for p, found in models.items() for m in found
                   for d in m.bookkeeping_dimensions}
    scalars = {(p, m.name) for p, found in models.items() for m in found}
    out = netCDF4.Dataset(temp, "w", format=src.data_model)
    try:
        copy_group(src, out, skip_variables=lambda g, v: posixpath.join(g, v) in hidden_vars,
                   skip_dimensions=lambda g, d: (g, d) in hidden_dims,
                   skip_attributes=lambda g, v, a: (g, v) in scalars and
                   a in BOOKKEEPING_ATTRIBUTES)
        old_folder = registry.parent(source)
        for path, found in models.items():
            group = out if path == "/" else out[path]
            for model in found:
                _references(model, transfers, old_folder)
                CFAggregationParser().write(model, group)
    finally:
        out.close()


def _references(model: AggregatedVariable, transfers: dict[str, _Transfer],
                old_folder: str) -> None:
    if model.grid.unique is not None:
        return
    _, uris = model.grid.load()
    for index in np.argwhere(uris != ""):
        key = tuple(index)
        uris[key] = transfers[resolve_uri(str(uris[key]), old_folder)].reference


def _copy(moving: list[_Transfer], jobs: int, console: Console,
          result: MoveResult) -> list[Problem]:
    total = sum(_size_or_zero(t.old) for t in moving)
    with console.bar("copy", total, "B") as bar:
        def one(transfer: _Transfer) -> Problem | int:
            try:
                nbytes = copy_object(transfer.old, transfer.new)
            except (OSError, SemslError) as err:
                return Problem(transfer.old, f"cannot be copied to {transfer.new!r} ({err})")
            bar.update(nbytes)
            console.debug(f"copied {transfer.old} -> {transfer.new}")
            return nbytes
        outcomes = thread_map(one, moving, jobs)
    result.copied = sum(1 for o in outcomes if isinstance(o, int))
    result.nbytes = sum(o for o in outcomes if isinstance(o, int))
    return [o for o in outcomes if isinstance(o, Problem)]


def _size_or_zero(uri: str) -> int:
    try:
        return size(uri)
    except (OSError, SemslError):
        return 0


def _check_copy(moving: list[_Transfer], target: str, jobs: int,
                console: Console) -> list[Problem]:
    """Sizes equal to the originals'; the new master and every fragment open and fit."""
    def same_size(transfer: _Transfer) -> list[Problem]:
        old, new = size(transfer.old), _size_or_zero(transfer.new)
        return [] if old == new else [Problem(transfer.new, f"has {new} bytes, the original "
                                                            f"{transfer.old!r} {old}")]

    with console.bar("check sizes", len(moving)) as bar:
        problems = [p for found in thread_map(same_size, moving, jobs, bar) for p in found]
    if problems:
        return problems
    with semsl.Dataset(target):  # the new master opens as an aggregated dataset
        pass
    tasks, _, _ = fragment_tasks(target)
    with console.bar("check fragments", len(tasks)) as bar:
        found = thread_map(lambda t: check(t, read_values=False), tasks, jobs, bar)
    return [p for problems in found for p in problems]


def _delete_originals(source: str, moving: list[_Transfer], kept: set[str],
                      console: Console) -> None:
    """Delete the old master, then the fragments that moved (never a new location).

    Local fragment folders left empty are removed, up to the master's folder.
    """
    remove(source)
    top = registry.parent(source)
    folders = set()
    with console.bar("delete", len(moving)) as bar:
        for transfer in moving:
            if transfer.old not in kept:
                remove(transfer.old)
                folders.add(registry.parent(transfer.old))
            bar.update(1)
    for folder in sorted(folders, key=len, reverse=True):
        _remove_empty(folder, top)


def _remove_empty(folder: str, top: str) -> None:
    if registry.is_remote(folder):
        return
    while folder.startswith(top + os.sep):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)
