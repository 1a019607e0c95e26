"""The in-memory model of an aggregated variable and its fragment grid.

A fragment grid cuts each aggregated dimension into consecutive blocks.  Along dimension
``k`` the blocks are described by ``boundaries[k]``, the cumulative offsets
``[0, n0, n0 + n1, ..., size]`` (CF-1.13 section 2.8: the ``map`` rows are the block
lengths, the offsets their cumulative sums).  Fragment ``(i, j, ...)`` covers
``boundaries[0][i]:boundaries[0][i+1]`` along the first dimension and so on.

Everything per fragment is held in numpy arrays shaped like the grid, never as one
Python object per fragment, so that masters with 10**6 fragments stay cheap.  URIs may
stay in the master file until a fragment is touched (:class:`LazyStrings`).

A fragment URI that starts with ``#`` names a variable of the master itself, by its
full path (``#/aggregation/temp2``): CFA-0.6.2 stores fragments inside the aggregation
file that way (a missing ``file`` with an ``address``).  No other encoding produces
such URIs (a CF-1.13 URI reference may not start with ``#``); see
:func:`master_variable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MASTER_VARIABLE_PREFIX",
    "AggregatedVariable",
    "FragmentGrid",
    "LazyStrings",
    "boundaries_from_lengths",
    "master_variable",
    "regular_boundaries",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Marks a fragment URI that names a variable of the master itself (CFA-0.6.2).
MASTER_VARIABLE_PREFIX = "#"


def master_variable(uri: str) -> str | None:
    """The path of the master's own variable that ``uri`` names, else ``None``.

    ``"#/g/temp2"`` gives ``"/g/temp2"``: the fragment is that variable of the master
    file (read it like a fragment file that is the master); any other URI names a
    fragment file.
    """
    if uri.startswith(MASTER_VARIABLE_PREFIX):
        return uri[len(MASTER_VARIABLE_PREFIX):]
    return None


def regular_boundaries(size: int, block: int) -> IntArray:
    """Return offsets cutting ``size`` elements into blocks of ``block`` (last may be short).

    A dimension of size 0 has no blocks: ``[0]``.
    """
    if block <= 0:
        raise ValueError(f"block length must be positive, not {block}")
    edges = np.arange(0, size, block, dtype=np.int64)
    return np.append(edges, np.int64(size))


def boundaries_from_lengths(lengths: Sequence[int] | npt.NDArray[np.integer]) -> IntArray:
    """Return the cumulative offsets ``[0, l0, l0 + l1, ...]`` of block lengths."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths, dtype=np.int64)])


class LazyStrings:
    """A grid-shaped array of strings read from the master only when asked for.

    Parameters
    ----------
    shape
        The grid shape.
    read
        ``read(index)`` returns the string at one grid index; ``read(None)`` returns
        the whole array.
    """

    __slots__ = ("_loaded", "_read", "shape")

    def __init__(self, shape: tuple[int, ...], read: Callable[[tuple[int, ...] | None], object]):
        self.shape = shape
        self._read = read
        self._loaded: npt.NDArray[np.object_] | None = None

    def item(self, index: tuple[int, ...]) -> str:
        """Return the string of one fragment."""
        if self._loaded is not None:
            return str(self._loaded[index])
        return str(self._read(index))

    def load(self) -> npt.NDArray[np.object_]:
        """Return (and keep) the whole array as an object array of ``str``."""
        if self._loaded is None:
            values = np.asarray(self._read(None), dtype=object)
            self._loaded = values.reshape(self.shape)
        return self._loaded


