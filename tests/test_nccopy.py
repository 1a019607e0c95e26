"""Tests of semsl._nccopy.copy_group: the copy must equal the source, read back with netCDF4."""

from __future__ import annotations

import ctypes
import importlib
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from semsl import _nccopy as nccopy
from semsl._nccopy import copy_group
from semsl.errors import UnsupportedFeatureError

_LIB = ctypes.CDLL(importlib.import_module("netCDF4._netCDF4").__file__)
_NC_CHAR, _NC_STRING = 2, 12
_CLASSIC = ("i1", "i2", "i4", "f4", "f8")
_CDF5 = (*_CLASSIC, "u1", "u2", "u4", "i8", "u8")
_STORAGE = ("filters", "chunking", "endian", "quantization")


# ----------------------------------------------------------------------------- comparing


def _att_type(obj: Any, name: str) -> int:
    """The netCDF type of an attribute, asked from netCDF-C directly."""
    varid = obj._varid if isinstance(obj, netCDF4.Variable) else -1
    xtype = ctypes.c_int()
    status = _LIB.nc_inq_atttype(obj._grpid, varid, name.encode(), ctypes.byref(xtype))
    assert status == 0
    return xtype.value


def _same_value(x: Any, y: Any) -> None:
    if x is None or isinstance(x, (str, bytes, list)):
        assert type(x) is type(y)
        assert x == y
        return
    x, y = np.asanyarray(x), np.asanyarray(y)
    assert x.shape == y.shape
    assert np.ma.isMaskedArray(x) == np.ma.isMaskedArray(y)
    assert np.array_equal(np.ma.getmaskarray(x), np.ma.getmaskarray(y))
    x, y = np.ma.getdata(x), np.ma.getdata(y)
    if x.dtype == object:
        assert y.dtype == object
        for item_x, item_y in zip(x.flat, y.flat, strict=True):
            _same_value(item_x, item_y)
        return
    if x.dtype.names:  # field by field: padding bytes of aligned structs are undefined
        assert y.dtype.names == x.dtype.names
        for name in x.dtype.names:
            _same_value(x[name], y[name])
        return
    native = x.dtype.newbyteorder("=")
    assert y.dtype.newbyteorder("=") == native
    assert x.astype(native).tobytes() == y.astype(native).tobytes()


def _same_attributes(a: Any, b: Any) -> None:
    assert b.ncattrs() == a.ncattrs()
    for name in a.ncattrs():
        type_a, type_b = _att_type(a, name), _att_type(b, name)
        assert type_b == type_a or min(type_a, type_b) >= 32, name
        _same_value(a.getncattr(name, encoding="latin-1"), b.getncattr(name, encoding="latin-1"))


def _read(var: Any, raw: bool) -> Any:
    var.set_auto_maskandscale(not raw)
    var.set_auto_chartostring(not raw)
    var.set_always_mask(not raw)
    try:
        return var[...]
    finally:
        var.set_auto_maskandscale(True)
        var.set_auto_chartostring(True)
        var.set_always_mask(True)


def _same_variable(a: Any, b: Any, *, storage: bool = True, data: bool = True) -> None:
    assert b.dimensions == a.dimensions
    if a.dtype is str:
        assert b.dtype is str
    else:
        assert b.dtype.newbyteorder("=") == a.dtype.newbyteorder("=")
    assert type(b.datatype) is type(a.datatype)
    assert getattr(b.datatype, "name", None) == getattr(a.datatype, "name", None)
    if a.get_fill_value() is not None or not b.group().data_model.startswith("NETCDF3"):
        _same_value(a.get_fill_value(), b.get_fill_value())  # netCDF-3 files keep no no-fill
    _same_attributes(a, b)
    if storage:
        for query in _STORAGE:
            assert getattr(b, query)() == getattr(a, query)(), (a.name, query)
    if data:
        assert b.shape == a.shape
        _same_value(_read(a, raw=True), _read(b, raw=True))
        _same_value(_read(a, raw=False), _read(b, raw=False))


def _same_types(a: Any, b: Any) -> None:
    for kind in ("cmptypes", "vltypes", "enumtypes"):
        types_a, types_b = getattr(a, kind), getattr(b, kind)
        assert list(types_b) == list(types_a)
        for name, user_type in types_a.items():
            assert types_b[name].dtype == user_type.dtype
            assert getattr(types_b[name], "enum_dict", None) == getattr(user_type, "enum_dict",
                                                                        None)


