"""CFA-0.6.2 masters (cf-python 3.14-3.16): reading, detection, malformed input."""

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
    Cfa06Options,
    Layout,
    assert_reads,
    cfa06,
    edited,
    make_cf_master,
)
from semsl import errors
from semsl.cfa.model import master_variable
from semsl.parsers import base
from semsl.parsers.base import BUILTIN_PARSERS, MasterContext, parser_for_group
from semsl.parsers.cf_aggregation import CFAggregationParser
from semsl.parsers.cfa06 import CFA06Parser, parse_substitutions


def read_model(master: Path) -> Any:
    with netCDF4.Dataset(master) as raw:
        (model,) = CFA06Parser().read(raw, MasterContext(str(master)))
    return model


# ------------------------------------------------------------------------ reading


@pytest.mark.parametrize("strings", ["str", "S1"])
def test_reads_its_values(tmp_path: Path, strings: str) -> None:
    legacy = cfa06(tmp_path, options=Cfa06Options(strings=strings))
    info = assert_reads(legacy.master, legacy.expected)
    assert info.grid_shape == (4, 1, 1)
    assert info.encoding == "CFA-0.6.2"
    # ${BASE} gives an absolute file URI, ${DIR} a path relative to the master.
    assert info.uri((0, 0, 0)) == (tmp_path / "ex").as_uri() + "/ex.tmp.0.0.0.nc"
    assert info.uri((1, 0, 0)) == "ex/ex.tmp.1.0.0.nc"
    assert info.uri((2, 0, 0)) == ""  # no file, no address: wholly missing


def test_bookkeeping_is_hidden(tmp_path: Path) -> None:
    legacy = cfa06(tmp_path)
    with semsl.Dataset(legacy.master) as ds:
        assert list(ds.variables) == ["time", "lat", "lon", "tmp"]
        assert list(ds.dimensions) == list(DIMS)
        assert ds["tmp"].ncattrs() == ["_FillValue", "units", "long_name"]
        assert ds["tmp"].shape == SHAPE
        text = repr(ds) + repr(ds["tmp"])
        for hidden in ("aggregated", "cfa_location", "cfa_file", "f_time"):
            assert hidden not in text


def test_without_substitutions_and_with_a_shared_address(tmp_path: Path) -> None:
    options = Cfa06Options(substitutions=False, scalar_address=True)
    legacy = cfa06(tmp_path, Layout(present=None), options)
    info = assert_reads(legacy.master, legacy.expected)
    assert info.uri((3, 0, 0)) == "ex/ex.tmp.3.0.0.nc"
    assert read_model(legacy.master).grid.identifiers == "tmp"


def test_definitions_in_a_child_group_with_alternatives(tmp_path: Path) -> None:
    legacy = cfa06(tmp_path, options=Cfa06Options(group="aggregation", alternatives=True))
    assert_reads(legacy.master, legacy.expected)
    model = read_model(legacy.master)
    assert model.bookkeeping_groups == ("/aggregation",)
    assert "/aggregation/cfa_file" in model.bookkeeping_variables
    # Block 0 lists a second copy that does not exist; block 1 a blank first copy.
    alternatives = model.extra["alternative_uris"]
    assert alternatives.shape == (4, 1, 1, 2)
    assert alternatives[0, 0, 0, 1] == "missing/nowhere.nc"
    assert model.grid.uri((1, 0, 0)) == "ex/ex.tmp.1.0.0.nc"


def test_definition_group_is_hidden(tmp_path: Path) -> None:
    legacy = cfa06(tmp_path, options=Cfa06Options(group="aggregation"))
    with semsl.Dataset(legacy.master) as ds:
        assert "aggregation" not in ds.groups


def test_keywords_are_case_insensitive_and_extra_terms_ignored(tmp_path: Path) -> None:
    terms = "LOCATION: {L} File: {F} tracking_id: nothing_here fOrMaT: {O} address: {A}"
    legacy = cfa06(tmp_path, options=Cfa06Options(terms=terms))
    with netCDF4.Dataset(legacy.master) as raw:
        assert isinstance(parser_for_group(raw), CFA06Parser)
        assert not CFAggregationParser().detect(raw)
    assert_reads(legacy.master, legacy.expected)


