"""CFA-0.6.2 aggregation variables (NCAS-CMS cfa-conventions; FORMATS.md section 2), read only.

The predecessor of CF-1.13 aggregation.  A scalar aggregation variable has
``aggregated_dimensions`` and an ``aggregated_data`` attribute of ``term: variable``
pairs whose keywords are case-insensitive; all four standard terms are required and
other terms are allowed (and ignored):

``location``
    block lengths per dimension, rows padded with missing values (CF-1.13's ``map``);
``file``
    the fragment files, optionally with a trailing dimension of alternative copies
    (padded with missing values; semsl uses the first one it can read).  A
    ``substitutions`` attribute (``"${BASE}: file:///data/ ${X}: y"``) defines
    ``${...}`` tokens replaced before a name is resolved;
``format``
    scalar or per file; ``nc`` (netCDF) is the only format semsl reads;
``address``
    scalar or per file: the variable inside the fragment file.

A missing ``file`` (masked, or ``""`` as cf-python writes) with an ``address`` is a
fragment stored in the aggregation file itself: its URI becomes ``#<variable path>``
(see :func:`semsl.cfa.model.master_variable`).  Missing both is a wholly missing
fragment (URI ``""``, read as fill value).  The definition variables may live in other
groups (paths in ``aggregated_data``); a group holding nothing else is hidden too.
semsl writes CF-1.13 (or CFA-0.5/0.4), never CFA-0.6.2.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from semsl.cfa.model import (
    MASTER_VARIABLE_PREFIX,
    AggregatedVariable,
    FragmentGrid,
    boundaries_from_lengths,
)
from semsl.errors import AggregationFormatError, UnsupportedFeatureError
from semsl.parsers.base import MasterContext, register_parser
from semsl.parsers.cf_aggregation import (
    _dimension,
    _path,
    _variable,
    map_rows,
    uses_cfa06_terms,
)
from semsl.parsers.cfa05 import read_strings

__all__ = ["BOOKKEEPING_ATTRIBUTES", "CFA06Parser", "parse_substitutions"]

ObjectArray = npt.NDArray[np.object_]
IntArray = npt.NDArray[np.int64]

#: Attributes of an aggregation variable that describe the aggregation, not the data.
BOOKKEEPING_ATTRIBUTES = ("aggregated_dimensions", "aggregated_data")
_TERMS = ("location", "file", "format", "address")
_TERM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*:\s*([^\s:]+)\s*")
_SUBSTITUTION = re.compile(r"(\$\{[A-Za-z0-9_]+\}):(.*)")
_TOKEN = re.compile(r"\$\{[^}\s]*\}?")


class CFA06Parser:
    """Reader of CFA-0.6, 0.6.1 and 0.6.2 aggregation variables."""

    name = "CFA-0.6.2"

    def detect(self, group: Any) -> bool:
        """Whether an aggregation variable of ``group`` uses CFA-0.6 terms."""
        return any(_is_cfa06(v) for v in group.variables.values())

    def read(self, group: Any, context: MasterContext) -> list[AggregatedVariable]:
        """Return every CFA-0.6 aggregation variable of ``group`` with its fragment grid."""
        models = [_read_hinted(group, var, context) for var in group.variables.values()
                  if _is_cfa06(var)]
        _hide_definition_groups(group, models)
        return models

    def write(self, model: AggregatedVariable, group: Any) -> None:
        """Refuse: semsl does not write CFA-0.6.2."""
        raise UnsupportedFeatureError(
            f"semsl reads CFA-0.6.2 but does not write it; it writes CF-1.13 (the default) "
            f"or CFA-0.4/0.5 (variable {model.group_path.rstrip('/')}/{model.name!s})")


def _is_cfa06(var: Any) -> bool:
    return "aggregated_dimensions" in var.ncattrs() and uses_cfa06_terms(var)


def _read_hinted(group: Any, var: Any, context: MasterContext) -> AggregatedVariable:
    """Read one variable; a malformed one in a file not declaring CFA-0.6 gets a hint."""
    try:
        return _read_one(group, var, context)
    except AggregationFormatError as err:
        if _declares_cfa06(group):
            raise
        raise AggregationFormatError(
            f"{err}; the variable uses CFA-0.6 terms but Conventions does not declare "
            f"CFA-0.6 (CF-1.13 aggregation variables name map, uris and identifiers)") from err


def _declares_cfa06(group: Any) -> bool:
    while group.parent is not None:
        group = group.parent
    attrs = group.ncattrs()
    conventions = str(group.getncattr("Conventions")) if "Conventions" in attrs else ""
    return any(t.startswith("CFA-0.6") for t in conventions.replace(",", " ").split())


def _read_one(group: Any, var: Any, context: MasterContext) -> AggregatedVariable:
    where = f"master {context.master!r}, variable {_path(group, var.name)!r}"
    if var.ndim != 0:
        raise AggregationFormatError(f"an aggregation variable must be scalar ({where})")
    dims = tuple(str(var.getncattr("aggregated_dimensions")).split())
    if not dims:
        raise UnsupportedFeatureError(f"scalar aggregated data is not supported ({where})")
    sizes = [_dimension(group, d, where) for d in dims]
    terms = _parse_terms(var, where)
    found = {t: _variable(group, terms[t], t, where) for t in _TERMS}
    lengths = map_rows(found["location"], sizes, dims, where, "location")
    grid_shape = tuple(len(row) for row in lengths)
    files = _files(found["file"], grid_shape, where)
    addresses = _per_file(found["address"], files.shape, "address", where)
    formats = _per_file(found["format"], files.shape, "format", where)
    uris, ids = _choose(files, addresses, formats, where)
    inside = _inside(uris, ids, found["address"], group, where)
    block = tuple(int(max(row, default=0)) for row in lengths)
    grid = FragmentGrid([boundaries_from_lengths(row) for row in lengths], None, uris,
                        _shared(ids), block if all(block) else None)
    extras = [_extra(group, name) for t, name in terms.items() if t not in _TERMS]
    hidden = [*found.values(), *(v for v in extras if v is not None), *inside]
    return AggregatedVariable(
        name=var.name, group_path=group.path, dimensions=dims, dtype=var.dtype, grid=grid,
        bookkeeping_variables=tuple(dict.fromkeys(_path(v.group(), v.name) for v in hidden)),
        bookkeeping_dimensions=_own_dimensions(group, hidden),
        bookkeeping_attributes=BOOKKEEPING_ATTRIBUTES, encoding="CFA-0.6.2",
        extra=_alternatives(files, addresses))


# -------------------------------------------------------------------- the attributes


def _parse_terms(var: Any, where: str) -> dict[str, str]:
    """``term: variable`` pairs, keywords lower-cased; the four standard ones required."""
    text = str(var.getncattr("aggregated_data")) if "aggregated_data" in var.ncattrs() else ""
    terms: dict[str, str] = {}
    pos = 0
    for match in _TERM.finditer(text):
        if match.start() != pos:
            break
        key = match.group(1).lower()
        if key in terms:
            raise AggregationFormatError(f"aggregated_data names the term {key!r} twice "
                                         f"({where})")
        terms[key] = match.group(2)
        pos = match.end()
    if pos != len(text) or not terms:
        raise AggregationFormatError(
            f"aggregated_data {text!r} is not a list of 'term: variable' pairs ({where})")
    missing = [t for t in _TERMS if t not in terms]
    if missing:
        raise AggregationFormatError(
            f"aggregated_data must name location, file, format and address (CFA-0.6.2); "
            f"{', '.join(missing)} missing ({where})")
    return terms


def parse_substitutions(text: str, where: str) -> dict[str, str]:
    """The ``${NAME}: value`` pairs of a ``substitutions`` attribute.

    Pairs are blank-separated; the value may follow the colon directly
    (``${A}:file:///x/``) or after blanks, and may be empty when the next word is
    another ``${...}:`` or the text ends.  Values cannot contain blanks.
    """
    words = text.split()
    found: dict[str, str] = {}
    pos = 0
    while pos < len(words):
        match = _SUBSTITUTION.fullmatch(words[pos])
        if match is None:
            raise AggregationFormatError(
                f"substitutions {text!r} is not a list of '${{NAME}}: value' pairs: "
                f"{words[pos]!r} is not '${{NAME}}:' ({where})")
        key, value = match.group(1), match.group(2)
        pos += 1
        if not value and pos < len(words) and not _SUBSTITUTION.fullmatch(words[pos]):
            value, pos = words[pos], pos + 1
        if key in found:
            raise AggregationFormatError(f"substitutions defines {key} twice ({where})")
        found[key] = value
    return found


# ------------------------------------------------------------- the definition variables


def _files(var: Any, grid_shape: tuple[int, ...], where: str) -> ObjectArray:
    """File names shaped ``(*grid, alternatives)``, with substitutions made."""
    names = read_strings(var, where)
    if names.shape == grid_shape:
        names = names[..., np.newaxis]
    if names.shape[:-1] != grid_shape or names.ndim != len(grid_shape) + 1:
        raise AggregationFormatError(
            f"the file variable {var.name!r} has shape {names.shape} but the location "
            f"describes a grid of {grid_shape} fragments (an extra trailing dimension of "
            f"alternatives is allowed) ({where})")
    if "substitutions" in var.ncattrs():
        subs = parse_substitutions(str(var.getncattr("substitutions")), where)
        names = _substituted(names, subs)
    _check_tokens(names, var, where)
    return names


def _substituted(names: ObjectArray, subs: dict[str, str]) -> ObjectArray:
    # Not np.char.replace: numpy 2 cuts results longer than the widest input.
    def replace(name: str) -> str:
        for key, value in subs.items():
            name = name.replace(key, value)
        return name

    if not names.size or not subs:
        return names
    return np.asarray(np.vectorize(replace, otypes=[object])(names), dtype=object)


def _check_tokens(names: ObjectArray, var: Any, where: str) -> None:
    if not names.size:
        return
    left = np.flatnonzero(np.char.find(names.astype(str).reshape(-1), "${") >= 0)
    if len(left):
        name = str(names.reshape(-1)[left[0]])
        token = _TOKEN.search(name)
        raise AggregationFormatError(
            f"the file name {name!r} uses {token.group(0) if token else '${'!r}, which the "
            f"substitutions attribute of {var.name!r} does not define ({where})")


def _per_file(var: Any, shape: tuple[int, ...], term: str, where: str) -> ObjectArray:
    """A scalar, per-fragment or per-file string variable, broadcast to ``shape``."""
    values = read_strings(var, where)
    if values.shape == shape[:-1]:
        values = values[..., np.newaxis]
    if values.ndim and values.shape != shape:
        raise AggregationFormatError(
            f"the {term} variable {var.name!r} has shape {values.shape}; it must be scalar "
            f"or shaped like the file variable {shape} ({where})")
    return np.broadcast_to(values, shape)


# ------------------------------------------------------------------ fragments and files


def _choose(files: ObjectArray, addresses: ObjectArray, formats: ObjectArray, where: str,
            ) -> tuple[ObjectArray, ObjectArray]:
    """Per fragment: the first readable alternative's file and address.

    Fragments without a file keep ``""`` as URI and their first address (if any): they
    are in the master, or wholly missing.
    """
    external = files != ""
    _check_alternatives(external, files, addresses, formats, where)
    usable = external & (np.char.lower(formats.astype(str)) == "nc") if files.size else external
    pick = np.argmax(usable, axis=-1)[..., np.newaxis]
    first = np.take_along_axis(files, pick, axis=-1)[..., 0]
    uris = np.where(external.any(axis=-1), first, "").astype(object)
    chosen = np.take_along_axis(addresses, pick, axis=-1)[..., 0]
    ids = np.where(external.any(axis=-1), chosen, addresses[..., 0]).astype(object)
    return uris, ids


def _check_alternatives(external: npt.NDArray[np.bool_], files: ObjectArray,
                        addresses: ObjectArray, formats: ObjectArray, where: str) -> None:
    for bad, what in ((external & (addresses == ""), "a file but no address"),
                      (external & (formats == ""), "a file but no format")):
        if bad.any():
            cell = tuple(int(i) for i in np.argwhere(bad)[0])
            raise AggregationFormatError(
                f"fragment {cell[:-1]} has {what} (file {files[cell]!r}) ({where})")
    if not files.size:
        return
    netcdf = np.char.lower(formats.astype(str)) == "nc"
    other = external.any(axis=-1) & ~(external & netcdf).any(axis=-1)
    if other.any():
        cell = tuple(int(i) for i in np.argwhere(other)[0])
        raise UnsupportedFeatureError(
            f"fragment {cell} is stored in format {formats[(*cell, 0)]!r}; semsl reads "
            f"netCDF fragments ('nc') only ({where})")


def _inside(uris: ObjectArray, ids: ObjectArray, address_var: Any, group: Any,
            where: str) -> list[Any]:
    """Mark fragments stored in the master (``#<path>``); return those variables."""
    stored = (uris == "") & (ids != "")
    found: dict[str, Any] = {}
    for cell in map(tuple, np.argwhere(stored)):
        name = str(ids[cell])
        if name not in found:
            found[name] = _master_fragment(name, address_var, group, cell, where)
        path = _path(found[name].group(), found[name].name)
        uris[cell] = MASTER_VARIABLE_PREFIX + path
        ids[cell] = path
    return list(found.values())


def _master_fragment(name: str, address_var: Any, group: Any, cell: tuple[int, ...],
                     where: str) -> Any:
    """A fragment variable of the master (searched near the address variable first)."""
    for start in (address_var.group(), group):
        try:
            return _variable(start, name, "address", where)
        except AggregationFormatError:
            continue
    raise AggregationFormatError(
        f"fragment {tuple(int(i) for i in cell)} is stored in the aggregation file as "
        f"variable {name!r}, which does not exist ({where})")


def _shared(ids: ObjectArray) -> str | ObjectArray:
    """One identifier when all fragments agree (missing ones aside), else the grid."""
    named = ids[ids != ""]
    distinct = np.unique(named.astype(str)) if named.size else np.array([""])
    if len(distinct) == 1:
        return str(distinct[0])
    return np.where(ids == "", str(distinct[0]), ids).astype(object)


def _alternatives(files: ObjectArray, addresses: ObjectArray) -> dict[str, object]:
    """Every copy of every fragment, when the file variable lists more than one."""
    if files.shape[-1] < 2:
        return {}
    return {"alternative_uris": files, "alternative_identifiers": np.array(addresses)}


def _extra(group: Any, name: str) -> Any:
    """A variable named by a non-standard term, if it exists (the term is ignored)."""
    try:
        return _variable(group, name, "extra", "")
    except AggregationFormatError:
        return None


# ------------------------------------------------------------------------ bookkeeping


def _own_dimensions(group: Any, hidden: list[Any]) -> tuple[str, ...]:
    """Dimensions of hidden variables that are defined in the aggregation variable's group.

    The frontend keeps any of them that a visible variable uses.
    """
    names: list[str] = []
    for var in hidden:
        for dim in var.dimensions:
            if _defining_group(var.group(), dim) is group and dim not in names:
                names.append(dim)
    return tuple(names)


def _defining_group(node: Any, dim: str) -> Any:
    while node is not None and dim not in node.dimensions:
        node = node.parent
    return node


def _hide_definition_groups(group: Any, models: list[AggregatedVariable]) -> None:
    """Hide other groups that hold nothing but definition (and fragment) variables."""
    hidden = {path for model in models for path in model.bookkeeping_variables}
    root = group
    while root.parent is not None:
        root = root.parent
    for model in models:
        homes = {p.rsplit("/", 1)[0] or "/" for p in model.bookkeeping_variables}
        model.bookkeeping_groups = tuple(sorted(
            path for path in homes - {group.path} if _only_bookkeeping(root, path, hidden)))


def _only_bookkeeping(root: Any, path: str, hidden: set[str]) -> bool:
    node = root
    for name in path.strip("/").split("/"):
        node = node.groups.get(name) if node is not None else None
    return node is not None and not node.groups and \
        all(_path(node, v) in hidden for v in node.variables)


register_parser(CFA06Parser())
