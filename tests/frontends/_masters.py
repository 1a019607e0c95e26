"""Helpers for the netCDF4 oracle tests: variable specs, paired files, comparisons.

A :class:`VarSpec` describes one variable; :func:`open_pair` creates it twice, as an
aggregated variable through semsl and as a plain variable through netCDF4 (the oracle),
or reopens both.  :func:`write_cf_master` builds a CF-1.13 master with unequal
fragments by hand.  :func:`outcome` and :func:`assert_same` compare what the two
libraries return or raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

import semsl

DIMS = ("d0", "d1", "d2", "d3")
PLAIN_FORMAT = {"CFA4": "NETCDF4", "CFA3": "NETCDF3_CLASSIC"}
SETTERS = ("set_auto_mask", "set_auto_scale", "set_auto_maskandscale", "set_always_mask")
#: A settings program: (``"ds"`` or ``"var"``, setter name, flag) applied in order.
Program = tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True)
class VarSpec:
    """One variable ``v``: format, dtype, shape, first dimension unlimited or not, etc."""

    fmt: str
    dtype: str
    shape: tuple[int, ...]
    unlimited: bool
    fill_value: Any  # None (default fill), False (no fill) or a value
    attrs: tuple[tuple[str, Any], ...] = ()
    subarray: tuple[int, ...] | None = None
    coordinate: bool = False  # a coordinate variable d0 (left unwritten) in both files

    @property
    def dims(self) -> tuple[str, ...]:
        return DIMS[: len(self.shape)]

    @property
    def fill(self) -> Any:
        """The value unwritten elements read as."""
        if self.fill_value is None or self.fill_value is False:
            return netCDF4.default_fillvals[np.dtype(self.dtype).str[1:]]
        return self.fill_value


def define(ds: Any, spec: VarSpec, **kwargs: Any) -> Any:
    """Create the dimensions and the variable ``v`` of ``spec`` in ``ds``."""
    for k, (name, size) in enumerate(zip(spec.dims, spec.shape, strict=True)):
        ds.createDimension(name, None if k == 0 and spec.unlimited else size)
    if spec.coordinate:
        ds.createVariable("d0", "f8", ("d0",))
    var = ds.createVariable("v", spec.dtype, spec.dims, fill_value=spec.fill_value, **kwargs)
    for name, value in spec.attrs:
        setattr(var, name, value)  # as users do: v.scale_factor = 0.5
    return var


@contextmanager
def open_pair(folder: Path, spec: VarSpec, mode: str = "r") -> Iterator[tuple[Any, Any]]:
    """Yield (semsl dataset, netCDF4 dataset); mode ``"w"`` creates ``v`` in both."""
    agg, plain = folder / "agg.nca", folder / "plain.nc"
    if mode == "w":
        s = semsl.Dataset(agg, "w", format=spec.fmt)
        p = netCDF4.Dataset(plain, "w", format=PLAIN_FORMAT[spec.fmt])
        define(s, spec, subarray_shape=spec.subarray)
        define(p, spec)
    else:
        s, p = semsl.Dataset(agg, mode), netCDF4.Dataset(plain, mode)
    try:
        yield s, p
    finally:
        s.close()
        p.close()


def apply_program(ds: Any, program: Program) -> None:
    """Reset mask/scale settings to netCDF4's defaults, then apply ``program``."""
    ds.set_auto_maskandscale(True)
    ds.set_always_mask(True)
    for target, setter, flag in program:
        getattr(ds if target == "ds" else ds["v"], setter)(flag)


