"""``semsl ls`` and ``semsl info``: what datasets there are, and what one master holds.

``ls`` lists the netCDF datasets under a folder or URI prefix - masters and plain files,
with their variables, shapes and encodings - reading only headers.  Fragment files are
not datasets of their own: a file a master lists, or one that carries the
``semsl_variable`` attribute of semsl's self-describing fragments, is left out.

``info`` describes one master: its format and the fragments' format, its variables, the
aggregated dimensions, each fragment grid (shape, fragments present, never written,
missing), sizes (total and per fragment, from the storage, one listing per folder) and
where the fragments are stored, grouped by host and folder.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

import semsl
from semsl.archive._common import (
    NETCDF_SUFFIXES,
    Console,
    Problem,
    attributes,
    exists,
    folder_prefix,
    jsonable,
    list_objects,
    open_netcdf,
    size,
    walk,
)
from semsl.backends import registry
from semsl.backends.base import ObjectInfo
from semsl.errors import SemslError
from semsl.resources import NETCDF_LOCK

__all__ = ["InfoResult", "LsResult", "info", "ls"]


# ----------------------------------------------------------------------------------- ls


@dataclass
class LsResult:
    """The datasets found under a folder or prefix."""

    location: str
    datasets: list[dict[str, Any]] = field(default_factory=list)
    fragments_skipped: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"location": self.location, "datasets": jsonable(self.datasets),
                "fragments_skipped": self.fragments_skipped,
                "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        lines = []
        for entry in self.datasets:
            lines.append(f"{entry['uri']}  [{entry['kind']}, {entry['format']}, "
                         f"{_human(entry['size'])}]")
            lines += [f"  {_variable_line(v)}" for v in entry["variables"]]
        lines.append(f"{len(self.datasets)} dataset(s), {self.fragments_skipped} fragment "
                     "file(s) not listed")
        return lines


def ls(location: str, console: Console) -> LsResult:
    """The datasets under ``location`` (a folder, a URI prefix or one file)."""
    result = LsResult(location)
    candidates = _candidates(location)
    listed: set[str] = set()
    entries = []
    with console.bar("ls", len(candidates)) as bar:
        for obj in candidates:
            bar.update(1)
            if obj.uri in listed:
                continue
            entry = _entry(obj, result)
            if entry is not None:
                listed.update(entry.pop("_fragments", ()))
                entries.append(entry)
    result.datasets = [e for e in entries if e["uri"] not in listed]
    result.fragments_skipped += len(entries) - len(result.datasets) + sum(
        1 for c in candidates if c.uri in listed)
    return result


def _candidates(location: str) -> list[ObjectInfo]:
    """The netCDF files to look at, shallow ones first (masters before fragments)."""
    if not location.endswith(("/", "\\")) and exists(location):
        return [ObjectInfo(_absolute(location), size(location))]
    found = [info for info in list_objects(folder_prefix(location))
             if info.uri.lower().endswith(NETCDF_SUFFIXES)]
    return sorted(found, key=lambda i: (i.uri.count("/"), not i.uri.endswith(".nca"), i.uri))


def _absolute(uri: str) -> str:
    return uri if registry.is_remote(uri) else registry.locate(uri).uri


def _entry(obj: ObjectInfo, result: LsResult) -> dict[str, Any] | None:
    """One dataset (``None`` for a fragment); a master's fragments under ``_fragments``."""
    try:
        with semsl.Dataset(obj.uri) as ds:
            if "semsl_variable" in ds.ncattrs():
                result.fragments_skipped += 1
                return None
            variables = [_variable(g, n, v) for g in walk(ds) for n, v in g.variables.items()]
            fragments = [uri for g in walk(ds) for v in g.variables.values()
                         for uri in _fragment_paths(v)]
            master = any(v["aggregated"] for v in variables)
            return {"uri": obj.uri, "kind": "master" if master else "netcdf",
                    "format": ds.data_model, "size": obj.size, "variables": variables,
                    "_fragments": fragments}
    except (OSError, SemslError, RuntimeError) as err:
        result.problems.append(Problem(obj.uri, f"cannot be opened as netCDF ({err})"))
        return None


