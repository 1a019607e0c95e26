"""netCDF4-python compatible ``Dataset``, ``Group`` and aggregated ``Variable`` classes.

The classes subclass netCDF4-python's own, so a plain netCDF file opened through semsl
*is* a netCDF4 dataset: every method, keyword, error and ``repr`` is netCDF4's.  What
semsl adds lives in three places:

* ``format="CFA4"`` / ``"CFA3"`` datasets: the master file is written to a working file
  beside the target and renamed over it by :meth:`Dataset.close`, so an interrupted or
  failed write leaves the previous master untouched;
* aggregated variables (:class:`AggregatedVariable`): the master holds a scalar variable
  with the variable's attributes; netCDF4's own ``__getitem__``/``__setitem__`` turn
  keys into hyperslabs and apply mask and scale rules, and semsl overrides only the
  hyperslab transfer (``_get``/``_put``), which reads and writes fragment files;
* opening a master for reading or appending recognises aggregation variables by their
  attributes, hides the aggregation bookkeeping and presents the logical variables.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import posixpath
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import netCDF4
import numpy as np
import numpy.typing as npt

from semsl._nccopy import copy_group
from semsl.backends import registry
from semsl.backends.registry import Location
from semsl.cfa import fastread
from semsl.cfa import fragments as frag
from semsl.cfa.canonical import MasterRules
from semsl.cfa.indexing import covered, normalise_hyperslab, plan_pieces
from semsl.cfa.locations import AllowedRoots
from semsl.cfa.model import AggregatedVariable as AggregationModel
from semsl.cfa.model import FragmentGrid, master_variable
from semsl.cfa.splitter import axis_kind, choose_subarray_shape, validate_subarray_shape
from semsl.config import DEFAULT_MAX_SUBARRAY_SIZE, get_config, parse_size
from semsl.errors import (
    FragmentChecksumError,
    FragmentLocationError,
    MasterWriteError,
    SemslWarning,
    UnsupportedFeatureError,
)
from semsl.parsers.base import MasterContext, parser_for_group, parser_named
from semsl.parsers.cf_aggregation import BOOKKEEPING_ATTRIBUTES, set_conventions
from semsl.resources import NETCDF_LOCK, HandleCache, OpenFragment

__all__ = ["AggregatedVariable", "Dataset", "FragmentInfo", "Group"]

_CFA_FORMATS = {"CFA4": "NETCDF4", "CFA3": "NETCDF3_CLASSIC"}
#: Length assumed for an unlimited dimension when choosing a fragment shape: its final
#: length is unknown, and a short guess would cut time into tiny fragments.
_UNLIMITED_GUESS = 1 << 16
#: ``createVariable`` keywords of netCDF4 that describe the storage of the data, applied
#: to the fragment files of an aggregated variable.
_FRAGMENT_OPTIONS = ("compression", "zlib", "complevel", "shuffle", "szip_coding",
                     "szip_pixels_per_block", "blosc_shuffle", "fletcher32", "contiguous",
                     "chunksizes", "endian", "significant_digits", "quantize_mode",
                     "chunk_cache")
#: Attribute marking a variable that semsl adds only to give an unlimited dimension its
#: length in the master (when no other variable spans it).
_LENGTH_ROLE = "semsl_role"


# ----------------------------------------------------------------------------- state


@dataclass
class _Master:
    """What a root dataset knows about the aggregation it reads or writes."""

    target: str
    file_format: str
    writable: bool
    temp: str | None = None
    #: Where the master is stored when it is not a local file (uploaded on commit).
    remote: Location | None = None
    #: Local folder for working copies of remote masters and fragments.
    scratch: str = field(default_factory=lambda: get_config().resources.cache_dir)
    #: Folder (or URI prefix) for new fragments; default: beside the master.
    fragment_location: str | None = None
    #: Where fragments may be read from (see semsl.cfa.locations).
    roots: AllowedRoots = field(default_factory=lambda: AllowedRoots(()))
    #: Check each fragment's data against the master's checksum when it is opened.
    verify_checksums: bool = False
    #: Encoding to write (None: CF-1.13 for new masters, the master's own on update).
    cfa_version: str | None = None
    #: Write fill-valued files for never-written fragments, so that every reader sees
    #: a strict CF-1.13 aggregation (semsl's sparse encoding is an extension).
    strict_cf: bool = False
    handles: HandleCache = field(default_factory=lambda: _handle_cache(None))
    max_subarray_size: int = DEFAULT_MAX_SUBARRAY_SIZE
    committed: bool = False
    #: When updating: the models read from the original master, by group path.
    pending: dict[str, list[AggregationModel]] = field(default_factory=dict)
    #: Hidden variables that give unlimited dimensions their length, by dimension.
    carriers: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        """The master's folder: relative fragment URIs start here."""
        return registry.parent(self.target)

    @property
    def stem(self) -> str:
        """The master's file name without its extension."""
        return posixpath.splitext(posixpath.basename(self.target.replace(os.sep, "/")))[0]

    def fragment_folder(self, override: str | None) -> str:
        """Where new fragments of a variable go.

        Its own setting, else the dataset's, else a folder named after the master,
        beside it.
        """
        chosen = override or self.fragment_location
        if chosen is None:
            return registry.join(self.folder, self.stem)
        return chosen if registry.is_remote(chosen) else os.path.abspath(chosen)


def _handle_cache(open_files: int | None) -> HandleCache:
    """A cache of open fragments within the configured file and memory budgets."""
    resources = get_config().resources
    return HandleCache(open_files or resources.open_files, resources.memory_budget)


