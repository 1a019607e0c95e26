"""Choose and check the fragment shape used to split a variable into fragment files.

A large netCDF variable is cut into equal blocks, the *fragments*; the shape of one
block is the ``subarray_shape``.  :func:`choose_subarray_shape` picks it automatically
from the variable's shape, its item size, a byte budget and the kind of each dimension
(see :func:`axis_kind`); :func:`validate_subarray_shape` checks one given by the user.

Algorithm of :func:`choose_subarray_shape`
------------------------------------------
1. A dimension of length 0 (an empty unlimited dimension) counts as length 1.
2. If the whole variable fits in ``max_size`` bytes, the fragment is the whole variable.
3. Otherwise every "other" dimension (kind ``None``: ensemble member, bounds vertex,
   string length, ...) gets fragment length 1, and the T, Z, Y and X dimensions start
   at their full length.
4. While the fragment is larger than ``max_size``, one dimension is halved (ceiling
   division).  Z dimensions are cut first: as long as a Z dimension is longer than 1,
   the longest Z dimension is halved, so a fragment keeps whole maps and long time
   series and only holds fewer levels.  (This is the limit of weighting Z far below
   T, Y and X.)  Once every Z length is 1, the longest of the T, Y and X dimensions is
   halved; they weigh the same.  Halving the longest dimension balances "one map at
   one time" (whole Y/X planes) against "one time series at one point" (long along
   T): the time axis is shortened until it is no longer than the horizontal
   dimensions, then all of them shrink together.  Ties go to T, then Y, then X
   (maps are split last), and then to the dimension that comes first.
5. Each T/Z/Y/X fragment length is then replaced by a divisor of its dimension within
   25 % of it, if one exists and the fragment still fits (the closest such divisor,
   the larger one on a tie), so that all fragments along that dimension are equal.
6. If even a fragment of one element is larger than ``max_size`` (``itemsize`` is
   larger than the budget), the fragment is one element.

For example, a float32 variable of shape ``(1460, 192, 288)`` with dimensions
``("T", "Y", "X")`` and a 50 MB budget gets fragments of shape ``(146, 192, 288)``
(32 MB; ten fragments, each holding whole maps for 146 time steps).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from semsl.errors import SubarrayShapeError

__all__ = [
    "AxisKind",
    "axis_kind",
    "choose_subarray_shape",
    "validate_subarray_shape",
]

AxisKind = Literal["T", "Z", "Y", "X"] | None
"""The kind of a dimension: time, vertical, latitude-like, longitude-like, or other."""

_TIE_ORDER: dict[str, int] = {"Z": 0, "T": 1, "Y": 2, "X": 3}
_KINDS: dict[str, AxisKind] = {"T": "T", "Z": "Z", "Y": "Y", "X": "X"}

_STANDARD_NAMES: dict[str, AxisKind] = {
    "time": "T",
    "latitude": "Y",
    "grid_latitude": "Y",
    "projection_y_coordinate": "Y",
    "longitude": "X",
    "grid_longitude": "X",
    "projection_x_coordinate": "X",
    **dict.fromkeys(
        (
            "air_pressure",
            "altitude",
            "barometric_altitude",
            "depth",
            "depth_below_geoid",
            "depth_below_sea_floor",
            "geopotential_height",
            "height",
            "height_above_geopotential_datum",
            "height_above_mean_sea_level",
            "height_above_reference_ellipsoid",
            "height_above_sea_floor",
            "model_level_number",
            "sea_water_pressure",
        ),
        "Z",
    ),
}
_Z_STANDARD_NAME = re.compile(r"^(atmosphere|ocean|land_ice)_\w+_coordinate(_g\d+)?$")

_TIME_UNITS = re.compile(r"^\s*\S+\s+since\s+\S", re.IGNORECASE)
_UNITS: dict[str, AxisKind] = {
    **dict.fromkeys(
        ("degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn", "degreen"),
        "Y",
    ),
    **dict.fromkeys(
        ("degrees_east", "degree_east", "degrees_e", "degree_e", "degreese", "degreee"),
        "X",
    ),
    **dict.fromkeys(
        ("pa", "hpa", "kpa", "mbar", "millibar", "millibars", "bar", "dbar", "decibar"),
        "Z",
    ),
}

_NAMES: dict[str, AxisKind] = {
    **dict.fromkeys(("time", "t"), "T"),
    **dict.fromkeys(("lat", "latitude", "y", "rlat", "j"), "Y"),
    **dict.fromkeys(("lon", "longitude", "x", "rlon", "i"), "X"),
    **dict.fromkeys(
        ("lev", "level", "plev", "height", "depth", "z", "alt", "altitude"), "Z"
    ),
}


def _text(value: object) -> str | None:
    """Return an attribute value as stripped text, or None if it is not text."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, str):
        return value.strip()
    return None


