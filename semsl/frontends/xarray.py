"""The xarray engine ``semsl``: plain netCDF files and aggregated masters, lazily.

``xr.open_dataset(path_or_uri, engine="semsl")`` opens a plain netCDF file or a
master-array file, on local disk or remote storage (``s3://...``).  The engine is built
like xarray's own netCDF4 engine (``xarray/backends/netCDF4_.py``):

* :class:`SemslDataStore` reads variables and attributes from a :class:`semsl.Dataset`
  and hands them, undecoded, to xarray's CF decoding (times and calendars, masks,
  packing), so the result is what ``engine="netcdf4"`` gives for the same data;
* :class:`SemslArrayWrapper` is the lazy array of one variable: it returns *raw* values
  (semsl applies no mask or scale; xarray decodes), supports OUTER indexing, and is
  picklable - it holds the store, whose :class:`~xarray.backends.CachingFileManager`
  reopens the dataset from its path in another process - and thread-safe (one lock
  around every call into netCDF-C/HDF5, see :data:`SEMSL_XARRAY_LOCK`);
* an aggregated variable reports ``preferred_chunks`` equal to its fragment grid, so
  ``chunks={}`` gives one dask chunk per fragment, also for unequal fragments.

Opening reads the master only; a fragment is read when data in it is.  (xarray's
time decoding reads the first and last element of every variable with time units, so
an aggregated variable with time units costs two fragment reads at open unless it is
opened with ``decode_times=False``; that is xarray's rule, the same for every engine.)
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, cast

import netCDF4
import numpy as np
import xarray as xr
from xarray.backends import CachingFileManager
from xarray.backends.common import AbstractDataStore, BackendArray, BackendEntrypoint
from xarray.backends.locks import HDF5_LOCK, NETCDFC_LOCK, combine_locks, ensure_lock
from xarray.backends.store import StoreBackendEntrypoint
from xarray.coding.strings import create_vlen_dtype
from xarray.core import indexing

from semsl.backends import registry
from semsl.frontends.dask import fragment_lengths
from semsl.frontends.netcdf4 import AggregatedVariable
from semsl.frontends.netcdf4 import Dataset as SemslDataset
from semsl.parsers.base import parser_for_group
from semsl.resources import NETCDF_LOCK

__all__ = [
    "SEMSL_XARRAY_LOCK",
    "SemslArrayWrapper",
    "SemslBackendEntrypoint",
    "SemslDataStore",
    "fragment_chunks",
]

#: Extension of master-array files (conventional, not required).
MASTER_EXTENSION = ".nca"
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


class _SemslNetcdfLock:
    """semsl's netCDF-C/HDF5 lock (:data:`semsl.resources.NETCDF_LOCK`), picklable.

    Fragment I/O inside semsl holds ``NETCDF_LOCK``; xarray's own engines hold
    ``NETCDFC_LOCK``/``HDF5_LOCK``.  Combining them keeps both kinds of calls apart.
    A pickled copy is the same lock of the process it lands in.
    """

    __slots__ = ()

    def acquire(self, blocking: bool = True) -> bool:
        """Acquire the lock (reentrant in one thread)."""
        return NETCDF_LOCK.acquire(blocking)

    def release(self) -> None:
        """Release the lock."""
        NETCDF_LOCK.release()

    def locked(self) -> bool:
        """Whether another thread holds the lock."""
        if NETCDF_LOCK.acquire(blocking=False):
            NETCDF_LOCK.release()
            return False
        return True

    def __enter__(self) -> None:
        NETCDF_LOCK.acquire()

    def __exit__(self, *exc: object) -> None:
        NETCDF_LOCK.release()

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_semsl_netcdf_lock, ())


_SEMSL_NETCDF_LOCK = _SemslNetcdfLock()
#: The dtype xarray gives variable-length strings (object, with metadata).
_VLEN_STR: np.dtype[Any] = cast(Any, create_vlen_dtype)(str)


def _semsl_netcdf_lock() -> _SemslNetcdfLock:
    return _SEMSL_NETCDF_LOCK


#: The default lock of the engine: xarray's netCDF-C and HDF5 locks and semsl's own,
#: like xarray's ``NETCDF4_PYTHON_LOCK`` with semsl's lock added.
SEMSL_XARRAY_LOCK: Any = combine_locks([NETCDFC_LOCK, HDF5_LOCK, _SEMSL_NETCDF_LOCK])


def fragment_chunks(var: Any) -> dict[str, int | tuple[int, ...]]:
    """The dask chunks that follow the fragment grid of an aggregated variable.

    Per dimension, the fragment length when all fragments but a shorter last one have
    it (xarray accepts one size), else the tuple of fragment lengths (xarray accepts
    that too, see ``xarray.namedarray.utils._get_chunk``).  Empty dimensions are left
    out.
    """
    chunks: dict[str, int | tuple[int, ...]] = {}
    for dim, size, lengths in zip(var.dimensions, var.shape, fragment_lengths(var),
                                  strict=True):
        if size == 0:
            continue
        first = lengths[0]
        regular = all(n == first for n in lengths[:-1]) and lengths[-1] <= first
        chunks[dim] = first if regular else tuple(lengths)
    return chunks


class SemslArrayWrapper(BackendArray):
    """The lazy array of one variable: raw values, OUTER indexing, picklable.

    Parameters
    ----------
    variable_name
        The variable's name in the store's group.
    datastore
        The :class:`SemslDataStore` it belongs to.
    """

    __slots__ = ("datastore", "dtype", "shape", "variable_name")

    def __init__(self, variable_name: str, datastore: SemslDataStore) -> None:
        self.datastore = datastore
        self.variable_name = variable_name
        array = self.get_array()
        self.shape = tuple(array.shape)
        # vlen strings: object dtype with metadata, as xarray's netCDF4 engine does
        self.dtype = _VLEN_STR if array.dtype is str else np.dtype(array.dtype)

    def get_array(self, needs_lock: bool = True) -> Any:
        """The variable of the open dataset, switched to raw values."""
        ds = self.datastore.acquire(needs_lock)
        variable = ds.variables[self.variable_name]
        variable.set_auto_maskandscale(False)
        variable.set_auto_chartostring(False)
        return variable

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._getitem)

    def _getitem(self, key: tuple[Any, ...]) -> Any:
        try:
            with self.datastore.lock:
                array = self.get_array(needs_lock=False)[key]
                if self.datastore.autoclose:
                    self.datastore.close(needs_lock=False)
        except IndexError as err:
            raise IndexError(
                f"the indexing operation is not valid on variable {self.variable_name!r} "
                f"of {self.datastore.filename!r}; try loading the data into memory first "
                "with .load()") from err
        return array


class SemslDataStore(AbstractDataStore):
    """Read-only store of a plain netCDF file or an aggregated master, through semsl.

    Parameters
    ----------
    manager
        A file manager (:class:`~xarray.backends.CachingFileManager`) whose file is a
        :class:`semsl.Dataset`.
    group
        Path of the group to read (``None``: the root group).
    lock
        Lock held around every call into the dataset.
    autoclose
        Close the file after each read.
    """

    __slots__ = ("_group", "_manager", "autoclose", "filename", "lock")

    def __init__(self, manager: Any, group: str | None = None, lock: Any = SEMSL_XARRAY_LOCK,
                 autoclose: bool = False) -> None:
        self._manager = manager
        self._group = group
        self.lock = ensure_lock(lock)
        self.autoclose = autoclose
        with manager.acquire_context() as root:
            self.filename = str(root.filepath())
            _require_group(root, group)  # a missing group fails now, not at first read

    @classmethod
    def open(cls, filename: str | os.PathLike[str], *, group: str | None = None,
             lock: Any = None, autoclose: bool = False, open_files: int | None = None,
             ) -> SemslDataStore:
        """Open ``filename`` (a path or URI) read-only."""
        if not isinstance(filename, str | os.PathLike):
            raise TypeError(f"the semsl engine opens paths and URIs, not {type(filename)!r}")
        name = _normalize(filename)
        kwargs = {} if open_files is None else {"open_files": open_files}
        lock = SEMSL_XARRAY_LOCK if lock is None else lock
        manager = CachingFileManager(SemslDataset, name, mode="r", kwargs=kwargs, lock=lock)
        return cls(manager, group=group, lock=lock, autoclose=autoclose)

    def get_child_store(self, group: str) -> SemslDataStore:
        """The store of a child group."""
        path = posixpath.join(self._group or "/", group)
        return type(self)(self._manager, group=path, lock=self.lock, autoclose=self.autoclose)

    def acquire(self, needs_lock: bool = True) -> Any:
        """The open group (the dataset is reopened if its handle was closed)."""
        with self._manager.acquire_context(needs_lock) as root:
            return _require_group(root, self._group)

    @property
    def ds(self) -> Any:
        """The open group."""
        return self.acquire()

    def open_store_variable(self, name: str, var: Any) -> xr.Variable:
        """One variable, lazy, with its raw attributes and its storage encoding."""
        attributes = {k: var.getncattr(k) for k in var.ncattrs()}
        data = indexing.LazilyIndexedArray(SemslArrayWrapper(name, self))
        if data.dtype.kind == "S" and "_FillValue" in attributes:
            # netCDF4-python gives some text fill values with the wrong type (as xarray)
            attributes["_FillValue"] = np.bytes_(attributes["_FillValue"])
        encoding = _storage_encoding(var)
        if "least_significant_digit" in attributes:
            encoding["least_significant_digit"] = attributes.pop("least_significant_digit")
        encoding["source"] = self.filename
        encoding["original_shape"] = data.shape
        return xr.Variable(var.dimensions, data, attributes, encoding)

    def get_variables(self) -> dict[str, xr.Variable]:
        """Every variable of the group (aggregation bookkeeping is hidden by semsl)."""
        return {k: self.open_store_variable(k, v) for k, v in self.ds.variables.items()}

    def get_attrs(self) -> dict[str, Any]:
        """The group's attributes."""
        ds = self.ds
        return {k: ds.getncattr(k) for k in ds.ncattrs()}

    def get_dimensions(self) -> dict[str, int]:
        """The group's dimensions and their lengths."""
        return {k: len(v) for k, v in self.ds.dimensions.items()}

    def get_parent_dimensions(self) -> dict[str, int]:
        """Dimensions of the enclosing groups (the nearest one wins)."""
        dims: dict[str, int] = {}
        group = self.ds
        while (group := group.parent) is not None:
            for k, v in group.dimensions.items():
                dims.setdefault(k, len(v))
        return dims

    def get_encoding(self) -> dict[str, Any]:
        """The dataset encoding: its unlimited dimensions."""
        return {"unlimited_dims": {k for k, v in self.ds.dimensions.items()
                                   if v.isunlimited()}}

    def close(self, needs_lock: bool = True) -> None:
        """Close the dataset."""
        self._manager.close(needs_lock=needs_lock)