def _same_group(a: Any, b: Any, *, storage: bool = True, data: bool = True) -> None:
    assert list(b.dimensions) == list(a.dimensions)
    for name, dim in a.dimensions.items():
        assert b.dimensions[name].isunlimited() == dim.isunlimited()
        if data or not dim.isunlimited():
            assert b.dimensions[name].size == dim.size
    _same_types(a, b)
    _same_attributes(a, b)
    assert list(b.variables) == list(a.variables)
    for name, var in a.variables.items():
        _same_variable(var, b.variables[name], storage=storage, data=data)
    assert list(b.groups) == list(a.groups)
    for name, group in a.groups.items():
        _same_group(group, b.groups[name], storage=storage, data=data)


def _copy(src_path: Path, dst_path: Path, fmt: str = "NETCDF4", **options: Any) -> None:
    with netCDF4.Dataset(src_path) as src, netCDF4.Dataset(dst_path, "w", format=fmt) as dst:
        copy_group(src, dst, **options)


def _compare(src_path: Path, dst_path: Path, **options: Any) -> None:
    with netCDF4.Dataset(src_path) as src, netCDF4.Dataset(dst_path) as dst:
        _same_group(src, dst, **options)


# ----------------------------------------------------------------------------- sources


def _add_attributes(obj: Any, codes: tuple[str, ...], *, ncstring: bool = True) -> None:
    obj.setncattr("title", "plain ascii text")
    obj.setncattr("raw_bytes", b"caf\xe9")  # NC_CHAR that is not UTF-8
    obj.setncattr("empty", "")
    if ncstring:
        obj.setncattr_string("label", "ascii written as NC_STRING")
        obj.setncattr("unicode", "h\u00e9llo w\u00f6rld")  # non-ASCII str: NC_STRING
        obj.setncattr("words", ["alpha", "", "\u00e7a"])
    for code in codes:
        obj.setncattr(f"scalar_{code}", np.array(7, code))
        obj.setncattr(f"array_{code}", np.arange(1, 4, dtype=code))
    obj.setncattr("specials", np.array([np.nan, np.inf, -0.0]))


def _add_storage_variables(ds: Any) -> None:
    temp = ds.createVariable("temp", "f4", ("time", "y", "x"), compression="zlib", complevel=6,
                             chunksizes=(1, 2, 3), fill_value=np.float32(-999))
    temp.setncattr("units", "K")
    temp.setncattr("scale_factor", np.float32(0.5))
    temp.setncattr("valid_range", np.array([-100, 1000], "f4"))
    values = np.arange(72, dtype="f4").reshape(3, 4, 6)
    values[1, 2, 3] = -999
    temp[:] = values
    big = ds.createVariable("big", np.dtype(">f8"), ("x",), endian="big", fletcher32=True)
    big[:] = np.linspace(-1, 1, 6)
    ds.createVariable("contig", "i4", ("x",), contiguous=True)[:] = np.arange(6) * -3
    zstd = ds.createVariable("zstd", "i2", ("time", "x"), compression="zstd", complevel=4,
                             shuffle=False)
    zstd[:] = np.arange(18).reshape(3, 6)
    ds.createVariable("bz", "u2", ("x",), compression="bzip2", complevel=2)[:] = np.arange(6)
    blosc = ds.createVariable("blosc", "f4", ("y", "z"), compression="blosc_lz4", complevel=5,
                              blosc_shuffle=2)
    blosc[:] = np.repeat(np.arange(4, dtype="f4"), 64).reshape(4, 64)
    if netCDF4.__has_szip_support__:
        szip = ds.createVariable("szip", "i4", ("z",), compression="szip", szip_coding="nn",
                                 szip_pixels_per_block=8, chunksizes=(32,))
        szip[:] = np.arange(64)
    for name, compression in (("shuffle_only", None), ("zstd_shuffle", "zstd")):
        var = ds.createVariable(name, "f4", ("z",), compression=compression, chunksizes=(16,))
        assert _LIB.nc_def_var_deflate(var._grpid, var._varid, 1, 0, 0) == 0  # lone shuffle
        var[:] = np.arange(64) / 7
    quant = ds.createVariable("quant", "f4", ("z",), significant_digits=2)  # BitGroom
    quant[:] = np.linspace(0.1, 9.9, 64)


