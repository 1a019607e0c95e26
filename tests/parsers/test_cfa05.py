"""S3netCDF4's CFA-0.5 masters (partition matrix in a group): reading, writing, malformed."""

from __future__ import annotations

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
    s3nc_cfa05,
    tmp_data,
)
from semsl import errors
from semsl.parsers.base import MasterContext, parser_for_group
from semsl.parsers.cfa04 import CFA04Parser
from semsl.parsers.cfa05 import CFA05Parser

# ------------------------------------------------------------------------ reading


def test_reads_its_values(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path)
    info = assert_reads(legacy.master, legacy.expected)
    assert info.grid_shape == (4, 1, 1)
    assert info.encoding == "CFA-0.5"
    assert info.uri((1, 0, 0)) == str(legacy.files[(1, 0, 0)])
    assert info.uri((2, 0, 0)) == ""


def test_bookkeeping_attributes_and_variables_are_hidden(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path)
    with semsl.Dataset(legacy.master) as ds:
        assert ds["tmp"].ncattrs() == ["_FillValue", "units", "long_name"]
        assert ds["tmp"].dimensions == DIMS
        assert ds["tmp"].shape == SHAPE
        for hidden in ("cfa_group", "cf_role", "cfa_dimensions"):
            assert hidden not in repr(ds["tmp"])
        assert list(ds.variables) == ["time", "lat", "lon", "tmp"]


def test_partition_group_is_hidden(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path)
    with semsl.Dataset(legacy.master) as ds:
        assert "cfa_tmp" not in ds.groups
        assert "cfa_tmp" not in repr(ds)


def test_model_names_the_partition_group(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path)
    with netCDF4.Dataset(legacy.master) as raw:
        assert isinstance(parser_for_group(raw), CFA05Parser)
        assert parser_for_group(raw["cfa_tmp"]) is None
        (model,) = CFA05Parser().read(raw, MasterContext(str(legacy.master)))
    assert model.bookkeeping_groups == ("/cfa_tmp",)
    assert "/cfa_tmp/location" in model.bookkeeping_variables
    assert model.bookkeeping_attributes == ("cf_role", "cfa_dimensions", "cfa_group")
    assert model.grid.identifiers == "tmp"


def test_variable_in_a_group(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path, group="g")
    with semsl.Dataset(legacy.master) as ds:
        got = ds["g/tmp"][:]
        assert got.mask.tolist() == legacy.expected.mask.tolist()
        assert got.compressed().tolist() == legacy.expected.compressed().tolist()
    with netCDF4.Dataset(legacy.master) as raw:
        (model,) = CFA05Parser().read(raw["g"], MasterContext(str(legacy.master)))
    assert model.bookkeeping_groups == ("/g/cfa_tmp",)


def test_unequal_blocks(tmp_path: Path) -> None:
    layout = Layout(((5, 3), (2, 2), (6,)), frozenset({(0, 0, 0), (1, 1, 0)}))
    legacy = s3nc_cfa05(tmp_path, layout)
    info = assert_reads(legacy.master, legacy.expected)
    assert [b.tolist() for b in info.boundaries] == [[0, 5, 8], [0, 2, 4], [0, 6]]


def test_matrix_with_no_partition_written(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path, Layout(present=frozenset()))
    info = assert_reads(legacy.master, legacy.expected)
    assert info.boundaries[0].tolist() == [0, 2, 4, 6, 8]
    assert not info.present().any()


# ------------------------------------------------------------------------ writing


def test_write_and_read_back(tmp_path: Path) -> None:
    source, expected = make_cf_master(tmp_path)
    target = tmp_path / "legacy.nc"
    rewrite_master(source, target, CFA05Parser())
    with netCDF4.Dataset(target) as raw:
        assert raw.Conventions == "CF-1.13 CFA-0.5"
        assert raw["tmp"].cfa_group == "cfa_tmp"
        assert raw["tmp"].cfa_dimensions == "time lat lon"
        sub = raw["cfa_tmp"]
        assert {d: len(n) for d, n in sub.dimensions.items()} == {
            "time": 4, "lat": 1, "lon": 1, "ndimensions": 3, "bounds": 2}
        assert sub["pmshape"][:].tolist() == [4, 1, 1]
        assert sub["pmdimensions"][...] == "time, lat, lon"
        location = sub["location"][:]
        assert location[1, 0, 0].tolist() == [[2, 4], [0, 4], [0, 6]]  # exclusive
        assert location[2, 0, 0].mask.all()
        assert sub["ncvar"][:].reshape(-1).tolist() == ["tmp", "tmp", "", "tmp"]
        assert sub["format"][0, 0, 0] == "NETCDF4"
        assert sub["shape"][3, 0, 0].tolist() == [2, 4, 6]
        assert sub["index"][3, 0, 0].tolist() == [3, 0, 0]
    info = assert_reads(target, expected)
    assert info.encoding == "CFA-0.5"


