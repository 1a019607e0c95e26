"""Copy the contents of one open netCDF4 group into another, faithfully.

:func:`copy_group` recreates, in a writable netCDF4-python ``Dataset`` or ``Group``,
everything a source group holds: attributes with their netCDF types, dimensions,
user-defined types, variables with their creation settings, the raw data and (by
default) all subgroups.  Callbacks leave out variables, dimensions or attributes.  semsl
uses it to rebuild a master-array file without its bookkeeping variables; the CLI uses
it to convert files between formats.

netCDF4-python does not tell an ``NC_CHAR`` attribute from a one-element ``NC_STRING``
attribute (both read as ``str``).  The only reliable signal is the netCDF-C library
itself, so the attribute type is asked with ``nc_inq_atttype`` from the very library
netCDF4-python is linked against (found through its extension module with
:mod:`ctypes`).  Where that library cannot be reached the type is inferred from the
value, as netCDF4-python would write it.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod
from typing import Any

import netCDF4
import numpy as np

from semsl.errors import UnsupportedFeatureError

__all__ = ["copy_group"]

#: Upper bound of the bytes read from the source at once when copying data.
_SLAB_BYTES = 64 * 2**20
#: Assumed size of one variable-length element (string or vlen) when sizing slabs.
_VLEN_ITEM_BYTES = 256

_NC_GLOBAL = -1
_NC_CHAR = 2
_NC_STRING = 12
_NC_FIRSTUSERTYPEID = 32

_CLASSIC_CODES = frozenset({"i1", "i2", "i4", "f4", "f8", "S1"})
_CDF5_CODES = _CLASSIC_CODES | {"u1", "u2", "u4", "i8", "u8"}
_USER_TYPES = (netCDF4.CompoundType, netCDF4.VLType, netCDF4.EnumType)
# What netCDF4-python raises when netCDF-C or its own checks refuse a definition.
_DEFINE_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError, ValueError, TypeError, AttributeError, KeyError,
    netCDF4.NetCDF4MissingFeatureException,
)
_STORAGE_QUERIES = ("filters", "chunking", "endian")

NameFilter = Callable[[str, str], bool]
AttributeFilter = Callable[[str, str | None, str], bool]


def copy_group(src: Any, dst: Any, *, skip_variables: NameFilter | None = None,
               skip_dimensions: NameFilter | None = None,
               skip_attributes: AttributeFilter | None = None,
               skip_groups: Callable[[str], bool] | None = None,
               recursive: bool = True, copy_data: bool = True) -> None:
    """Copy the contents of the netCDF4 group ``src`` into the writable group ``dst``.

    Parameters
    ----------
    src
        An open ``netCDF4.Dataset`` or ``netCDF4.Group`` to copy from.
    dst
        An open, writable ``netCDF4.Dataset`` or ``netCDF4.Group`` to copy into, usually
        empty.  Its format may differ from the source's.
    skip_variables
        ``skip_variables(group_path, var_name)`` returns True to leave a variable out.
        ``group_path`` is the source group's netCDF path (``"/"``, ``"/g1/g2"``).
    skip_dimensions
        ``skip_dimensions(group_path, dim_name)`` returns True to leave a dimension out.
        A variable that is kept must not use a skipped dimension.
    skip_attributes
        ``skip_attributes(group_path, var_name, attr_name)`` returns True to leave an
        attribute out; ``var_name`` is None for group attributes.  Skipping
        ``_FillValue`` gives the variable the default fill value.
    skip_groups
        ``skip_groups(group_path)`` returns True to leave a subgroup (and everything in
        it) out.
    recursive
        Copy subgroups, recursively and in their order, as well.
    copy_data
        Copy the variables' data.  Without it variables hold fill values and the
        unlimited dimensions of the copy have length 0.

    Raises
    ------
    UnsupportedFeatureError
        ``dst`` cannot hold something that is copied, for example a user-defined type,
        a string variable, an ``NC_STRING`` attribute, a subgroup, a second unlimited
        dimension or an extended integer type in a netCDF-3 or ``NETCDF4_CLASSIC`` file,
        or a storage setting netCDF4-python cannot recreate.  The message names the
        group path, the variable and what cannot be copied.

    Notes
    -----
    Copied exactly: attributes in their order with their netCDF types (``NC_CHAR`` text
    keeps its bytes; ``NC_STRING`` stays ``NC_STRING``; numeric scalars and arrays keep
    their dtype; compound attributes need their type in ``dst``), dimensions with size
    and unlimited flag, compound, vlen and enum types (once per group, reused by the
    variables), and per variable: data type, dimensions, ``_FillValue`` (given at
    creation) or no-fill, ``filters()``, ``chunking()``, ``endian()`` and quantization
    (its attribute is copied and the data copied unchanged, never quantized again).
    Data is copied raw (no masking, scaling or character conversion) in slabs of at
    most about 64 MB, variables of size 0 are not read.

    Storage settings that ``dst``'s format lacks (netCDF-3) are dropped, as is no-fill,
    which netCDF-3 files do not record; the values are unaffected.  An unlimited
    dimension gets its length from the data copied into it, so one that no copied
    variable uses stays empty.  User types in a group are only recreated in a
    ``NETCDF4`` destination; elsewhere only a variable that uses one fails.  Types and
    dimensions of ancestors of ``src`` that its variables use are created in ``dst``.

    ``NC_CHAR`` and ``NC_STRING`` text attributes are told apart by asking netCDF-C
    (``nc_inq_atttype``); if the library netCDF4-python uses cannot be reached through
    :mod:`ctypes`, lists and non-ASCII text become ``NC_STRING`` and ASCII text
    ``NC_CHAR`` (as netCDF4-python writes ``str``), and a shuffle filter without zlib
    cannot be recreated.  Not supported, by netCDF4-python: attributes of enum, vlen or
    opaque type, ``_FillValue`` of compound and vlen variables, enum data holding values
    outside the enum (such as the default fill of unwritten elements), NUL characters
    inside text attributes (netCDF4-python drops them) and packed compound layouts
    (netCDF4-python aligns them).
    """
    copier = _Copier(dst, skip_variables or _never, skip_dimensions or _never,
                     skip_attributes or _never, recursive, skip_groups or _never)
    copier.group(src, dst)
    if copy_data:
        for src_var, dst_var, path in copier.pending:
            _copy_data(src_var, dst_var, path)


def _never(*_args: object) -> bool:
    return False


@dataclass
class _Copier:
    """Definition pass: builds the destination tree and remembers what to fill."""

    dst_root: Any
    skip_variables: NameFilter
    skip_dimensions: NameFilter
    skip_attributes: AttributeFilter
    recursive: bool
    skip_groups: Callable[[str], bool]
    types: dict[int, Any] = field(default_factory=dict)
    pending: list[tuple[Any, Any, str]] = field(default_factory=list)

    def group(self, src: Any, dst: Any) -> None:
        """Define the contents of ``src`` in ``dst``, subgroups after the variables."""
        path = src.path
        if dst.data_model == "NETCDF4":
            for user_type in _user_types(src):
                self.user_type(user_type, dst, path)
        for name, dim in src.dimensions.items():
            if not self.skip_dimensions(path, name):
                _new_dimension(dst, dim, path)
        self.attributes(src, dst, path, None)
        for name, var in src.variables.items():
            if not self.skip_variables(path, name):
                self.variable(var, dst, path)
        if self.recursive:
            for name, child in src.groups.items():
                if not self.skip_groups(child.path):
                    self.group(child, _new_group(dst, name, path))

    def user_type(self, src_type: Any, dst: Any, path: str) -> Any:
        """Create ``src_type`` in ``dst`` and remember it by its source type id."""
        with _reraised(path, None, dst, f"user-defined type {src_type.name!r}"):
            if isinstance(src_type, netCDF4.CompoundType):
                new = dst.createCompoundType(src_type.dtype, src_type.name)
            elif isinstance(src_type, netCDF4.EnumType):
                new = dst.createEnumType(src_type.dtype, src_type.name, src_type.enum_dict)
            else:
                new = dst.createVLType(src_type.dtype, src_type.name)
        self.types[src_type._nc_type] = new
        return new

    def variable(self, var: Any, dst: Any, path: str) -> None:
        """Define ``var`` (settings, then attributes) in ``dst``; its data comes later."""
        datatype = self.datatype(var, dst, path)
        dimensions = self.dimensions(var, dst, path)
        settings = _storage_settings(var, dst)
        settings["fill_value"] = self.fill_value(var, dst, path)
        with _reraised(path, var.name, dst, "the variable definition"):
            new = dst.createVariable(var.name, datatype, dimensions, **settings)
        if "endian" in settings:
            _match_storage(var, new, dst, path)
        self.attributes(var, new, path, var.name)
        self.pending.append((var, new, path))

    def datatype(self, var: Any, dst: Any, path: str) -> Any:
        """Return the destination data type of ``var`` (checked against the format)."""
        src_type = var.datatype
        if _is_user_type(src_type):
            if dst.data_model != "NETCDF4":
                raise _unsupported(path, var.name, dst, f"its data type {_describe(src_type)} "
                                   "needs the NETCDF4 format")
            return str if src_type.dtype is str else self.used_type(src_type, var, path)
        codes = _allowed_codes(dst)
        if codes is not None and var.dtype.str[1:] not in codes:
            raise _unsupported(path, var.name, dst, f"its data type {var.dtype.name!r} is "
                               "not in the format")
        if dst.data_model.startswith("NETCDF4") and var.filters() is not None:
            return var.dtype.newbyteorder({"big": ">", "little": "<"}.get(var.endian(), "="))
        return var.dtype.newbyteorder("=")

    def used_type(self, src_type: Any, var: Any, path: str) -> Any:
        """Return the destination copy of the user type ``var`` uses.

        A type defined outside the copied tree is created, after the compound types it
        nests, in the destination group copied into.
        """
        known = self.types.get(src_type._nc_type)
        if known is not None:
            return known
        if isinstance(src_type, netCDF4.CompoundType):
            for nested in _nested_compounds(src_type, var.group()):
                self.used_type(nested, var, path)
        return self.user_type(src_type, self.dst_root, path)

    def dimensions(self, var: Any, dst: Any, path: str) -> tuple[str, ...]:
        """Return the dimension names of ``var``; create any not visible from ``dst``."""
        for dim in var.get_dims():
            where = dim.group().path
            if self.skip_dimensions(where, dim.name):
                raise _unsupported(path, var.name, dst, f"it uses dimension {dim.name!r} "
                                   f"of group {where!r}, which is skipped")
            found = _find_dimension(dst, dim.name)
            if found is None:
                _new_dimension(self.dst_root, dim, where)
            elif found.isunlimited() != dim.isunlimited() or (
                    not dim.isunlimited() and found.size != dim.size):
                raise _unsupported(path, var.name, dst, f"dimension {dim.name!r} already "
                                   "exists in the destination with another size")
        return tuple(var.dimensions)

    def fill_value(self, var: Any, dst: Any, path: str) -> Any:
        """Return ``fill_value=`` for ``var``: its ``_FillValue``, False or None."""
        if "_FillValue" in var.ncattrs() and not self.skip_attributes(
                path, var.name, "_FillValue"):
            with _reraised(path, var.name, dst, "attribute '_FillValue'"):
                return var.getncattr("_FillValue")
        return False if var.get_fill_value() is None else None

    def attributes(self, src: Any, dst: Any, path: str, var_name: str | None) -> None:
        """Copy the attributes of a group or variable (not ``_FillValue``) in order."""
        for name in src.ncattrs():
            if var_name is not None and name == "_FillValue":
                continue
            if not self.skip_attributes(path, var_name, name):
                _copy_attribute(src, dst, name, path, var_name)


def _is_user_type(datatype: Any) -> bool:
    return isinstance(datatype, _USER_TYPES)


def _user_types(group: Any) -> list[Any]:
    """The user-defined types of ``group`` in definition (type id) order."""
    found = itertools.chain(group.cmptypes.values(), group.vltypes.values(),
                            group.enumtypes.values())
    return sorted(found, key=lambda user_type: int(user_type._nc_type))


def _nested_compounds(compound: Any, group: Any) -> Iterator[Any]:
    """The compound types, visible from ``group``, of the fields of ``compound``."""
    for field_dtype, *_ in compound.dtype.fields.values():
        if field_dtype.names is None:
            continue
        scope = group
        while scope is not None:
            match = [t for t in scope.cmptypes.values() if t.dtype == field_dtype]
            if match:
                yield match[0]
                break
            scope = scope.parent


def _describe(user_type: Any) -> str:
    if user_type.dtype is str:
        return "variable-length string"
    kind = {netCDF4.CompoundType: "compound", netCDF4.EnumType: "enum"}.get(
        type(user_type), "vlen")
    return f"{kind} type {user_type.name!r}"


def _new_group(dst: Any, name: str, path: str) -> Any:
    if dst.data_model != "NETCDF4":
        raise _unsupported(path, None, dst, f"subgroup {name!r} needs the NETCDF4 format "
                           "(pass recursive=False to leave subgroups out)")
    with _reraised(path, None, dst, f"subgroup {name!r}"):
        return dst.createGroup(name)


def _new_dimension(dst: Any, dim: Any, path: str) -> None:
    unlimited = dim.isunlimited()
    if unlimited and dst.data_model != "NETCDF4" and any(
            other.isunlimited() for other in dst.dimensions.values()):
        raise _unsupported(path, None, dst, f"unlimited dimension {dim.name!r}: the format "
                           "holds only one unlimited dimension")
    with _reraised(path, None, dst, f"dimension {dim.name!r}"):
        dst.createDimension(dim.name, None if unlimited else dim.size)


def _find_dimension(group: Any, name: str) -> Any:
    """The dimension ``name`` as netCDF resolves it from ``group`` (None if absent)."""
    while group is not None:
        if name in group.dimensions:
            return group.dimensions[name]
        group = group.parent
    return None


def _allowed_codes(dst: Any) -> frozenset[str] | None:
    """The primitive type codes the format of ``dst`` (group or variable) can store.

    None stands for all of them.
    """
    model = _group_of(dst).data_model
    if model == "NETCDF4":
        return None
    return _CDF5_CODES if model == "NETCDF3_64BIT_DATA" else _CLASSIC_CODES


def _storage_settings(var: Any, dst: Any) -> dict[str, Any]:
    """``createVariable`` keywords for the compression, chunking and byte order of ``var``.

    Empty when either side is a netCDF-3 file, which has no such settings.
    """
    filters = var.filters()
    if filters is None or not dst.data_model.startswith("NETCDF4"):
        return {}
    settings: dict[str, Any] = {"shuffle": bool(filters["shuffle"]),
                                "fletcher32": bool(filters["fletcher32"]),
                                "endian": var.endian()}
    for name in ("zlib", "zstd", "bzip2"):
        if filters[name]:
            settings.update(compression=name, complevel=filters["complevel"])
    if filters["blosc"]:
        settings.update(compression=filters["blosc"]["compressor"],
                        complevel=filters["complevel"],
                        blosc_shuffle=filters["blosc"]["shuffle"])
    if filters["szip"]:
        settings.update(compression="szip", szip_coding=filters["szip"]["coding"],
                        szip_pixels_per_block=filters["szip"]["pixels_per_block"])
    if var.ndim:
        chunking = var.chunking()
        if chunking == "contiguous":
            settings["contiguous"] = True
        else:
            settings["chunksizes"] = list(chunking)
    return settings


def _match_storage(var: Any, new: Any, dst: Any, path: str) -> None:
    """Check that ``new`` got the storage settings of ``var``; add a lone shuffle."""
    if var.filters()["shuffle"] and not new.filters()["shuffle"]:
        _add_shuffle(new)
    for query in _STORAGE_QUERIES:
        want, got = getattr(var, query)(), getattr(new, query)()
        if want != got:
            raise _unsupported(path, var.name, dst, f"netCDF4-python cannot recreate its "
                               f"{query}() {want!r} (got {got!r})")


def _add_shuffle(var: Any) -> None:
    """Switch on the shuffle filter, which netCDF4-python only sets along with zlib."""
    lib = _libnetcdf()
    if lib is not None:
        lib.nc_def_var_deflate(var._grpid, var._varid, 1, 0, 0)


@functools.cache
def _libnetcdf() -> ctypes.CDLL | None:
    """The netCDF-C library netCDF4-python uses, or None where it cannot be reached.

    Symbols are looked up through netCDF4-python's own extension module, so they come
    from the library instance that holds the ids of the open files.
    """
    extension = importlib.import_module("netCDF4._netCDF4").__file__
    if extension is None:
        return None
    try:
        lib = ctypes.CDLL(extension)
        inq_atttype, def_var_deflate = lib.nc_inq_atttype, lib.nc_def_var_deflate
    except (OSError, AttributeError):
        return None
    c_int = ctypes.c_int
    inq_atttype.argtypes = [c_int, c_int, ctypes.c_char_p, ctypes.POINTER(c_int)]
    inq_atttype.restype = c_int
    def_var_deflate.argtypes = [c_int] * 5
    def_var_deflate.restype = c_int
    return lib


def _attribute_type(obj: Any, name: str) -> int | None:
    """The netCDF type id of attribute ``name`` of a group or variable, if known."""
    lib = _libnetcdf()
    if lib is None:
        return None
    varid = obj._varid if isinstance(obj, netCDF4.Variable) else _NC_GLOBAL
    xtype = ctypes.c_int()
    status = lib.nc_inq_atttype(obj._grpid, varid, name.encode("utf-8"), ctypes.byref(xtype))
    return xtype.value if status == 0 else None


def _attribute_kind(obj: Any, name: str, value: Any) -> str:
    """``"char"``, ``"string"``, ``"enum"`` or ``"value"`` (numeric or compound)."""
    xtype = _attribute_type(obj, name)
    if xtype is None:  # netCDF-C out of reach: infer as netCDF4-python writes text
        if isinstance(value, list):
            return "string"
        if isinstance(value, str):
            return "char" if value.isascii() else "string"
        return "value"
    if xtype == _NC_CHAR:
        return "char"
    if xtype == _NC_STRING:
        return "string"
    if xtype >= _NC_FIRSTUSERTYPEID and np.asarray(value).dtype.kind != "V":
        return "enum"
    return "value"


def _copy_attribute(src: Any, dst: Any, name: str, path: str, var_name: str | None) -> None:
    what = f"attribute {name!r}"
    with _reraised(path, var_name, dst, what):
        value = src.getncattr(name, encoding="latin-1")  # latin-1: bytes round-trip
    kind = _attribute_kind(src, name, value)
    if kind == "enum":
        raise _unsupported(path, var_name, dst, f"{what} has an enum type, which "
                           "netCDF4-python cannot write")
    if kind in ("char", "string"):
        _set_text_attribute(dst, name, value, kind == "string", path, var_name)
        return
    codes = _allowed_codes(dst)
    code = np.asarray(value).dtype.str[1:]
    if codes is not None and code not in codes:
        raise _unsupported(path, var_name, dst, f"{what} has type {code!r}, which is not "
                           "in the format")
    with _reraised(path, var_name, dst, what):
        dst.setncattr(name, value)


def _set_text_attribute(dst: Any, name: str, value: str | list[str], ncstring: bool,
                        path: str, var_name: str | None) -> None:
    """Write text as ``NC_STRING`` or ``NC_CHAR`` with the bytes it was read with."""
    data: bytes | list[bytes] = (
        [item.encode("latin-1") for item in value] if isinstance(value, list)
        else value.encode("latin-1"))
    what = f"attribute {name!r}"
    if not ncstring:
        with _reraised(path, var_name, dst, what), _text_as_char(dst):
            dst.setncattr(name, data)
        return
    if _group_of(dst).data_model != "NETCDF4":
        raise _unsupported(path, var_name, dst, f"{what} is an NC_STRING attribute, which "
                           "needs the NETCDF4 format")
    with _reraised(path, var_name, dst, what):
        dst.setncattr_string(name, data)


@contextmanager
def _text_as_char(obj: Any) -> Iterator[None]:
    """Have netCDF4-python write bytes attributes of ``obj`` as ``NC_CHAR``."""
    saved = obj._ncstring_attrs__
    obj._ncstring_attrs__ = False
    try:
        yield
    finally:
        obj._ncstring_attrs__ = saved


def _group_of(obj: Any) -> Any:
    return obj.group() if isinstance(obj, netCDF4.Variable) else obj


def _copy_data(src: Any, dst: Any, path: str) -> None:
    """Copy the raw values of variable ``src`` into ``dst`` in bounded slabs."""
    if src.size == 0:
        return
    with _raw(src), _raw(dst), _reraised(path, src.name, _group_of(dst), "the data",
                                         (ValueError, TypeError)):
        if src.ndim == 0:
            dst[...] = src[...]
            return
        for index in _slabs(src.shape, _item_bytes(src), _SLAB_BYTES):
            dst[index] = src[index]


def _item_bytes(var: Any) -> int:
    if var.dtype is str or isinstance(var.datatype, netCDF4.VLType):
        return _VLEN_ITEM_BYTES
    return int(var.dtype.itemsize)


def _slabs(shape: tuple[int, ...], item_bytes: int, limit: int,
           ) -> Iterator[tuple[slice, ...]]:
    """Index tuples tiling ``shape`` in order, each of at most ``limit`` bytes if possible.

    Slabs are runs along the first dimension; where a single row is too large, each
    row is tiled along the next dimension, recursively.
    """
    row_bytes = item_bytes * prod(shape[1:])
    if row_bytes > limit and len(shape) > 1:
        for row in range(shape[0]):
            for rest in _slabs(shape[1:], item_bytes, limit):
                yield (slice(row, row + 1), *rest)
        return
    step = max(1, limit // max(row_bytes, 1))
    tail = tuple(slice(0, size) for size in shape[1:])
    for start in range(0, shape[0], step):
        yield (slice(start, min(start + step, shape[0])), *tail)


@contextmanager
def _raw(var: Any) -> Iterator[None]:
    """Switch off masking, scaling and char-to-string conversion of ``var`` for a while."""
    saved = (var.mask, var.scale, var.always_mask, var.chartostring)
    var.set_auto_maskandscale(False)
    var.set_always_mask(False)
    var.set_auto_chartostring(False)
    try:
        yield
    finally:
        var.set_auto_mask(saved[0])
        var.set_auto_scale(saved[1])
        var.set_always_mask(saved[2])
        var.set_auto_chartostring(saved[3])


@contextmanager
def _reraised(path: str, var_name: str | None, dst: Any, what: str,
              errors: tuple[type[Exception], ...] = _DEFINE_ERRORS) -> Iterator[None]:
    """Turn netCDF4-python's refusal to create ``what`` into UnsupportedFeatureError."""
    try:
        yield
    except UnsupportedFeatureError:
        raise
    except errors as err:
        raise _unsupported(path, var_name, dst, f"cannot create {what}: {err}") from err


def _unsupported(path: str, var_name: str | None, dst: Any, problem: str,
                 ) -> UnsupportedFeatureError:
    subject = f"group {path!r}" if var_name is None else (
        f"variable {var_name!r} of group {path!r}")
    model = _group_of(dst).data_model
    return UnsupportedFeatureError(f"cannot copy {subject} into a {model} destination: "
                                   f"{problem}")