def _fragment_paths(var: Any) -> Iterator[str]:
    grid = getattr(var, "fragments", None)
    if grid is None:
        return
    for index in np.argwhere(grid.present()):
        path = grid.path(tuple(int(i) for i in index))
        if path:
            yield path


def _variable(group: Any, name: str, var: Any) -> dict[str, Any]:
    """A variable's name, shape, type and encoding (header only)."""
    grid = getattr(var, "fragments", None)
    entry: dict[str, Any] = {
        "name": posixpath.join(group.path, name), "dimensions": list(var.dimensions),
        "shape": list(var.shape), "dtype": str(np.dtype(var.dtype)) if var.dtype is not str
        else "str", "aggregated": grid is not None}
    encoding: dict[str, Any] = {}
    if "_FillValue" in var.ncattrs():
        encoding["_FillValue"] = var.getncattr("_FillValue")
    for packing in ("scale_factor", "add_offset"):
        if packing in var.ncattrs():
            encoding[packing] = var.getncattr(packing)
    if grid is not None:
        entry["fragments"] = list(grid.grid_shape)
        encoding.update(aggregation=grid.encoding, fragment_shape=list(
            grid.fragment_shape or ()))
    else:
        with contextlib.suppress(AttributeError, RuntimeError, TypeError):
            encoding.update(filters={k: v for k, v in (var.filters() or {}).items() if v},
                            chunking=var.chunking())
    entry["encoding"] = jsonable(encoding)
    return entry


def _variable_line(v: dict[str, Any]) -> str:
    dims = ", ".join(f"{d}={n}" for d, n in zip(v["dimensions"], v["shape"], strict=True))
    text = f"{v['name']} {v['dtype']}({dims})"
    if v["aggregated"]:
        text += f" aggregated in {tuple(v['fragments'])} fragments"
    return text


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes} B"


# --------------------------------------------------------------------------------- info


@dataclass
class InfoResult:
    """What one master holds and where its fragments are."""

    master: str
    description: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {"master": self.master, **jsonable(self.description),
                "problems": [p.to_json() for p in self.problems]}

    def to_text(self) -> list[str]:
        """The result as lines of text."""
        d = self.description
        lines = [f"{self.master}", f"  format: {d['format']} (fragments: "
                 f"{', '.join(d['fragment_formats']) or 'none'})",
                 f"  size: {_human(d['size'])} master + {_human(d['fragment_bytes'])} in "
                 f"{d['fragments_present']} fragment(s)"]
        lines += [f"  {_variable_line(v)}" for v in d["variables"]]
        for path, agg in d["aggregated"].items():
            lines.append(f"  {path}: aggregated over ({', '.join(agg['dimensions'])}), grid "
                         f"{tuple(agg['grid_shape'])} of {tuple(agg['fragment_shape'])}, "
                         f"{agg['present']} present, {agg['unwritten']} never written, "
                         f"{agg['missing']} missing")
            sizes = agg["sizes"]
            if sizes:
                lines.append(f"    fragment sizes: min {_human(min(sizes))}, max "
                             f"{_human(max(sizes))}, total {_human(sum(sizes))}")
            if agg["encoding"]:
                lines.append(f"    encoding: {agg['encoding']}")
        lines.append("  stored in:")
        lines += [f"    {where}: {n['fragments']} fragment(s), {_human(n['bytes'])}"
                  for where, n in d["locations"].items()]
        return lines


