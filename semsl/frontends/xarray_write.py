"""Writing an xarray Dataset as an aggregated dataset: :func:`to_semsl`.

The dataset is CF-encoded exactly as ``Dataset.to_netcdf`` encodes it (xarray's
``encode_dataset_coordinates`` and ``cf_encoder``, then the netCDF-4 or netCDF-3 rules
of xarray's netCDF4 store), then

1. every numeric variable with dimensions that is not a coordinate variable (the
   variables semsl aggregates) is cut into fragments: one per dask chunk, or per
   ``subarray_shape``; each fragment is written by its own task - with dask, on the
   workers - as a self-describing fragment file (semsl's
   :func:`~semsl.cfa.fragments.create_fragment` and
   :func:`~semsl.cfa.fragments.write_metadata`), and the task returns only where it
   put the fragment;
2. once every fragment exists, one task writes the master: the other variables and
   the attributes through xarray's ``NetCDF4DataStore``, each aggregated variable as
   a scalar with its attributes plus its CF-1.13 fragment grid
   (:class:`~semsl.parsers.cf_aggregation.CFAggregationParser`).  The master is built
   in a working file and renamed over the target (uploaded last on remote storage),
   so a failure never leaves a master pointing at missing fragments.

No fragment's data passes through the process that calls :func:`to_semsl`.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from semsl.backends import registry
from semsl.backends.registry import Location
from semsl.cfa import fragments as frag
from semsl.cfa.model import AggregatedVariable, FragmentGrid, boundaries_from_lengths
from semsl.cfa.splitter import axis_kind, choose_subarray_shape
from semsl.config import get_config
from semsl.errors import MasterWriteError, SubarrayShapeError
from semsl.parsers.cf_aggregation import BOOKKEEPING_ATTRIBUTES, CFAggregationParser

if TYPE_CHECKING:
    import xarray as xr
    from dask.delayed import Delayed

__all__ = ["FragmentJob", "FragmentWritten", "MasterPlan", "to_semsl", "write_fragment",
           "write_master"]

_FORMATS = {"CFA4": "NETCDF4", "CFA3": "NETCDF3_CLASSIC"}
#: Storage options of a variable's encoding that apply to its fragment files.
_FRAGMENT_OPTIONS = ("zlib", "complevel", "shuffle", "compression", "fletcher32",
                     "significant_digits", "quantize_mode")
SubarrayShape = Mapping[Hashable, int] | Sequence[int]


# ------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class FragmentJob:
    """Everything the task of one fragment needs (:func:`write_fragment`); picklable."""

    uri: str
    record: str
    variable: str
    index: tuple[int, ...]
    spec: frag.FragmentSpec
    metadata: frag.FragmentMetadata
    #: The variable's CF-encoded attributes (netCDF-3 rules are applied per block).
    attributes: Mapping[str, Any]
    netcdf3: bool
    #: The nominal fragment shape (the largest fragment along each dimension).
    block: tuple[int, ...]


@dataclass(frozen=True)
class FragmentWritten:
    """What a fragment task returns: where the fragment went and its place.

    Attributes
    ----------
    variable
        Name of the aggregated variable.
    index
        The fragment's index in the grid.
    uri
        The URI recorded in the master (relative to the master's folder when under it).
    shape
        The fragment's shape.
    """

    variable: str
    index: tuple[int, ...]
    uri: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _Aggregated:
    """One aggregated variable of the master: its scalar and its grid."""

    name: str
    dimensions: tuple[str, ...]
    lengths: tuple[tuple[int, ...], ...]
    #: A 0-d stand-in with the encoded data type and attributes (the master's scalar).
    scalar: Any


@dataclass(frozen=True)
class MasterPlan:
    """Everything the final task needs to write the master (:func:`write_master`)."""

    target: str
    file_format: str
    dimensions: Mapping[str, int]
    unlimited: frozenset[str]
    attributes: Mapping[str, Any]
    #: The other variables, CF-encoded, with their data in memory.
    plain: Mapping[str, Any]
    aggregated: tuple[_Aggregated, ...]
    #: Every variable's name, in the dataset's order (kept in the master).
    order: tuple[str, ...]


# ------------------------------------------------------------------------- API


def to_semsl(ds: xr.Dataset, target: str | os.PathLike[str], *, format: str = "CFA4",
             subarray_shape: SubarrayShape | None = None,
             fragment_location: str | None = None, compute: bool = True,
             ) -> Delayed | None:
    """Write ``ds`` as an aggregated dataset: a master file and fragment files.

    Parameters
    ----------
    ds
        The dataset.  Its variables are CF-encoded as ``ds.to_netcdf`` would encode
        them (``encoding`` of each variable: ``units``, ``calendar``, ``dtype``,
        ``_FillValue``, ``scale_factor``, ... and ``ds.encoding["unlimited_dims"]``).
    target
        Path or URI of the master file (``s3://...`` for S3).
    format
        ``"CFA4"`` (netCDF-4 master and fragments) or ``"CFA3"`` (netCDF-3 classic).
    subarray_shape
        The fragment shape: a mapping from dimension name to fragment length (other
        dimensions keep their dask chunks, or their whole length), or one length per
        dimension for every aggregated variable.  Default: one fragment per dask
        chunk; for data not in dask, the shape semsl chooses for a 50 MB fragment
        (``default_max_subarray_size`` of the configuration).
    fragment_location
        Folder or URI prefix of the fragment files (default: a folder named after the
        master, beside it).
    compute
        Write now (default), or return a ``dask.delayed.Delayed`` that writes every
        fragment and then the master when computed.

    Returns
    -------
    dask.delayed.Delayed or None
        The delayed write when ``compute=False``.
    """
    xarray = _import_xarray()
    file_format = _file_format(format)
    where = registry.locate(target)
    variables, attributes = _encode(xarray, ds)
    unlimited = _unlimited(ds, variables)
    names = [k for k, v in variables.items() if _aggregates(k, v)]
    lengths = {k: _lengths(variables[k], subarray_shape, variables) for k in names}
    jobs = _jobs(where, file_format, fragment_location, variables, attributes, unlimited,
                 lengths)
    plan = _master_plan(where, file_format, variables, attributes, unlimited, lengths)
    chunked = any(_is_dask(variables[k].data) for k in names)
    if chunked or not compute:
        delayed = _delayed_write(variables, lengths, jobs, plan)
        if not compute:
            return delayed
        cast(Any, delayed).compute()
        return None
    written = [write_fragment(_block(variables[j.variable], lengths[j.variable], j.index), j)
               for j in jobs]
    write_master(plan, written)
    return None


def _import_xarray() -> Any:
    try:
        import xarray  # noqa: PLC0415 (an optional dependency)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'to_semsl needs xarray: pip install "semsl[xarray]" ({err})') from err
    return xarray


def _file_format(format: str) -> str:
    try:
        return _FORMATS[str(format).upper()]
    except KeyError:
        raise ValueError(f"format must be 'CFA4' or 'CFA3', not {format!r}") from None


# ------------------------------------------------------------------------- encoding


def _encode(xarray: Any, ds: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """CF-encode a dataset as ``to_netcdf`` does before handing it to the store."""
    from xarray.backends.common import ensure_dtype_not_object  # noqa: PLC0415
    from xarray.conventions import cf_encoder, encode_dataset_coordinates  # noqa: PLC0415

    if not isinstance(ds, xarray.Dataset):
        raise TypeError(f"to_semsl writes an xarray.Dataset, not {type(ds).__name__}")
    variables, attributes = encode_dataset_coordinates(ds)
    variables, attributes = cf_encoder(variables, attributes)
    variables = {str(k): ensure_dtype_not_object(v, name=k) for k, v in variables.items()}
    return variables, dict(attributes)


def _format_encode(variable: Any, file_format: str) -> Any:
    """The netCDF-4 or netCDF-3 rules of xarray's netCDF4 store for one variable."""
    from xarray.backends import netcdf3  # noqa: PLC0415

    if file_format != "NETCDF4":
        encode: Any = netcdf3.encode_nc3_variable  # untyped
        return encode(variable)
    if variable.dtype.byteorder not in "=|":  # netCDF4 writes native byte order
        return variable.astype(variable.dtype.newbyteorder("="))
    return variable


def _aggregates(name: str, variable: Any) -> bool:
    """Whether semsl aggregates a variable: numeric, with dimensions, not a coordinate."""
    dims = tuple(variable.dims)
    return (variable.dtype.kind in "iuf" and bool(dims) and dims != (name,)
            and 0 not in variable.shape)


def _unlimited(ds: Any, variables: Mapping[str, Any]) -> frozenset[str]:
    """Unlimited dimensions: those asked for that a variable of the master spans.

    A dimension spanned only by aggregated variables would have length 0 in the
    master, so it is fixed instead.
    """
    asked = ds.encoding.get("unlimited_dims") or ()
    asked = {asked} if isinstance(asked, str) else set(asked)
    spanned = {d for k, v in variables.items() if not _aggregates(k, v) for d in v.dims}
    return frozenset(str(d) for d in asked & spanned)


def _is_dask(data: Any) -> bool:
    return type(data).__module__.startswith("dask.")


# ------------------------------------------------------------------------- fragments


def _lengths(variable: Any, subarray_shape: SubarrayShape | None,
             variables: Mapping[str, Any]) -> tuple[tuple[int, ...], ...]:
    """Fragment lengths along each dimension of an aggregated variable."""
    dims, shape = tuple(variable.dims), tuple(variable.shape)
    chunks: tuple[tuple[int, ...], ...] | None = None
    if _is_dask(variable.data):
        chunks = tuple(tuple(int(n) for n in c) for c in variable.data.chunks)
    if subarray_shape is None and chunks is None:
        axes = [axis_kind(str(d), _coordinate_attrs(variables, str(d))) for d in dims]
        block = choose_subarray_shape(shape, variable.dtype.itemsize, axes,
                                      get_config().default_max_subarray_size)
        return tuple(_regular(n, b) for n, b in zip(shape, block, strict=True))
    if subarray_shape is None:
        return chunks or ()
    asked = _requested(dims, shape, subarray_shape)
    return tuple(_regular(n, b) if b else (chunks[k] if chunks else (n,))
                 for k, (n, b) in enumerate(zip(shape, asked, strict=True)))


def _requested(dims: tuple[Hashable, ...], shape: tuple[int, ...],
               subarray_shape: SubarrayShape) -> tuple[int | None, ...]:
    """Per dimension, the fragment length asked for (``None``: not given)."""
    if isinstance(subarray_shape, Mapping):
        block = tuple(subarray_shape.get(d) for d in dims)
    else:
        block = tuple(subarray_shape)
        if len(block) != len(dims):
            raise SubarrayShapeError(
                f"subarray_shape {block} has {len(block)} entries but a variable has the "
                f"dimensions {dims}; give a mapping from dimension name to length instead")
    for b in block:
        if b is not None and (not isinstance(b, int | np.integer) or b < 1):
            raise SubarrayShapeError(f"fragment lengths must be positive integers, not {b!r}")
    return tuple(None if b is None else min(int(b), n) for n, b in
                 zip(shape, block, strict=True))


def _regular(size: int, block: int) -> tuple[int, ...]:
    full, rest = divmod(size, block)
    return (block,) * full + ((rest,) if rest else ())


def _coordinate_attrs(variables: Mapping[str, Any], dim: str) -> dict[str, Any] | None:
    coord = variables.get(dim)
    return dict(coord.attrs) if coord is not None and tuple(coord.dims) == (dim,) else None


def _jobs(where: Location, file_format: str, fragment_location: str | None,
          variables: Mapping[str, Any], attributes: Mapping[str, Any],
          unlimited: frozenset[str], lengths: Mapping[str, tuple[tuple[int, ...], ...]],
          ) -> list[FragmentJob]:
    """The fragment tasks of every aggregated variable, in grid order."""
    folder = _master_folder(where)
    stem = posixpath.splitext(posixpath.basename(where.given.replace(os.sep, "/")))[0]
    location = fragment_location or registry.join(folder, stem)
    if not registry.is_remote(location):
        location = os.path.abspath(location)
    global_attrs = _format_attributes(attributes, file_format)
    jobs = []
    for name, rows in lengths.items():
        variable = variables[name]
        encoded = _format_encode(_stand_in(variable), file_format)
        spec = _spec(variable, encoded, file_format, unlimited)
        coords = _coordinates(variables, variable, file_format)
        for index in map(tuple, np.ndindex(*(len(r) for r in rows))):
            meta = _metadata(where, name, variable, rows, index, spec, global_attrs,
                             encoded.attrs, coords)
            uri = registry.join(location, frag.fragment_name(
                stem, f"/{name}", index, [len(r) for r in rows], spec.unlimited))
            jobs.append(FragmentJob(uri, frag.relative_uri(uri, folder), name, index, spec,
                                    meta, dict(variable.attrs), file_format != "NETCDF4",
                                    tuple(max(r) for r in rows)))
    return jobs


def _master_folder(where: Location) -> str:
    return registry.parent(_target(where))


def _target(where: Location) -> str:
    """The master as tasks name it: an absolute path (workers have their own cwd)."""
    return where.uri if where.is_local else where.given


def _stand_in(variable: Any) -> Any:
    """A 0-d variable with the data type and attributes of ``variable``."""
    from xarray import Variable  # noqa: PLC0415

    return Variable((), np.zeros((), dtype=variable.dtype), dict(variable.attrs))


def _format_attributes(attributes: Mapping[str, Any], file_format: str) -> dict[str, Any]:
    if file_format == "NETCDF4":
        return dict(attributes)
    from xarray.backends import netcdf3  # noqa: PLC0415

    encode: Any = netcdf3.encode_nc3_attrs  # untyped
    return dict(encode(attributes))


def _spec(variable: Any, encoded: Any, file_format: str, unlimited: frozenset[str],
          ) -> frag.FragmentSpec:
    fill = encoded.attrs.get("_FillValue")
    if fill is not None:
        fill = np.asarray(fill, dtype=encoded.dtype).reshape(-1)[0]
    options = {k: variable.encoding[k] for k in _FRAGMENT_OPTIONS
               if k in variable.encoding and file_format == "NETCDF4"}
    dims = tuple(str(d) for d in variable.dims)
    return frag.FragmentSpec(file_format, dims, tuple(d in unlimited for d in dims),
                             np.dtype(encoded.dtype), fill, options)


def _coordinates(variables: Mapping[str, Any], variable: Any, file_format: str,
                 ) -> dict[str, tuple[npt.NDArray[Any], dict[str, Any]]]:
    """The numeric coordinate variables of the variable's dimensions, encoded."""
    coords = {}
    for dim in map(str, variable.dims):
        coord = variables.get(dim)
        if coord is None or tuple(coord.dims) != (dim,) or coord.dtype.kind not in "iuf":
            continue
        encoded = _format_encode(coord.compute(), file_format)
        attrs = dict(encoded.attrs)
        if "_FillValue" in attrs:
            attrs["_FillValue"] = np.asarray(attrs["_FillValue"],
                                             encoded.dtype).reshape(-1)[0]
        coords[dim] = (np.asarray(encoded.values), attrs)
    return coords


def _metadata(where: Location, name: str, variable: Any, rows: tuple[tuple[int, ...], ...],
              index: tuple[int, ...], spec: frag.FragmentSpec, global_attrs: Mapping[str, Any],
              attrs: Mapping[str, Any], coords: Mapping[str, tuple[npt.NDArray[Any], Any]],
              ) -> frag.FragmentMetadata:
    starts = tuple(int(sum(r[:i])) for r, i in zip(rows, index, strict=True))
    shape = tuple(r[i] for r, i in zip(rows, index, strict=True))
    mine = {dim: (values[s: s + n], coord_attrs)
            for dim, s, n in zip(spec.dimensions, starts, shape, strict=True)
            if dim in coords for values, coord_attrs in [coords[dim]]}
    return frag.FragmentMetadata(
        variable=f"/{name}", master=posixpath.basename(where.given.replace(os.sep, "/")),
        master_dimensions=spec.dimensions,
        unlimited_dimensions=tuple(d for d, u in zip(spec.dimensions, spec.unlimited,
                                                     strict=True) if u),
        master_shape=tuple(variable.shape), start=starts, index=index, shape=shape,
        global_attributes=global_attrs, variable_attributes=dict(attrs), coordinates=mine)


def _block(variable: Any, rows: tuple[tuple[int, ...], ...],
           index: tuple[int, ...]) -> npt.NDArray[Any]:
    """The values of one fragment of a variable held in memory."""
    where = tuple(slice(int(sum(r[:i])), int(sum(r[: i + 1]))) for r, i in
                  zip(rows, index, strict=True))
    return np.asarray(variable.data[where])


def write_fragment(block: npt.NDArray[Any], job: FragmentJob) -> FragmentWritten:
    """Write one fragment file from its (CF-encoded) values; return where it went.

    This is the task run for each fragment, on a dask worker when the data are in
    dask.  The file is built with semsl's fragment writer and made self-describing
    with :func:`semsl.cfa.fragments.write_metadata`; a remote fragment is uploaded.
    """
    values = _fragment_values(block, job)
    with _netcdf_lock():
        coordinates = {dim: (coord.dtype, attrs) for dim, (coord, attrs) in
                       job.metadata.coordinates.items()}  # defined before the data: faster
        entry = frag.create_fragment(job.uri, job.spec, values.shape, job.variable,
                                     scratch=get_config().resources.cache_dir,
                                     block=job.block, coordinates=coordinates)
        try:
            frag.write_piece(entry, job.variable, tuple(slice(0, n) for n in values.shape),
                             values)
            frag.write_metadata(entry, job.variable, job.metadata, _fill(job.spec))
            entry.close_local()
        except BaseException:
            with contextlib.suppress(Exception):
                entry.close_local()
            if entry.upload is not None:
                entry.upload.discard()
            raise
    if entry.upload is not None:  # outside the lock: uploads run concurrently
        upload, entry.upload = entry.upload, None
        upload.run()
    return FragmentWritten(job.variable, job.index, job.record, tuple(values.shape))


def _netcdf_lock() -> Any:
    """The lock around netCDF-C/HDF5 calls: semsl's and xarray's (see the engine)."""
    from semsl.frontends.xarray import SEMSL_XARRAY_LOCK  # noqa: PLC0415

    return SEMSL_XARRAY_LOCK


def _fragment_values(block: Any, job: FragmentJob) -> npt.NDArray[Any]:
    values = np.asarray(block)
    if job.netcdf3:  # int64 -> int32 and friends, checked, as xarray writes netCDF-3
        from xarray import Variable  # noqa: PLC0415

        values = np.asarray(_format_encode(
            Variable(job.spec.dimensions, values, dict(job.attributes)), "NETCDF3").values)
    if values.shape != job.metadata.shape:
        raise ValueError(f"fragment {job.index} of {job.variable!r} has shape {values.shape}, "
                         f"the plan says {job.metadata.shape}")
    return values.astype(job.spec.dtype, copy=False)


def _fill(spec: frag.FragmentSpec) -> Any:
    if spec.fill_value is not None:
        return spec.fill_value
    import netCDF4  # noqa: PLC0415

    return netCDF4.default_fillvals.get(spec.dtype.str[1:], 0)


# ------------------------------------------------------------------------- dask


def _delayed_write(variables: Mapping[str, Any],
                   lengths: Mapping[str, tuple[tuple[int, ...], ...]],
                   jobs: list[FragmentJob], plan: MasterPlan) -> Delayed:
    """One task per fragment, then the master task that depends on all of them."""
    import dask.array as da  # noqa: PLC0415
    from dask.delayed import delayed  # noqa: PLC0415

    from_array: Any = da.from_array  # untyped
    blocks = {}
    for name, rows in lengths.items():
        data = variables[name].data
        array = data if _is_dask(data) else from_array(np.asarray(data), chunks=rows)
        blocks[name] = array.rechunk(rows).to_delayed()
    writes = [delayed(write_fragment, pure=False)(blocks[j.variable][j.index], j)
              for j in jobs]
    master: Delayed = delayed(write_master, pure=False)(plan, writes)
    return master


# ------------------------------------------------------------------------- master


def _master_plan(where: Location, file_format: str, variables: Mapping[str, Any],
                 attributes: Mapping[str, Any], unlimited: frozenset[str],
                 lengths: Mapping[str, tuple[tuple[int, ...], ...]]) -> MasterPlan:
    dims: dict[str, int] = {}
    for variable in variables.values():
        dims.update({str(d): int(n) for d, n in variable.sizes.items()})
    aggregated = tuple(
        _Aggregated(name, tuple(map(str, variables[name].dims)), rows,
                    _format_encode(_stand_in(variables[name]), file_format))
        for name, rows in lengths.items())
    plain = {k: v.compute() for k, v in variables.items() if k not in lengths}
    return MasterPlan(_target(where), file_format, dims, unlimited, dict(attributes), plain,
                      aggregated, tuple(variables))


def write_master(plan: MasterPlan, written: Sequence[FragmentWritten]) -> None:
    """Write the master from the fragments' results: the final task of :func:`to_semsl`.

    The master is built in a working file (beside a local target, in the cache folder
    for a remote one) and then renamed over the target or uploaded.
    """
    where = registry.locate(plan.target)
    temp = registry.working_file(where.given)
    try:
        _build_master(temp, plan, written)
        registry.store_file(temp, where.given)
    except Exception as err:
        raise MasterWriteError(f"writing the master {plan.target!r} failed ({err}); the "
                               "previous master, if any, is unchanged") from err
    finally:
        with contextlib.suppress(OSError):
            os.remove(temp)


def _build_master(path: str, plan: MasterPlan, written: Sequence[FragmentWritten]) -> None:
    """Write the master file at ``path`` through xarray's netCDF4 store."""
    from xarray.backends import NetCDF4DataStore  # noqa: PLC0415

    with _netcdf_lock():  # the store itself locks nothing (lock=False)
        opener: Any = NetCDF4DataStore.open  # untyped
        store = opener(path, mode="w", format=plan.file_format, lock=False)
        try:
            _define_master(store, plan)
            _write_grids(store, plan, written)
        finally:
            store.close()


def _define_master(store: Any, plan: MasterPlan) -> None:
    """Attributes, dimensions and variables, as ``to_netcdf`` writes them (in order).

    An aggregated variable is a scalar with its attributes; its data are in fragments.
    """
    from xarray.backends import common  # noqa: PLC0415

    store.set_attributes(_with_conventions(dict(plan.attributes)))
    plain = {k: store.encode_variable(v, name=k) for k, v in plan.plain.items()}
    store.set_dimensions(plain, unlimited_dims=plan.unlimited)
    for dim, size in plan.dimensions.items():  # those spanned by aggregated variables only
        if dim not in store.ds.dimensions:
            store.set_dimension(dim, size, is_unlimited=False)
    writer: Any = cast(Any, common).ArrayWriter()
    scalars = {agg.name: agg.scalar for agg in plan.aggregated}
    for name in plan.order:
        if name in scalars:
            store.prepare_variable(name, scalars[name], check_encoding=False,
                                   unlimited_dims=plan.unlimited)
        else:
            store.set_variables({name: plain[name]}, frozenset(), writer,
                                unlimited_dims=plan.unlimited)
    writer.sync()


def _write_grids(store: Any, plan: MasterPlan, written: Sequence[FragmentWritten]) -> None:
    """Record each aggregated variable's fragments (CF-1.13 aggregation variables)."""
    done = {(w.variable, tuple(w.index)): w for w in written}
    parser = CFAggregationParser()
    for agg in plan.aggregated:
        grid_shape = tuple(len(r) for r in agg.lengths)
        uris = np.full(grid_shape, "", dtype=object)
        for index in map(tuple, np.ndindex(*grid_shape)):
            uris[index] = _recorded(done.get((agg.name, index)), agg, index)
        grid = FragmentGrid([boundaries_from_lengths(r) for r in agg.lengths],
                            np.ones(grid_shape, dtype=bool), uris, agg.name,
                            tuple(max(r) for r in agg.lengths))
        model = AggregatedVariable(agg.name, "/", agg.dimensions, np.dtype(agg.scalar.dtype),
                                   grid, bookkeeping_attributes=BOOKKEEPING_ATTRIBUTES)
        parser.write(model, store.ds)


def _recorded(done: FragmentWritten | None, agg: _Aggregated, index: tuple[int, ...]) -> str:
    """The URI a fragment task returned, checked against the plan."""
    shape = tuple(r[i] for r, i in zip(agg.lengths, index, strict=True))
    if done is None or tuple(done.shape) != shape:
        raise ValueError(f"fragment {index} of {agg.name!r} was not written as planned "
                         f"(shape {shape}): {done}")
    return done.uri


def _with_conventions(attributes: dict[str, Any]) -> dict[str, Any]:
    """Declare CF-1.13 (the aggregation conventions) in ``Conventions``."""
    current = attributes.get("Conventions", "")
    tokens = [t for t in str(current).replace(",", " ").split() if not t.startswith("CF-")]
    return {**attributes, "Conventions": " ".join(["CF-1.13", *tokens])}