def test_extra_term_variable_is_hidden(tmp_path: Path) -> None:
    terms = "location: {L} file: {F} format: {O} address: {A} tracking_id: tid"

    def add_ids(raw: Any) -> None:
        raw.createVariable("tid", str, ("f_time", "f_lat", "f_lon"))[...] = np.array(
            ["a", "b", "c", "d"], dtype=object).reshape(4, 1, 1)
    legacy = cfa06(tmp_path, options=Cfa06Options(terms=terms))
    edited(legacy.master, add_ids)
    with semsl.Dataset(legacy.master) as ds:
        assert "tid" not in ds.variables


def test_fragments_stored_in_the_master_are_named_by_path(tmp_path: Path) -> None:
    layout = Layout(present=frozenset({(0, 0, 0), (2, 0, 0), (3, 0, 0)}))
    options = Cfa06Options(inside=frozenset({(2, 0, 0)}), group="aggregation")
    legacy = cfa06(tmp_path, layout, options)
    model = read_model(legacy.master)
    assert model.grid.uri((2, 0, 0)) == "#/aggregation/tmp_2"
    assert master_variable(model.grid.uri((2, 0, 0)) or "") == "/aggregation/tmp_2"
    assert model.grid.identifier((2, 0, 0)) == "/aggregation/tmp_2"
    assert model.grid.identifier((0, 0, 0)) == "tmp"
    assert model.grid.uri((1, 0, 0)) == ""
    assert "/aggregation/tmp_2" in model.bookkeeping_variables
    assert model.bookkeeping_groups == ("/aggregation",)


def test_fragment_stored_in_the_master_reads(tmp_path: Path) -> None:
    layout = Layout(present=frozenset({(0, 0, 0), (2, 0, 0), (3, 0, 0)}))
    legacy = cfa06(tmp_path, layout, Cfa06Options(inside=frozenset({(2, 0, 0)})))
    assert_reads(legacy.master, legacy.expected)


def test_registry_order_and_detection(tmp_path: Path) -> None:
    assert BUILTIN_PARSERS[:2] == ("semsl.parsers.cf_aggregation", "semsl.parsers.cfa06")
    names = [p.name for p in base._parsers()]
    assert names == ["CF-1.13", "CFA-0.6.2", "CFA-0.5", "CFA-0.4"]
    source, _ = make_cf_master(tmp_path)
    with netCDF4.Dataset(source) as raw:
        assert isinstance(parser_for_group(raw), CFAggregationParser)
        assert not CFA06Parser().detect(raw)


def test_write_is_refused(tmp_path: Path) -> None:
    legacy = cfa06(tmp_path)
    model = read_model(legacy.master)
    with netCDF4.Dataset(tmp_path / "out.nc", "w") as out, \
            pytest.raises(errors.UnsupportedFeatureError, match=r"writes CF-1\.13"):
        CFA06Parser().write(model, out)


@pytest.mark.parametrize(("text", "expected"), [
    ("${BASE}: file:///data/ ${X}: y", {"${BASE}": "file:///data/", "${X}": "y"}),
    ("${BASE}:file:///data/", {"${BASE}": "file:///data/"}),
    ("  ${A}:\n   a/b   ${B_2}: c  ", {"${A}": "a/b", "${B_2}": "c"}),
    ("${A}: ${B}: x", {"${A}": "", "${B}": "x"}),
    ("${A}:", {"${A}": ""}),
    ("", {}),
])
def test_substitutions_attribute(text: str, expected: dict[str, str]) -> None:
    assert parse_substitutions(text, "here") == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("BASE: x", "'BASE:'"),
    ("${BASE} x", "'${BASE}'"),
    ("${A}: x ${A}: y", "defines ${A} twice"),
    ("${A-B}: x", "'${A-B}:'"),
])
def test_malformed_substitutions(text: str, fragment: str) -> None:
    with pytest.raises(errors.AggregationFormatError) as info:
        parse_substitutions(text, "here")
    assert fragment in str(info.value)


# ----------------------------------------------------------------- malformed input


def set_attr(name: str, value: str, var: str = "tmp") -> Callable[[Any], None]:
    return lambda raw: raw[var].setncattr(name, value)


def set_value(var: str, index: Any, value: Any) -> Callable[[Any], None]:
    def edit(raw: Any) -> None:
        raw[var].set_auto_mask(False)
        raw[var][index] = value
    return edit


def scalar_format(value: str) -> Callable[[Any], None]:
    return set_value("cfa_format", ..., value)