def _add_plain_variables(ds: Any) -> None:
    ds.createVariable("nofill", "i4", ("x",), fill_value=False)[:] = np.arange(6)
    ds.createVariable("two_unlimited", "f4", ("time", "rec"))[:] = np.ones((3, 2))
    ds.createVariable("empty", "f8", ("never",))
    ds.createVariable("scalar", "f8", ()).assignValue(42.5)
    unsigned = ds.createVariable("unsigned", "i1", ("x",))
    unsigned.setncattr("_Unsigned", "true")
    unsigned.set_auto_maskandscale(False)
    unsigned[:] = np.array([-128, -1, 0, 1, 127, -5], "i1")
    ds.createVariable("int64", "i8", ("x",))[:] = np.arange(6) * 2**40
    ds.createVariable("uint64", "u8", ("x",))[:] = np.arange(6, dtype="u8") * 2**62
    strs = ds.createVariable("strs", str, ("x",), fill_value="missing")
    strs[0:4] = np.array(["a", "", "\u00e9t\u00e9", "long " * 20], dtype=object)
    ds.createVariable("scalar_str", str, ())[0] = "just one"
    chars = ds.createVariable("chars", "S1", ("x", "nchar"), fill_value=b"-")
    chars.setncattr("_Encoding", "ascii")
    chars.set_auto_chartostring(False)
    chars[0:5] = netCDF4.stringtochar(np.array(["ab", "cde", "", "fghij", "k"], "S5"))


def _add_user_type_variables(ds: Any) -> None:
    inner = ds.createCompoundType(np.dtype([("a", "i2"), ("b", "f8")]), "inner_t")
    outer = ds.createCompoundType(
        np.dtype([("inner", inner.dtype), ("name", "S1", (4,)), ("v", "i4", (2,))]), "outer_t")
    comp = ds.createVariable("comp", outer, ("x",))
    data = np.zeros(6, outer.dtype)
    data["inner"]["a"] = np.arange(6)
    data["inner"]["b"] = np.arange(6) / 3
    data["name"] = netCDF4.stringtochar(np.array(["ab", "cd", "ef", "gh", "ij", "kl"], "S4"))
    data["v"] = np.arange(12).reshape(6, 2)
    comp[:] = data
    comp.setncattr("origin", np.array([(1, 2.5)], inner.dtype))
    vlen = ds.createVLType("i4", "ragged_t")
    ragged = ds.createVariable("ragged", vlen, ("y",))
    items = np.empty(4, object)
    items[:] = [np.arange(n, dtype="i4") for n in (1, 3, 0, 5)]
    ragged[:] = items
    ds.createVariable("scalar_ragged", vlen, ())[0] = np.arange(4, dtype="i4")
    cloud = ds.createEnumType("u1", "cloud_t", {"clear": 0, "cumulus": 1, "missing": 255})
    flags = ds.createVariable("flags", cloud, ("time",), fill_value=255)
    flags[0:2] = np.array([1, 0], "u1")


def _add_groups(ds: Any) -> None:
    g1 = ds.createGroup("g1")
    _add_attributes(g1, ("i2", "u8"))
    g1.createDimension("z1", 3)
    level = g1.createEnumType("i1", "level_t", {"low": -1, "high": 1})
    lv = g1.createVariable("lv", level, ("z1", "x"), fill_value=-1)
    lv[:] = np.ones((3, 6), "i1")
    g1.createVariable("cv", ds.cmptypes["outer_t"], ("z1",))[:] = ds["comp"][0:3]
    g2 = g1.createGroup("g2")
    g2.createDimension("steps", None)
    steps = g2.createVariable("s", "f8", ("steps", "z1"), zlib=True, shuffle=False)
    steps[0:4] = np.arange(12).reshape(4, 3)
    steps.setncattr_string("note", "in a nested group")
    ds.createGroup("h").setncattr("order", np.int32(2))


def _make_netcdf4(path: Path) -> Path:
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        _add_attributes(ds, _CDF5)
        for name, size in (("x", 6), ("y", 4), ("time", None), ("rec", None), ("nchar", 5),
                           ("never", None), ("z", 64)):
            ds.createDimension(name, size)
        _add_storage_variables(ds)
        _add_plain_variables(ds)
        _add_user_type_variables(ds)
        _add_groups(ds)
    return path


