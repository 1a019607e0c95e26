"""User configuration: sizes and defaults.

The full user configuration file (hosts, backends, budgets) arrives with the storage
backends; this module already owns the parsing of size strings such as ``"50MB"`` so
that every keyword that takes a size accepts the same spellings.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_MAX_SUBARRAY_SIZE", "parse_size"]

#: Fragment size used when ``createVariable`` gets neither ``subarray_shape`` nor
#: ``max_subarray_size``.
DEFAULT_MAX_SUBARRAY_SIZE = 50 * 1000**2

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(value: int | float | str, *, what: str = "size") -> int:
    """Return a byte count from an integer or a string like ``"50MB"`` or ``"1GiB"``.

    Parameters
    ----------
    value
        A positive number of bytes, or a number followed by a unit: ``B``, ``kB``,
        ``MB``, ``GB``, ``TB`` (powers of 1000) or ``KiB``, ``MiB``, ``GiB``, ``TiB``
        (powers of 1024); units are case-insensitive.
    what
        Name of the setting, used in the error message.

    Raises
    ------
    ValueError
        If the value is not a positive size; the message names ``what``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a size such as 50000000 or '50MB', not {value!r}")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise ValueError(
                f"{what} must be a size such as 50000000, '50MB' or '1GiB', not {value!r}"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{what} must be larger than zero, not {value!r}")
    return size
