"""Bringing a fragment's values into canonical form (CF-1.13 section 2.8.3).

A fragment written by another tool may differ from its aggregation variable in ways CF
allows: another numeric data type, its own missing-value attributes, packing
(``scale_factor``/``add_offset``), omitted size-1 dimensions, or different but
equivalent units.  :func:`adapter_for` works out once per fragment what must change,
and :class:`Adapter` applies it to every piece read.  Fragments that already are in
canonical form (all fragments semsl writes) are copied raw, with no extra pass.

The canonical values are the aggregated variable's *raw* values: when the aggregation
variable is packed, the unpacked fragment values are its packed values (section 2.8.3),
and netCDF4's own rules unpack the assembled array once.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MISSING_ATTRIBUTES", "Adapter", "MasterRules", "adapter_for", "units_converter"]

#: Attributes that decide which values are missing (netCDF4's masking rules).
MISSING_ATTRIBUTES = ("_FillValue", "missing_value", "valid_min", "valid_max", "valid_range")
_PACKING = ("scale_factor", "add_offset")
_SINCE = re.compile(r"^\s*(\w+)\s+since\s+(.+?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MasterRules:
    """What the aggregation variable says about its values."""

    dtype: np.dtype[Any]
    fill: Any
    attributes: Mapping[str, Any]

    @property
    def units(self) -> str | None:
        """The variable's ``units`` attribute, if any."""
        units = self.attributes.get("units")
        return None if units is None else str(units)


@dataclass(frozen=True)
class Adapter:
    """How the values of one fragment variable become canonical.

    Attributes
    ----------
    axes
        For each fragment dimension, the aggregated dimension it is (``None``: same
        dimensions, same order).
    masked
        Read with the fragment's own missing-value rules and unpacking, then replace
        missing values with the aggregation variable's fill value.
    convert
        Units conversion of the values, if the units differ.
    dtype
        The aggregated data type (values are cast to it, rounded for integers).
    fill
        The aggregation variable's raw fill value.
    """

    axes: tuple[int, ...] | None
    masked: bool
    convert: Callable[[Any], Any] | None
    dtype: np.dtype[Any]
    fill: Any
    same_dtype: bool

    @property
    def identity(self) -> bool:
        """Whether the fragment's raw values are already canonical."""
        return self.axes is None and not self.masked and self.convert is None and \
            self.same_dtype

    def fragment_key(self, inner: tuple[slice, ...]) -> tuple[slice, ...]:
        """The part of the fragment's own dimensions that ``inner`` selects."""
        return inner if self.axes is None else tuple(inner[a] for a in self.axes)

    def finish(self, values: Any, shape: Sequence[int]) -> npt.NDArray[Any]:
        """Canonical values of ``shape`` from what was read from the fragment."""
        if self.convert is not None:
            values = self.convert(values)
        if self.masked:
            values = np.ma.filled(np.ma.asarray(values).astype(
                np.result_type(np.ma.asarray(values).dtype, np.asarray(self.fill).dtype)),
                self.fill)
        values = np.asarray(values)
        if values.dtype != self.dtype:  # canonical data type (CF-1.13 2.8.3)
            if self.dtype.kind in "iu" and values.dtype.kind == "f":
                values = np.rint(values)
            values = values.astype(self.dtype)
        out: npt.NDArray[Any] = values.reshape(tuple(shape))
        return out


def adapter_for(var: Any, master: MasterRules, block: Sequence[int],
                master_dims: Sequence[str]) -> Adapter | str:
    """The :class:`Adapter` for fragment variable ``var``, or why none is possible.

    ``block`` is the fragment's shape according to the master's map.  The returned
    string names the problem (for the caller's error message).
    """
    axes = _axes(tuple(var.dimensions), tuple(var.shape), block, master_dims)
    if isinstance(axes, str):
        return axes
    numeric = var.dtype.kind in "iuf" and master.dtype.kind in "iuf"
    if not numeric and var.dtype != master.dtype:
        return f"data type {var.dtype} cannot stand for {master.dtype}"
    attrs = {name: var.getncattr(name) for name in var.ncattrs()}
    convert = units_converter(attrs.get("units"), master.units, master.attributes)
    if isinstance(convert, str):
        return convert
    packed = any(name in attrs for name in _PACKING)
    masked = packed or convert is not None or not _same_missing(attrs, master.attributes)
    return Adapter(axes, masked, convert, master.dtype, master.fill,
                   var.dtype == master.dtype)