def info(master: str, console: Console) -> InfoResult:
    """Describe the master ``master``; recorded fragments that do not exist are problems."""
    result = InfoResult(master)
    with semsl.Dataset(master) as ds:
        variables = [_variable(g, n, v) for g in walk(ds) for n, v in g.variables.items()]
        aggregated = {posixpath.join(g.path, n): v for g in walk(ds)
                      for n, v in g.variables.items() if getattr(v, "fragments", None)}
        grids = {p: _grid(v) for p, v in aggregated.items()}
        description: dict[str, Any] = {"format": ds.data_model, "size": size(master),
                                       "variables": variables}
    sizes = _sizes([uri for g in grids.values() for uri in g["uris"]], console)
    for path, grid in grids.items():
        uris = grid.pop("uris")
        grid["sizes"] = [sizes[u] for u in uris if sizes.get(u) is not None]
        grid["fragments"] = [{"index": i, "uri": u, "size": sizes.get(u)}
                             for i, u in zip(grid.pop("indices"), uris, strict=True)]
        grid["missing"] = sum(1 for u in uris if sizes.get(u) is None)
        grid["present"] = len(uris) - grid["missing"]
        result.problems += [Problem(f"{path} {u}", "missing: the master lists it but it "
                                                   "does not exist")
                            for u in uris if sizes.get(u) is None]
        grid["encoding"], grid["format"] = _fragment_encoding(
            next((u for u in uris if sizes.get(u) is not None), None), grid["identifier"])
    description.update(
        aggregated=grids, fragment_bytes=sum(v for v in sizes.values() if v is not None),
        fragments_present=sum(1 for v in sizes.values() if v is not None),
        fragment_formats=sorted({g["format"] for g in grids.values() if g["format"]}),
        locations=_locations(sizes))
    result.description = description
    return result


def _grid(var: Any) -> dict[str, Any]:
    grid = var.fragments
    indices = [tuple(int(i) for i in index) for index in np.argwhere(grid.present())]
    return {"dimensions": list(var.dimensions), "shape": list(var.shape),
            "grid_shape": list(grid.grid_shape), "fragment_shape":
            list(grid.fragment_shape or ()), "nfragments": grid.nfragments,
            "unwritten": grid.nfragments - len(indices), "indices": [list(i) for i in indices],
            "uris": [grid.path(i) or "" for i in indices], "identifier": var.name}


def _sizes(uris: list[str], console: Console) -> dict[str, int | None]:
    """Size of each fragment (``None``: missing), from one listing per folder."""
    by_folder: dict[str, list[str]] = defaultdict(list)
    for uri in uris:
        by_folder[registry.parent(uri)].append(uri)
    sizes: dict[str, int | None] = {}
    with console.bar("sizes", len(uris)) as bar:
        for folder, members in by_folder.items():
            try:
                listed = {i.uri: i.size for i in list_objects(folder_prefix(folder))}
            except (OSError, SemslError):
                listed = {}
            for uri in members:
                sizes[uri] = listed[uri] if uri in listed else _size_or_none(uri)
                bar.update(1)
    return sizes


def _size_or_none(uri: str) -> int | None:
    try:
        return size(uri)
    except (OSError, SemslError):
        return None


def _fragment_encoding(uri: str | None, name: str) -> tuple[dict[str, Any], str | None]:
    """Format, compression and chunking of one fragment (the first present)."""
    if uri is None:
        return {}, None
    try:
        with open_netcdf(uri) as ds, NETCDF_LOCK:
            var = ds.variables.get(name)
            encoding: dict[str, Any] = {}
            if var is not None:
                encoding = {"dtype": str(var.dtype), "chunking": var.chunking(),
                            "filters": {k: v for k, v in (var.filters() or {}).items() if v}}
                encoding.update({k: v for k, v in attributes(var).items()
                                 if k in ("semsl_scale_factor", "semsl_add_offset")})
            return jsonable(encoding), ds.data_model
    except (OSError, SemslError, RuntimeError):
        return {}, None


def _locations(sizes: dict[str, int | None]) -> dict[str, dict[str, int]]:
    """Fragment count and bytes per storage host and folder."""
    places: dict[str, dict[str, int]] = {}
    for uri, nbytes in sizes.items():
        if registry.is_remote(uri):
            parts = urlsplit(uri)
            where = f"{parts.scheme}://{parts.netloc}{posixpath.dirname(parts.path)}"
        else:
            where = f"local {registry.parent(uri)}"
        entry = places.setdefault(where, {"fragments": 0, "bytes": 0})
        entry["fragments"] += 1
        entry["bytes"] += nbytes or 0
    return dict(sorted(places.items()))
