"""A corpus of malformed CF-1.13 masters: each gets a semsl error naming what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

import semsl
from semsl import errors


def base(path: Path) -> None:
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("y", 4)
        ds.createDimension("x", 6)
        ds.createVariable("v", "f4", ("y", "x"), subarray_shape=(2, 3))[:] = 1.0


def set_attr(name: str, value: str) -> Callable[[Any], None]:
    return lambda raw: raw["v"].setncattr(name, value)


def set_map(values: list[list[int]]) -> Callable[[Any], None]:
    def edit(raw: Any) -> None:
        raw["v_fragment_map"].set_auto_mask(False)
        raw["v_fragment_map"][:] = np.array(values)
    return edit


def replace_uris(raw: Any) -> None:
    raw.createDimension("n3", 3)
    raw.createVariable("bad_uris", str, ("n3",))[:] = np.array(["a", "b", "c"], object)
    raw["v"].aggregated_data = ("map: v_fragment_map uris: bad_uris "
                                "identifiers: v_fragment_identifiers")


def float_map(raw: Any) -> None:
    raw.createDimension("r", 2)
    raw.createVariable("fmap", "f8", ("r", "r"))[:] = [[2.0, 2.0], [3.0, 3.0]]
    raw["v"].aggregated_data = TERMS.replace("v_fragment_map", "fmap")


TERMS = "map: v_fragment_map uris: v_fragment_uris identifiers: v_fragment_identifiers"


def non_scalar(raw: Any) -> None:
    w = raw.createVariable("w", "f4", ("y",))
    w.aggregated_dimensions = "y"
    w.aggregated_data = TERMS

CORPUS: dict[str, tuple[Callable[[Any], None], type[Exception], str]] = {
    "unknown term": (set_attr("aggregated_data", TERMS + " extra: x"),
                     errors.AggregationFormatError, "'extra'"),
    "cfa-0.6 terms": (set_attr("aggregated_data", "location: a file: b format: c address: d"),
                      errors.AggregationFormatError, "map, uris and identifiers"),
    "not pairs": (set_attr("aggregated_data", "map v_fragment_map"),
                  errors.AggregationFormatError, "feature: variable"),
    "empty terms": (set_attr("aggregated_data", ""), errors.AggregationFormatError,
                    "feature: variable"),
    "missing map variable": (set_attr("aggregated_data", TERMS.replace("v_fragment_map", "nope")),
                             errors.AggregationFormatError, "'nope'"),
    "missing identifiers": (set_attr("aggregated_data",
                                     TERMS.replace("v_fragment_identifiers", "gone")),
                            errors.AggregationFormatError, "'gone'"),
    "unknown dimension": (set_attr("aggregated_dimensions", "y z"),
                          errors.AggregationFormatError, "'z'"),
    "too few dimensions": (set_attr("aggregated_dimensions", "y"),
                           errors.AggregationFormatError, "one row per aggregated dimension"),
    "rows do not sum": (set_map([[2, 3], [3, 3]]), errors.AggregationFormatError,
                        "size 4"),
    "negative size": (set_map([[6, -2], [3, 3]]), errors.AggregationFormatError, "-2"),
    "uris do not match the grid": (replace_uris, errors.AggregationFormatError,
                                   "grid of (2, 2) fragments"),
    "float map": (float_map, errors.AggregationFormatError, "integer type"),
    "non-scalar aggregation variable": (non_scalar, errors.AggregationFormatError,
                                        "must be scalar"),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_master(tmp_path: Path, case: str) -> None:
    path = tmp_path / "m.nca"
    base(path)
    edit, kind, fragment = CORPUS[case]
    with netCDF4.Dataset(path, "a") as raw:
        edit(raw)
    with pytest.raises(kind) as info, semsl.Dataset(path) as ds:
        ds["v"][:]
    text = str(info.value)
    assert fragment in text
    assert str(path) in text
    assert isinstance(info.value, errors.SemslError)