def _axes(dims: tuple[str, ...], shape: tuple[int, ...], block: Sequence[int],
          master_dims: Sequence[str]) -> tuple[int, ...] | str | None:
    """Map the fragment's dimensions onto the aggregated ones (size-1 ones may be left out)."""
    if len(dims) == len(block):
        return None
    dropped = len(block) - len(dims)
    ones = [k for k, n in enumerate(block) if n == 1]
    if dropped < 0 or dropped > len(ones):
        return f"{len(dims)} dimensions where the aggregation has {len(block)}"
    if set(dims) <= set(master_dims):  # names tell which dimensions are there
        kept = tuple(master_dims.index(d) for d in dims)
        if list(kept) == sorted(kept) and all(block[k] == 1 for k in range(len(block))
                                              if k not in kept):
            return kept
    for skip in itertools.combinations(ones, dropped):
        kept = tuple(k for k in range(len(block)) if k not in skip)
        if _fits(block, kept, shape):
            return kept
    return f"shape {shape} does not fit the fragment's place {tuple(block)}"


def _fits(block: Sequence[int], kept: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return all(n == block[k] for k, n in zip(kept, shape, strict=True))


def _same_missing(fragment: Mapping[str, Any], master: Mapping[str, Any]) -> bool:
    for name in MISSING_ATTRIBUTES:
        if (name in fragment) != (name in master):
            return False
        if name in fragment and not np.array_equal(np.asarray(fragment[name]),
                                                   np.asarray(master[name]), equal_nan=True):
            return False
    return True


def units_converter(source: Any, target: str | None, master: Mapping[str, Any],
                    ) -> Callable[[Any], Any] | str | None:
    """A function converting values from ``source`` units to ``target`` units.

    ``None`` when no conversion is needed; a string naming the problem when the units
    cannot be converted.  Reference-time units (``days since ...``) are converted with
    cftime in the aggregation variable's calendar; other units need ``cf-units`` or
    ``cfunits`` (UDUNITS-2).
    """
    if source is None or target is None or _same_units(str(source), target):
        return None
    source = str(source)
    if _SINCE.match(source) and _SINCE.match(target):
        calendar = str(master.get("calendar", "standard"))
        return _time_converter(source, target, calendar)
    return _physical_converter(source, target)


def _physical_converter(source: str, target: str) -> Callable[[Any], Any] | str:
    """Convert with cf-units or cfunits (both UDUNITS-2), whichever is installed."""
    try:
        import cf_units  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    except ImportError:
        cf_units = None
    if cf_units is not None:
        try:
            src, dst = cf_units.Unit(source), cf_units.Unit(target)
        except ValueError as err:
            return f"units {source!r} or {target!r} are not understood ({err})"
        if not src.is_convertible(dst):
            return f"units {source!r} cannot be converted to {target!r}"
        return lambda values: src.convert(values, dst)
    try:
        import cfunits  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    except (ImportError, OSError):
        return (f"units {source!r} differ from the aggregation's {target!r}; install "
                "cf-units or cfunits (with the UDUNITS-2 library) to convert them")
    src, dst = cfunits.Units(source), cfunits.Units(target)
    if not (src.isvalid and dst.isvalid and src.equivalent(dst)):
        return f"units {source!r} cannot be converted to {target!r}"
    return lambda values: cfunits.Units.conform(values, src, dst)


def _same_units(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _time_converter(source: str, target: str, calendar: str) -> Callable[[Any], Any]:
    import cftime  # noqa: PLC0415

    def convert(values: Any) -> Any:
        data: Any = np.ma.asarray(values, dtype="f8")
        dates = cftime.num2date(data, source, calendar)
        return np.ma.asarray(cftime.date2num(dates, target, calendar), dtype="f8")
    return convert