def _output_array(shape: tuple[int, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """The array a read fills.

    In memory, or memory-mapped in the cache folder when it is larger than the memory
    budget (the file is unlinked at once and disappears with the array).
    """
    resources = get_config().resources
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes <= resources.memory_budget or nbytes == 0:
        return np.empty(shape, dtype=dtype)
    os.makedirs(resources.cache_dir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=resources.cache_dir, suffix=".semsl-read") as file:
        return np.memmap(file, dtype=dtype, mode="w+", shape=shape)


@dataclass
class _Remote:
    """A plain netCDF file on remote storage: read from memory, written via a local copy."""

    location: Location
    temp: str | None
    writable: bool


@dataclass
class _VariableState:
    """Per aggregated variable: its model, its master and how to create fragments."""

    model: AggregationModel
    master: _Master
    spec: frag.FragmentSpec | None
    written: npt.NDArray[np.bool_]
    fragment_location: str | None = None


def _set_slot(obj: Any, name: str, value: Any) -> None:
    """Set a Python-level attribute, bypassing netCDF4's ``__setattr__``.

    netCDF4 turns attribute assignment into netCDF attributes, so semsl's own state
    lives in ``__slots__`` (and netCDF4's ``ndim``) set through their descriptors.
    """
    for klass in type(obj).__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            descriptor.__set__(obj, value)
            return
    raise AttributeError(name)


def _get_slot(obj: Any, name: str) -> Any:
    for klass in type(obj).__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__get__"):
            try:
                return descriptor.__get__(obj, type(obj))
            except AttributeError:
                return None
    return None


def _root(group: Any) -> Any:
    while group.parent is not None:
        group = group.parent
    return group


def _master_of(group: Any) -> _Master | None:
    state = _get_slot(_root(group), "_semsl")
    return state if isinstance(state, _Master) else None


def _walk(group: Any) -> Iterator[Any]:
    yield group
    for child in group.groups.values():
        yield from _walk(child)


def _aggregated(group: Any) -> Iterator[AggregatedVariable]:
    """Every aggregated variable of the dataset that ``group`` belongs to."""
    for node in _walk(_root(group)):
        for var in node.variables.values():
            if isinstance(var, AggregatedVariable):
                yield var


def _find_dimension(group: Any, name: str) -> Any:
    node = group
    while node is not None:
        if name in node.dimensions:
            return node.dimensions[name]
        node = node.parent
    raise KeyError(f"dimension {name} not defined in group {group.path} or its parents")


def _find_coordinate(group: Any, name: str) -> Any | None:
    node = group
    while node is not None:
        var = node.variables.get(name)
        if var is not None and not isinstance(var, AggregatedVariable) and \
                tuple(var.dimensions) == (name,):
            return var
        if name in node.dimensions:
            return None
        node = node.parent
    return None


def _read_raw(var: Any, key: Any) -> npt.NDArray[Any]:
    """Read raw values from a user-visible variable without changing its settings."""
    saved = (var.mask, var.scale, var.always_mask, var.chartostring)
    var.set_auto_maskandscale(False)
    var.set_always_mask(False)
    var.set_auto_chartostring(False)
    try:
        return np.asarray(var[key])
    finally:
        var.set_auto_mask(saved[0])
        var.set_auto_scale(saved[1])
        var.set_always_mask(saved[2])
        var.set_auto_chartostring(saved[3])


# --------------------------------------------------------------- aggregated variable


@dataclass(frozen=True)
class FragmentInfo:
    """Read-only view of an aggregated variable's fragment grid (``var.fragments``).

    Attributes
    ----------
    grid_shape
        Number of fragments along each dimension.
    boundaries
        Per dimension, the fragment offsets ``[0, ..., size]``.
    encoding
        The aggregation encoding of the master (``"CF-1.13"``).
    """

    grid_shape: tuple[int, ...]
    boundaries: tuple[npt.NDArray[np.int64], ...]
    encoding: str
    _grid: FragmentGrid
    _folder: str

    @property
    def nfragments(self) -> int:
        """Total number of fragments."""
        return self._grid.nfragments

    @property
    def fragment_shape(self) -> tuple[int, ...] | None:
        """The nominal fragment shape (``None`` if fragments are unequal)."""
        return self._grid.block_shape

    def shape_of(self, index: Sequence[int]) -> tuple[int, ...]:
        """The shape of fragment ``index``."""
        return self._grid.fragment_shape(tuple(index))

    def identifier(self, index: Sequence[int]) -> str:
        """The name of the variable inside fragment ``index``."""
        return self._grid.identifier(tuple(index))

    def uri(self, index: Sequence[int]) -> str:
        """The URI recorded for fragment ``index`` (``""`` if it was never written)."""
        return self._grid.uri(tuple(index)) or ""

    def path(self, index: Sequence[int]) -> str | None:
        """Where fragment ``index`` is: a path or a URI (``None`` if never written)."""
        uri = self.uri(index)
        if master_variable(uri) is not None:
            return None  # the fragment is a variable of the master itself
        return frag.resolve_uri(uri, self._folder) if uri else None

    def present(self) -> npt.NDArray[np.bool_]:
        """Per fragment, whether it exists (reads every URI from the master)."""
        return self._grid.load()[0].copy()


class AggregatedVariable(netCDF4.Variable):  # type: ignore[misc,type-arg]
    """A variable whose data is stored in fragment files.

    It behaves like ``netCDF4.Variable`` in every respect (indexing, attributes, mask
    and scale settings, ``repr``); its attributes live on a scalar variable in the
    master, its data in the fragments listed in the master.  ``fragments`` shows the
    fragment grid.
    """

    __slots__ = ("_semsl",)

    @classmethod
    def _attach(cls, group: Any, state: _VariableState) -> AggregatedVariable:
        scalar = group.variables[state.model.name]
        var = cls(group, state.model.name, scalar.dtype, (), id=scalar._varid)
        _set_slot(var, "_semsl", state)
        _set_slot(var, "ndim", len(state.model.dimensions))
        group.variables[state.model.name] = var
        return var

    @property
    def _state(self) -> _VariableState:
        state: _VariableState = _get_slot(self, "_semsl")
        return state

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Names of the variable's dimensions."""
        return self._state.model.dimensions

    @property
    def shape(self) -> tuple[int, ...]:
        """Current sizes of the variable's dimensions."""
        return tuple(len(_find_dimension(self._grp, d)) for d in self.dimensions)

    @property
    def fragments(self) -> FragmentInfo:
        """The fragment grid: shape, boundaries, URIs and which fragments exist."""
        grid = self._state.model.grid
        return FragmentInfo(grid.grid_shape, tuple(grid.boundaries),
                            self._state.model.encoding, grid, self._state.master.folder)

    def to_dask(self, *, mask_and_scale: bool = True) -> Any:
        """Return the variable as a dask array, one chunk per fragment (``semsl[dask]``).

        The chunks' tasks open the master and fragments themselves, so the array works
        on a distributed cluster.
        """
        from semsl.frontends.dask import to_dask  # noqa: PLC0415 (optional dependency)

        return to_dask(self, mask_and_scale=mask_and_scale)

    def ncattrs(self) -> list[str]:
        """The variable's attributes, without the aggregation bookkeeping."""
        state: _VariableState | None = _get_slot(self, "_semsl")
        hidden = state.model.bookkeeping_attributes if state is not None else ()
        return [name for name in super().ncattrs() if name not in hidden]

    def chunking(self) -> Literal["contiguous"] | list[int]:
        """The fragment shape stands for netCDF chunking: the unit of storage."""
        block = self._state.model.grid.block_shape
        return list(block) if block else "contiguous"

    # ---- reading

    def _context(self, uri: str = "") -> dict[str, str]:
        return {"master": self._state.master.target, "variable": self._path}

    @property
    def _path(self) -> str:
        return f"{self._grp.path.rstrip('/')}/{self._state.model.name}"

    def _fill(self) -> Any:
        if "_FillValue" in super().ncattrs():
            return self.getncattr("_FillValue")
        return netCDF4.default_fillvals.get(self.dtype.str[1:], 0)

    def _get(self, start: Any, count: Any, stride: Any) -> npt.NDArray[Any]:
        slab = normalise_hyperslab(start, count, stride)
        shape = self.shape
        for k, size in enumerate(shape):
            if slab.count[k] and (slab.start[k] < 0 or slab.last(k) >= size):
                self._raise_out_of_bounds(k)
        out = _output_array(slab.count, self.dtype)
        grid = self._state.model.grid
        pieces = [(p, grid.is_present(p.fragment)) for p in
                  plan_pieces(grid.boundaries, slab)]
        fill = self._fill()
        if not covered(grid.boundaries, slab) or not all(ok for _, ok in pieces):
            out.fill(fill)
        if grid.unique is not None:  # constant fragments: no files (CF-1.13 unique_values)
            for piece, _ in pieces:
                value = grid.unique[piece.fragment]
                out[piece.outer] = fill if value is np.ma.masked else value
            return np.flip(out, axis=slab.flip) if slab.flip else out
        self._prefetch([p.fragment for p, present in pieces if present])
        for piece, present in pieces:
            if present:
                entry = self._open(piece.fragment, writable=False)
                out[piece.outer] = frag.read_piece(entry, grid.identifier(piece.fragment),
                                                   piece.inner, fill)
        if slab.flip:
            out = np.flip(out, axis=slab.flip)
        return out

    def _location(self, index: tuple[int, ...]) -> str:
        master = self._state.master
        uri = self._state.model.grid.uri(index) or ""
        if master_variable(uri) is not None:  # a fragment inside the master (CFA-0.6.2)
            return master.target
        where = frag.resolve_uri(uri, master.folder)
        if not master.roots.allows(where):
            raise FragmentLocationError(
                "the master names a fragment outside the allowed locations (its own folder "
                "and allowed_roots); nothing was read. If you trust this master, pass "
                "Dataset(..., allowed_roots=[...]) or add the location to allowed_roots in "
                "the configuration", master=master.target, variable=self._path, uri=where)
        return where

    def _prefetch(self, indices: list[tuple[int, ...]]) -> None:
        """Fetch the remote fragments a read needs concurrently, before opening them."""
        master = self._state.master
        wanted = [u for u in map(self._location, indices)
                  if registry.is_remote(u) and u not in master.handles]
        if len(wanted) < 2:
            return
        context = frag.FragmentContext(master.target, self._path)
        for uri, data in zip(wanted, frag.fetch_many(wanted, context), strict=True):
            master.handles.get(uri, False, functools.partial(
                frag.open_fragment, uri, False, context, scratch=master.scratch, data=data))

    def _raise_out_of_bounds(self, axis: int) -> None:
        """Raise what netCDF-C reports for a read past the end of a dimension.

        A netCDF-3 file open for writing checks the record dimension with an edge test
        ("Start+count exceeds dimension bound", a RuntimeError in netCDF4); everything
        else is an invalid coordinate (IndexError).
        """
        master = self._state.master
        if master.writable and master.file_format.startswith("NETCDF3") and \
                self._unlimited()[axis]:
            raise RuntimeError("NetCDF: Start+count exceeds dimension bound")
        raise IndexError("index exceeds dimension bounds")

    def _open(self, index: tuple[int, ...], writable: bool) -> OpenFragment:
        state, grid = self._state, self._state.model.grid
        uri = self._location(index)
        context = frag.FragmentContext(state.master.target, self._path, uri)
        opener = functools.partial(frag.open_fragment, uri, writable, context,
                                   scratch=state.master.scratch)
        if not state.master.writable and not registry.is_remote(uri):
            opener = functools.partial(self._open_local_fast, uri, index, opener)
        entry = state.master.handles.get(uri, writable, opener)
        frag.check_fragment(entry, grid.identifier(index), grid.fragment_shape(index),
                            self._rules(), self.dimensions, self._unlimited(), context,
                            writing=writable)
        if state.master.verify_checksums and not entry.verified:
            self._verify_checksum(entry, index, uri)
        return entry

    def _verify_checksum(self, entry: OpenFragment, index: tuple[int, ...], uri: str) -> None:
        recorded = self._state.model.grid.checksums
        expected = str(recorded[index]) if recorded is not None else ""
        if expected and frag.fragment_checksum(entry, self._state.model.grid.identifier(
                index)) != expected:
            raise FragmentChecksumError(
                "the fragment's data do not match the checksum recorded in the master; "
                "it was changed or corrupted after it was written",
                master=self._state.master.target, variable=self._path, uri=uri)
        entry.verified = True

    def _open_local_fast(self, path: str, index: tuple[int, ...], fallback: Any,
                         ) -> OpenFragment:
        """Open a local fragment for reading with :mod:`semsl.cfa.fastread` if it can."""
        grid = self._state.model.grid
        name = grid.identifier(index).lstrip("/")
        found = fastread.open_fast(path, name, grid.fragment_shape(index), self._unlimited(),
                                   self._rules())
        if found is None:
            return fallback()  # type: ignore[no-any-return]
        handle, adapter = found
        return OpenFragment(handle, writable=False, checked=True, adapters={name: adapter})

    def _rules(self) -> MasterRules:
        """What the master's variable says about values (canonical form of fragments)."""
        attributes = {name: self.getncattr(name) for name in self.ncattrs()}
        return MasterRules(self.dtype, self._fill(), attributes)

    def _unlimited(self) -> tuple[bool, ...]:
        return tuple(_find_dimension(self._grp, d).isunlimited() for d in self.dimensions)

    # ---- writing

    def _put(self, data: Any, start: Any, count: Any, stride: Any) -> None:
        state = self._state
        if not state.master.writable:
            raise RuntimeError("NetCDF: Write to read only")
        if state.model.grid.unique is not None:
            raise UnsupportedFeatureError(
                f"{self._path!r} in {state.master.target!r} is aggregated from constant "
                "fragments (CF-1.13 unique_values); semsl cannot write into it")
        slab = normalise_hyperslab(start, count, stride)
        values = np.asarray(data)
        if slab.flip and values.ndim < len(slab.count):
            # netCDF4's own _put reverses the data with one slice per dimension and so
            # fails when an integer index removed a dimension; do as netCDF4 does.
            raise IndexError("too many indices for array")
        if values.size != int(np.prod(slab.count)):
            raise IndexError("size of data array does not conform to slice")
        values = values.astype(self.dtype, copy=False).reshape(slab.count)
        if slab.flip:
            values = np.flip(values, axis=slab.flip)
        self._grow(slab)
        grid = state.model.grid
        for piece in plan_pieces(grid.boundaries, slab):
            entry = self._open_for_write(piece.fragment)
            frag.write_piece(entry, grid.identifier(piece.fragment), piece.inner,
                             values[piece.outer])

    def _grow(self, slab: Any) -> None:
        """Extend the grid (and the master's dimension) for writes past the end.

        Every dimension is checked before anything grows, so a write that fails leaves
        the shape as it was (as netCDF4 does).
        """
        grid, shape, unlimited = self._state.model.grid, self.shape, self._unlimited()
        ends = [slab.last(k) + 1 if slab.count[k] else 0 for k in range(len(shape))]
        if any(not u and end > n for u, end, n in zip(unlimited, ends, shape, strict=True)):
            raise RuntimeError("NetCDF: Index exceeds dimension bound")
        for k, end in enumerate(ends):
            if unlimited[k] and end > grid.shape[k]:
                grid.grow(k, end, extend_last=self._last_block_can_grow(k))
                self._state.written = _pad_to(self._state.written, grid.grid_shape)
                _extend_dimension(self._grp, self.dimensions[k], end, self._state.master)

    def _last_block_can_grow(self, axis: int) -> bool:
        """Whether the fragments of a short last block along ``axis`` can be extended.

        semsl makes that dimension unlimited in its fragments; other writers may not
        have, and then new fragments start after the short block instead.
        """
        grid = self._state.model.grid
        if not grid.last_block_is_short(axis):
            return True
        present, _ = grid.load()
        found = np.argwhere(np.take(present, [present.shape[axis] - 1], axis=axis))
        if not len(found):
            return True
        index = tuple(int(i) for i in found[0])
        index = (*index[:axis], present.shape[axis] - 1, *index[axis + 1:])
        entry = self._open(index, writable=False)
        var = frag.fragment_variable(entry.dataset, grid.identifier(index))
        return bool(entry.dataset.dimensions[var.dimensions[axis]].isunlimited())

    def _open_for_write(self, index: tuple[int, ...]) -> OpenFragment:
        state, grid = self._state, self._state.model.grid
        if grid.is_present(index):
            entry = self._open(index, writable=True)
            state.written[index] = True
            return entry
        spec = state.spec
        if spec is None:
            raise RuntimeError("NetCDF: Write to read only")
        master = state.master
        name = frag.fragment_name(master.stem, self._path, index, grid.grid_shape,
                                  self._unlimited())
        folder = master.fragment_folder(state.fragment_location)
        master.roots.add(folder)  # what this writer chose, it may read back
        uri = registry.join(folder, name)
        entry = master.handles.get(uri, True, functools.partial(
            frag.create_fragment, uri, spec, grid.fragment_shape(index),
            grid.identifier(index), scratch=master.scratch, block=grid.block_shape,
            coordinates=self._coordinate_types()))
        grid.record(index, frag.relative_uri(uri, master.folder))
        state.written[index] = True
        return entry

    def _coordinate_types(self) -> dict[str, tuple[Any, dict[str, Any]]]:
        """The data type and attributes of this variable's coordinate variables."""
        found = {}
        for dim in self.dimensions:
            coord = _find_coordinate(self._grp, dim)
            if coord is not None and getattr(coord, "_isprimitive", False):
                found[dim] = (coord.dtype, {a: coord.getncattr(a) for a in coord.ncattrs()})
        return found

    # ---- closing

    def _finalize(self) -> None:
        """Complete every fragment written in this session and record the grid."""
        state, grid = self._state, self._state.model.grid
        for k, unlimited in enumerate(self._unlimited()):
            if unlimited and grid.shape[k] < self.shape[k] and grid.unique is None:
                grid.grow(k, self.shape[k], extend_last=self._last_block_can_grow(k))
                state.written = _pad_to(state.written, grid.grid_shape)
        if state.master.strict_cf and grid.unique is None:
            for index in map(tuple, np.argwhere(~grid.load()[0])):
                self._open_for_write(index)  # a fragment of fill values
        global_attrs = {a: _root(self._grp).getncattr(a) for a in _root(self._grp).ncattrs()}
        var_attrs = {a: self.getncattr(a) for a in self.ncattrs()}
        for index in map(tuple, np.argwhere(state.written)):
            entry = self._open_for_write(index)
            frag.write_metadata(entry, grid.identifier(index),
                                self._metadata(index, global_attrs, var_attrs), self._fill())
            grid.record_checksum(index, frag.fragment_checksum(entry, grid.identifier(index)))
        state.written[...] = False

    def _metadata(self, index: tuple[int, ...], global_attrs: dict[str, Any],
                  var_attrs: dict[str, Any]) -> frag.FragmentMetadata:
        grid = self._state.model.grid
        where = grid.fragment_slices(index)
        coords = {}
        for dim, sl in zip(self.dimensions, where, strict=True):
            coord = _find_coordinate(self._grp, dim)
            if coord is not None:
                attrs = {a: coord.getncattr(a) for a in coord.ncattrs()}
                coords[dim] = (_read_raw(coord, sl), attrs)
        return frag.FragmentMetadata(
            variable=self._path, master=os.path.basename(self._state.master.target),
            master_dimensions=self.dimensions,
            unlimited_dimensions=tuple(d for d, u in zip(self.dimensions, self._unlimited(),
                                                         strict=True) if u),
            master_shape=self.shape, start=tuple(s.start for s in where), index=index,
            shape=grid.fragment_shape(index), global_attributes=global_attrs,
            variable_attributes=var_attrs, coordinates=coords)


def _pad_to(array: npt.NDArray[np.bool_], shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    pad = [(0, n - m) for n, m in zip(shape, array.shape, strict=True)]
    return np.pad(array, pad, constant_values=False)


def _extend_dimension(group: Any, name: str, length: int, master: _Master) -> None:
    """Give an unlimited dimension of the master at least ``length`` elements.

    netCDF sets an unlimited dimension's length from the variables written along it,
    and an aggregated variable writes nothing into the master: the fill value goes into
    the last record of a plain variable along the dimension (it read as fill value
    already), or of a one-byte carrier variable when there is none.
    """
    dim = _find_dimension(group, name)
    if len(dim) >= length:
        return
    owner = dim.group()
    carrier = master.carriers.get((owner.path, name)) or next(
        (v for g in _walk(owner) for v in g.variables.values()
         if not isinstance(v, AggregatedVariable) and name in v.dimensions
         and v.dtype != str and getattr(v, "_isprimitive", False)), None)
    if carrier is None:
        carrier = netCDF4.Dataset.createVariable(owner, f"semsl_length_{name}", "i1", (name,))
        carrier.setncattr(_LENGTH_ROLE, "dimension_length")
        owner.variables.pop(carrier.name)  # hidden from users
        master.carriers[(owner.path, name)] = carrier
    key = tuple(length - 1 if d == name else 0 for d in carrier.dimensions)
    fill = carrier.getncattr("_FillValue") if "_FillValue" in carrier.ncattrs() else \
        netCDF4.default_fillvals.get(carrier.dtype.str[1:], 0)
    saved = (carrier.mask, carrier.scale)
    carrier.set_auto_maskandscale(False)
    try:
        carrier[key] = fill
    finally:
        carrier.set_auto_mask(saved[0])
        carrier.set_auto_scale(saved[1])


# ----------------------------------------------------------------- groups and dataset


class _Aggregating:
    """What ``Dataset`` and ``Group`` add to netCDF4's groups: aggregated variables."""

    __slots__ = ()

    def createGroup(self, groupname: str) -> Group:
        """Create a group, or a path of nested groups (like ``mkdir -p``), as netCDF4 does.

        Existing groups are returned; new ones are semsl groups, which can hold
        aggregated variables.
        """
        group: Any = self
        for name in posixpath.normpath(groupname).split("/"):
            if not name:
                continue
            if name not in group.groups:
                group.groups[name] = Group(group, name)
            group = group.groups[name]
        return group  # type: ignore[no-any-return]

    def createVariable(
        self, varname: str, datatype: Any, dimensions: Any = (), compression: Any = None,
        zlib: bool = False, complevel: int = 4, shuffle: bool = True,
        szip_coding: str = "nn", szip_pixels_per_block: int = 8, blosc_shuffle: int = 1,
        fletcher32: bool = False, contiguous: bool = False, chunksizes: Any = None,
        endian: str = "native", least_significant_digit: Any = None,
        significant_digits: Any = None, quantize_mode: str = "BitGroom",
        fill_value: Any = None, chunk_cache: Any = None, *, aggregate: bool | None = None,
        subarray_shape: Sequence[int] | None = None,
        max_subarray_size: int | str | None = None, fragment_location: str | None = None,
    ) -> Any:
        """Create a variable, as ``netCDF4.Dataset.createVariable`` does.

        In a ``CFA4``/``CFA3`` dataset a variable with dimensions that is not a
        coordinate variable is aggregated: its data goes to fragment files.

        Parameters
        ----------
        aggregate
            ``False`` keeps the variable in the master; ``True`` asks for aggregation;
            ``None`` (default) aggregates every numeric non-coordinate variable with
            dimensions.
        subarray_shape
            The fragment shape.
        max_subarray_size
            Largest fragment size when ``subarray_shape`` is not given (bytes or a
            string like ``"50MB"``; default 50 MB).
        fragment_location
            Folder or URI prefix for this variable's fragments (default: the dataset's).

        The other keywords are netCDF4's; for an aggregated variable the storage
        keywords (compression, chunking, endianness, quantization) apply to its
        fragment files.
        """
        options = {"compression": compression, "zlib": zlib, "complevel": complevel,
                   "shuffle": shuffle, "szip_coding": szip_coding,
                   "szip_pixels_per_block": szip_pixels_per_block,
                   "blosc_shuffle": blosc_shuffle, "fletcher32": fletcher32,
                   "contiguous": contiguous, "chunksizes": chunksizes, "endian": endian,
                   "significant_digits": significant_digits, "quantize_mode": quantize_mode,
                   "chunk_cache": chunk_cache}
        nc: Any = self
        folder, leaf = posixpath.split(posixpath.normpath(varname))
        if folder:  # netCDF4 accepts a path and creates the groups on the way
            return nc.createGroup(folder).createVariable(
                leaf, datatype, dimensions, least_significant_digit=least_significant_digit,
                fill_value=fill_value, aggregate=aggregate, subarray_shape=subarray_shape,
                max_subarray_size=max_subarray_size, fragment_location=fragment_location,
                **options)
        master = _master_of(nc)
        dims = _dimension_names(dimensions)
        if master is None or not master.writable or not _should_aggregate(
                varname, datatype, dims, aggregate, master):
            if subarray_shape is not None or max_subarray_size is not None or \
                    fragment_location is not None:
                raise ValueError(
                    f"subarray_shape, max_subarray_size and fragment_location apply to "
                    f"aggregated variables; "
                    f"{varname!r} is not aggregated (use a CFA4/CFA3 dataset, and do not pass "
                    f"aggregate=False)")
            return netCDF4.Dataset.createVariable(
                nc, varname, datatype, dimensions, least_significant_digit=
                least_significant_digit, fill_value=fill_value, **options)
        var = _create_aggregated(nc, master, varname, datatype, dims, options, fill_value,
                                 least_significant_digit, subarray_shape, max_subarray_size)
        var._state.fragment_location = fragment_location
        return var

    def renameVariable(self, oldname: str, newname: str) -> None:
        """Rename a variable, as netCDF4 does (aggregated ones keep their fragments)."""
        nc: Any = self
        netCDF4.Dataset.renameVariable(nc, oldname, newname)
        var = nc.variables[newname]
        if isinstance(var, AggregatedVariable):
            var._state.model.name = newname

    def renameDimension(self, oldname: str, newname: str) -> None:
        """Rename a dimension, as netCDF4 does, in aggregated variables too."""
        nc: Any = self
        netCDF4.Dataset.renameDimension(nc, oldname, newname)
        master = _master_of(nc)
        for var in _aggregated(nc) if master else ():
            state = var._state
            state.model.dimensions = tuple(newname if d == oldname else d
                                           for d in state.model.dimensions)
            if state.spec is not None:
                state.spec.dimensions = state.model.dimensions


def _dimension_names(dimensions: Any) -> tuple[str, ...]:
    if isinstance(dimensions, str | netCDF4.Dimension):
        dimensions = (dimensions,)
    return tuple(d.name if isinstance(d, netCDF4.Dimension) else str(d) for d in dimensions)


def _should_aggregate(name: str, datatype: Any, dims: tuple[str, ...], aggregate: bool | None,
                      master: _Master) -> bool:
    numeric = isinstance(datatype, str | type | np.dtype) and _is_numeric(datatype)
    if aggregate is False:
        return False
    if aggregate and (not numeric or not dims):
        raise UnsupportedFeatureError(
            f"variable {name!r} cannot be aggregated: only numeric variables with dimensions "
            f"can (master {master.target!r})")
    return bool(aggregate) or (numeric and bool(dims) and dims != (name,))


def _is_numeric(datatype: Any) -> bool:
    try:
        return np.dtype(datatype).kind in "iuf"
    except TypeError:
        return False


def _create_aggregated(group: Any, master: _Master, name: str, datatype: Any,
                       dims: tuple[str, ...], options: dict[str, Any], fill_value: Any,
                       least_significant_digit: Any, subarray_shape: Sequence[int] | None,
                       max_subarray_size: int | str | None) -> AggregatedVariable:
    dtype = np.dtype(datatype)
    dim_objects = [_find_dimension(group, d) for d in dims]
    shape = tuple(len(d) for d in dim_objects)
    unlimited = tuple(d.isunlimited() for d in dim_objects)
    if subarray_shape is not None:
        block = validate_subarray_shape(shape, subarray_shape, unlimited, variable=name)
    else:
        budget = (parse_size(max_subarray_size, what="max_subarray_size")
                  if max_subarray_size is not None else master.max_subarray_size)
        block = _choose_block(group, dims, shape, unlimited, dtype, budget)
    netCDF4.Dataset.createVariable(group, name, dtype, (), fill_value=fill_value,
                                   least_significant_digit=least_significant_digit)
    spec = frag.FragmentSpec(master.file_format, dims, unlimited, dtype, fill_value,
                             {k: v for k, v in options.items() if k in _FRAGMENT_OPTIONS},
                             datatype)
    model = AggregationModel(name, group.path, dims, dtype,
                             FragmentGrid.regular(shape, block, name),
                             bookkeeping_attributes=BOOKKEEPING_ATTRIBUTES)
    written = np.zeros(model.grid.grid_shape, dtype=bool)
    return AggregatedVariable._attach(group, _VariableState(model, master, spec, written))


def _choose_block(group: Any, dims: tuple[str, ...], shape: tuple[int, ...],
                  unlimited: tuple[bool, ...], dtype: np.dtype[Any], budget: int,
                  ) -> tuple[int, ...]:
    """The fragment shape for a variable created without ``subarray_shape``."""
    guess = tuple(max(n, _UNLIMITED_GUESS) if u else n
                  for n, u in zip(shape, unlimited, strict=True))
    axes = [axis_kind(d, _attributes(_find_coordinate(group, d))) for d in dims]
    return choose_subarray_shape(guess, dtype.itemsize, axes, budget)


def _attributes(var: Any) -> dict[str, Any] | None:
    if var is None:
        return None
    return {a: var.getncattr(a) for a in var.ncattrs()}


class Group(_Aggregating, netCDF4.Group):  # type: ignore[misc]
    """A netCDF4 group that can hold aggregated variables (see ``netCDF4.Group``)."""

    __slots__ = ()

    def __init__(self, parent: Any, name: str, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        _adopt_groups(self)


def _adopt_groups(node: Any) -> None:
    """Replace the child groups netCDF4 built with semsl ``Group`` objects."""
    for name, child in list(node.groups.items()):
        if not isinstance(child, Group):
            node.groups[name] = Group(node, name, id=child._grpid)


class Dataset(_Aggregating, netCDF4.Dataset):  # type: ignore[misc]
    """A netCDF dataset, plain or aggregated: a drop-in ``netCDF4.Dataset``.

    Parameters are netCDF4's, and:

    format
        Also ``"CFA4"`` (netCDF-4 master and fragments) or ``"CFA3"`` (netCDF-3 classic
        master and fragments) to write an aggregated dataset.  When reading, the
        format is found from the file.
    max_subarray_size
        Default largest fragment size for the dataset's aggregated variables.
    open_files
        Most fragment files kept open at once (least recently used are closed).
    fragment_location
        Folder or URI prefix for the fragments of new aggregated variables (default:
        a folder named after the master, beside it).
    strict_cf
        When writing, also store never-written fragments (as fill values) so that the
        master is a strict CF-1.13 aggregation for every reader.
    allowed_roots
        Folders or URI prefixes fragments may be read from, besides the master's own
        folder and the configuration's ``allowed_roots``; given (or configured), a
        fragment elsewhere raises :class:`~semsl.errors.FragmentLocationError` before
        anything is opened (``[]`` limits reads to the master's folder).
    verify_checksums
        Check each fragment's data against the checksum the master records when the
        fragment is first read (:class:`~semsl.errors.FragmentChecksumError`).
    cfa_version
        The aggregation encoding to write: ``"CF-1.13"`` (default for new masters),
        ``"CFA-0.5"`` (netCDF-4 masters) or ``"CFA-0.4"``; an updated master keeps its
        own encoding unless this is given.
    """

    __slots__ = ("_semsl",)

    def __init__(self, filename: Any, mode: str = "r", clobber: bool = True,
                 format: str = "NETCDF4", diskless: bool = False, persist: bool = False,
                 keepweakref: bool = False, memory: Any = None, encoding: Any = None,
                 parallel: bool = False, comm: Any = None, info: Any = None,
                 *, max_subarray_size: int | str | None = None, open_files: int | None = None,
                 fragment_location: str | None = None, strict_cf: bool = False,
                 cfa_version: str | None = None, allowed_roots: Sequence[str] | None = None,
                 verify_checksums: bool = False, **kwargs: Any) -> None:
        _LIVE.add(self)
        if parallel or comm is not None or info is not None:
            raise UnsupportedFeatureError(
                f"semsl does not do parallel (MPI) I/O; open {filename!r} without parallel=, "
                "comm= and info= (aggregated datasets are read concurrently anyway)")
        fmt = str(format).upper()
        common = {"keepweakref": keepweakref, "encoding": encoding, **kwargs}
        state = self._open_any(filename, mode, clobber, fmt, diskless, persist, memory, common)
        _set_slot(self, "_semsl", state)
        _adopt_groups(self)
        master = state if isinstance(state, _Master) else None
        if state is None or (isinstance(state, _Remote) and not state.writable):
            master = self._attach_read(state)
            if master is not None:
                _set_slot(self, "_semsl", master)
        if master is not None:
            if max_subarray_size is not None:
                master.max_subarray_size = parse_size(max_subarray_size,
                                                      what="max_subarray_size")
            if open_files is not None:
                master.handles = _handle_cache(open_files)
            master.fragment_location = fragment_location
            master.strict_cf = strict_cf
            master.cfa_version = _writable_encoding(cfa_version, master)
            master.verify_checksums = verify_checksums
            configured = [*get_config().allowed_roots, *(allowed_roots or ())]
            master.roots = AllowedRoots(
                [master.folder, *configured, *([fragment_location] if fragment_location
                                               else [])],
                enforced=bool(configured) or allowed_roots is not None)
            self._attach(master)
        elif fragment_location is not None:
            raise ValueError("fragment_location applies to aggregated datasets (CFA4/CFA3)")

    # ---- opening

    def _open_any(self, filename: Any, mode: str, clobber: bool, fmt: str, diskless: bool,
                  persist: bool, memory: Any, common: dict[str, Any],
                  ) -> _Master | _Remote | None:
        """Open the file the way its mode, format and location ask for."""
        plain = memory is not None or diskless or not isinstance(filename, str | os.PathLike)
        if fmt in _CFA_FORMATS and mode.startswith(("w", "x")):
            if diskless or memory is not None:
                raise UnsupportedFeatureError(
                    f"aggregated datasets are written to files; diskless= and memory= "
                    f"cannot be used with a CFA format ({filename!r})")
            return self._open_new(registry.locate(filename), mode, clobber,
                                  _CFA_FORMATS[fmt], common)
        if plain or not (registry.is_remote(os.fspath(filename))
                         or mode.startswith(("a", "r+"))):
            super().__init__(filename, cast(Any, mode), clobber,
                             cast(Any, _CFA_FORMATS.get(fmt, fmt)), diskless, persist,
                             memory=memory, **common)
            return None
        return self._open_stored(registry.locate(filename), mode, clobber,
                                 _CFA_FORMATS.get(fmt, fmt), common)

    def _open_stored(self, where: Location, mode: str, clobber: bool, file_format: str,
                     common: dict[str, Any]) -> _Master | _Remote | None:
        """Open an existing file for updating, or a remote file in any mode."""
        if mode.startswith(("w", "x")):
            _refuse_existing(where, mode, clobber)
            temp = _working_name(where.given, remote=where)
            super().__init__(temp, "w", True, cast(Any, file_format), **common)
            return _Remote(where, temp, writable=True)
        if mode.startswith("r") and "+" not in mode:
            if where.backend.size(where.uri) > get_config().resources.memory_budget:
                local = _download(where)  # too large for memory: read from the cache folder
                try:
                    super().__init__(local, cast(Any, mode), **common)
                finally:
                    os.remove(local)  # the open file stays readable
                return _Remote(where, None, writable=False)
            data = _fetch(where)
            # netCDF-C parses a name with "://" as a URL even with memory=: give it
            # the bare file name; filepath() still answers the URI.
            name = posixpath.basename(where.uri) or "remote.nc"
            try:
                super().__init__(name, cast(Any, mode), memory=data, **common)
            except PermissionError:  # see semsl.cfa.fragments.open_bytes
                local = _download(where)
                try:
                    super().__init__(local, cast(Any, mode), **common)
                finally:
                    os.remove(local)
            return _Remote(where, None, writable=False)
        local = where.uri if where.is_local else _download(where)
        if _is_master(local):
            return self._open_update(where, local, common)
        if where.is_local:
            super().__init__(where.uri, cast(Any, mode), **common)
            return None
        super().__init__(local, "a", **common)
        return _Remote(where, local, writable=True)

    def _open_new(self, where: Location, mode: str, clobber: bool, file_format: str,
                  common: dict[str, Any]) -> _Master:
        _refuse_existing(where, mode, clobber)
        temp = _working_name(where.given, remote=None if where.is_local else where)
        super().__init__(temp, "w", True, cast(Any, file_format), **common)
        return _Master(_target(where), file_format, writable=True, temp=temp,
                       remote=None if where.is_local else where)

    def _open_update(self, where: Location, source_path: str, common: dict[str, Any],
                     ) -> _Master:
        """Update a master: work on a copy without its bookkeeping, commit on close."""
        temp = _working_name(where.given, remote=None if where.is_local else where)
        with NETCDF_LOCK:
            source = netCDF4.Dataset(source_path, "r")
        try:
            hidden, models = _bookkeeping(source, _target(where))
            out = netCDF4.Dataset(temp, "w", format=source.data_model)
            try:
                copy_group(source, out,
                           skip_variables=lambda g, v: f"{g.rstrip('/')}/{v}" in
                           hidden.variables,
                           skip_dimensions=lambda g, d: (g, d) in hidden.dimensions,
                           skip_attributes=hidden.skips_attribute,
                           skip_groups=lambda g: g in hidden.groups)
            finally:
                out.close()
            file_format = source.data_model
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temp)
            raise
        finally:
            source.close()
            if not where.is_local:
                with contextlib.suppress(OSError):
                    os.remove(source_path)
        super().__init__(temp, "a", **common)
        return _Master(_target(where), file_format, writable=True, temp=temp, pending=models,
                       remote=None if where.is_local else where)

    def _attach_read(self, remote: _Remote | None) -> _Master | None:
        if not any(parser_for_group(g) for g in _walk(self)):
            return None
        target = remote.location.given if remote else os.path.abspath(super().filepath())
        return _Master(target, self.data_model, writable=False,
                       remote=remote.location if remote else None)

    def _attach(self, master: _Master) -> None:
        """Present the aggregated variables found in the master's groups."""
        source_of_models = self._models_from_source(master)
        hidden = _Hidden()
        for group in list(_walk(self)):
            models = source_of_models(group)
            for model in models:
                if master.writable:
                    model.grid.load()
                    if model.grid.block_shape is None:  # a master from another writer
                        model.grid.block_shape = _choose_block(
                            group, model.dimensions, model.grid.shape,
                            tuple(_find_dimension(group, d).isunlimited()
                                  for d in model.dimensions),
                            model.dtype, master.max_subarray_size)
                written = np.zeros(model.grid.grid_shape, dtype=bool)
                spec = self._spec_for(group, model, master) if master.writable else None
                AggregatedVariable._attach(group, _VariableState(model, master, spec, written))
                hidden.add(group.path, model)
        _hide(self, hidden, master)

    def _models_from_source(self, master: _Master) -> Any:
        if master.writable:
            # Updating: the models come from the original master; the working copy
            # holds only their scalar variables.
            pending = master.pending
            return lambda group: pending.pop(group.path, [])
        context = MasterContext(master.target)

        def read(group: Any) -> list[AggregationModel]:
            parser = parser_for_group(group)
            return parser.read(group, context) if parser else []
        return read

    def _spec_for(self, group: Any, model: AggregationModel, master: _Master,
                  ) -> frag.FragmentSpec:
        var = group.variables[model.name]
        unlimited = tuple(_find_dimension(group, d).isunlimited() for d in model.dimensions)
        fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
        return frag.FragmentSpec(master.file_format, model.dimensions, unlimited, model.dtype,
                                 fill, {})

    # ---- netCDF4 API

    def filepath(self, encoding: str | None = None) -> str:
        """The path of the dataset (of the master, for an aggregated dataset)."""
        state = _get_slot(self, "_semsl")
        if isinstance(state, _Remote):
            return state.location.given
        if isinstance(state, _Master):
            return state.target
        return str(super().filepath(encoding) if encoding else super().filepath())

    def sync(self) -> None:
        """Write buffered data to disk (the master is only written by ``close``)."""
        master = _master_of(self)
        if master is not None:
            with NETCDF_LOCK:
                for entry in list(master.handles._open.values()):
                    if entry.writable:
                        entry.dataset.sync()
        super().sync()

    def close(self) -> Any:
        """Close the dataset; an aggregated dataset being written commits its master.

        The master is written to a working file beside the target and renamed over it
        only when everything else succeeded, so a failure keeps the previous master.
        """
        state = _get_slot(self, "_semsl")
        if isinstance(state, _Remote):
            return self._close_remote(state)
        master = _master_of(self)
        if master is None:
            return super().close()
        if not master.writable:
            try:
                master.handles.close_all()
            finally:
                super().close()
            return None
        if master.committed or not self.isopen():
            return super().close() if self.isopen() else None
        try:
            self._commit(master)
        except BaseException as err:
            self._abandon(master)
            if isinstance(err, MasterWriteError) or not isinstance(err, Exception):
                raise
            raise MasterWriteError(
                f"writing the master {master.target!r} failed ({err}); the previous master, "
                "if any, is unchanged") from err
        return None

    def _commit(self, master: _Master) -> None:
        variables = list(_aggregated(self))
        for var in variables:
            var._finalize()
        parsers = {var: parser_named(master.cfa_version or var._state.model.encoding)
                   for var in variables}
        if any(p.name == "CF-1.13" for p in parsers.values()) or not variables:
            set_conventions(self)
        for var, parser in parsers.items():
            parser.write(var._state.model, var._grp)
        master.handles.close_all()
        super().close()
        if master.temp is None:
            raise MasterWriteError(f"no working file to commit for {master.target!r}")
        registry.store_file(master.temp, master.target)  # last, after every fragment
        master.committed = True

    def _close_remote(self, state: _Remote) -> Any:
        result = super().close() if self.isopen() else None
        if state.writable and state.temp is not None:
            temp, state.temp = state.temp, None
            try:
                state.location.backend.put_file(temp, state.location.uri)
            except Exception as err:
                raise MasterWriteError(
                    f"storing {state.location.given!r} failed ({err}); the data written is "
                    f"kept in {temp!r}") from err
            os.remove(temp)
        return result

    def _abandon(self, master: _Master) -> None:
        master.handles.discard_all()
        with contextlib.suppress(Exception):
            if self.isopen():
                super().close()
        if master.temp:
            with contextlib.suppress(OSError):
                os.remove(master.temp)
        master.committed = True

    def __del__(self) -> None:
        # An aggregated dataset that is dropped unclosed still commits its master, as
        # netCDF4 keeps what was written to a file that is never closed.
        try:
            master = _get_slot(self, "_semsl")
            if isinstance(master, _Master) and master.writable and not master.committed \
                    and self.isopen():
                warnings.warn(f"aggregated dataset {master.target!r} was not closed; "
                              "closing it now", SemslWarning, stacklevel=2)
                self.close()
        except Exception:  # nothing may be raised from __del__
            pass


#: Every semsl dataset not yet garbage collected (see _release_at_exit).
_LIVE: weakref.WeakSet[Dataset] = weakref.WeakSet()


@atexit.register
def _release_at_exit() -> None:
    """Close what is still open and break reference cycles before interpreter shutdown.

    netCDF4's ``Dataset.__dealloc__`` looks up a method on the object; for a subclass
    instance freed by the last garbage collection at shutdown, after its class was
    torn down, that lookup fails with a noisy "Exception ignored" message.  Emptying
    the group, variable and dimension tables here frees datasets by reference
    counting instead, while their classes still exist.
    """
    for ds in list(_LIVE):
        with contextlib.suppress(Exception):
            if ds.isopen():
                ds.close()
        master = _get_slot(ds, "_semsl")
        if isinstance(master, _Master):
            master.carriers.clear()  # hidden variables point back at the dataset
        with contextlib.suppress(Exception):
            for group in reversed(list(_walk(ds))):
                group.variables.clear()
                group.dimensions.clear()
                group.groups.clear()


# ---- helpers for opening masters


def _working_name(target: str, remote: Location | None = None) -> str:
    """A working file beside the target, or in the cache folder for a remote target."""
    return registry.working_file(target if remote is None else remote.given)


def _target(where: Location) -> str:
    """How a master is named in messages and joined with relative fragment URIs."""
    return where.uri if where.is_local else where.given


def _refuse_existing(where: Location, mode: str, clobber: bool) -> None:
    """Mode ``x``, or ``w`` with ``clobber=False``, refuses an existing file (as netCDF4)."""
    if (mode.startswith("x") or not clobber) and where.backend.exists(where.uri):
        raise FileExistsError(17, "File exists", where.given)


def _fetch(where: Location) -> bytes:
    """The bytes of a remote netCDF file, to open from memory."""
    return where.backend.get(where.uri)


def _download(where: Location) -> str:
    """Copy a remote file to the cache folder for updating; return the local path."""
    path = _working_name(where.given, remote=where)
    try:
        where.backend.get_file(where.uri, path)
    except BaseException:
        os.remove(path)
        raise
    return path


def _is_master(filename: Any) -> bool:
    try:
        path = os.fspath(filename)
    except TypeError:
        return False
    if not os.path.isfile(path):
        return False
    try:
        with NETCDF_LOCK:
            ds = netCDF4.Dataset(path, "r")
    except OSError:
        return False
    try:
        return any(parser_for_group(g) for g in _walk(ds))
    finally:
        ds.close()


@dataclass
class _Hidden:
    """What a working copy of a master leaves out: the aggregation bookkeeping."""

    variables: set[str] = field(default_factory=set)
    dimensions: set[tuple[str, str]] = field(default_factory=set)
    attributes: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)

    def add(self, group_path: str, model: AggregationModel) -> None:
        """Record the bookkeeping of one aggregated variable."""
        self.variables.update(model.bookkeeping_variables)
        self.dimensions.update((group_path, d) for d in model.bookkeeping_dimensions)
        self.attributes[(group_path, model.name)] = model.bookkeeping_attributes
        self.groups.update(model.bookkeeping_groups)

    def skips_attribute(self, group_path: str, variable: str | None, name: str) -> bool:
        """Whether the attribute ``name`` of ``variable`` is bookkeeping."""
        return variable is not None and name in self.attributes.get((group_path, variable), ())


def _bookkeeping(source: Any, target: str,
                 ) -> tuple[_Hidden, dict[str, list[AggregationModel]]]:
    """Read the models of a master, and what a working copy of it leaves out."""
    context = MasterContext(target)
    hidden = _Hidden()
    models: dict[str, list[AggregationModel]] = {}
    for group in _walk(source):
        parser = parser_for_group(group)
        found = parser.read(group, context) if parser else []
        for model in found:
            _, uris = model.grid.load()
            if any(master_variable(str(uri)) for uri in uris.ravel()):
                raise UnsupportedFeatureError(
                    f"{target!r} stores fragments of {model.name!r} inside the master "
                    "(CFA-0.6.2); semsl reads it but cannot update it")
            hidden.add(group.path, model)
        models[group.path] = found
    return hidden, models


def _hide(root: Any, hidden: _Hidden, master: _Master) -> None:
    """Remove the aggregation bookkeeping from what users see.

    Length carriers (see :func:`_extend_dimension`) are remembered in ``master`` so
    that an update reuses them.
    """
    used: set[str] = set()
    for group in _walk(root):
        for name in list(group.variables):
            var = group.variables[name]
            path = f"{group.path.rstrip('/')}/{name}"
            if _LENGTH_ROLE in var.ncattrs():
                master.carriers[(group.path, var.dimensions[0])] = group.variables.pop(name)
            elif path in hidden.variables:
                del group.variables[name]
            else:
                used.update(var.dimensions)
    for path, name in hidden.dimensions:
        if name in used:
            continue
        for group in _walk(root):
            if group.path == path:
                group.dimensions.pop(name, None)
    for path in sorted(hidden.groups, reverse=True):  # e.g. CFA-0.5's cfa_<var> groups
        parent, _, leaf = path.rstrip("/").rpartition("/")
        for group in _walk(root):
            if group.path == (parent or "/"):
                group.groups.pop(leaf, None)


def _writable_encoding(name: str | None, master: _Master) -> str | None:
    """Check a requested encoding: it must be one semsl writes, in this format."""
    if name is None:
        return None
    parser = parser_named(name)
    if parser.name == "CFA-0.6.2":
        raise UnsupportedFeatureError(
            "semsl reads CFA-0.6.2 but writes CF-1.13, CFA-0.5 or CFA-0.4")
    if parser.name == "CFA-0.5" and master.file_format != "NETCDF4":
        raise UnsupportedFeatureError("CFA-0.5 needs a netCDF-4 master (format='CFA4')")
    if not master.writable:
        raise ValueError("cfa_version applies when writing an aggregated dataset")
    return parser.name