def _storage_encoding(var: Any) -> dict[str, Any]:
    """What xarray's netCDF4 engine records in ``encoding``; fragments as chunks."""
    encoding: dict[str, Any] = {"dtype": _dtype_encoding(var)}
    if isinstance(var, AggregatedVariable):
        encoding["preferred_chunks"] = fragment_chunks(var)
        return encoding
    filters = var.filters()
    if filters is not None:
        encoding.update(filters)
    chunking = var.chunking()
    if chunking == "contiguous":
        encoding.update(contiguous=True, chunksizes=None)
    elif chunking is not None:
        encoding.update(contiguous=False, chunksizes=tuple(chunking),
                        preferred_chunks=dict(zip(var.dimensions, chunking, strict=True)))
    return encoding


def _dtype_encoding(var: Any) -> Any:
    datatype = var.datatype
    if isinstance(datatype, netCDF4.EnumType):
        return np.dtype(var.dtype, metadata={"enum": datatype.enum_dict,
                                             "enum_name": datatype.name})
    return var.dtype


def _require_group(root: Any, group: str | None) -> Any:
    """The group at path ``group`` (``None`` or ``"/"``: the root)."""
    if group in (None, "", "/"):
        return root
    if not isinstance(group, str):
        raise ValueError(f"group must be a string or None, not {group!r}")
    node = root
    for key in group.strip("/").split("/"):
        try:
            node = node.groups[key]
        except KeyError as err:
            raise OSError(f"group not found: {key!r} (path {group!r} in "
                          f"{root.filepath()!r})") from err
    return node


