"""Rewrite a master file in another aggregation encoding; the fragments are untouched."""

from __future__ import annotations

import os
from typing import Any

import netCDF4
import numpy as np

from semsl._nccopy import copy_group
from semsl.backends import registry
from semsl.cfa import fragments as frag
from semsl.cfa.model import AggregatedVariable
from semsl.frontends.netcdf4 import (
    _bookkeeping,
    _download,
    _target,
)
from semsl.parsers.base import parser_named
from semsl.parsers.cf_aggregation import set_conventions
from semsl.resources import NETCDF_LOCK

__all__ = ["convert"]


def convert(source: str | os.PathLike[str], target: str | os.PathLike[str], *,
            cfa_version: str = "CF-1.13") -> None:
    """Write the master ``source`` as ``target`` in the encoding ``cfa_version``.

    Only the master is rewritten: plain variables, dimensions, groups and attributes are
    copied, the aggregation bookkeeping is re-encoded (``"CF-1.13"``, ``"CFA-0.5"`` or
    ``"CFA-0.4"``) and relative fragment URIs are rebased on the target's folder, so the
    new master reads the same fragments.  ``target`` is written to a working file and
    put in place last; a failure leaves any existing ``target`` as it was.
    """
    where, dest = registry.locate(source), registry.locate(target)
    if where.given == dest.given:
        raise ValueError(f"convert {where.given!r} into a new file, not onto itself")
    parser = parser_named(cfa_version)
    local = where.uri if where.is_local else _download(where)
    try:
        with registry.building(dest.given) as temp:
            _rewrite(local, _target(where), temp, _target(dest), parser)
    finally:
        if not where.is_local:
            os.remove(local)


def _rewrite(source_path: str, source_name: str, temp: str, target_name: str,
             parser: Any) -> None:
    with NETCDF_LOCK:
        source = netCDF4.Dataset(source_path, "r")
    try:
        hidden, models = _bookkeeping(source, source_name)
        with netCDF4.Dataset(temp, "w", format=source.data_model) as out:
            copy_group(source, out,
                       skip_variables=lambda g, v: f"{g.rstrip('/')}/{v}" in hidden.variables,
                       skip_dimensions=lambda g, d: (g, d) in hidden.dimensions,
                       skip_attributes=hidden.skips_attribute,
                       skip_groups=lambda g: g in hidden.groups)
            if parser.name == "CF-1.13":
                set_conventions(out)
            for path, found in models.items():
                for model in found:
                    _rebase(model, registry.parent(source_name), registry.parent(target_name))
                    parser.write(model, out if path == "/" else out[path])
    finally:
        source.close()


def _rebase(model: AggregatedVariable, old_folder: str, new_folder: str) -> None:
    """Make relative fragment URIs relative to the new master's folder."""
    if model.grid.unique is not None or old_folder == new_folder:
        return
    _, uris = model.grid.load()
    for index in np.ndindex(uris.shape):
        uri = str(uris[index])
        if uri and not uri.startswith("#"):
            uris[index] = frag.relative_uri(frag.resolve_uri(uri, old_folder), new_folder)