def test_write_needs_netcdf4(tmp_path: Path) -> None:
    source, _ = make_cf_master(tmp_path, "CFA3")
    with pytest.raises(errors.UnsupportedFeatureError, match="NETCDF3_CLASSIC"):
        rewrite_master(source, tmp_path / "legacy.nc", CFA05Parser())


def test_conventions_keep_one_cfa_token(tmp_path: Path) -> None:
    source, expected = make_cf_master(tmp_path)
    once, twice = tmp_path / "once.nc", tmp_path / "twice.nc"
    rewrite_master(source, once, CFA04Parser())
    with netCDF4.Dataset(once, "a") as raw:
        raw.Conventions = "CF-1.6 CFA-0.4"
    with netCDF4.Dataset(once) as raw:
        (model,) = CFA04Parser().read(raw, MasterContext(str(once)))
    with netCDF4.Dataset(twice, "w") as out:
        out.Conventions = "CF-1.6 CFA-0.4"
        for dim, n in zip(DIMS, SHAPE, strict=True):
            out.createDimension(dim, n)
        out.createVariable("tmp", "f4", ())
        CFA05Parser().write(model, out)
        assert out.Conventions == "CF-1.6 CFA-0.5"
    assert_reads(twice, expected)


# ----------------------------------------------------------------- malformed input


def set_var(name: str, index: Any, value: Any) -> Callable[[Any], None]:
    def edit(raw: Any) -> None:
        raw["cfa_tmp"][name][index] = value
    return edit


def set_attr(name: str, value: str) -> Callable[[Any], None]:
    return lambda raw: raw["tmp"].setncattr(name, value)


def rename(old: str, new: str) -> Callable[[Any], None]:
    return lambda raw: raw["cfa_tmp"].renameVariable(old, new)


def ragged_location(raw: Any) -> None:
    raw["cfa_tmp"].createDimension("three", 3)
    raw["cfa_tmp"].renameVariable("location", "old_location")
    raw["cfa_tmp"].createVariable("location", "i4", ("time", "lat", "lon", "ndimensions",
                                                     "three"))


CORPUS: dict[str, tuple[Callable[[Any], None], type[Exception], str]] = {
    "missing group": (set_attr("cfa_group", "cfa_nothing"), errors.AggregationFormatError,
                      "'cfa_nothing'"),
    "no location": (rename("location", "loc"), errors.AggregationFormatError,
                    "no variable 'location'"),
    "no file": (rename("file", "files"), errors.AggregationFormatError, "no variable 'file'"),
    "location of wrong shape": (ragged_location, errors.AggregationFormatError,
                                "shaped (partition matrix..., 3, 2)"),
    "overlap": (set_var("location", (1, 0, 0, 0), [1, 4]), errors.AggregationFormatError,
                "overlap"),
    "empty block": (set_var("location", (1, 0, 0, 0), [3, 3]), errors.AggregationFormatError,
                    "non-empty range"),
    "past the end": (set_var("location", (0, 0, 0, 2), [0, 7]), errors.AggregationFormatError,
                     "which has size 6"),
    "index disagrees": (set_var("index", (1, 0, 0), [2, 0, 0]), errors.AggregationFormatError,
                        "records index (2, 0, 0)"),
    "shape disagrees": (set_var("shape", (0, 0, 0), [1, 4, 6]), errors.AggregationFormatError,
                        "has shape [1, 4, 6]"),
    "pmshape differs": (set_var("pmshape", slice(None), [3, 1, 1]),
                        errors.AggregationFormatError, "pmshape [3, 1, 1]"),
    "pmdimensions differ": (set_var("pmdimensions", 0, "time, lon, lat"),
                            errors.AggregationFormatError, "pmdimensions 'time, lon, lat'"),
    "unknown dimension": (set_attr("cfa_dimensions", "time lat level"),
                          errors.AggregationFormatError, "'level'"),
    "other format": (set_var("format", (0, 0, 0), "GRIB"), errors.UnsupportedFeatureError,
                     "'GRIB'"),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_master(tmp_path: Path, case: str) -> None:
    legacy = s3nc_cfa05(tmp_path, Layout(present=None))
    edit, kind, fragment = CORPUS[case]
    edited(legacy.master, edit)
    with pytest.raises(kind) as info, semsl.Dataset(legacy.master) as ds:
        ds["tmp"][:]
    text = str(info.value)
    assert fragment in text
    assert str(legacy.master) in text
    assert "'/tmp'" in text
    assert isinstance(info.value, errors.SemslError)


def test_values_are_the_data(tmp_path: Path) -> None:
    legacy = s3nc_cfa05(tmp_path, Layout(present=None))
    with semsl.Dataset(legacy.master) as ds:
        np.testing.assert_array_equal(ds["tmp"][:], tmp_data())