def _kind_from_standard_name(value: object) -> AxisKind:
    """Classify a ``standard_name`` attribute (its first word; modifiers are ignored)."""
    text = _text(value)
    if not text:
        return None
    name = text.split()[0].lower()
    if name in _STANDARD_NAMES:
        return _STANDARD_NAMES[name]
    return "Z" if _Z_STANDARD_NAME.match(name) else None


def _kind_from_units(value: object) -> AxisKind:
    """Classify a ``units`` attribute: reference-time, latitude, longitude or pressure."""
    text = _text(value)
    if not text:
        return None
    if _TIME_UNITS.match(text):
        return "T"
    return _UNITS.get(text.lower())


def axis_kind(dimension: str, attributes: Mapping[str, object] | None) -> AxisKind:
    """Classify a dimension as time, vertical, Y, X or other.

    The evidence is taken in this order, and the first that decides wins:

    1. the ``axis`` attribute (``T``, ``Z``, ``Y`` or ``X``, case-insensitive);
    2. the ``standard_name`` attribute (``time``; ``latitude``, ``grid_latitude``,
       ``projection_y_coordinate``; ``longitude``, ``grid_longitude``,
       ``projection_x_coordinate``; vertical names such as ``air_pressure``,
       ``altitude``, ``height``, ``depth``, ``model_level_number`` and the
       ``atmosphere_*_coordinate`` / ``ocean_*_coordinate`` families);
    3. the presence of a ``positive`` attribute, which only vertical coordinates have;
    4. the ``units`` attribute: ``<unit> since <date>`` is time, ``degrees_north`` and
       its CF spellings are Y, ``degrees_east`` and its spellings are X, pressure units
       (Pa, hPa, kPa, mbar, millibar, bar, dbar) are Z;
    5. the dimension name, matched as a whole word, case-insensitively: ``time``/``t``;
       ``lat``/``latitude``/``y``/``rlat``/``j``; ``lon``/``longitude``/``x``/``rlon``/
       ``i``; ``lev``/``level``/``plev``/``height``/``depth``/``z``/``alt``/
       ``altitude``.  Names such as ``time_counter`` or ``lat_bnds`` do not match.

    Parameters
    ----------
    dimension
        Name of the dimension.
    attributes
        Attributes of the dimension's coordinate variable, or None if it has none.

    Returns
    -------
    AxisKind
        ``"T"``, ``"Z"``, ``"Y"``, ``"X"``, or None for any other dimension.
    """
    attrs: Mapping[str, object] = attributes if attributes is not None else {}
    axis = (_text(attrs.get("axis")) or "").upper()
    if axis in _KINDS:
        return _KINDS[axis]
    kind = _kind_from_standard_name(attrs.get("standard_name"))
    if kind is None and attrs.get("positive") is not None:
        kind = "Z"
    if kind is None:
        kind = _kind_from_units(attrs.get("units"))
    if kind is None:
        kind = _NAMES.get(dimension.strip().lower())
    return kind