def _make_classic(path: Path, fmt: str, codes: tuple[str, ...]) -> Path:
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        _add_attributes(ds, codes, ncstring=False)
        ds.createDimension("time", None)
        ds.createDimension("x", 5)
        ds.createDimension("nchar", 3)
        for code in codes:
            fill = np.array(3, code) if code != "f4" else None
            var = ds.createVariable(f"v_{code}", code, ("time", "x"), fill_value=fill)
            var.setncattr("valid_max", np.array(100, code))
            var[0:2] = np.arange(10, dtype=code).reshape(2, 5)
        chars = ds.createVariable("chars", "S1", ("x", "nchar"))
        chars.set_auto_chartostring(False)
        chars[:] = netCDF4.stringtochar(np.array(["a", "bc", "def", "", "g"], "S3"))
        ds.createVariable("scalar", "f8", ()).assignValue(1.5)
    return path


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_netcdf4(tmp_path_factory.mktemp("src") / "rich.nc")


# ----------------------------------------------------------------------------- tests


def test_netcdf4_copy_equals_source(rich: Path, tmp_path: Path) -> None:
    _copy(rich, tmp_path / "copy.nc")
    _compare(rich, tmp_path / "copy.nc")
    with netCDF4.Dataset(tmp_path / "copy.nc") as dst:
        assert [_att_type(dst, name) for name in ("title", "raw_bytes", "label", "words")] == [
            _NC_CHAR, _NC_CHAR, _NC_STRING, _NC_STRING]
        assert dst.getncattr("raw_bytes", encoding="latin-1") == "caf\u00e9"
        assert dst.getncattr("scalar_u8").dtype == np.dtype("u8")
        assert dst["big"].endian() == "big"
        assert dst["nofill"].get_fill_value() is None
        assert dst["temp"].filters()["complevel"] == 6
        assert dst["quant"].quantization() == (2, "BitGroom")
        assert dst.dimensions["time"].size == 3
        assert dst.dimensions["rec"].size == 2
        assert dst["g1"]["g2"].dimensions["steps"].size == 4


def test_copy_in_small_slabs(rich: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             ) -> None:
    monkeypatch.setattr(nccopy, "_SLAB_BYTES", 20)
    _copy(rich, tmp_path / "copy.nc")
    _compare(rich, tmp_path / "copy.nc")


def test_source_read_settings_are_restored(rich: Path, tmp_path: Path) -> None:
    with netCDF4.Dataset(rich) as src, netCDF4.Dataset(tmp_path / "c.nc", "w") as dst:
        src["chars"].set_auto_chartostring(False)
        copy_group(src, dst)
        temp, chars = src["temp"], src["chars"]
        assert (temp.mask, temp.scale, temp.always_mask, temp.chartostring) == (
            True, True, True, True)
        assert chars.chartostring is False
        assert np.ma.isMaskedArray(dst["temp"][:])


@pytest.mark.parametrize(("src_format", "codes"), [
    ("NETCDF3_CLASSIC", _CLASSIC), ("NETCDF3_64BIT_OFFSET", _CLASSIC),
    ("NETCDF3_64BIT_DATA", _CDF5)])
@pytest.mark.parametrize("dst_format", [
    "NETCDF3_CLASSIC", "NETCDF3_64BIT_DATA", "NETCDF4_CLASSIC", "NETCDF4"])
def test_classic_sources(tmp_path: Path, src_format: str, codes: tuple[str, ...],
                         dst_format: str) -> None:
    src = _make_classic(tmp_path / "src.nc", src_format, codes)
    if codes == _CDF5 and dst_format in ("NETCDF3_CLASSIC", "NETCDF4_CLASSIC"):
        with pytest.raises(UnsupportedFeatureError, match="attribute 'scalar_u1'"):
            _copy(src, tmp_path / "copy.nc", dst_format)
        return
    _copy(src, tmp_path / "copy.nc", dst_format)
    _compare(src, tmp_path / "copy.nc", storage=False)
    with netCDF4.Dataset(tmp_path / "copy.nc") as dst:
        assert dst.data_model == dst_format


@pytest.mark.parametrize("dst_format", ["NETCDF3_CLASSIC", "NETCDF4_CLASSIC"])
def test_netcdf4_to_classic_formats(tmp_path: Path, dst_format: str) -> None:
    src = tmp_path / "src.nc"
    with netCDF4.Dataset(src, "w", format="NETCDF4") as ds:
        ds.setncattr("title", "classic content")
        ds.createDimension("t", None)
        ds.createDimension("x", 8)
        var = ds.createVariable("v", np.dtype(">f8"), ("t", "x"), zlib=True, chunksizes=(2, 4),
                                endian="big", fill_value=-1.0)
        var[0:3] = np.arange(24).reshape(3, 8)
        ds.createVariable("n", "i2", ("x",), fill_value=False)[:] = np.arange(8)
    _copy(src, tmp_path / "copy.nc", dst_format)
    storage = dst_format == "NETCDF4_CLASSIC"
    _compare(src, tmp_path / "copy.nc", storage=storage)