def cap_subarray(shape: Sequence[int], wanted: Sequence[int], max_fragments: int,
                 ) -> tuple[int, ...]:
    """Enlarge ``wanted`` fragment lengths so that the grid has few fragments."""
    out, total = [], 1
    for n, length in zip(shape, wanted, strict=True):
        block = length
        if total * math.ceil(n / block) > max_fragments:
            block = max(block, math.ceil(n / max(1, max_fragments // total)))
        out.append(block)
        total *= max(1, math.ceil(n / block))
    return tuple(out)


def special_values(spec: VarSpec) -> list[Any]:
    """Values worth storing: fill values, missing values, range bounds and beyond."""
    attrs = {name: np.asarray(value).astype(float) for name, value in spec.attrs}
    values: list[Any] = [spec.fill, 0]
    if "missing_value" in attrs:
        values.append(attrs["missing_value"])
    for name, delta in (("valid_min", -1), ("valid_max", 1)):
        if name in attrs:
            values += [attrs[name], attrs[name] + delta]
    if "valid_range" in attrs:
        lo, hi = attrs["valid_range"]
        values += [lo, lo - 1, hi, hi + 1]
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        values += [np.nan, np.inf, -np.inf]
        return values
    info = np.iinfo(dtype)
    values += [info.min, info.max]
    return [int(np.clip(v, info.min, info.max)) for v in values]


def make_values(rng: np.random.Generator, spec: VarSpec, shape: Sequence[int]) -> np.ndarray:
    """Random raw values of ``spec.dtype``, a quarter of them special values."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        values = rng.normal(0, 100, shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        values = rng.integers(max(info.min, -200), min(info.max, 200) + 1, shape).astype(dtype)
    pick = rng.random(shape) < 0.25
    specials = np.array(special_values(spec), dtype=dtype)
    values[pick] = rng.choice(specials, size=int(pick.sum()))
    return values


def outcome(read: Callable[[], Any]) -> Any:
    """What ``read()`` returns, or the exception it raises."""
    try:
        return read()
    except Exception as err:  # compared by type with the oracle's
        return err


def assert_same(got: Any, want: Any, what: object = "") -> None:
    """Assert semsl's outcome equals netCDF4's: exception type, or the array exactly."""
    if isinstance(want, Exception) or isinstance(got, Exception):
        assert isinstance(got, type(want)), f"{what}: semsl gave {got!r}, netCDF4 {want!r}"
        return
    assert type(got) is type(want), f"{what}: type {type(got)} != {type(want)}"
    if want is np.ma.masked:
        return
    a, b = np.asanyarray(got), np.asanyarray(want)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if isinstance(b, np.ma.MaskedArray):
        np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b),
                                      err_msg=f"{what}: mask")
        assert (a.mask is np.ma.nomask) == (b.mask is np.ma.nomask), f"{what}: nomask"
        assert _equal(a.fill_value, b.fill_value), f"{what}: fill_value"
        a, b = a.data, b.data
    assert _equal(a, b), f"{what}: values\n{a!r}\n!=\n{b!r}"


def _equal(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    nan = a.dtype.kind in "fc" and b.dtype.kind in "fc"
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=nan))


def assert_same_reads(s: Any, p: Any, programs: Sequence[Program], keys: Sequence[Any],
                      ) -> set[str]:
    """Read every key under every settings program from both datasets and compare.

    Returns what the reads gave: ``"read ok"`` or ``"read raised <type>"``.
    """
    seen = set()
    for program in programs:
        apply_program(s, program)
        apply_program(p, program)
        for key in keys:
            got = outcome(lambda key=key: s["v"][key])
            want = outcome(lambda key=key: p["v"][key])
            assert_same(got, want, f"v[{key!r}] {program}")
            seen.add(describe(want, "read"))
    return seen


def describe(result: Any, action: str) -> str:
    """``"<action> ok"`` or ``"<action> raised <exception type>"`` (hypothesis events)."""
    if isinstance(result, Exception):
        return f"{action} raised {type(result).__name__}"
    return f"{action} ok"


def write_cf_master(folder: Path, spec: VarSpec, lengths: Sequence[Sequence[int]],
                    data: np.ndarray) -> Path:
    """Write ``data`` as a CF-1.13 aggregation with the given fragment lengths per axis.

    Fragments are plain netCDF-4 files ``frags/f_<i>_<j>.nc`` holding variable
    ``frag_v``; the master holds the map ``m``, the URIs ``u`` and the identifier ``i``.
    """
    grid = tuple(len(row) for row in lengths)
    bounds = [np.concatenate([[0], np.cumsum(row)]).astype(int) for row in lengths]
    uris = np.empty(grid, dtype=object)
    (folder / "frags").mkdir()
    for index in np.ndindex(grid):
        where = tuple(slice(b[i], b[i + 1]) for b, i in zip(bounds, index, strict=True))
        uris[index] = "frags/f_" + "_".join(map(str, index)) + ".nc"
        with netCDF4.Dataset(folder / uris[index], "w") as frag:
            for dim, sl in zip(spec.dims, where, strict=True):
                frag.createDimension(dim, sl.stop - sl.start)
            var = frag.createVariable("frag_v", spec.dtype, spec.dims,
                                      fill_value=spec.fill_value)
            var.set_auto_maskandscale(False)
            var[...] = data[where]
    path = folder / "master.nc"
    with netCDF4.Dataset(path, "w") as master:
        master.Conventions = "CF-1.13"
        for k, (dim, size) in enumerate(zip(spec.dims, spec.shape, strict=True)):
            master.createDimension(dim, None if k == 0 and spec.unlimited else size)
        if spec.coordinate:  # gives an unlimited dimension its length
            master.createVariable("d0", "f8", ("d0",))[:] = np.arange(spec.shape[0])
        var = master.createVariable("v", spec.dtype, (), fill_value=spec.fill_value)
        for name, value in spec.attrs:
            setattr(var, name, value)
        var.aggregated_dimensions = " ".join(spec.dims)
        var.aggregated_data = "map: m uris: u identifiers: i"
        master.createDimension("j", len(lengths))
        master.createDimension("f", max(grid))
        table = np.full((len(lengths), max(grid)), -1, dtype=np.int32)
        for k, row in enumerate(lengths):
            table[k, : len(row)] = row
        fmap = master.createVariable("m", "i4", ("j", "f"), fill_value=-1)
        fmap.set_auto_mask(False)
        fmap[...] = table
        frag_dims = [f"f_{dim}" for dim in spec.dims]
        for dim, n in zip(frag_dims, grid, strict=True):
            master.createDimension(dim, n)
        master.createVariable("u", str, tuple(frag_dims))[...] = uris
        master.createVariable("i", str, ())[...] = "frag_v"
    return path


def write_plain(path: Path, spec: VarSpec, data: np.ndarray) -> None:
    """The oracle of :func:`write_cf_master`: ``data`` in one plain netCDF-4 file."""
    with netCDF4.Dataset(path, "w") as ds:
        var = define(ds, spec)
        if spec.coordinate:
            ds["d0"][:] = np.arange(spec.shape[0])
        var.set_auto_maskandscale(False)
        var[...] = data
