"""Tests of semsl.cfa.splitter: axis classification and fragment-shape choice/validation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsl.cfa.splitter import (
    AxisKind,
    axis_kind,
    choose_subarray_shape,
    validate_subarray_shape,
)
from semsl.errors import SemslError, SubarrayShapeError

MB50 = 50_000_000


def nbytes(fragment: Sequence[int], itemsize: int) -> int:
    return math.prod(fragment) * itemsize


# --------------------------------------------------------------------------------------
# choose_subarray_shape: worked examples


def test_example_time_lat_lon_float32_50mb() -> None:
    fragment = choose_subarray_shape((1460, 192, 288), 4, ("T", "Y", "X"), MB50)
    assert fragment == (146, 192, 288)
    assert nbytes(fragment, 4) <= MB50
    assert fragment != (1, 192, 288)
    assert fragment != (1460, 1, 1)
    assert 1460 % fragment[0] == 0  # equal fragments along time


def test_example_is_balanced_block() -> None:
    t, y, x = choose_subarray_shape((1460, 192, 288), 4, ("T", "Y", "X"), MB50)
    # Long in time (many time steps per fragment) and holding a large part of each map.
    assert t >= 50
    assert y * x >= 192 * 288 // 4


def test_z_is_cut_before_time_and_maps() -> None:
    fragment = choose_subarray_shape((1460, 40, 192, 288), 4, ("T", "Z", "Y", "X"), MB50)
    assert fragment == (146, 1, 192, 288)


def test_z_is_cut_only_as_far_as_needed() -> None:
    # 40 levels x 10 x 100 x 100 float64 = 32 MB; halving Z twice gives 8 MB.
    fragment = choose_subarray_shape((10, 40, 100, 100), 8, ("T", "Z", "Y", "X"), 10_000_000)
    assert fragment == (10, 10, 100, 100)


def test_time_shrinks_to_horizontal_size_then_all_shrink() -> None:
    fragment = choose_subarray_shape((36500, 360, 720), 4, ("T", "Y", "X"), MB50)
    assert nbytes(fragment, 4) <= MB50
    assert fragment == (292, 180, 180)


def test_ties_split_time_before_maps_and_y_before_x() -> None:
    assert choose_subarray_shape((100, 100, 100), 1, ("X", "Y", "T"), 500_000) == (
        100,
        100,
        50,
    )
    assert choose_subarray_shape((100, 100), 1, ("X", "Y"), 5_000) == (100, 50)


def test_whole_variable_when_it_fits() -> None:
    shape = (3, 1460, 192, 2)
    axes: tuple[AxisKind, ...] = (None, "T", "Y", None)
    assert choose_subarray_shape(shape, 8, axes, 10**9) == shape


def test_other_dimensions_get_one_when_too_large() -> None:
    fragment = choose_subarray_shape((10, 1460, 192, 288, 2), 4, (None, "T", "Y", "X", None), MB50)
    assert fragment == (1, 146, 192, 288, 1)


def test_only_other_dimensions_too_large_gives_ones() -> None:
    assert choose_subarray_shape((1000, 1000), 8, (None, None), 1000) == (1, 1)


def test_zero_length_dimension_counts_as_one() -> None:
    assert choose_subarray_shape((0, 192, 288), 4, ("T", "Y", "X"), MB50) == (1, 192, 288)
    assert choose_subarray_shape((0, 4000, 4000), 4, ("T", "Y", "X"), MB50) == (1, 2000, 4000)


def test_itemsize_larger_than_budget_gives_ones() -> None:
    assert choose_subarray_shape((10, 20), 64, ("T", "X"), 32) == (1, 1)


def test_scalar_variable() -> None:
    assert choose_subarray_shape((), 8, (), 100) == ()
    assert choose_subarray_shape((), 8, (), 4) == ()


@pytest.mark.parametrize(
    ("length", "max_size", "expected"),
    [
        (1000, 300, 250),  # halving lands on a divisor
        (1460, 200, 146),  # 183 -> divisor 146 (within 25 %)
        (45, 16, 15),  # 12: divisors 9 and 15 equally near; the larger one fits
        (45, 14, 9),  # 15 would not fit, so 9
        (70, 20, 14),  # 18 -> 14
        (67, 40, 34),  # 67 is prime: no divisor nearby, keep the halved length
    ],
)
def test_prefers_nearby_divisors(length: int, max_size: int, expected: int) -> None:
    assert choose_subarray_shape((length,), 1, ("T",), max_size) == (expected,)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="axis kinds"):
        choose_subarray_shape((10, 10), 4, ("T",), 100)
    with pytest.raises(ValueError, match="axis kinds must be"):
        choose_subarray_shape((10, 10), 4, ("T", "E"), 100)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        choose_subarray_shape((-1, 10), 4, ("T", "X"), 100)
    with pytest.raises(ValueError, match="itemsize"):
        choose_subarray_shape((10,), 0, ("T",), 100)
    with pytest.raises(SubarrayShapeError, match="positive"):
        choose_subarray_shape((10,), 4, ("T",), 0)


# --------------------------------------------------------------------------------------
# choose_subarray_shape: properties

ITEMSIZES = st.sampled_from([1, 2, 4, 8, 16])
MAX_SIZES = st.integers(min_value=1, max_value=10**9)
ANY_KIND: st.SearchStrategy[AxisKind] = st.sampled_from(["T", "Z", "Y", "X", None])


@st.composite
def any_variables(draw: st.DrawFn) -> tuple[list[int], list[AxisKind]]:
    """Shapes with arbitrary axis kinds (repeated kinds allowed)."""
    axes = draw(st.lists(ANY_KIND, max_size=6))
    shape = draw(st.lists(st.integers(0, 100_000), min_size=len(axes), max_size=len(axes)))
    return shape, axes


@st.composite
def cf_variables(draw: st.DrawFn) -> tuple[list[int], list[AxisKind]]:
    """Shapes with each of T, Z, Y, X at most once plus some other dimensions."""
    kinds: list[AxisKind] = list(draw(st.lists(st.sampled_from("TZYX"), unique=True)))
    axes = draw(st.permutations(kinds + [None] * draw(st.integers(0, 2))))
    shape = draw(st.lists(st.integers(0, 5000), min_size=len(axes), max_size=len(axes)))
    return shape, list(axes)


@settings(max_examples=300, deadline=None)
@given(any_variables(), ITEMSIZES, MAX_SIZES)
def test_fragment_fits_budget(
    variable: tuple[list[int], list[AxisKind]], itemsize: int, max_size: int
) -> None:
    shape, axes = variable
    fragment = choose_subarray_shape(shape, itemsize, axes, max_size)
    if itemsize <= max_size:
        assert nbytes(fragment, itemsize) <= max_size
    else:
        assert fragment == (1,) * len(shape)


@settings(max_examples=300, deadline=None)
@given(any_variables(), ITEMSIZES, MAX_SIZES)
def test_fragment_entries_within_dimensions(
    variable: tuple[list[int], list[AxisKind]], itemsize: int, max_size: int
) -> None:
    shape, axes = variable
    fragment = choose_subarray_shape(shape, itemsize, axes, max_size)
    assert len(fragment) == len(shape)
    assert all(type(length) is int for length in fragment)
    assert all(1 <= length <= max(n, 1) for length, n in zip(fragment, shape, strict=True))


@settings(max_examples=300, deadline=None)
@given(any_variables(), ITEMSIZES, MAX_SIZES)
def test_other_dimensions_one_unless_everything_fits(
    variable: tuple[list[int], list[AxisKind]], itemsize: int, max_size: int
) -> None:
    shape, axes = variable
    fragment = choose_subarray_shape(shape, itemsize, axes, max_size)
    full = tuple(max(n, 1) for n in shape)
    if nbytes(full, itemsize) <= max_size:
        assert fragment == full
    else:
        for length, kind in zip(fragment, axes, strict=True):
            if kind is None:
                assert length == 1


@settings(max_examples=300, deadline=None)
@given(cf_variables(), ITEMSIZES, MAX_SIZES, st.data())
def test_dimension_order_does_not_matter(
    variable: tuple[list[int], list[AxisKind]],
    itemsize: int,
    max_size: int,
    data: st.DataObject,
) -> None:
    shape, axes = variable
    order = data.draw(st.permutations(range(len(shape))))
    fragment = choose_subarray_shape(shape, itemsize, axes, max_size)
    permuted = choose_subarray_shape(
        [shape[i] for i in order], itemsize, [axes[i] for i in order], max_size
    )
    assert permuted == tuple(fragment[i] for i in order)


@settings(max_examples=100, deadline=None)
@given(cf_variables(), ITEMSIZES, MAX_SIZES)
def test_deterministic(
    variable: tuple[list[int], list[AxisKind]], itemsize: int, max_size: int
) -> None:
    shape, axes = variable
    first = choose_subarray_shape(shape, itemsize, axes, max_size)
    assert choose_subarray_shape(tuple(shape), itemsize, tuple(axes), max_size) == first


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 20_000),
    st.integers(0, 2000),
    st.integers(0, 2000),
    ITEMSIZES,
    st.integers(1_000, 10**9),
)
def test_time_lat_lon_blocks_are_balanced(
    nt: int, ny: int, nx: int, itemsize: int, max_size: int
) -> None:
    fragment = choose_subarray_shape((nt, ny, nx), itemsize, ("T", "Y", "X"), max_size)
    cut = [f for f, n in zip(fragment, (nt, ny, nx), strict=True) if f < max(n, 1)]
    if not cut:
        return
    # A dimension is only halved while it is the longest, so no side of the block is more
    # than twice as long as any side that was cut (10/3 after rounding to divisors).
    assert 3 * max(fragment) <= 10 * min(cut)


# --------------------------------------------------------------------------------------
# axis_kind


@pytest.mark.parametrize(
    ("dimension", "attributes", "expected"),
    [
        # axis attribute, case-insensitive, wins over everything else
        ("a", {"axis": "T"}, "T"),
        ("a", {"axis": "z"}, "Z"),
        ("a", {"axis": " y "}, "Y"),
        ("a", {"axis": "X"}, "X"),
        ("lat", {"axis": "X", "standard_name": "latitude"}, "X"),
        ("a", {"axis": b"T"}, "T"),
        # standard_name
        ("a", {"standard_name": "time"}, "T"),
        ("a", {"standard_name": "latitude"}, "Y"),
        ("a", {"standard_name": "grid_latitude"}, "Y"),
        ("a", {"standard_name": "projection_y_coordinate"}, "Y"),
        ("a", {"standard_name": "longitude"}, "X"),
        ("a", {"standard_name": "grid_longitude"}, "X"),
        ("a", {"standard_name": "projection_x_coordinate"}, "X"),
        ("a", {"standard_name": "air_pressure"}, "Z"),
        ("a", {"standard_name": "altitude"}, "Z"),
        ("a", {"standard_name": "height"}, "Z"),
        ("a", {"standard_name": "depth"}, "Z"),
        ("a", {"standard_name": "model_level_number"}, "Z"),
        ("a", {"standard_name": "atmosphere_hybrid_sigma_pressure_coordinate"}, "Z"),
        ("a", {"standard_name": "atmosphere_ln_pressure_coordinate"}, "Z"),
        ("a", {"standard_name": "ocean_s_coordinate_g2"}, "Z"),
        ("a", {"standard_name": "latitude status_flag"}, "Y"),
        ("time", {"standard_name": "longitude"}, "X"),
        # positive attribute
        ("a", {"positive": "down"}, "Z"),
        ("a", {"positive": "up", "units": "m"}, "Z"),
        # units
        ("a", {"units": "days since 1850-01-01"}, "T"),
        ("a", {"units": "hours since 2000-01-01 00:00:00"}, "T"),
        ("a", {"units": "Seconds Since 1970-1-1"}, "T"),
        ("a", {"units": "degrees_north"}, "Y"),
        ("a", {"units": "degree_north"}, "Y"),
        ("a", {"units": "degrees_N"}, "Y"),
        ("a", {"units": "degreeN"}, "Y"),
        ("a", {"units": "degrees_east"}, "X"),
        ("a", {"units": "degree_E"}, "X"),
        ("a", {"units": "degreesE"}, "X"),
        ("a", {"units": "Pa"}, "Z"),
        ("a", {"units": "hPa"}, "Z"),
        ("a", {"units": "mbar"}, "Z"),
        ("a", {"units": "millibar"}, "Z"),
        ("a", {"units": "m"}, None),
        ("a", {"units": "degrees"}, None),
        ("a", {"units": "1"}, None),
        ("a", {"units": "since"}, None),
        # attributes that say nothing fall back to the name
        ("lat", {"units": "1", "long_name": "whatever"}, "Y"),
        ("lat", {"axis": "E"}, "Y"),
        ("lat", {"units": 5}, "Y"),
        # names, whole and case-insensitive
        ("time", None, "T"),
        ("T", None, "T"),
        ("Time", {}, "T"),
        ("lat", None, "Y"),
        ("latitude", None, "Y"),
        ("y", None, "Y"),
        ("rlat", None, "Y"),
        ("j", None, "Y"),
        ("LON", None, "X"),
        ("longitude", None, "X"),
        ("x", None, "X"),
        ("rlon", None, "X"),
        ("i", None, "X"),
        ("lev", None, "Z"),
        ("level", None, "Z"),
        ("plev", None, "Z"),
        ("height", None, "Z"),
        ("depth", None, "Z"),
        ("z", None, "Z"),
        ("alt", None, "Z"),
        ("altitude", None, "Z"),
        # partial names do not match
        ("lat_bnds", None, None),
        ("latitude_longitude", None, None),
        ("time_counter", None, None),
        ("nv", None, None),
        ("bnds", None, None),
        ("member", None, None),
        ("realization", {"standard_name": "realization"}, None),
        ("strlen", {}, None),
        ("timex", None, None),
        ("ilat", None, None),
    ],
)
def test_axis_kind(
    dimension: str, attributes: dict[str, object] | None, expected: AxisKind
) -> None:
    assert axis_kind(dimension, attributes) == expected


# --------------------------------------------------------------------------------------
# validate_subarray_shape


@pytest.mark.parametrize(
    ("shape", "subarray_shape", "unlimited", "expected"),
    [
        ((1460, 192, 288), (365, 96, 144), (False, False, False), (365, 96, 144)),
        ((1460, 192, 288), [1460, 192, 288], (False, False, False), (1460, 192, 288)),
        ((10, 192), (100, 192), (True, False), (100, 192)),  # unlimited may grow
        ((0, 192), (12, 192), (True, False), (12, 192)),  # empty unlimited dimension
        ((0, 5), (1, 5), (False, False), (1, 5)),  # fixed dimension of length 0
        ((4,), (np.int64(2),), (False,), (2,)),
        ((), (), (), ()),
    ],
)
def test_validate_accepts(
    shape: tuple[int, ...],
    subarray_shape: Sequence[int],
    unlimited: tuple[bool, ...],
    expected: tuple[int, ...],
) -> None:
    result = validate_subarray_shape(shape, subarray_shape, unlimited, variable="tas")
    assert result == expected
    assert all(type(length) is int for length in result)


@pytest.mark.parametrize(
    ("shape", "subarray_shape", "unlimited", "match"),
    [
        ((10, 20), (5,), (False, False), "2 dimensions"),
        ((10, 20), (5, 5, 5), (False, False), "2 dimensions"),
        ((10,), (2.0,), (False,), "integer"),
        ((10,), (2.5,), (False,), "integer"),
        ((10,), ("2",), (False,), "integer"),
        ((10,), (True,), (False,), "integer"),
        ((10,), (None,), (False,), "integer"),
        ((10,), (0,), (False,), "at least 1"),
        ((10,), (0,), (True,), "at least 1"),
        ((10,), (-3,), (True,), "at least 1"),
        ((10, 20), (5, 21), (False, False), "larger"),
        ((10, 20), (11, 20), (False, True), "larger"),
        ((0, 5), (2, 5), (False, False), "larger"),
        ((10,), "5", (False,), "sequence"),
        ((10,), 5, (False,), "sequence"),
    ],
)
def test_validate_rejects(
    shape: tuple[int, ...],
    subarray_shape: object,
    unlimited: tuple[bool, ...],
    match: str,
) -> None:
    with pytest.raises(SubarrayShapeError, match=match) as info:
        validate_subarray_shape(
            shape,
            subarray_shape,  # type: ignore[arg-type]
            unlimited,
            variable="air_temperature_v2",
        )
    assert "air_temperature_v2" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SemslError)


def test_validate_error_is_a_value_error() -> None:
    assert issubclass(SubarrayShapeError, ValueError)
    with pytest.raises(ValueError, match="'pr'"):
        validate_subarray_shape((10,), (11,), (False,), variable="pr")


def test_validate_mismatched_unlimited_flags() -> None:
    with pytest.raises(ValueError, match="unlimited flags"):
        validate_subarray_shape((10, 20), (5, 5), (False,), variable="tas")


def test_chosen_shapes_validate() -> None:
    shape = (1460, 40, 192, 288)
    fragment = choose_subarray_shape(shape, 4, ("T", "Z", "Y", "X"), MB50)
    unlimited = (True, False, False, False)
    assert validate_subarray_shape(shape, fragment, unlimited, variable="ta") == fragment