def _normalize(filename: str | os.PathLike[str]) -> str:
    """A URI as given; a local path made absolute (a worker may have another cwd)."""
    text = os.fspath(filename)
    return text if registry.is_remote(text) else os.path.abspath(os.path.expanduser(text))


def _group_paths(group: Any, path: str = "/") -> Iterator[str]:
    yield path
    for name, child in group.groups.items():
        yield from _group_paths(child, posixpath.join(path, name))


# ----------------------------------------------------------------------- guessing


def _read_magic(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(8)
    except OSError:
        return b""


def _is_aggregated(path: str) -> bool:
    """Whether a local netCDF file holds aggregation variables (reads its header)."""
    try:
        with SEMSL_XARRAY_LOCK:
            ds = netCDF4.Dataset(path, "r")
    except OSError:
        return False
    try:
        with SEMSL_XARRAY_LOCK:
            stack = [ds]
            while stack:
                group = stack.pop()
                if parser_for_group(group) is not None:
                    return True
                stack.extend(group.groups.values())
            return False
    finally:
        with SEMSL_XARRAY_LOCK:
            ds.close()


# ----------------------------------------------------------------------- engine


class SemslBackendEntrypoint(BackendEntrypoint):
    """The ``semsl`` engine: plain netCDF files and aggregated (CFA) masters.

    ``xr.open_dataset(path_or_uri, engine="semsl")`` opens local files and files on
    remote storage (``s3://``, any fsspec URI).  Opening reads the master file only;
    the fragments of an aggregated variable are read when its data are (xarray reads
    the first and last element of a variable with time units when it decodes it).
    With ``chunks={}`` an aggregated variable gets one dask chunk per fragment.

    ``guess_can_open`` claims ``.nca`` files and local netCDF files whose header holds
    an aggregation; xarray asks its own netCDF engines first, so pass
    ``engine="semsl"`` for masters with a ``.nc`` extension.
    """

    description = "Open plain netCDF files and CF-1.13/CFA aggregated datasets with semsl"
    url = "https://github.com/semsl/semsl"
    supports_groups: ClassVar[bool] = True
    open_dataset_parameters = (
        "filename_or_obj", "mask_and_scale", "decode_times", "concat_characters",
        "decode_coords", "drop_variables", "use_cftime", "decode_timedelta", "group",
        "lock", "autoclose", "open_files",
    )

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Whether the engine recognises ``filename_or_obj`` as one of its files."""
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        text = os.fspath(filename_or_obj)
        if posixpath.splitext(text.rstrip("/"))[1] == MASTER_EXTENSION:
            return True
        if registry.is_remote(text):  # no fetch just to guess
            return False
        return _read_magic(text).startswith(_NETCDF_MAGIC) and _is_aggregated(text)

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        mask_and_scale: Any = True,
        decode_times: Any = True,
        concat_characters: Any = True,
        decode_coords: Any = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: Any = None,
        decode_timedelta: Any = None,
        group: str | None = None,
        lock: Any = None,
        autoclose: bool = False,
        open_files: int | None = None,
    ) -> xr.Dataset:
        """Open a plain netCDF file or a master (see the class docstring).

        Parameters
        ----------
        filename_or_obj
            Path or URI of the file.
        mask_and_scale, decode_times, concat_characters, decode_coords,
        drop_variables, use_cftime, decode_timedelta
            xarray's CF decoding options, as for ``engine="netcdf4"`` (booleans, coder
            objects such as ``xr.coders.CFDatetimeCoder``, or per-variable mappings).
        group
            Path of the group to open.
        lock
            Lock held around reads (default :data:`SEMSL_XARRAY_LOCK`).
        autoclose
            Close the file after each read.
        open_files
            Most fragment files kept open at once (default: semsl's configuration).
        """
        store = SemslDataStore.open(filename_or_obj, group=group, lock=lock,
                                    autoclose=autoclose, open_files=open_files)
        return _decode_store(store, mask_and_scale=mask_and_scale,
                             decode_times=decode_times, concat_characters=concat_characters,
                             decode_coords=decode_coords, drop_variables=drop_variables,
                             use_cftime=use_cftime, decode_timedelta=decode_timedelta)

    def open_groups_as_dict(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        mask_and_scale: Any = True,
        decode_times: Any = True,
        concat_characters: Any = True,
        decode_coords: Any = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: Any = None,
        decode_timedelta: Any = None,
        group: str | None = None,
        lock: Any = None,
        autoclose: bool = False,
        open_files: int | None = None,
    ) -> dict[str, xr.Dataset]:
        """Every group under ``group`` as a dataset, keyed by its path."""
        store = SemslDataStore.open(filename_or_obj, group=group, lock=lock,
                                    autoclose=autoclose, open_files=open_files)
        options = {"mask_and_scale": mask_and_scale, "decode_times": decode_times,
                   "concat_characters": concat_characters, "decode_coords": decode_coords,
                   "drop_variables": drop_variables, "use_cftime": use_cftime,
                   "decode_timedelta": decode_timedelta}
        parent = "/" + (group or "").strip("/")
        result: dict[str, xr.Dataset] = {}
        for path in _group_paths(store.ds):  # relative to the group opened
            child = store if path == "/" else SemslDataStore(
                store._manager, group=posixpath.join(parent, path.lstrip("/")),
                lock=store.lock, autoclose=autoclose)
            result[path] = _decode_store(child, **options)
        return result

    def open_datatree(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        mask_and_scale: Any = True,
        decode_times: Any = True,
        concat_characters: Any = True,
        decode_coords: Any = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: Any = None,
        decode_timedelta: Any = None,
        group: str | None = None,
        lock: Any = None,
        autoclose: bool = False,
        open_files: int | None = None,
    ) -> Any:
        """The groups under ``group`` as an ``xarray.DataTree``."""
        groups = self.open_groups_as_dict(
            filename_or_obj, mask_and_scale=mask_and_scale, decode_times=decode_times,
            concat_characters=concat_characters, decode_coords=decode_coords,
            drop_variables=drop_variables, use_cftime=use_cftime,
            decode_timedelta=decode_timedelta, group=group, lock=lock, autoclose=autoclose,
            open_files=open_files)
        try:
            tree = xr.DataTree.from_dict(groups)
        except Exception:
            for ds in groups.values():
                ds.close()
            raise
        for path, ds in groups.items():
            tree[path].set_close(ds._close)
        return tree


def _decode_store(store: SemslDataStore, **options: Any) -> xr.Dataset:
    """Decode a store with xarray's CF decoding (the store closes with the dataset)."""
    try:
        with store._manager.acquire_context():
            return StoreBackendEntrypoint().open_dataset(store, **options)
    except BaseException:
        with contextlib.suppress(Exception):
            store.close()
        raise
