"""CFA-0.4 masters (S3netCDF4 and SemSL flavours): reading, writing, malformed input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

import semsl
from parsers.legacy_fixtures import (
    DIMS,
    SHAPE,
    Layout,
    assert_reads,
    edited,
    make_cf_master,
    rewrite_master,
    s3nc_cfa04,
    semsl_cfa04,
    set_json,
    tmp_data,
    write_fragment,
)
from parsers.test_cf_aggregation import unique_values_master
from semsl import errors
from semsl.parsers.base import MasterContext, parser_for_group
from semsl.parsers.cfa04 import CFA04Parser

# ------------------------------------------------------------------------ reading


@pytest.mark.parametrize("data_model", ["NETCDF3_CLASSIC", "NETCDF4"])
def test_s3nc_master_reads_its_values(tmp_path: Path, data_model: str) -> None:
    legacy = s3nc_cfa04(tmp_path, data_model=data_model)
    info = assert_reads(legacy.master, legacy.expected)
    assert info.grid_shape == (4, 1, 1)
    assert info.encoding == "CFA-0.4"
    assert info.uri((0, 0, 0)) == str(legacy.files[(0, 0, 0)])  # absolute, as given
    assert info.uri((2, 0, 0)) == ""  # never written: not listed
    assert info.present().tolist() == [[[True]], [[True]], [[False]], [[True]]]


def test_bookkeeping_is_hidden(tmp_path: Path) -> None:
    legacy = s3nc_cfa04(tmp_path)
    with semsl.Dataset(legacy.master) as ds:
        var = ds["tmp"]
        assert var.ncattrs() == ["_FillValue", "units", "long_name"]
        assert var.dimensions == DIMS
        assert var.shape == SHAPE
        text = repr(ds) + repr(var)
        for hidden in ("cfa_array", "cf_role", "cfa_dimensions", "Partitions"):
            assert hidden not in text
        assert "tmp(time, lat, lon)" in repr(ds)
        assert ds["tmp"][3, 1, 2] == tmp_data()[3, 1, 2]


def test_relative_paths_resolve_against_the_master(tmp_path: Path) -> None:
    legacy = s3nc_cfa04(tmp_path, absolute=False)
    assert_reads(legacy.master, legacy.expected)


def test_variable_in_a_group(tmp_path: Path) -> None:
    legacy = s3nc_cfa04(tmp_path, data_model="NETCDF4", group="g")
    with semsl.Dataset(legacy.master) as ds:
        got = ds["g/tmp"][:]
        assert got.mask.tolist() == legacy.expected.mask.tolist()
        assert ds["g/tmp"].ncattrs() == ["_FillValue", "units", "long_name"]


def test_unequal_blocks_on_two_dimensions(tmp_path: Path) -> None:
    layout = Layout(((3, 5), (1, 3), (6,)), frozenset({(0, 0, 0), (1, 1, 0), (0, 1, 0)}))
    legacy = s3nc_cfa04(tmp_path, layout, data_model="NETCDF4")
    info = assert_reads(legacy.master, legacy.expected)
    assert info.grid_shape == (2, 2, 1)
    assert [b.tolist() for b in info.boundaries] == [[0, 3, 8], [0, 1, 4], [0, 6]]


def test_unlisted_blocks_take_s3netcdf4_edges(tmp_path: Path) -> None:
    # Only the last of 4 time blocks is listed: the others get floor(i * 8 / 4).
    legacy = s3nc_cfa04(tmp_path, Layout(present=frozenset({(3, 0, 0)})))
    info = assert_reads(legacy.master, legacy.expected)
    assert info.boundaries[0].tolist() == [0, 2, 4, 6, 8]


def test_semsl_flavour_with_declared_but_unwritten_partitions(tmp_path: Path) -> None:
    legacy = semsl_cfa04(tmp_path)
    info = assert_reads(legacy.master, legacy.expected)
    assert info.grid_shape == (4, 1, 1)
    assert info.uri((2, 0, 0)) == ""  # declared, file never written: fill value
    assert info.uri((1, 0, 0)) == "./ex/ex_tmp_[1.0.0].nc"
    with semsl.Dataset(legacy.master) as ds:
        assert ds["tmp"].ncattrs() == ["_FillValue", "units", "long_name"]
        assert "cf_dimensions" not in repr(ds["tmp"])


def test_semsl_flavour_sees_a_fragment_written_later(tmp_path: Path) -> None:
    legacy = semsl_cfa04(tmp_path, Layout(present=frozenset({(0, 0, 0)})))
    path = tmp_path / "ex" / "ex_tmp_[2.0.0].nc"
    write_fragment(path, tmp_data()[4:6])
    expected = Layout(present=frozenset({(0, 0, 0), (2, 0, 0)})).expected(tmp_data())
    assert_reads(legacy.master, expected)


def test_detection_is_by_attributes(tmp_path: Path) -> None:
    legacy = s3nc_cfa04(tmp_path)
    renamed = legacy.master.rename(tmp_path / "ex.anything")
    with netCDF4.Dataset(renamed) as raw:
        assert isinstance(parser_for_group(raw), CFA04Parser)
    assert_reads(renamed, legacy.expected)


def test_no_python_object_per_partition(tmp_path: Path) -> None:
    legacy = s3nc_cfa04(tmp_path, Layout(present=None))
    with netCDF4.Dataset(legacy.master) as raw:
        (model,) = CFA04Parser().read(raw, MasterContext(str(legacy.master)))
    assert isinstance(model.grid.uris, np.ndarray)
    assert model.grid.uris.shape == (4, 1, 1)
    assert model.grid.identifiers == "tmp"
    assert model.bookkeeping_attributes == ("cf_role", "cfa_dimensions", "cfa_array")


# ------------------------------------------------------------------------ writing


@pytest.mark.parametrize("file_format", ["CFA4", "CFA3"])
def test_write_and_read_back(tmp_path: Path, file_format: str) -> None:
    source, expected = make_cf_master(tmp_path, file_format)
    target = tmp_path / "legacy.nc"
    rewrite_master(source, target, CFA04Parser())
    with netCDF4.Dataset(target) as raw:
        assert raw.Conventions == "CF-1.13 CFA-0.4"
        var = raw["tmp"]
        assert var.cf_role == "cfa_variable"
        assert var.cfa_dimensions == "time lat lon"
        assert "aggregated_dimensions" not in var.ncattrs()
        doc = json.loads(var.cfa_array)
        assert isinstance(parser_for_group(raw), CFA04Parser)
    assert doc["pmshape"] == [4, 1, 1]
    assert doc["pmdimensions"] == list(DIMS)
    assert [p["index"] for p in doc["Partitions"]] == [[0, 0, 0], [1, 0, 0], [3, 0, 0]]
    first = doc["Partitions"][0]
    assert list(first) == ["subarray", "index", "location"]
    assert first["location"] == [[0, 1], [0, 3], [0, 5]]  # inclusive
    assert first["subarray"]["shape"] == [2, 4, 6]
    assert first["subarray"]["ncvar"] == "tmp"
    assert first["subarray"]["format"] == ("NETCDF4" if file_format == "CFA4"
                                           else "NETCDF3_CLASSIC")
    info = assert_reads(target, expected)
    assert info.encoding == "CFA-0.4"


def test_write_refuses_constant_fragments(tmp_path: Path) -> None:
    source = tmp_path / "u.nc"
    unique_values_master(source, np.ma.masked_array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(errors.UnsupportedFeatureError, match="unique_values"):
        rewrite_master(source, tmp_path / "out.nc", CFA04Parser())


# ----------------------------------------------------------------- malformed input


def drop(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda doc: doc.pop(key)


def partition(change: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], object]:
    return lambda doc: change(doc["Partitions"][0])


def set_attr(name: str, value: str) -> Callable[[Any], None]:
    return lambda raw: raw["tmp"].setncattr(name, value)


def del_attr(name: str) -> Callable[[Any], None]:
    return lambda raw: raw["tmp"].delncattr(name)


def overlap(doc: dict[str, Any]) -> None:
    doc["Partitions"][1]["location"][0] = [1, 3]


def gap(doc: dict[str, Any]) -> None:
    doc["Partitions"][1]["location"][0] = [3, 3]
    doc["Partitions"][1]["subarray"]["shape"][0] = 1


def same_block(doc: dict[str, Any]) -> None:
    doc["Partitions"].append(doc["Partitions"][0])


def moved_index(doc: dict[str, Any]) -> None:
    doc["Partitions"][1]["index"] = [0, 0, 0]


CORPUS: dict[str, tuple[Callable[[Any], None], type[Exception], str]] = {
    "not json": (set_attr("cfa_array", "{not json"), errors.AggregationFormatError,
                 "not valid JSON"),
    "json list": (set_attr("cfa_array", "[1, 2]"), errors.AggregationFormatError,
                  "JSON object"),
    "no partitions": (set_json("tmp", drop("Partitions")), errors.AggregationFormatError,
                      "'Partitions'"),
    "no dimensions": (del_attr("cfa_dimensions"), errors.AggregationFormatError,
                      "cfa_dimensions"),
    "unknown dimension": (set_attr("cfa_dimensions", "time lat height"),
                          errors.AggregationFormatError, "'height'"),
    "no location": (set_json("tmp", partition(drop("location"))),
                    errors.AggregationFormatError, "partition #0 of cfa_array has no 'location'"),
    "no subarray": (set_json("tmp", partition(drop("subarray"))),
                    errors.AggregationFormatError, "no 'subarray'"),
    "no shape": (set_json("tmp", partition(lambda p: p["subarray"].pop("shape"))),
                 errors.AggregationFormatError, "no 'shape'"),
    "location not integers": (set_json("tmp", partition(lambda p: p.update(location="x"))),
                              errors.AggregationFormatError, "location must be integers"),
    "location of wrong rank": (set_json("tmp", partition(lambda p: p.update(
        location=[[0, 1], [0, 3]]))), errors.AggregationFormatError, "shaped [3, 2]"),
    "negative start": (set_json("tmp", partition(lambda p: p["location"].__setitem__(
        1, [-1, 3]))), errors.AggregationFormatError, "along 'lat'"),
    "past the end": (set_json("tmp", partition(lambda p: p["location"].__setitem__(
        2, [0, 6]))), errors.AggregationFormatError, "which has size 6"),
    "shape disagrees": (set_json("tmp", partition(lambda p: p["subarray"].update(
        shape=[2, 4, 5]))), errors.AggregationFormatError, "has shape [2, 4, 5]"),
    "overlap": (set_json("tmp", overlap), errors.AggregationFormatError, "overlap"),
    "gap": (set_json("tmp", gap), errors.AggregationFormatError, "gap"),
    "same block twice": (set_json("tmp", same_block), errors.AggregationFormatError,
                         "same block"),
    "index disagrees with location": (set_json("tmp", moved_index),
                                      errors.AggregationFormatError, "overlap"),
    "index outside matrix": (set_json("tmp", partition(lambda p: p.update(index=[7, 0, 0]))),
                             errors.AggregationFormatError, "outside the partition matrix"),
    "pmshape wrong length": (set_json("tmp", lambda d: d.update(pmshape=[4, 1])),
                             errors.AggregationFormatError, "pmshape"),
    "pmdimensions differ": (set_json("tmp", lambda d: d.update(pmdimensions=["time"])),
                            errors.AggregationFormatError, "pmdimensions"),
    "file not a string": (set_json("tmp", partition(lambda p: p["subarray"].update(file=3))),
                          errors.AggregationFormatError, "subarray file must be a string"),
    "other format": (set_json("tmp", partition(lambda p: p["subarray"].update(
        format="zarr"))), errors.UnsupportedFeatureError, "'zarr'"),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_master(tmp_path: Path, case: str) -> None:
    legacy = s3nc_cfa04(tmp_path, Layout(present=None), data_model="NETCDF4")
    edit, kind, fragment = CORPUS[case]
    edited(legacy.master, edit)
    with pytest.raises(kind) as info, semsl.Dataset(legacy.master) as ds:
        ds["tmp"][:]
    text = str(info.value)
    assert fragment in text
    assert str(legacy.master) in text
    assert "'/tmp'" in text
    assert isinstance(info.value, errors.SemslError)