@dataclass
class FragmentGrid:
    """Where each fragment of one aggregated variable sits and what it is.

    Attributes
    ----------
    boundaries
        Per aggregated dimension, the block offsets (length = blocks + 1).
    uris
        Per fragment, the fragment's URI as written in the master (relative to the
        master's location or absolute); ``""`` marks a fragment that was never
        written (or, in legacy encodings, is wholly missing); ``"#<path>"`` a
        fragment stored in the master itself as the variable ``<path>``.  ``None``
        while the grid is being written: URIs then follow the naming convention of
        :mod:`semsl.cfa.fragments`.
    present
        Per fragment, whether a fragment file exists (``False`` reads as fill value);
        ``None`` while the URIs are still in the master (then a fragment is present
        when its URI is not empty).
    identifiers
        The variable name inside the fragment files: a ``str`` shared by all
        fragments, or a grid-shaped object array.
    block_shape
        The nominal fragment shape used to extend the grid along an unlimited
        dimension, when known.
    checksums
        Per fragment, the checksum of its data recorded when it was written (``""``
        where none is known); ``None`` when the master records none.
    unique
        For a grid of constant fragments (CF-1.13 ``unique_values``): the value of
        each fragment, masked where the fragment is wholly missing; no files.
    """

    boundaries: list[IntArray]
    present: BoolArray | None
    uris: LazyStrings | npt.NDArray[np.object_] | None = None
    identifiers: str | npt.NDArray[np.object_] = ""
    block_shape: tuple[int, ...] | None = None
    unique: np.ma.MaskedArray[Any, Any] | None = None
    checksums: npt.NDArray[np.object_] | None = None

    @classmethod
    def regular(cls, shape: Sequence[int], block_shape: Sequence[int], identifier: str,
                ) -> FragmentGrid:
        """Return an empty (nothing written) grid of equal blocks over ``shape``."""
        bounds = [regular_boundaries(n, b) for n, b in zip(shape, block_shape, strict=True)]
        grid_shape = tuple(len(b) - 1 for b in bounds)
        present = np.zeros(grid_shape, dtype=bool)
        uris = np.full(grid_shape, "", dtype=object)
        return cls(bounds, present, uris, identifier, tuple(block_shape))

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of fragments along each dimension."""
        return tuple(len(b) - 1 for b in self.boundaries)

    @property
    def shape(self) -> tuple[int, ...]:
        """The aggregated array's shape (the last offset of each dimension)."""
        return tuple(int(b[-1]) for b in self.boundaries)

    @property
    def nfragments(self) -> int:
        """Total number of fragments in the grid."""
        return int(np.prod(self.grid_shape, dtype=np.int64))

    def fragment_lengths(self, axis: int) -> IntArray:
        """Block lengths along one dimension (the CF-1.13 ``map`` row)."""
        return np.diff(self.boundaries[axis])

    def fragment_slices(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """Where fragment ``index`` sits in the aggregated array."""
        return tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(self.boundaries, index,
                                                                      strict=True))

    def fragment_shape(self, index: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of fragment ``index`` according to the grid."""
        return tuple(int(b[i + 1] - b[i]) for b, i in zip(self.boundaries, index, strict=True))

    def identifier(self, index: tuple[int, ...]) -> str:
        """The variable name inside fragment ``index``."""
        if isinstance(self.identifiers, str):
            return self.identifiers
        return str(self.identifiers[index])

    def is_present(self, index: tuple[int, ...]) -> bool:
        """Whether fragment ``index`` exists (else it reads as fill value)."""
        if self.present is not None:
            return bool(self.present[index])
        return bool(self.uri(index))

    def load(self) -> tuple[BoolArray, npt.NDArray[np.object_]]:
        """Read every per-fragment value from the master; return (present, uris).

        Updating a grid needs them all in memory; reading never calls this.
        """
        uris = self.uris.load() if isinstance(self.uris, LazyStrings) else self.uris
        if uris is None:
            uris = np.full(self.grid_shape, "", dtype=object)
        self.uris = uris
        if self.present is None:
            self.present = np.asarray(uris != "", dtype=bool).reshape(self.grid_shape)
        return self.present, uris

    def record_checksum(self, index: tuple[int, ...], checksum: str) -> None:
        """Record the data checksum of fragment ``index``."""
        if self.checksums is None or self.checksums.shape != self.grid_shape:
            old = self.checksums
            self.checksums = np.full(self.grid_shape, "", dtype=object)
            if old is not None:
                self.checksums[tuple(slice(0, n) for n in old.shape)] = old
        self.checksums[index] = checksum

    def record(self, index: tuple[int, ...], uri: str) -> None:
        """Record that fragment ``index`` now exists at ``uri``."""
        present, uris = self.load()
        present[index] = True
        uris[index] = uri

    def uri(self, index: tuple[int, ...]) -> str | None:
        """The URI recorded for fragment ``index`` (``None`` if not recorded)."""
        if self.uris is None:
            return None
        if isinstance(self.uris, LazyStrings):
            return self.uris.item(index)
        return str(self.uris[index])

    def grow(self, axis: int, size: int, *, extend_last: bool = True) -> None:
        """Extend the grid along ``axis`` so that it covers ``size`` elements.

        New blocks have the nominal block length; the last block is cut to ``size``.
        Used when a write extends an unlimited dimension.  A short last block grows
        first, unless ``extend_last`` is false (its fragment files cannot grow).
        """
        bounds = self.boundaries[axis]
        if size <= bounds[-1]:
            return
        if self.block_shape is None:
            raise ValueError("cannot grow a grid whose nominal fragment shape is unknown")
        block = self.block_shape[axis]
        short_last = extend_last and self.last_block_is_short(axis)
        keep = bounds[:-1] if short_last else bounds
        start = int(keep[-1])
        tail = regular_boundaries(size - start, block)[1:] + start
        self.boundaries[axis] = np.concatenate([keep, tail])
        self._resize_per_fragment(axis)

    def last_block_is_short(self, axis: int) -> bool:
        """Whether the last block along ``axis`` is shorter than the nominal length."""
        bounds = self.boundaries[axis]
        return (self.block_shape is not None and len(bounds) > 1
                and int(bounds[-1] - bounds[-2]) < self.block_shape[axis])

    def _resize_per_fragment(self, axis: int) -> None:
        present, uris = self.load()
        extra = self.grid_shape[axis] - present.shape[axis]
        if extra <= 0:
            return
        pad = [(0, 0)] * present.ndim
        pad[axis] = (0, extra)
        self.present = np.pad(present, pad, constant_values=False)
        self.uris = np.pad(uris, pad, constant_values="")
        if self.checksums is not None:
            self.checksums = np.pad(self.checksums, pad, constant_values="")
        if not isinstance(self.identifiers, str):
            first = self.identifiers.flat[0] if self.identifiers.size else ""
            self.identifiers = np.pad(self.identifiers, pad, constant_values=first)


@dataclass
class AggregatedVariable:
    """One aggregated variable as found in (or to be written to) a master file.

    Attributes
    ----------
    name
        The variable's name in its group.
    group_path
        Path of its group in the master (``"/"`` for the root group).
    dimensions
        Names of the aggregated dimensions, in data order.
    dtype
        The aggregated data's numpy dtype.
    grid
        The fragment grid.
    bookkeeping_variables
        Names of the master variables that encode the grid (hidden from users).
    bookkeeping_dimensions
        Names of the master dimensions used only by those variables.
    bookkeeping_attributes
        Names of the variable's attributes that encode the aggregation.
    encoding
        Name of the parser that read it (``"CF-1.13"`` for new files).
    extra
        What an encoding records beyond the grid (e.g. CFA-0.6.2 alternative URIs).
    bookkeeping_groups
        Paths of master groups that only encode the grid (hidden from users with
        everything in them), e.g. the ``cfa_<var>`` group of CFA-0.5.
    """

    name: str
    group_path: str
    dimensions: tuple[str, ...]
    dtype: np.dtype[np.generic]
    grid: FragmentGrid
    bookkeeping_variables: tuple[str, ...] = ()
    bookkeeping_dimensions: tuple[str, ...] = ()
    bookkeeping_attributes: tuple[str, ...] = ()
    encoding: str = "CF-1.13"
    extra: dict[str, object] = field(default_factory=dict)
    bookkeeping_groups: tuple[str, ...] = ()
