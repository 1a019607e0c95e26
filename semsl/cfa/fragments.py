"""Fragment files: naming, locating, creating, reading, writing and describing them.

A fragment is an ordinary netCDF file holding one piece of an aggregated variable.  It
is *self-describing*: besides the piece itself (with the variable's attributes) it
holds the coordinate values of its sub-domain, the master's global attributes and
global attributes that record its place in the master:

``semsl_variable``
    path of the aggregated variable in the master (``/tas``, ``/group/tas``)
``semsl_master``
    the master file's name
``semsl_master_dimensions`` / ``semsl_unlimited_dimensions``
    the aggregated dimensions (blank-separated), and those of them that are unlimited
``semsl_master_shape`` / ``semsl_fragment_start`` / ``semsl_fragment_index``
    the master shape, the fragment's first index per dimension and its grid index

With those, ``semsl rebuild-master`` recreates a lost master from the fragments alone.
Packing attributes are not copied to the fragment variable (its values are stored packed
and the master unpacks them once, see FORMATS.md section 4); they are kept as
``semsl_scale_factor`` / ``semsl_add_offset`` for rebuilding.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import netCDF4
import numpy as np
import numpy.typing as npt

from semsl.backends import registry
from semsl.cfa import checksums
from semsl.cfa.canonical import Adapter, MasterRules, adapter_for
from semsl.errors import (
    FragmentDtypeError,
    FragmentNotFoundError,
    FragmentReadError,
    FragmentShapeError,
    FragmentUnitsError,
    ObjectNotFoundError,
    StorageError,
    UnsupportedFeatureError,
)
from semsl.resources import NETCDF_LOCK, OpenFragment, Upload

__all__ = [
    "FragmentContext",
    "FragmentMetadata",
    "FragmentSpec",
    "check_fragment",
    "create_fragment",
    "fetch_many",
    "fragment_checksum",
    "fragment_name",
    "open_bytes",
    "open_fragment",
    "read_piece",
    "relative_uri",
    "resolve_uri",
    "write_metadata",
    "write_piece",
]

#: Attributes of the master variable that are not copied onto fragment variables.
_NOT_COPIED = frozenset({"_FillValue", "scale_factor", "add_offset", "aggregated_dimensions",
                         "aggregated_data"})
#: Width of grid indices in fragment names along unlimited dimensions (they may grow).
_UNLIMITED_INDEX_WIDTH = 4


@dataclass(frozen=True)
class FragmentContext:
    """What error messages name: the master file, the aggregated variable, the fragment."""

    master: str
    variable: str
    uri: str = ""


@dataclass
class FragmentSpec:
    """How the fragment files of one aggregated variable are created.

    Attributes
    ----------
    file_format
        netCDF format of the fragment files (``NETCDF4`` or ``NETCDF3_CLASSIC``).
    dimensions
        Dimension names, as in the master.
    unlimited
        Per dimension, whether it is unlimited in the master (it is then unlimited in
        the fragment too, so that a fragment at the end can grow).
    dtype
        The variable's data type.
    fill_value
        ``fill_value`` as given to ``createVariable`` (``None``, ``False`` or a value).
    variable_options
        The other ``createVariable`` keywords that apply to fragment variables
        (compression, chunking, endianness, quantization).
    """

    file_format: str
    dimensions: tuple[str, ...]
    unlimited: tuple[bool, ...]
    dtype: np.dtype[Any]
    fill_value: Any = None
    variable_options: dict[str, Any] = field(default_factory=dict)
    #: The data type exactly as the user gave it to ``createVariable`` (netCDF4 reads
    #: byte order from it), when known.
    datatype: Any = None


@dataclass
class FragmentMetadata:
    """The self-describing content written into a fragment when its master is closed."""

    variable: str
    master: str
    master_dimensions: tuple[str, ...]
    unlimited_dimensions: tuple[str, ...]
    master_shape: tuple[int, ...]
    start: tuple[int, ...]
    index: tuple[int, ...]
    shape: tuple[int, ...]
    global_attributes: Mapping[str, Any]
    variable_attributes: Mapping[str, Any]
    #: dimension name -> (coordinate values of the sub-domain, attributes)
    coordinates: Mapping[str, tuple[npt.NDArray[Any], Mapping[str, Any]]]


def fragment_name(stem: str, variable_path: str, index: Sequence[int],
                  grid_shape: Sequence[int], unlimited: Sequence[bool]) -> str:
    """Return the conventional file name of a fragment.

    ``<stem>.<variable>.<i>.<j>...nc`` with each grid index zero-padded to the number
    of digits of the grid's extent, so a plain sort of names is the master's order
    (at least four digits along unlimited dimensions, which may grow).  A variable in
    a group is named by its path with ``.`` for ``/``.
    """
    name = variable_path.strip("/").replace("/", ".")
    parts = []
    for i, n, unlim in zip(index, grid_shape, unlimited, strict=True):
        width = max(len(str(max(n - 1, 0))), _UNLIMITED_INDEX_WIDTH if unlim else 1)
        parts.append(str(i).zfill(width))
    return ".".join([stem, name, *parts, "nc"])


def resolve_uri(uri: str, master_dir: str) -> str:
    """Return where a fragment URI found in a master points: a path or an absolute URI.

    Relative URI references are resolved against the master's folder (CF-1.13 section
    2.8); absolute URIs (``file://``, ``s3://``, ``https://``) stand as they are.
    """
    return registry.join(master_dir, uri)


def relative_uri(path: str, master_dir: str) -> str:
    """Return the URI to record for a fragment: relative when under the master's folder."""
    return registry.relative_reference(path, master_dir)


def create_fragment(uri: str, spec: FragmentSpec, shape: Sequence[int], identifier: str,
                    *, scratch: str, block: Sequence[int] | None = None,
                    coordinates: Mapping[str, tuple[Any, Mapping[str, Any]]] | None = None,
                    ) -> OpenFragment:
    """Create a fragment file for a piece of ``shape``; its values start as fill value.

    ``block`` is the nominal fragment shape: along an unlimited dimension only a
    fragment shorter than its block (the growing end) gets an unlimited dimension, so
    that full fragments are stored contiguously.  ``coordinates`` (dimension ->
    (dtype, attributes)) are defined now, before any data, which netCDF-4 files store
    much faster than variables added later; their values come with the metadata.
    A fragment bound for remote storage is built in a file in ``scratch`` and uploaded
    when it is closed.
    """
    where = registry.locate(uri)
    path = where.uri if where.is_local else _scratch_file(scratch, uri)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with NETCDF_LOCK:
        ds = netCDF4.Dataset(path, "w", format=cast(Any, spec.file_format))
        try:
            _define(ds, spec, shape, identifier, block or shape)
            for dim, (dtype, attrs) in (coordinates or {}).items():
                if dim in spec.dimensions:
                    _define_coordinate(ds, dim, dtype, attrs)
        except BaseException:
            ds.close()
            os.remove(path)
            raise
    upload = None if where.is_local else Upload(where.backend, where.uri, path)
    canonical = Adapter(None, False, None, spec.dtype, spec.fill_value, True)
    return OpenFragment(ds, writable=True, checked=True, upload=upload,
                        adapters={identifier.lstrip("/"): canonical})


def _define(ds: Any, spec: FragmentSpec, shape: Sequence[int], identifier: str,
            block: Sequence[int]) -> None:
    growing = [u and n < b for u, n, b in zip(spec.unlimited, shape, block, strict=True)]
    for name, size, grow in zip(spec.dimensions, shape, growing, strict=True):
        ds.createDimension(name, None if grow else size)
    options = dict(spec.variable_options)
    # A chunk may span a growing dimension's whole block, a fixed one's length at most.
    extent = [b if grow else n for n, b, grow in zip(shape, block, growing, strict=True)]
    if options.get("chunksizes") is not None:
        options["chunksizes"] = [max(1, min(c, n)) for c, n in
                                 zip(options["chunksizes"], extent, strict=True)]
    elif any(growing) and ds.data_model == "NETCDF4" and not options.get("contiguous"):
        # netCDF-C would chunk one record at a time, which makes time series slow.
        options["chunksizes"] = _chunk_shape(extent, spec.dtype.itemsize)
    datatype = spec.dtype if spec.datatype is None else spec.datatype
    var = ds.createVariable(identifier, datatype, spec.dimensions,
                            fill_value=spec.fill_value, **options)
    _raw(var)


#: Chunk cache of a fragment variable opened for reading.
_READ_CACHE_BYTES = 1 << 20
#: Largest chunk semsl chooses for a growing fragment (HDF5 reads whole chunks).
_CHUNK_BYTES = 4 << 20


def _chunk_shape(block: Sequence[int], itemsize: int) -> list[int]:
    """The block, halved along its last dimensions until a chunk is at most 4 MiB."""
    chunk = [max(1, n) for n in block]
    axis = len(chunk) - 1
    while int(np.prod(chunk)) * itemsize > _CHUNK_BYTES and axis >= 0:
        if chunk[axis] == 1:
            axis -= 1
            continue
        chunk[axis] = -(-chunk[axis] // 2)
    return chunk


def _define_coordinate(ds: Any, dim: str, dtype: Any, attrs: Mapping[str, Any]) -> None:
    var = ds.createVariable(dim, dtype, (dim,), fill_value=attrs.get("_FillValue"))
    var.setncatts({k: v for k, v in attrs.items() if k != "_FillValue"})


def _scratch_file(scratch: str, uri: str) -> str:
    os.makedirs(scratch, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix=".fragment.", suffix=posixpath.basename(uri)[-40:],
                                    dir=scratch)
    os.close(handle)
    return path


def open_fragment(uri: str, writable: bool, context: FragmentContext, *, scratch: str,
                  data: bytes | None = None) -> OpenFragment:
    """Open an existing fragment; a missing or unreadable one is a clear error.

    A remote fragment is read from its bytes (``data`` when already fetched); one
    opened for writing is copied to ``scratch`` and uploaded again when closed.
    """
    where = {"master": context.master, "variable": context.variable, "uri": uri}
    location = registry.locate(uri)
    try:
        if location.is_local:
            return _open_local(location.uri, writable, where)
        if writable:
            path = _scratch_file(scratch, uri)
            location.backend.get_file(location.uri, path)
            return OpenFragment(_open_netcdf(path, "a", None, where), True,
                                upload=Upload(location.backend, location.uri, path))
        payload = data if data is not None else location.backend.get(location.uri)
        name = posixpath.basename(location.uri) or "fragment.nc"  # not parsed as a URL
        return OpenFragment(_open_netcdf(name, "r", payload, where), False,
                            nbytes=len(payload))
    except ObjectNotFoundError as err:
        raise FragmentNotFoundError(_MISSING, **where) from err
    except StorageError as err:
        raise FragmentReadError(f"the fragment cannot be fetched ({err})", **where) from err


def fetch_many(uris: Sequence[str], context: FragmentContext) -> list[bytes]:
    """Fetch remote fragments concurrently, each through its own backend."""
    locations = [registry.locate(uri) for uri in uris]
    backend = locations[0].backend
    try:
        if all(loc.backend is backend for loc in locations):
            return backend.get_many([loc.uri for loc in locations])
        return [loc.backend.get(loc.uri) for loc in locations]
    except ObjectNotFoundError as err:
        raise FragmentNotFoundError(_MISSING, master=context.master,
                                    variable=context.variable, uri=str(err)) from err
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        kind = FragmentNotFoundError if isinstance(first, ObjectNotFoundError) else \
            FragmentReadError
        raise kind(f"{len(group.exceptions)} fragment(s) could not be fetched: {first}",
                   master=context.master, variable=context.variable,
                   uri=str(first)) from group


def open_bytes(name: str, data: bytes, scratch: str | None = None) -> Any:
    """Open a netCDF file held in memory, read-only.

    netCDF-C refuses some valid netCDF-3 files in memory (a header with an empty text
    attribute makes the file look 4 bytes short); those are opened from a scratch
    copy instead, unlinked at once (the open file stays readable).
    """
    try:
        return netCDF4.Dataset(name, "r", memory=data)
    except PermissionError:
        handle, path = tempfile.mkstemp(suffix=".nc", dir=scratch)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            return netCDF4.Dataset(path, "r")
        finally:
            os.remove(path)


_MISSING = ("the master lists this fragment but the file does not exist; restore it, or "
            "run 'semsl verify' to list every missing fragment")


def _open_local(path: str, writable: bool, where: dict[str, str]) -> OpenFragment:
    if not os.path.exists(path):
        raise FragmentNotFoundError(_MISSING, **where)
    return OpenFragment(_open_netcdf(path, "a" if writable else "r", None, where), writable)


def _open_netcdf(name: str, mode: str, memory: bytes | None, where: dict[str, str]) -> Any:
    try:
        with NETCDF_LOCK:
            if memory is not None:
                return open_bytes(name, memory)
            return netCDF4.Dataset(name, cast(Any, mode))
    except OSError as err:
        raise FragmentReadError(f"the fragment cannot be opened as netCDF ({err})",
                                **where) from err


def check_fragment(entry: OpenFragment, identifier: str, expected: Sequence[int],
                   master: MasterRules, dimensions: Sequence[str], unlimited: Sequence[bool],
                   context: FragmentContext, *, writing: bool = False) -> Adapter:
    """Check once how a fragment's variable fits the master; return its :class:`Adapter`.

    The variable must exist and have the map's shape (along unlimited dimensions it may
    be shorter: it was not written that far, and the rest reads as fill value).  Other
    data types, missing values, packing, units and omitted size-1 dimensions are
    converted to canonical form (CF-1.13 section 2.8.3).
    """
    name = identifier.lstrip("/")
    adapter: Adapter | None = entry.adapters.get(name)
    if adapter is None:
        adapter = entry.adapters[name] = _adapter(entry, name, expected, master, dimensions,
                                                  unlimited, context)
    if writing and not adapter.identity:
        raise UnsupportedFeatureError(
            f"the fragment is not in canonical form (data type, packing, missing values, "
            f"units or dimensions differ); semsl reads it but does not update it (master "
            f"{context.master!r}, variable {context.variable!r}, fragment {context.uri!r})")
    return adapter


def _adapter(entry: OpenFragment, name: str, expected: Sequence[int], master: MasterRules,
             dimensions: Sequence[str], unlimited: Sequence[bool], context: FragmentContext,
             ) -> Adapter:
    where = {"master": context.master, "variable": context.variable, "uri": context.uri}
    var = fragment_variable(entry.dataset, name)
    if var is None:
        raise FragmentReadError(f"the fragment has no variable {name!r}", **where)
    found = adapter_for(var, master, expected, dimensions)
    if isinstance(found, str):
        kind = FragmentDtypeError if "data type" in found else \
            FragmentUnitsError if "units" in found else FragmentShapeError
        raise kind(f"the fragment's variable does not fit the master: {found}", **where)
    shape = tuple(var.shape)
    wanted = tuple(expected) if found.axes is None else tuple(expected[a] for a in found.axes)
    grows = [unlimited[a] for a in (found.axes or range(len(expected)))]
    if any(n > e if g else n != e for n, e, g in zip(shape, wanted, grows, strict=True)):
        raise FragmentShapeError(f"the fragment's variable has shape {shape}, the master's "
                                 f"map says {tuple(expected)}", **where)
    if not entry.writable and entry.dataset.data_model == "NETCDF4":
        # Fragments stay open; netCDF-C's default cache per variable would keep every
        # chunk read (tens of MB each).  Reads go through once: a small cache will do.
        var.set_var_chunk_cache(size=_READ_CACHE_BYTES)
    if found.identity:
        _raw(var)
    else:
        var.set_auto_maskandscale(True)
        var.set_always_mask(True)
        var.set_auto_chartostring(False)
    return found


def read_piece(entry: OpenFragment, identifier: str, inner: tuple[slice, ...],
               fill: Any) -> npt.NDArray[Any]:
    """Read the canonical values ``inner`` of a fragment.

    ``inner`` is in the aggregated dimensions.  Past the end of a short fragment (along
    an unlimited dimension) the values are ``fill``.
    """
    name = identifier.lstrip("/")
    var = fragment_variable(entry.dataset, name)
    adapter = entry.adapters[name]
    key = adapter.fragment_key(inner)
    wanted = tuple(len(range(s.start, s.stop, s.step)) for s in inner)
    if all(s.stop <= n for s, n in zip(key, var.shape, strict=True)):
        with NETCDF_LOCK:
            values = var[key]
        return np.asarray(values) if adapter.identity else adapter.finish(values, wanted)
    out = np.full(wanted, fill, dtype=adapter.dtype)
    clipped = tuple(slice(s.start, min(s.stop, n), s.step) for s, n in
                    zip(inner, _full_shape(var.shape, adapter, len(inner)), strict=True))
    valid = tuple(slice(0, len(range(c.start, c.stop, c.step))) for c in clipped)
    if all(v.stop > 0 for v in valid):
        with NETCDF_LOCK:
            values = var[adapter.fragment_key(clipped)]
        shape = tuple(v.stop for v in valid)
        out[valid] = np.asarray(values).reshape(shape) if adapter.identity else \
            adapter.finish(values, shape)
    return out


def _full_shape(shape: Sequence[int], adapter: Adapter, ndim: int) -> tuple[int, ...]:
    """The fragment's shape in the aggregated dimensions (omitted ones have length 1)."""
    if adapter.axes is None:
        return tuple(shape)
    full = [1] * ndim
    for axis, n in zip(adapter.axes, shape, strict=True):
        full[axis] = n
    return tuple(full)


def write_piece(entry: OpenFragment, identifier: str, inner: tuple[slice, ...],
                values: npt.NDArray[Any]) -> None:
    """Write raw ``values`` into the part ``inner`` of a fragment."""
    var = fragment_variable(entry.dataset, identifier)
    with NETCDF_LOCK:
        var[inner] = values


def write_metadata(entry: OpenFragment, identifier: str, meta: FragmentMetadata,
                   fill: Any) -> None:
    """Make a fragment self-describing (see the module docstring) and complete.

    A fragment at the end of an unlimited dimension is extended to its block with fill
    values, so that its shape is exactly what the master's map says.
    """
    ds = entry.dataset
    var = fragment_variable(ds, identifier)
    int_type = np.int64 if ds.data_model == "NETCDF4" else np.int32
    with NETCDF_LOCK:
        _extend(var, meta.shape, fill)
        ds.setncatts(dict(meta.global_attributes))
        if meta.unlimited_dimensions:  # an empty text attribute upsets netCDF-3 in memory
            ds.setncattr("semsl_unlimited_dimensions", " ".join(meta.unlimited_dimensions))
        ds.setncatts({
            "semsl_variable": meta.variable,
            "semsl_master": meta.master,
            "semsl_master_dimensions": " ".join(meta.master_dimensions),
            "semsl_master_shape": np.asarray(meta.master_shape, int_type),
            "semsl_fragment_start": np.asarray(meta.start, int_type),
            "semsl_fragment_index": np.asarray(meta.index, int_type),
        })
        attrs = {k: v for k, v in meta.variable_attributes.items() if k not in _NOT_COPIED}
        for packing in ("scale_factor", "add_offset"):
            if packing in meta.variable_attributes:
                attrs[f"semsl_{packing}"] = meta.variable_attributes[packing]
        var.setncatts(attrs)
        for dim, (values, coord_attrs) in meta.coordinates.items():
            _write_coordinate(ds, dim, values, coord_attrs)


def _extend(var: Any, shape: Sequence[int], fill: Any) -> None:
    """Grow a fragment along unlimited dimensions to its block's ``shape``.

    Writing the fill value at the block's far corner extends every short unlimited
    dimension; that element did not exist, so it read as fill value before too.
    """
    if 0 in shape or all(n >= t for n, t in zip(var.shape, shape, strict=True)):
        return
    corner = tuple(slice(t - 1, t) for t in shape)
    var[corner] = np.full((1,) * len(shape), fill, dtype=var.dtype)


def _write_coordinate(ds: Any, dim: str, values: npt.NDArray[Any],
                      attrs: Mapping[str, Any]) -> None:
    var = ds.variables.get(dim)
    if var is None:
        _define_coordinate(ds, dim, values.dtype, attrs)
        var = ds.variables[dim]
    _raw(var)
    if len(values):
        var[: len(values)] = values


def fragment_checksum(entry: OpenFragment, identifier: str) -> str:
    """The checksum of a fragment's raw values (see :mod:`semsl.cfa.checksums`)."""
    var = fragment_variable(entry.dataset, identifier)
    with NETCDF_LOCK:
        if hasattr(var, "set_auto_maskandscale"):  # a netCDF4 variable, not a memory map
            _raw(var)
        return checksums.data_checksum(np.asarray(var[...]))


def fragment_variable(ds: Any, identifier: str) -> Any:
    """The variable ``identifier`` names in a fragment: a name, or a group path."""
    name = identifier.lstrip("/")
    found = ds.variables.get(name)
    if found is None and "/" in name and hasattr(ds, "groups"):
        with contextlib.suppress(IndexError, KeyError):
            found = ds[identifier]
    return found


def _raw(var: Any) -> None:
    """Switch a fragment variable to raw values: the master applies mask and scale once."""
    var.set_auto_maskandscale(False)
    var.set_always_mask(False)
    var.set_auto_chartostring(False)
