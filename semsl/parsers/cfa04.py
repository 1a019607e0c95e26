"""CFA-0.4: the partition list as JSON in the ``cfa_array`` attribute (FORMATS.md 3.2, 3.4).

A field variable is a scalar with ``cf_role = "cfa_variable"``, its dimensions in
``cfa_dimensions`` (S3netCDF4) or ``cf_dimensions`` (SemSL) and ``cfa_array``, a JSON
object with ``pmshape``, ``pmdimensions`` and ``Partitions``.  Each partition has an
``index`` in the partition matrix, a ``location`` (``[start, end]`` per dimension,
**both inclusive**) and a ``subarray`` with ``ncvar``, ``file``, ``format`` and
``shape``.

Two flavours are read:

* S3netCDF4 lists only the partitions that were written (unlisted ones read as fill
  value); ``format`` is the data model (``"NETCDF4"``).  This is the flavour written.
* SemSL declares every partition when the variable is created, whether or not its
  file was ever written (only ``subarray.shape`` is required); a declared partition
  whose file does not exist reads as fill value.  Existence is checked when a
  fragment is first touched.

The JSON list is turned into numpy arrays at once; no object per partition is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from semsl.backends import registry
from semsl.cfa.model import AggregatedVariable, FragmentGrid, LazyStrings
from semsl.errors import AggregationFormatError
from semsl.parsers.base import MasterContext, register_parser
from semsl.parsers.cf_aggregation import _path
from semsl.parsers.cfa05 import (
    Partitions,
    data_model_of,
    declare_convention,
    dimension_sizes,
    dimensions_attribute,
    grid_from_partitions,
    is_cfa_variable,
    written_cells,
)

__all__ = ["CFA04Parser"]

IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

S3NC = "S3netCDF4"
SEMSL = "SemSL"


class CFA04Parser:
    """Reader and writer of CFA-0.4 (S3netCDF4 and SemSL flavours; writes S3netCDF4's)."""

    name = "CFA-0.4"

    def detect(self, group: Any) -> bool:
        """Whether a variable of ``group`` is a CFA field variable with a ``cfa_array``."""
        return any(_is_cfa04(v) for v in group.variables.values())

    def read(self, group: Any, context: MasterContext) -> list[AggregatedVariable]:
        """Return every CFA-0.4 field variable of ``group`` with its fragment grid."""
        return [_read_one(group, var, context) for var in group.variables.values()
                if _is_cfa04(var)]

    def write(self, model: AggregatedVariable, group: Any) -> None:
        """Write the written fragments of ``model`` as S3netCDF4's ``cfa_array`` JSON.

        Adds a ``CFA-0.4`` token to the root group's ``Conventions``.
        """
        path = f"{model.group_path.rstrip('/')}/{model.name}"
        present = written_cells(model, f"variable {path!r}")
        doc = {"pmshape": list(model.grid.grid_shape), "pmdimensions": list(model.dimensions),
               "Partitions": _partition_list(model, present, data_model_of(group))}
        scalar = group.variables[model.name]
        scalar.setncattr("cf_role", "cfa_variable")
        scalar.setncattr("cfa_dimensions", " ".join(model.dimensions))
        scalar.setncattr("cfa_array", json.dumps(doc))
        declare_convention(group, "CFA-0.4")


def _is_cfa04(var: Any) -> bool:
    attrs = var.ncattrs()
    return "cfa_array" in attrs and "cfa_group" not in attrs and is_cfa_variable(var)


# ---------------------------------------------------------------------------- reading


def _read_one(group: Any, var: Any, context: MasterContext) -> AggregatedVariable:
    where = f"master {context.master!r}, variable {_path(group, var.name)!r}"
    if var.ndim != 0:
        raise AggregationFormatError(f"a CFA field variable must be scalar ({where})")
    dims, dims_attribute = dimensions_attribute(var, where)
    flavour = S3NC if dims_attribute == "cfa_dimensions" else SEMSL
    sizes = dimension_sizes(group, dims, dims_attribute, where)
    doc = _document(var, where)
    _check_dimension_names(doc, dims, where)
    parts = _partitions(doc["Partitions"], len(dims), where)
    matrix = _int_list(doc.get("pmshape"), "pmshape", where)
    grid = grid_from_partitions(parts, dims, sizes, matrix, var.name, where)
    if flavour == SEMSL:
        grid.uris = _existing_only(np.asarray(grid.uris, dtype=object),
                                   registry.parent(context.master))
    return AggregatedVariable(
        name=var.name, group_path=group.path, dimensions=dims, dtype=var.dtype, grid=grid,
        bookkeeping_attributes=("cf_role", dims_attribute, "cfa_array"), encoding="CFA-0.4",
        extra={"flavour": flavour})


def _document(var: Any, where: str) -> dict[str, Any]:
    text = var.getncattr("cfa_array")
    try:
        doc = json.loads(text if isinstance(text, str | bytes) else str(text))
    except ValueError as err:  # json.JSONDecodeError and bad UTF-8 are ValueErrors
        raise AggregationFormatError(f"cfa_array is not valid JSON ({err}) ({where})") from err
    if not isinstance(doc, dict):
        raise AggregationFormatError(f"cfa_array must be a JSON object, not "
                                     f"{type(doc).__name__} ({where})")
    if not isinstance(doc.get("Partitions"), list):
        raise AggregationFormatError(f"cfa_array has no 'Partitions' list ({where})")
    return doc


def _check_dimension_names(doc: dict[str, Any], dims: tuple[str, ...], where: str) -> None:
    names = doc.get("pmdimensions")
    if names is None:
        return
    if not isinstance(names, list) or tuple(str(n) for n in names) != dims:
        raise AggregationFormatError(
            f"pmdimensions {names!r} differ from the variable's dimensions {list(dims)} "
            f"(semsl needs every dimension partitioned, in order) ({where})")


def _int_list(value: object, key: str, where: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(_is_int(v) for v in value):
        raise AggregationFormatError(f"cfa_array {key} must be a list of integers, not "
                                     f"{value!r} ({where})")
    return [int(v) for v in value]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _partitions(items: list[Any], ndim: int, where: str) -> Partitions:
    """Numpy arrays from the JSON partition list (checked item by item)."""
    count = len(items)
    start, stop, shape = (np.zeros((count, ndim), np.int64) for _ in range(3))
    index = np.zeros((count, ndim), np.int64)
    strings = np.full((3, count), "", dtype=object)
    indexed = np.zeros(count, dtype=bool)
    for row, item in enumerate(items):
        indexed[row] = _one_partition(item, row, ndim, (start, stop, shape, index), strings,
                                      where)
    if indexed.any() and not indexed.all():
        raise AggregationFormatError(f"some partitions of cfa_array have an 'index' and "
                                     f"others not ({where})")
    return Partitions(start, stop, index if indexed.all() else None, shape,
                      strings[0], strings[1], strings[2])


def _one_partition(item: object, row: int, ndim: int, arrays: tuple[IntArray, ...],
                   strings: ObjectArray, where: str) -> bool:
    """Copy partition ``row`` into the arrays; return whether it has an ``index``."""
    label = f"partition #{row} of cfa_array"
    if not isinstance(item, dict):
        raise AggregationFormatError(f"{label} is not a JSON object ({where})")
    sub = _required(item, "subarray", label, where)
    if not isinstance(sub, dict):
        raise AggregationFormatError(f"{label}: 'subarray' is not a JSON object ({where})")
    start, stop, shape, index = arrays
    location = _ints(_required(item, "location", label, where), (ndim, 2), label, "location",
                     where)
    start[row], stop[row] = location[:, 0], location[:, 1] + 1  # inclusive on disk
    shape[row] = _ints(_required(sub, "shape", label, where), (ndim,), label, "shape", where)
    for k, key in enumerate(("ncvar", "file", "format")):
        value = sub.get(key, "")
        if not isinstance(value, str):
            raise AggregationFormatError(f"{label}: subarray {key} must be a string, not "
                                         f"{value!r} ({where})")
        strings[k, row] = value
    if not strings[1, row]:
        raise AggregationFormatError(f"{label}: subarray has no 'file' ({where})")
    if "index" not in item:
        return False
    index[row] = _ints(item["index"], (ndim,), label, "index", where)
    return True


def _required(item: dict[str, Any], key: str, label: str, where: str) -> Any:
    if key not in item:
        raise AggregationFormatError(f"{label} has no {key!r} ({where})")
    return item[key]


def _ints(value: object, shape: tuple[int, ...], label: str, key: str, where: str) -> IntArray:
    """``value`` as integers of ``shape``, else a message naming the partition and key."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = np.asarray([])
    if array.shape != shape or array.dtype.kind not in "iu":
        raise AggregationFormatError(
            f"{label}: {key} must be integers shaped {list(shape)}, not {value!r} ({where})")
    return array.astype(np.int64)


def _existing_only(uris: ObjectArray, folder: str) -> LazyStrings:
    """SemSL declares partitions before writing them: a missing file reads as fill value.

    Existence is asked once per fragment, when it is first touched (or all at once when
    the whole grid is loaded), and remembered in a grid-shaped array.
    """
    state = np.zeros(uris.shape, dtype=np.int8)  # 0 unknown, 1 exists, 2 absent

    def check(index: tuple[int, ...]) -> str:
        uri = str(uris[index])
        if uri and not state[index]:
            where = registry.locate(registry.join(folder, uri))
            state[index] = 1 if where.backend.exists(where.uri) else 2
        return "" if state[index] == 2 else uri

    def read(index: tuple[int, ...] | None) -> object:
        if index is not None:
            return check(index)
        for cell in np.argwhere(uris != ""):
            check(tuple(int(i) for i in cell))
        return np.where(state == 2, "", uris).astype(object)

    return LazyStrings(uris.shape, read)


# ---------------------------------------------------------------------------- writing


def _partition_list(model: AggregatedVariable, present: npt.NDArray[np.bool_],
                    data_model: str) -> list[dict[str, Any]]:
    """One JSON object per written fragment, keys in S3netCDF4's order."""
    grid: FragmentGrid = model.grid
    _, uris = grid.load()
    return [_partition(grid, tuple(int(i) for i in cell), str(uris[tuple(cell)]), data_model)
            for cell in np.argwhere(present)]


def _partition(grid: FragmentGrid, cell: Sequence[int], uri: str,
               data_model: str) -> dict[str, Any]:
    where = grid.fragment_slices(tuple(cell))
    return {
        "subarray": {"ncvar": grid.identifier(tuple(cell)).lstrip("/"), "file": uri,
                     "format": data_model, "shape": [s.stop - s.start for s in where]},
        "index": list(cell),
        "location": [[s.start, s.stop - 1] for s in where],  # inclusive on disk
    }


register_parser(CFA04Parser())