def _nbytes(lengths: Sequence[int], itemsize: int) -> int:
    """Return the size in bytes of a block of the given shape."""
    return math.prod(lengths) * itemsize


def _check_arguments(
    shape: Sequence[int], itemsize: int, axes: Sequence[AxisKind], max_size: int
) -> None:
    """Reject inconsistent arguments of :func:`choose_subarray_shape`."""
    if len(axes) != len(shape):
        raise ValueError(f"got {len(axes)} axis kinds for a shape of rank {len(shape)}")
    if any(kind is not None and kind not in _TIE_ORDER for kind in axes):
        raise ValueError(f"axis kinds must be 'T', 'Z', 'Y', 'X' or None, not {tuple(axes)}")
    if any(length < 0 for length in shape):
        raise ValueError(f"shape {tuple(shape)} has a negative length")
    if itemsize <= 0:
        raise ValueError(f"itemsize must be positive, not {itemsize}")
    if max_size <= 0:
        raise SubarrayShapeError(f"the fragment size limit must be positive, not {max_size}")


def _pick_axis(fragment: Sequence[int], axes: Sequence[AxisKind]) -> int | None:
    """Return the index of the T/Z/Y/X dimension to halve next, or None if none can be."""
    best: tuple[bool, int, int, int] | None = None
    for index, (length, kind) in enumerate(zip(fragment, axes, strict=True)):
        if kind is None or length <= 1:
            continue
        key = (kind != "Z", -length, _TIE_ORDER[kind], index)
        if best is None or key < best:
            best = key
    return None if best is None else best[3]


