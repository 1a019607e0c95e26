"""Checksums of fragment data, recorded in the master when fragments are written.

A checksum covers a fragment variable's raw values (in C order, little-endian), not
the file's bytes, so it survives a metadata update and a change of netCDF format.
They are kept in the aggregation variable's attribute ``semsl_fragment_checksums``:
the algorithm name followed by one hexadecimal digest per fragment in C order of the
grid, ``-`` for a fragment without one.  ``semsl verify --checksums`` compares them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ALGORITHM", "ATTRIBUTE", "data_checksum", "decode", "encode"]

ALGORITHM = "blake2b-128"
ATTRIBUTE = "semsl_fragment_checksums"
_NONE = "-"


def data_checksum(values: npt.NDArray[Any]) -> str:
    """The checksum of an array's raw values."""
    array = np.asarray(values)
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return hashlib.blake2b(little.tobytes(), digest_size=16).hexdigest()


def encode(checksums: npt.NDArray[np.object_]) -> str:
    """The attribute text for a grid of checksums (``""`` where there is none)."""
    digests = [str(c) or _NONE for c in checksums.ravel()]
    return " ".join([ALGORITHM, *digests])


def decode(text: str, grid_shape: tuple[int, ...]) -> npt.NDArray[np.object_] | None:
    """The grid of checksums in ``text`` (``None`` if it does not fit the grid)."""
    words = str(text).split()
    if not words or words[0] != ALGORITHM or len(words) - 1 != int(np.prod(grid_shape)):
        return None
    values = np.array(["" if w == _NONE else w for w in words[1:]], dtype=object)
    return values.reshape(grid_shape)
