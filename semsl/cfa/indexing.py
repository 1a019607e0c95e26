"""Planning reads and writes of hyperslabs over a fragment grid.

netCDF4-python turns every key a user writes (integers, slices with steps, integer and
boolean sequences, Ellipsis) into one or more hyperslabs ``(start, count, stride)``.
This module maps one hyperslab onto the fragment grid: per dimension it finds, with
``np.searchsorted`` on the block offsets, the blocks the hyperslab touches and for each
block the part of it that is read and where that part lands in the output.  Nothing
loops over fragments that are not touched.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "AxisPlan", "Hyperslab", "Piece", "covered", "normalise_hyperslab", "plan_axis", "plan_pieces",
]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Hyperslab:
    """An ascending hyperslab: per dimension ``start``, element ``count`` and ``step``.

    ``flip`` lists the axes whose result must be reversed because the user asked for a
    negative step; ``squeeze`` the axes indexed by a single integer.
    """

    start: tuple[int, ...]
    count: tuple[int, ...]
    step: tuple[int, ...]
    flip: tuple[int, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the data the hyperslab selects."""
        return self.count

    def last(self, axis: int) -> int:
        """Index of the last element selected along ``axis`` (``start - 1`` if none)."""
        return self.start[axis] + self.step[axis] * (self.count[axis] - 1)


def normalise_hyperslab(start: Sequence[int], count: Sequence[int], stride: Sequence[int],
                        ) -> Hyperslab:
    """Return the ascending :class:`Hyperslab` for netCDF4's ``(start, count, stride)``.

    netCDF4 passes ``count = -1`` for an axis indexed by an integer (one element) and a
    negative stride for reversed slices, with ``start`` the first element returned.
    """
    starts, counts, steps, flip = [], [], [], []
    for axis, (first, c, st) in enumerate(zip(start, count, stride, strict=True)):
        n, a, s = abs(int(c)), int(first), int(st)
        if s < 0:
            a, s = a + s * (n - 1), -s
            flip.append(axis)
        starts.append(a)
        counts.append(n)
        steps.append(s)
    return Hyperslab(tuple(starts), tuple(counts), tuple(steps), tuple(flip))


@dataclass(frozen=True)
class AxisPlan:
    """The blocks one dimension of a hyperslab touches.

    For touched block ``fragments[m]`` the elements ``in_start[m]:in_stop[m]:step``
    of the block go to ``out_start[m]:out_stop[m]`` of the output.
    """

    fragments: IntArray
    in_start: IntArray
    in_stop: IntArray
    out_start: IntArray
    out_stop: IntArray
    step: int

    def __len__(self) -> int:
        return len(self.fragments)


def plan_axis(boundaries: IntArray, start: int, count: int, step: int) -> AxisPlan:
    """Plan one dimension: which blocks ``start + step * k`` (``k < count``) falls in.

    Parameters
    ----------
    boundaries
        Block offsets along the dimension (``[0, ..., size]``).
    start, count, step
        An ascending arithmetic progression of indices (``step >= 1``).  Indices at or
        beyond the last offset (a dimension that grew past the grid) are not planned:
        the caller fills them.
    """
    empty = np.zeros(0, np.int64)
    last = start + step * (count - 1)
    if count <= 0 or len(boundaries) < 2 or start >= boundaries[-1]:
        return AxisPlan(empty, empty, empty, empty, empty, step)
    first_block = int(np.searchsorted(boundaries, start, side="right")) - 1
    last_block = int(np.searchsorted(boundaries, min(last, int(boundaries[-1]) - 1),
                                     side="right")) - 1
    blocks = np.arange(first_block, last_block + 1, dtype=np.int64)
    lo, hi = boundaries[blocks], boundaries[blocks + 1]
    # k_lo: first k with start + step*k >= lo; k_hi: first k with start + step*k >= hi.
    k_lo = np.maximum(0, -((start - lo) // step))
    k_hi = np.minimum(count, -((start - hi) // step))
    keep = k_hi > k_lo  # a large step can jump over a whole block
    blocks, lo, k_lo, k_hi = blocks[keep], lo[keep], k_lo[keep], k_hi[keep]
    in_start = start + step * k_lo - lo
    in_stop = start + step * (k_hi - 1) - lo + 1
    return AxisPlan(blocks, in_start, in_stop, k_lo, k_hi, step)


@dataclass(frozen=True)
class Piece:
    """One fragment's share of a hyperslab."""

    fragment: tuple[int, ...]
    inner: tuple[slice, ...]
    outer: tuple[slice, ...]


def plan_pieces(boundaries: Sequence[IntArray], slab: Hyperslab) -> Iterator[Piece]:
    """Yield, for every fragment the hyperslab touches, what to read and where it goes."""
    plans = [plan_axis(b, a, c, s) for b, a, c, s in
             zip(boundaries, slab.start, slab.count, slab.step, strict=True)]
    per_axis = [
        [(int(p.fragments[m]), slice(int(p.in_start[m]), int(p.in_stop[m]), p.step),
          slice(int(p.out_start[m]), int(p.out_stop[m]))) for m in range(len(p))]
        for p in plans
    ]
    for combo in itertools.product(*per_axis):
        yield Piece(tuple(c[0] for c in combo), tuple(c[1] for c in combo),
                    tuple(c[2] for c in combo))


def covered(boundaries: Sequence[IntArray], slab: Hyperslab) -> bool:
    """Whether every selected element lies inside the grid (no growth past it)."""
    return all(slab.count[k] == 0 or slab.last(k) < int(b[-1])
               for k, b in enumerate(boundaries))