def _halve_until_fits(
    fragment: list[int], itemsize: int, axes: Sequence[AxisKind], max_size: int
) -> None:
    """Halve dimensions of ``fragment`` in place, Z first then longest, until it fits."""
    while _nbytes(fragment, itemsize) > max_size:
        index = _pick_axis(fragment, axes)
        if index is None:
            return
        fragment[index] = -(-fragment[index] // 2)


def _divisors(number: int) -> list[int]:
    """Return all positive divisors of a positive integer, in increasing order."""
    small = [d for d in range(1, math.isqrt(number) + 1) if number % d == 0]
    return sorted(set(small) | {number // d for d in small})


def _snap_to_divisors(
    fragment: list[int],
    lengths: Sequence[int],
    itemsize: int,
    axes: Sequence[AxisKind],
    max_size: int,
) -> None:
    """Replace fragment lengths in place by nearby divisors of their dimensions."""
    order = sorted(
        (_TIE_ORDER[kind], index) for index, kind in enumerate(axes) if kind is not None
    )
    for _, index in order:
        chosen = fragment[index]
        near = [d for d in _divisors(lengths[index]) if 4 * abs(d - chosen) <= chosen]
        for candidate in sorted(near, key=lambda d: (abs(d - chosen), -d)):
            trial = [*fragment[:index], candidate, *fragment[index + 1 :]]
            if _nbytes(trial, itemsize) <= max_size:
                fragment[index] = candidate
                break


def choose_subarray_shape(
    shape: Sequence[int], itemsize: int, axes: Sequence[AxisKind], max_size: int
) -> tuple[int, ...]:
    """Choose the fragment shape for splitting a variable into fragments of bounded size.

    The algorithm is described in the module docstring: the whole variable if it fits,
    otherwise length 1 along "other" dimensions and a balanced block along the T, Z, Y
    and X dimensions, obtained by halving Z dimensions first and then repeatedly the
    longest of T, Y and X, and finally rounded to nearby divisors.

    Parameters
    ----------
    shape
        Current shape of the variable; a length of 0 (empty unlimited dimension) is
        treated as 1.
    itemsize
        Size in bytes of one element.
    axes
        Kind of each dimension, as returned by :func:`axis_kind`.
    max_size
        Largest fragment size in bytes.

    Returns
    -------
    tuple of int
        Fragment length along each dimension, each between 1 and the dimension's
        length (or 1 for an empty dimension).  Its size ``prod(result) * itemsize``
        is at most ``max_size`` unless ``itemsize > max_size``, in which case the
        result is all ones.

    Raises
    ------
    ValueError
        If ``axes`` and ``shape`` differ in length, a length is negative or
        ``itemsize`` is not positive.
    SubarrayShapeError
        If ``max_size`` is not positive.
    """
    _check_arguments(shape, itemsize, axes, max_size)
    lengths = [max(int(length), 1) for length in shape]
    if _nbytes(lengths, itemsize) <= max_size:
        return tuple(lengths)
    fragment = [
        length if kind is not None else 1 for length, kind in zip(lengths, axes, strict=True)
    ]
    _halve_until_fits(fragment, itemsize, axes, max_size)  # all ones if nothing fits
    _snap_to_divisors(fragment, lengths, itemsize, axes, max_size)
    return tuple(fragment)


def _as_entries(subarray_shape: Sequence[int], variable: str) -> tuple[object, ...]:
    """Return the entries of a user-given subarray shape, which must be a sequence."""
    entries: tuple[object, ...] | None = None
    if not isinstance(subarray_shape, str | bytes):
        try:
            entries = tuple(subarray_shape)
        except TypeError:
            entries = None
    if entries is None:
        raise SubarrayShapeError(
            f"subarray_shape for variable {variable!r} must be a sequence of integers, "
            f"not {subarray_shape!r}"
        )
    return entries


def _check_entry(entry: object, length: int, unlimited: bool, where: str) -> int:
    """Check one fragment length against its dimension; return it as an int."""
    if isinstance(entry, bool) or not isinstance(entry, numbers.Integral):
        raise SubarrayShapeError(f"{where} is {entry!r}; fragment lengths must be integers")
    value = int(entry)
    if value <= 0:
        raise SubarrayShapeError(f"{where} is {value}; fragment lengths must be at least 1")
    if not unlimited and value > max(length, 1):
        raise SubarrayShapeError(
            f"{where} is {value}, larger than the fixed dimension's length {length}; "
            f"use a value from 1 to {max(length, 1)}"
        )
    return value


def validate_subarray_shape(
    shape: Sequence[int],
    subarray_shape: Sequence[int],
    unlimited: Sequence[bool],
    *,
    variable: str,
) -> tuple[int, ...]:
    """Check a fragment shape given by the user for a variable.

    Parameters
    ----------
    shape
        Current shape of the variable.
    subarray_shape
        Requested fragment length along each dimension.
    unlimited
        Whether each dimension is unlimited.  Along an unlimited dimension any positive
        length is allowed, since the dimension may be empty or grow.  Along a fixed
        dimension the length must not exceed the dimension's (1 is allowed for a fixed
        dimension of length 0).
    variable
        Name of the variable, used in error messages.

    Returns
    -------
    tuple of int
        The fragment shape as plain Python integers.

    Raises
    ------
    SubarrayShapeError
        If ``subarray_shape`` is not a sequence, has the wrong number of entries, or
        has an entry that is not an integer, is less than 1, or is larger than a fixed
        dimension.  The message names the variable.
    ValueError
        If ``unlimited`` and ``shape`` differ in length.
    """
    if len(unlimited) != len(shape):
        raise ValueError(
            f"variable {variable!r}: got {len(unlimited)} unlimited flags for "
            f"{len(shape)} dimensions"
        )
    entries = _as_entries(subarray_shape, variable)
    if len(entries) != len(shape):
        raise SubarrayShapeError(
            f"subarray_shape {entries!r} for variable {variable!r} has {len(entries)} "
            f"entries but the variable has {len(shape)} dimensions; give one fragment "
            f"length per dimension"
        )
    return tuple(
        _check_entry(entry, length, unlim, f"subarray_shape[{i}] for variable {variable!r}")
        for i, (entry, length, unlim) in enumerate(zip(entries, shape, unlimited, strict=True))
    )