def per_fragment_format(raw: Any) -> None:
    fmt = raw.createVariable("fmt2", str, ("f_time", "f_lat", "f_lon"))
    fmt[...] = np.array(["nc", "nc", "", "pp"], dtype=object).reshape(4, 1, 1)
    raw["tmp"].aggregated_data = raw["tmp"].aggregated_data.replace("cfa_format", "fmt2")


def short_file(raw: Any) -> None:
    raw.createDimension("three", 3)
    raw.createVariable("file3", str, ("three",))[...] = np.array(["a", "b", "c"], object)
    raw["tmp"].aggregated_data = raw["tmp"].aggregated_data.replace("cfa_file", "file3")


def float_location(raw: Any) -> None:
    raw.createVariable("floc", "f8", ("j", "i"))[...] = np.ones((3, 4))
    raw["tmp"].aggregated_data = raw["tmp"].aggregated_data.replace("cfa_location", "floc")


TERMS = "location: cfa_location file: cfa_file format: cfa_format address: cfa_address"

CORPUS: dict[str, tuple[Callable[[Any], None], type[Exception], str]] = {
    "missing term": (set_attr("aggregated_data", TERMS.replace(" address: cfa_address", "")),
                     errors.AggregationFormatError, "address missing"),
    "term twice": (set_attr("aggregated_data", TERMS + " FILE: cfa_file"),
                   errors.AggregationFormatError, "'file' twice"),
    "not pairs": (set_attr("aggregated_data", "location cfa_location file: cfa_file"),
                  errors.AggregationFormatError, "'term: variable' pairs"),
    "absent variable": (set_attr("aggregated_data", TERMS.replace("cfa_file", "nofile")),
                        errors.AggregationFormatError, "'nofile'"),
    "unknown dimension": (set_attr("aggregated_dimensions", "time lat level"),
                          errors.AggregationFormatError, "'level'"),
    "rows do not sum": (set_value("cfa_location", (0, 0), 3), errors.AggregationFormatError,
                        "has size 8"),
    "negative size": (set_value("cfa_location", (1, 0), -4), errors.AggregationFormatError,
                      "-4"),
    "float location": (float_location, errors.AggregationFormatError, "integer type"),
    "file count": (short_file, errors.AggregationFormatError, "grid of (4, 1, 1) fragments"),
    "undefined substitution": (set_attr("substitutions", "${OTHER}: x", "cfa_file"),
                               errors.AggregationFormatError, "'${BASE}'"),
    "bad substitutions": (set_attr("substitutions", "BASE=x", "cfa_file"),
                          errors.AggregationFormatError, "'${NAME}: value'"),
    "file without address": (set_value("cfa_address", (0, 0, 0, 0), ""),
                             errors.AggregationFormatError, "a file but no address"),
    "other format": (scalar_format("pp"), errors.UnsupportedFeatureError,
                     "('nc') only"),
    "per-fragment format": (per_fragment_format, errors.UnsupportedFeatureError, "'pp'"),
    "missing format": (scalar_format(""), errors.AggregationFormatError, "no format"),
    "in-file fragment absent": (set_value("cfa_address", (2, 0, 0, 0), "ghost"),
                                errors.AggregationFormatError, "'ghost', which does not exist"),
    "non-scalar": (lambda raw: raw.createVariable("w", "f4", ("time",)).setncatts(
        {"aggregated_dimensions": "time", "aggregated_data": TERMS}),
        errors.AggregationFormatError, "must be scalar"),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_master(tmp_path: Path, case: str) -> None:
    legacy = cfa06(tmp_path)
    edit, kind, fragment = CORPUS[case]
    edited(legacy.master, edit)
    with pytest.raises(kind) as info, semsl.Dataset(legacy.master) as ds:
        ds["tmp"][:]
    text = str(info.value)
    assert fragment in text
    assert str(legacy.master) in text
    assert isinstance(info.value, errors.SemslError)


def test_hint_when_conventions_do_not_declare_cfa06(tmp_path: Path) -> None:
    legacy = cfa06(tmp_path, options=Cfa06Options(conventions="CF-1.13"))
    edited(legacy.master, set_attr("aggregated_data", TERMS.replace("cfa_file", "nofile")))
    with pytest.raises(errors.AggregationFormatError, match="map, uris and identifiers"):
        semsl.Dataset(legacy.master)