def _unsupported_source(path: Path, case: str) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("x", 2)
        if case == "string variable":
            ds.createVariable("names", str, ("x",))
        elif case == "compound variable":
            cmp = ds.createCompoundType(np.dtype([("a", "i4")]), "c_t")
            ds.createVariable("records", cmp, ("x",))
        elif case == "two unlimited":
            ds.createDimension("t1", None)
            ds.createDimension("t2", None)
        elif case == "group":
            ds.createGroup("sub")
        elif case == "NC_STRING attribute":
            ds.createVariable("v", "f4", ("x",)).setncattr_string("label", "text")
        elif case == "unsigned variable":
            ds.createVariable("counts", "u1", ("x",))
        elif case == "int64 attribute":
            ds.createVariable("v", "f4", ("x",)).setncattr("big", np.int64(2**40))
        else:  # enum data holding the default fill value, not one of the enum's values
            enum = ds.createEnumType("u1", "e_t", {"one": 1})
            ds.createVariable("flags", enum, ("x",))[0] = 1


@pytest.mark.parametrize(("case", "dst_format", "words"), [
    ("string variable", "NETCDF3_CLASSIC", ["variable 'names'", "string"]),
    ("compound variable", "NETCDF4_CLASSIC", ["variable 'records'", "compound type 'c_t'"]),
    ("two unlimited", "NETCDF3_64BIT_DATA", ["unlimited dimension 't2'"]),
    ("group", "NETCDF3_CLASSIC", ["subgroup 'sub'"]),
    ("NC_STRING attribute", "NETCDF3_CLASSIC", ["variable 'v'", "attribute 'label'"]),
    ("unsigned variable", "NETCDF3_64BIT_OFFSET", ["variable 'counts'", "uint8"]),
    ("int64 attribute", "NETCDF4_CLASSIC", ["variable 'v'", "attribute 'big'"]),
    ("enum fill", "NETCDF4", ["variable 'flags'", "Enum"]),
])
def test_unsupported_copy_raises(tmp_path: Path, case: str, dst_format: str,
                                 words: list[str]) -> None:
    _unsupported_source(tmp_path / "src.nc", case)
    with pytest.raises(UnsupportedFeatureError) as info:
        _copy(tmp_path / "src.nc", tmp_path / "copy.nc", dst_format)
    message = str(info.value)
    for word in ["group '/'", dst_format, *words]:
        assert word in message
    assert isinstance(info.value, ValueError)


def test_skip_callbacks_omit_exactly_what_they_say(rich: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, ...]] = []
    variables = {("/", "temp"), ("/", "empty"), ("/g1", "lv"), ("/g1/g2", "s")}
    attributes = {("/", None, "title"), ("/", "strs", "_FillValue"),
                  ("/", "chars", "_Encoding"), ("/g1", None, "words")}

    def skip_variable(path: str, name: str) -> bool:
        calls.append((path, name))
        return (path, name) in variables

    def skip_attribute(path: str, var: str | None, name: str) -> bool:
        return (path, var, name) in attributes

    _copy(rich, tmp_path / "copy.nc", skip_variables=skip_variable,
          skip_dimensions=lambda path, name: (path, name) in {("/", "never"), ("/g1/g2", "steps")},
          skip_attributes=skip_attribute)
    assert ("/g1/g2", "s") in calls
    assert ("/g1", "cv") in calls
    with netCDF4.Dataset(rich) as src, netCDF4.Dataset(tmp_path / "copy.nc") as dst:
        for path in ("/", "/g1", "/g1/g2"):
            a, b = src[path] if path != "/" else src, dst[path] if path != "/" else dst
            kept = [name for name in a.variables if (path, name) not in variables]
            assert list(b.variables) == kept
            for name in kept:
                if name not in ("strs", "chars"):
                    _same_variable(a[name], b[name])
        assert "never" not in dst.dimensions
        assert list(dst["g1/g2"].dimensions) == []
        assert dst.ncattrs() == [name for name in src.ncattrs() if name != "title"]
        assert dst["g1"].ncattrs() == [name for name in src["g1"].ncattrs() if name != "words"]
        assert dst["chars"].ncattrs() == ["_FillValue"]
        assert src["chars"].ncattrs() == ["_FillValue", "_Encoding"]
        assert "_FillValue" not in dst["strs"].ncattrs()
        assert src["strs"].get_fill_value() == "missing"
        assert dst["strs"].get_fill_value() is None
        assert list(dst["strs"][:]) == list(src["strs"][:])  # data (fill included) copied


