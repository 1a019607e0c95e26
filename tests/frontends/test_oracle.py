"""semsl against netCDF4 as oracle: the same array, aggregated and plain, reads the same.

Every test stores one variable ``v`` twice: as an aggregated variable (semsl, CFA4 or
CFA3, or a CF-1.13 master built by hand with unequal fragments) and as a plain variable
(netCDF4, same dimensions, dtype, fill value and attributes).  Reads with any key under
any mask/scale setting, and sequences of writes, must give exactly what netCDF4 gives:
values, dtype, shape, masked or not, mask, fill value, or the same exception type.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import semsl
from tests.frontends._masters import (
    SETTERS,
    VarSpec,
    apply_program,
    assert_same,
    assert_same_reads,
    cap_subarray,
    describe,
    make_values,
    open_pair,
    outcome,
    write_cf_master,
    write_plain,
)

DTYPES = {"CFA4": ("f4", "f8", "i2", "i4", "u1"), "CFA3": ("f4", "f8", "i2", "i4", "i1")}
FILLS = {"f": (-1e30, 1e20, np.nan, 0.0), "i": (-99, 0, 127), "u": (255, 0, 7)}
#: Settings under which whole variables are compared: default, raw, no always_mask.
FULL_READS = ((), (("ds", "set_auto_maskandscale", False),), (("var", "set_always_mask", False),))
HYPOTHESIS = {"deadline": None,
              "suppress_health_check": [HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.data_too_large]}


# --------------------------------------------------------------------- strategies


@st.composite
def attributes(draw: Any, dtype: str) -> tuple[tuple[str, Any], ...]:
    """missing_value, valid_min/valid_max/valid_range and (integers) packing."""
    dt = np.dtype(dtype)
    attrs: list[tuple[str, Any]] = []
    if draw(st.booleans()):
        attrs.append(("missing_value", dt.type(draw(st.sampled_from([7, 100, 120])))))
    lo, hi = draw(st.sampled_from([(5, 100), (0, 120)] + [(-50, 50)] * (dt.kind != "u")))
    valid = draw(st.sampled_from(["none", "min", "max", "both", "range"]))
    if valid in ("min", "both"):
        attrs.append(("valid_min", dt.type(lo)))
    if valid in ("max", "both"):
        attrs.append(("valid_max", dt.type(hi)))
    if valid == "range":
        attrs.append(("valid_range", np.array([lo, hi], dt)))
    if dt.kind in "iu":
        width = draw(st.sampled_from([float, np.float32]))
        if draw(st.booleans()):
            attrs.append(("scale_factor", width(draw(st.sampled_from([0.5, 2.0, 0.1])))))
        if draw(st.booleans()):
            attrs.append(("add_offset", width(draw(st.sampled_from([0.0, 10.0, -3.5])))))
    return tuple(draw(st.permutations(attrs)))


@st.composite
def var_specs(draw: Any, no_fill: bool = False, max_fragments: int = 24) -> VarSpec:
    fmt = draw(st.sampled_from(sorted(DTYPES)))
    dtype = draw(st.sampled_from(DTYPES[fmt]))
    ndim = draw(st.integers(1, 4))
    unlimited = draw(st.booleans())
    shape = tuple(draw(st.integers(0 if k == 0 and unlimited else 1, 12)) for k in range(ndim))
    wanted = tuple(draw(st.integers(1, 12 if k == 0 and unlimited else n))
                   for k, n in enumerate(shape))
    fill = draw(st.sampled_from([None, *[False] * no_fill, *FILLS[np.dtype(dtype).kind]]))
    return VarSpec(fmt, dtype, shape, unlimited, fill, draw(attributes(dtype)),
                   cap_subarray(shape, wanted, max_fragments),
                   coordinate=unlimited and draw(st.booleans()))


def programs() -> st.SearchStrategy[tuple[tuple[str, str, bool], ...]]:
    step = st.tuples(st.sampled_from(["ds", "var"]), st.sampled_from(SETTERS), st.booleans())
    return st.lists(step, max_size=3).map(tuple)


def read_component(n: int) -> st.SearchStrategy[Any]:
    """One index of any kind for a dimension of length ``n``, in range or not."""
    ints = st.integers(-n - 2, n + 1)
    bound = st.none() | st.integers(-n - 3, n + 3)
    step = st.none() | st.integers(-4, 4)  # 0 is an error in both
    seq = st.lists(st.integers(-n - 1, n), max_size=5)
    bools = st.lists(st.booleans(), min_size=n, max_size=n)
    return st.one_of(
        ints, ints.map(np.int64), st.builds(slice, bound, bound, step),
        seq, seq.map(lambda x: np.array(x, dtype=np.int64)),
        bools, bools.map(lambda x: np.array(x, dtype=bool)))


@st.composite
def read_keys(draw: Any, shape: tuple[int, ...]) -> Any:
    parts = [draw(read_component(n)) for n in shape]
    form = draw(st.sampled_from(["tuple", "short", "ellipsis", "extra", "bare"]))
    if form == "short":
        parts = parts[: draw(st.integers(0, len(parts)))]
    elif form == "ellipsis":
        i = draw(st.integers(0, len(parts)))
        j = draw(st.integers(i, len(parts)))
        parts = [*parts[:i], Ellipsis, *parts[j:]]
    elif form == "extra":
        parts.append(draw(st.sampled_from([0, slice(None), Ellipsis])))
    elif form == "bare":
        return parts[0]
    return tuple(parts)


@st.composite
def write_component(draw: Any, n: int, unlimited: bool) -> tuple[Any, int | None]:
    """An index for writing and the number of elements it selects (None: squeezed).

    Along the unlimited dimension indices may lie past the end (the write grows it);
    an open-ended slice there selects as many elements as the value has.
    """
    far = n + 3 if unlimited else n
    kind = draw(st.sampled_from(["int", "slice", "seq", "bool"] + ["open"] * unlimited))
    if kind == "int":  # n on a fixed dimension: a failing write (test_failed_write_...)
        return draw(st.integers(-n - 1, far)), None
    if kind == "open":
        sl = slice(draw(st.none() | st.integers(0, far)), None, draw(st.sampled_from([None, 1])))
        return sl, draw(st.integers(0, 4))
    if kind == "seq":
        seq = draw(st.lists(st.integers(-n - (not unlimited), far), min_size=1, max_size=4))
        return draw(st.sampled_from([seq, np.array(seq)])), len(seq)
    if kind == "bool":
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=far if unlimited else n))
        return np.array(mask, dtype=bool), sum(mask)
    step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2, -3]))
    if unlimited:
        start, stop = draw(st.none() | st.integers(0, far)), draw(st.integers(0, n + 5))
        length = max(n, stop)
    else:
        start, stop = (draw(st.none() | st.integers(-n - 2, n + 2)) for _ in range(2))
        length = n
    sl = slice(start, stop, step)
    return sl, len(range(*sl.indices(length)))


@st.composite
def write_keys(draw: Any, shape: tuple[int, ...], unlimited: bool,
               ) -> tuple[Any, tuple[int, ...]]:
    """A write key and the shape of the values it takes."""
    chosen = [draw(write_component(n, unlimited and k == 0)) for k, n in enumerate(shape)]
    parts = [part for part, _ in chosen]
    counts = tuple(c for _, c in chosen if c is not None)
    form = draw(st.sampled_from(["tuple", "ellipsis", "short"]))
    full = 0  # trailing slice(None) indices may be left out or stand as an Ellipsis
    while full < len(parts) and _is_full(parts[len(parts) - full - 1]):
        full += 1
    if form != "tuple" and full:
        parts = parts[: len(parts) - full] + [Ellipsis] * (form == "ellipsis")
    elif form == "ellipsis":
        parts.append(Ellipsis)
    return tuple(parts), counts


def _is_full(part: Any) -> bool:
    return isinstance(part, slice) and part == slice(None)


@st.composite
def partitions(draw: Any, n: int, max_cuts: int) -> list[int]:
    """Random positive block lengths summing to ``n``."""
    cuts = draw(st.sets(st.integers(1, n - 1), max_size=max_cuts)) if n > 1 else set()
    edges = [0, *sorted(cuts), n]
    return [b - a for a, b in itertools.pairwise(edges)]


def make_write_value(rng: np.random.Generator, spec: VarSpec, counts: tuple[int, ...],
                     kind: str) -> Any:
    if kind == "scalar":
        return make_values(rng, spec, ())[()]
    if kind == "broadcast":
        counts = tuple(1 if rng.random() < 0.5 else c for c in counts)
    if kind == "float":
        return rng.normal(0, 60, counts)
    values = make_values(rng, spec, counts)
    if kind == "masked":
        return np.ma.masked_array(values, mask=rng.random(counts) < 0.3)
    return values


def copy_value(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


# ----------------------------------------------------------------------- property tests


@settings(max_examples=150, **HYPOTHESIS)
@given(spec=var_specs(no_fill=True), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_reads_match_netcdf4(tmp_path_factory: Any, spec: VarSpec, seed: int,
                             data: Any) -> None:
    keys = data.draw(st.lists(read_keys(spec.shape), min_size=1, max_size=6), label="keys")
    settings_ = data.draw(st.lists(programs(), max_size=3), label="programs")
    folder = tmp_path_factory.mktemp("reads")
    values = make_values(np.random.default_rng(seed), spec, spec.shape)
    with open_pair(folder, spec, "w") as (s, p):
        for ds in (s, p):
            ds.set_auto_maskandscale(False)
            ds["v"][...] = values
    with open_pair(folder, spec) as (s, p):
        assert s["v"].shape == p["v"].shape == spec.shape
        for label in assert_same_reads(s, p, [(), *settings_], keys):
            event(label)


@st.composite
def unequal_grids(draw: Any) -> tuple[VarSpec, list[list[int]]]:
    ndim = draw(st.integers(1, 4))
    unlimited = draw(st.booleans())
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    max_cuts = {1: 6, 2: 4, 3: 2, 4: 1}[ndim]
    lengths = [draw(partitions(n, max_cuts)) for n in shape]
    dtype = draw(st.sampled_from(DTYPES["CFA4"]))
    fill = draw(st.sampled_from([None, *FILLS[np.dtype(dtype).kind]]))
    spec = VarSpec("CFA4", dtype, shape, unlimited, fill, draw(attributes(dtype)),
                   coordinate=unlimited)
    return spec, lengths


@settings(max_examples=60, **HYPOTHESIS)
@given(case=unequal_grids(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_hand_built_unequal_grids_read_like_netcdf4(tmp_path_factory: Any,
                                                     case: tuple[VarSpec, list[list[int]]],
                                                     seed: int, data: Any) -> None:
    spec, lengths = case
    keys = data.draw(st.lists(read_keys(spec.shape), min_size=1, max_size=6), label="keys")
    settings_ = data.draw(st.lists(programs(), max_size=2), label="programs")
    folder = tmp_path_factory.mktemp("unequal")
    values = make_values(np.random.default_rng(seed), spec, spec.shape)
    master = write_cf_master(folder, spec, lengths, values)
    write_plain(folder / "plain.nc", spec, values)
    with semsl.Dataset(master) as s, netCDF4.Dataset(folder / "plain.nc") as p:
        assert isinstance(s["v"], semsl.AggregatedVariable)
        assert s["v"].fragments.grid_shape == tuple(len(row) for row in lengths)
        for label in assert_same_reads(s, p, [(), *FULL_READS[1:], *settings_],
                                       [Ellipsis, *keys]):
            event(label)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@settings(max_examples=150, **HYPOTHESIS)
@given(spec=var_specs(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_writes_match_netcdf4(tmp_path_factory: Any, spec: VarSpec, seed: int,
                              data: Any) -> None:
    rng = np.random.default_rng(seed)
    folder = tmp_path_factory.mktemp("writes")
    packed = {"scale_factor", "add_offset"} & set(dict(spec.attrs))
    kinds = ["exact", "scalar", "masked", "broadcast"] + ["float"] * bool(packed)
    with ExitStack() as session:
        s, p = session.enter_context(open_pair(folder, spec, "w"))
        for n in range(data.draw(st.integers(1, 4), label="number of writes")):
            if n and data.draw(st.booleans(), label=f"reopen before write {n}"):
                session.close()
                s, p = session.enter_context(open_pair(folder, spec, "a"))
            program = data.draw(programs(), label=f"settings {n}")
            apply_program(s, program)
            apply_program(p, program)
            key, counts = data.draw(write_keys(p["v"].shape, spec.unlimited), label=f"key {n}")
            value = make_write_value(rng, spec, counts, data.draw(st.sampled_from(kinds)))
            want = outcome(lambda key=key, value=value, p=p: p["v"].__setitem__(
                key, copy_value(value)))
            got = outcome(lambda key=key, value=value, s=s: s["v"].__setitem__(
                key, copy_value(value)))
            assert_same(got, want, f"write {n}: v[{key!r}] = {value!r}")
            event(describe(want, "write"))
            assert s["v"].shape == p["v"].shape, f"after write {n}"
        keys = [Ellipsis, *data.draw(st.lists(read_keys(p["v"].shape), max_size=2),
                                     label="read keys")]
        assert_same_reads(s, p, FULL_READS, keys)
    with open_pair(folder, spec) as (s, p):
        assert s["v"].shape == p["v"].shape
        assert_same_reads(s, p, FULL_READS, keys)


# ------------------------------------------------------------------ explicit cases

SPEC = VarSpec("CFA4", "f4", (10, 5, 4), True, -1e30,
               (("valid_max", np.float32(150.0)), ("missing_value", np.float32(7.0))), (3, 2, 3))
PACKED = VarSpec("CFA3", "i2", (10, 5, 4), True, -99,
                 (("scale_factor", 0.5), ("add_offset", 10.0), ("valid_min", np.int16(-20))),
                 (4, 3, 4))
EVERY_OTHER = np.arange(10) % 2 == 0

READ_KEYS = {
    "int": 3, "negative int": -1, "int past end": 10, "negative int past start": -11,
    "ints": (2, -1, 3), "numpy int": np.int64(4), "exact float": 1.0, "float": 0.5,
    "string": "2", "slice": slice(2, 8), "slice with step": slice(1, None, 3),
    "negative step": slice(None, None, -2), "negative step with bounds": slice(8, 1, -3),
    "negative bounds": slice(-3, -1), "out-of-range bounds": slice(-20, 20),
    "empty slice": slice(5, 2), "zero step": slice(None, None, 0), "ellipsis": Ellipsis,
    "ellipsis in the middle": (1, ..., 2), "trailing ellipsis": (slice(None), ...),
    "two ellipses": (..., 0, ...), "empty tuple": (), "sorted list": [1, 3, 4],
    "strided list": [0, 3, 6, 9], "unsorted list": (slice(None), [4, 0, 2]),
    "repeated list": [2, 2, 0], "numpy array": np.array([0, 9]),
    "negative list": (slice(None), [-1, -5]), "list past end": [0, 10], "empty list": [],
    "booleans": EVERY_OTHER, "boolean list": (slice(None), [True, False, True, False, True]),
    "booleans of wrong length": np.ones(3, bool), "all false": np.zeros(10, bool),
    "mixture": (EVERY_OTHER, [3, 1], slice(None, None, -1)),
    "mixture with ellipsis": ([9, 0, 4], ..., np.array([True, False, False, True])),
    "too many indices": (0, 0, 0, 0), "2-d index": np.zeros((2, 2), int), "newaxis": None,
}


@pytest.fixture(scope="module", params=[SPEC, PACKED], ids=["f4", "packed-i2"])
def pair_folder(request: Any, tmp_path_factory: Any) -> tuple[VarSpec, Path]:
    spec = request.param
    folder = tmp_path_factory.mktemp("explicit")
    values = make_values(np.random.default_rng(7), spec, spec.shape)
    with open_pair(folder, spec, "w") as (s, p):
        for ds in (s, p):
            ds.set_auto_maskandscale(False)
            ds["v"][:10] = values
    return spec, folder


@pytest.mark.parametrize("key", READ_KEYS.values(), ids=READ_KEYS.keys())
def test_read_key(pair_folder: tuple[VarSpec, Path], key: Any) -> None:
    spec, folder = pair_folder
    with open_pair(folder, spec) as (s, p):
        assert_same_reads(s, p, [*FULL_READS, (("var", "set_auto_scale", False),)], [key])


def ramp(*shape: int, masked: bool = False) -> np.ndarray:
    values = np.arange(np.prod(shape), dtype="f8").reshape(shape) * 1.5 - 4
    return np.ma.masked_array(values, mask=values % 3 == 0) if masked else values


WRITES = {
    "int": (3, 1.0), "negative int": (-1, 2.0), "ints": ((0, 1, 2), 3.0),
    "slice with step": (slice(1, 9, 3), 4.0), "negative step": (slice(None, None, -3),
                                                                ramp(4, 5, 4)),
    "unsorted list": ((slice(None), [3, 0, 2]), ramp(10, 3, 4)),
    "repeated list": ([2, 2], ramp(2, 5, 4)), "booleans": ((EVERY_OTHER,), ramp(5, 5, 4)),
    "masked": (slice(2, 4), ramp(2, 5, 4, masked=True)),
    "masked scalar": ((1, 1, 1), np.ma.masked), "broadcast row": ((slice(0, 3), 1), ramp(4)),
    "grow past end": (slice(12, 15), ramp(3, 5, 4)), "grow by int": (13, ramp(5, 4)),
    "grow by list": ([2, 11], ramp(2, 5, 4)),
    "grow open slice": (slice(10, None), ramp(2, 5, 4)),
    "int past fixed end": ((0, 5), 1.0), "int past last fixed end": ((0, 1, 4), 1.0),
    "negative int before fixed start": ((0, -6), 1.0), "wrong shape": (slice(0, 2), ramp(3, 5, 4)),
    "empty": (slice(3, 3), ramp(0, 5, 4)),
}


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
@pytest.mark.parametrize(("key", "value"), [
    pytest.param(*case, id=name) for name, case in WRITES.items()])
def test_write_key(tmp_path: Path, fmt: str, key: Any, value: Any) -> None:
    spec = VarSpec(fmt, "f8", (10, 5, 4), True, 1e20, (), (4, 2, 3))
    with open_pair(tmp_path, spec, "w") as (s, p):
        for ds in (s, p):
            ds["v"][:8] = np.arange(160.0).reshape(8, 5, 4)
        got = outcome(lambda: s["v"].__setitem__(key, copy_value(value)))
        assert_same(got, outcome(lambda: p["v"].__setitem__(key, copy_value(value))))
        assert s["v"].shape == p["v"].shape
    with open_pair(tmp_path, spec) as (s, p):
        assert_same_reads(s, p, FULL_READS, [Ellipsis])


@pytest.mark.parametrize("key", [(0, slice(None, None, -1)), ([3, 1], slice(4, 0, -2))],
                         ids=["int", "list"])
def test_reversed_write_with_integer(tmp_path: Path, key: Any) -> None:
    # netCDF4 raises IndexError (too many indices) here; semsl does the same
    spec = VarSpec("CFA4", "f8", (5, 5), False, None, (), (2, 2))
    with open_pair(tmp_path, spec, "w") as (s, p):
        got = outcome(lambda: s["v"].__setitem__(key, 1.0))
        assert_same(got, outcome(lambda: p["v"].__setitem__(key, 1.0)))


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_grow_after_empty_reopen(tmp_path: Path, fmt: str) -> None:
    spec = VarSpec(fmt, "f8", (0, 2), True, None, (), (3, 2), coordinate=True)
    with open_pair(tmp_path, spec, "w"):
        pass
    with open_pair(tmp_path, spec, "a") as (s, p):
        for ds in (s, p):
            ds["v"][0] = [1.0, 2.0]
    with open_pair(tmp_path, spec) as (s, p):
        assert_same_reads(s, p, FULL_READS, [Ellipsis])


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_grow_after_reopen_without_coordinate(tmp_path: Path, fmt: str) -> None:
    spec = VarSpec(fmt, "f8", (0,), True, None, (), (3,))
    with open_pair(tmp_path, spec, "w") as (s, p):
        for ds in (s, p):
            ds["v"][0] = 1.0
    with open_pair(tmp_path, spec, "a") as (s, p):
        for ds in (s, p):
            ds["v"][1] = 2.0
    with open_pair(tmp_path, spec) as (s, p):
        assert_same_reads(s, p, FULL_READS, [Ellipsis])


def test_grow_after_reopen_with_coordinate(tmp_path: Path) -> None:
    spec = VarSpec("CFA3", "i2", (0, 3), True, -9, (("scale_factor", 0.5),), (2, 2),
                   coordinate=True)
    with open_pair(tmp_path, spec, "w") as (s, p):
        for ds in (s, p):
            ds["v"][:3] = np.arange(9.0).reshape(3, 3)
    with open_pair(tmp_path, spec, "a") as (s, p):
        for ds in (s, p):
            ds["v"][2:7:2, ::-1] = np.ma.masked_array(np.ones((3, 3)), mask=np.eye(3))
            ds["d0"][0] = 5.0
    with open_pair(tmp_path, spec) as (s, p):
        assert s["v"].shape == p["v"].shape == (7, 3)
        assert_same_reads(s, p, FULL_READS, [Ellipsis, (slice(None, None, -3), [2, 0])])


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_failed_write_does_not_grow(tmp_path: Path, fmt: str) -> None:
    spec = VarSpec(fmt, "f4", (0, 1), True, None, (), (1, 1))
    with open_pair(tmp_path, spec, "w") as (s, p):
        got = outcome(lambda: s["v"].__setitem__((1, 1), 1.0))
        assert_same(got, outcome(lambda: p["v"].__setitem__((1, 1), 1.0)))
        assert s["v"].shape == p["v"].shape


@pytest.mark.parametrize("mode", ["w", "a"])
def test_classic_writable_read_past_unlimited_end(tmp_path: Path, mode: str) -> None:
    spec = VarSpec("CFA3", "f4", (0, 2), True, None, (), (1, 1))
    if mode == "a":
        with open_pair(tmp_path, spec, "w"):
            pass
    with open_pair(tmp_path, spec, mode) as (s, p):
        for ds in (s, p):
            ds["v"][0:2] = 1.0
        assert_same_reads(s, p, [()], [2, (3, 0)])


def test_read_only_write_raises_like_netcdf4(pair_folder: tuple[VarSpec, Path]) -> None:
    spec, folder = pair_folder
    with open_pair(folder, spec) as (s, p):
        got = outcome(lambda: s["v"].__setitem__(0, 1))
        assert_same(got, outcome(lambda: p["v"].__setitem__(0, 1)))


def test_unwritten_fragments_read_as_fill(tmp_path: Path) -> None:
    spec = VarSpec("CFA4", "i2", (6, 5), False, None, (("scale_factor", 2.0),), (2, 2))
    with open_pair(tmp_path, spec, "w") as (s, p):
        for ds in (s, p):
            ds["v"][1, 3] = 8.0
            ds["v"][4:, ::-4] = np.ma.masked_array([[2.0, 4.0], [6.0, 8.0]],
                                                   mask=[[0, 1], [0, 0]])
    with open_pair(tmp_path, spec) as (s, p):
        assert_same_reads(s, p, FULL_READS, [Ellipsis, (slice(None, None, -1), [4, 0])])
        assert s["v"][:].count() == 4


def test_hand_built_master_with_unequal_fragments(tmp_path: Path) -> None:
    spec = VarSpec("CFA4", "i4", (7, 6), True, -5, (("valid_range", np.array([-3, 40], "i4")),),
                   coordinate=True)
    lengths = [[1, 4, 2], [3, 1, 2]]
    values = np.arange(42, dtype="i4").reshape(7, 6) - 5
    master = write_cf_master(tmp_path, spec, lengths, values)
    write_plain(tmp_path / "plain.nc", spec, values)
    with semsl.Dataset(master) as s, netCDF4.Dataset(tmp_path / "plain.nc") as p:
        assert s["v"].fragments.grid_shape == (3, 3)
        keys = [Ellipsis, (slice(None, None, -2), [5, 0, 3]), (EVERY_OTHER[:7], -2),
                (slice(0, 5), slice(2, 4)), 4, (slice(6, 0, -4), np.array([1, 2, 3]))]
        assert_same_reads(s, p, FULL_READS, keys)


@pytest.mark.parametrize("key", [(slice(None, None, -2), 1), (slice(None, None, -2), [1]),
                                 5, (slice(1, 4), [3, 0])],
                         ids=["reversed with int", "reversed", "int", "list"])
def test_update_hand_built_master(tmp_path: Path, key: Any) -> None:
    spec = VarSpec("CFA4", "f4", (7, 4), False, 1e20, ())
    values = np.arange(28, dtype="f4").reshape(7, 4)
    master = write_cf_master(tmp_path, spec, [[2, 4, 1], [1, 3]], values)
    write_plain(tmp_path / "plain.nc", spec, values)
    with semsl.Dataset(master, "a") as s, netCDF4.Dataset(tmp_path / "plain.nc", "a") as p:
        got = outcome(lambda: s["v"].__setitem__(key, np.float32(-3)))
        assert_same(got, outcome(lambda: p["v"].__setitem__(key, np.float32(-3))))
    with semsl.Dataset(master) as s, netCDF4.Dataset(tmp_path / "plain.nc") as p:
        assert_same_reads(s, p, FULL_READS, [Ellipsis])


def test_grow_hand_built_master(tmp_path: Path) -> None:
    spec = VarSpec("CFA4", "f8", (3,), True, None, (), coordinate=True)
    master = write_cf_master(tmp_path, spec, [[2, 1]], np.arange(3.0))
    write_plain(tmp_path / "plain.nc", spec, np.arange(3.0))
    with semsl.Dataset(master, "a") as s, netCDF4.Dataset(tmp_path / "plain.nc", "a") as p:
        s["v"][3] = p["v"][3] = 9.0
        assert_same_reads(s, p, FULL_READS, [Ellipsis])
    with semsl.Dataset(master) as s, netCDF4.Dataset(tmp_path / "plain.nc") as p:
        assert_same_reads(s, p, FULL_READS, [Ellipsis])
