"""Answers are compared by a digest of shape, dtype, mask and unmasked values."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def normalise(answer: Any, raw: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, mask); NaN counts as masked for masked readers (xarray)."""
    values = np.asarray(np.ma.getdata(answer))
    mask = np.ma.getmaskarray(answer) if np.ma.isMaskedArray(answer) else np.zeros(
        values.shape, dtype=bool)
    if not raw and values.dtype.kind == "f":
        mask = mask | np.isnan(values)
    return values, mask


def digest(answer: Any, raw: bool) -> dict[str, Any]:
    """Digest of an answer; masked values are zeroed in place (the answer is not reused)."""
    values, mask = normalise(answer, raw)
    if not (values.flags.c_contiguous and values.flags.writeable):
        values = values.copy(order="C")
    np.putmask(values, mask, np.zeros((), values.dtype))
    h = hashlib.sha1(f"{values.shape}|{values.dtype.str}|".encode())
    h.update(np.packbits(mask).tobytes())
    h.update(values.data)
    return {"hash": h.hexdigest(), "shape": list(values.shape), "dtype": values.dtype.str,
            "masked": int(mask.sum()), "sum": float(values.sum(dtype=np.float64))}


def mismatch(got: dict[str, Any], want: dict[str, Any]) -> str | None:
    if got["hash"] == want["hash"]:
        return None
    keys = ("shape", "dtype", "masked", "sum")
    diffs = [f"{k} {got[k]!r} != {want[k]!r}" for k in keys if got[k] != want[k]]
    return "; ".join(diffs) or "values differ"