def test_skipped_dimension_in_use_raises(rich: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"variable 'zstd'.*dimension 'time'"):
        _copy(rich, tmp_path / "copy.nc", skip_dimensions=lambda path, name: name == "time",
              skip_variables=lambda path, name: name in ("temp", "two_unlimited"))


def test_not_recursive(rich: Path, tmp_path: Path) -> None:
    _copy(rich, tmp_path / "copy.nc", recursive=False)
    with netCDF4.Dataset(rich) as src, netCDF4.Dataset(tmp_path / "copy.nc") as dst:
        assert dst.groups == {}
        assert list(dst.variables) == list(src.variables)
        _same_variable(src["comp"], dst["comp"])


def test_without_data(rich: Path, tmp_path: Path) -> None:
    _copy(rich, tmp_path / "copy.nc", copy_data=False)
    _compare(rich, tmp_path / "copy.nc", data=False)
    with netCDF4.Dataset(tmp_path / "copy.nc") as dst:
        assert dst.dimensions["time"].size == 0
        assert dst["big"][:].mask.all()


def test_subgroup_copied_as_root(rich: Path, tmp_path: Path) -> None:
    """Dimensions and types of ancestors that are not copied are created on demand."""
    with netCDF4.Dataset(rich) as src, netCDF4.Dataset(tmp_path / "g1.nc", "w") as dst:
        copy_group(src["g1"], dst)
    with netCDF4.Dataset(rich) as src, netCDF4.Dataset(tmp_path / "g1.nc") as dst:
        assert list(dst.dimensions) == ["z1", "x"]
        assert list(dst.cmptypes) == ["inner_t", "outer_t"]  # only what g1 uses
        assert list(dst.enumtypes) == ["level_t"]
        assert dst.vltypes == {}
        for name in ("lv", "cv"):
            _same_variable(src["g1"][name], dst[name])
        _same_group(src["g1/g2"], dst["g2"])


@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       item_bytes=st.sampled_from([1, 4, 8, 256]), limit=st.integers(1, 600))
def test_slabs_tile_the_array_in_bounded_pieces(shape: list[int], item_bytes: int,
                                                limit: int) -> None:
    seen = np.zeros(shape, int)
    previous = -1
    for index in nccopy._slabs(tuple(shape), item_bytes, limit):
        assert len(index) == len(shape)
        block = seen[index]
        assert block.size * item_bytes <= max(limit, item_bytes)
        seen[index] += 1
        first = int(np.ravel_multi_index([s.start for s in index], shape))
        assert first > previous
        previous = first
    assert (seen == 1).all()


def test_without_netcdf_c_access_text_types_are_inferred(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without netCDF-C, text attributes are typed as netCDF4-python writes str and lists."""
    src = tmp_path / "src.nc"
    with netCDF4.Dataset(src, "w") as ds:
        _add_attributes(ds, ("i4",))
        ds.createDimension("x", 4)
        var = ds.createVariable("shuffled", "f4", ("x",), compression="zstd")
        assert _LIB.nc_def_var_deflate(var._grpid, var._varid, 1, 0, 0) == 0
    monkeypatch.setattr(nccopy, "_libnetcdf", lambda: None)
    with pytest.raises(UnsupportedFeatureError, match=r"variable 'shuffled'.*filters\(\)"):
        _copy(src, tmp_path / "copy.nc")
    _copy(src, tmp_path / "copy.nc", skip_variables=lambda path, name: True)
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(tmp_path / "copy.nc") as b:
        assert b.ncattrs() == a.ncattrs()
        for name in a.ncattrs():
            value = a.getncattr(name, encoding="latin-1")
            _same_value(value, b.getncattr(name, encoding="latin-1"))
        expected = {"title": _NC_CHAR, "raw_bytes": _NC_STRING, "unicode": _NC_STRING,
                    "words": _NC_STRING, "label": _NC_CHAR}  # an ASCII NC_STRING turns NC_CHAR
        assert {name: _att_type(b, name) for name in expected} == expected
