"""Parity: on plain netCDF files ``import semsl as netCDF4`` behaves exactly as netCDF4.

Every test body runs twice, with ``nc`` the ``netCDF4`` module (which checks that the
expectations are netCDF4's own behaviour) and with ``nc`` the ``semsl`` module.  Where
the expected value is awkward to spell out (repr text, attribute types, error messages,
filter settings) the test runs a *scenario* with ``nc`` and again with netCDF4 itself,
and compares what both observed.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import netCDF4
import numpy as np
import pytest

FORMATS = ["NETCDF4", "NETCDF4_CLASSIC", "NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET",
           "NETCDF3_64BIT_DATA"]
DISK_FORMAT = {"NETCDF4": "HDF5", "NETCDF4_CLASSIC": "HDF5"}

Scenario = Callable[..., Any]


@pytest.fixture(params=["netCDF4", "semsl"])
def nc(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def text(obj: Any, form: Callable[[Any], str] = repr) -> str:
    """``repr`` (or ``str``) with class names (``<class 'semsl...Group'>``) blanked out."""
    return re.sub(r"<class '[^']*'>", "<class>", form(obj))


def snap(value: Any) -> tuple[str, str, str]:
    """A comparable summary of a value: type name, dtype and repr."""
    return type(value).__name__, str(getattr(value, "dtype", "")), text(value)


def outcome(func: Callable[[], Any]) -> Any:
    """``snap`` of what ``func`` returns, or the type and message of what it raises."""
    try:
        return snap(func())
    except Exception as err:
        return "raises", type(err).__name__, str(err)


def parity(nc: ModuleType, scenario: Scenario, tmp_path: Path, *args: Any) -> Any:
    """Run ``scenario(lib, folder, *args)`` with ``nc`` and netCDF4; both must agree.

    Both runs use the same file names (the folder is recreated), so messages naming
    files compare equal.
    """
    seen = []
    for lib in (nc, netCDF4):
        folder = tmp_path / "scenario"
        if folder.exists():
            for file in folder.iterdir():
                file.unlink()
        folder.mkdir(exist_ok=True)
        seen.append(scenario(lib, folder, *args))
    got, want = seen
    assert got == want
    return got


# ------------------------------------------------------------------------ Dataset


def test_classes(nc: ModuleType) -> None:
    assert issubclass(nc.Dataset, netCDF4.Dataset)
    assert issubclass(nc.Group, netCDF4.Group)
    assert issubclass(nc.Variable, netCDF4.Variable)
    assert issubclass(nc.Dimension, netCDF4.Dimension)


def test_modes_and_properties(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "f.nc"
    with nc.Dataset(path, "w", format=fmt) as ds:
        assert isinstance(ds, nc.Dataset)
        assert ds.isopen()
        assert ds.filepath() == str(path)
        assert (ds.file_format, ds.data_model) == (fmt, fmt)
        assert ds.disk_format == DISK_FORMAT.get(fmt, "NETCDF3")
        assert ds.parent is None
        assert ds.path == "/"
        ds.createDimension("x", 3)
        v = ds.createVariable("v", "i4", ("x",))
        assert isinstance(v, nc.Variable)
        assert isinstance(v, netCDF4.Variable)
        v[:] = [1, 2, 3]
        ds.sync()
    assert not ds.isopen()
    for k, mode in enumerate(["a", "r+"]):
        with nc.Dataset(path, mode) as ds:
            ds["v"][k] = 10 * (k + 1)
            ds.setncattr(f"opened_{k}", mode)
    ds = nc.Dataset(path)
    assert ds["v"][:].tolist() == [10, 20, 3]
    assert ds.ncattrs() == ["opened_0", "opened_1"]
    assert ds.file_format == fmt
    ds.close()
    with nc.Dataset(tmp_path / "new.nc", "x", format=fmt) as ds:
        assert ds.file_format == fmt
    with nc.Dataset(tmp_path / "kept.nc", "w", clobber=False, format=fmt) as ds:
        assert ds.data_model == fmt


def scenario_open_errors(lib: ModuleType, folder: Path, fmt: str) -> Any:
    path = folder / "f.nc"
    with lib.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("x", 1)
        ds.createVariable("v", "i4", ("x",))
    seen = [outcome(lambda: lib.Dataset(path, "x", format=fmt)),
            outcome(lambda: lib.Dataset(path, "w", clobber=False, format=fmt)),
            outcome(lambda: lib.Dataset(folder / "missing.nc")),
            outcome(lambda: lib.Dataset(path, "q"))]
    ds = lib.Dataset(path)
    seen.append(outcome(lambda: ds["v"].__setitem__(0, 1)))
    seen.append(outcome(lambda: ds.createDimension("y", 2)))
    ds.close()
    seen.append(outcome(ds.close))
    seen.append(outcome(lambda: ds["v"][:]))
    return seen


def test_open_errors(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    seen = parity(nc, scenario_open_errors, tmp_path, fmt)
    assert seen[0][:2] == ("raises", "OSError")
    assert seen[2][:2] == ("raises", "FileNotFoundError")


@pytest.mark.parametrize("persist", [True, False])
def test_diskless(nc: ModuleType, tmp_path: Path, fmt: str, persist: bool) -> None:
    path = tmp_path / "d.nc"
    with nc.Dataset(path, "w", format=fmt, diskless=True, persist=persist) as ds:
        ds.createDimension("x", 2)
        ds.createVariable("v", "f8", ("x",))[:] = [1.5, 2.5]
        assert ds["v"][:].tolist() == [1.5, 2.5]
        assert ds.file_format == fmt
    assert path.exists() is persist
    if persist:
        with nc.Dataset(path, diskless=True) as ds:
            assert ds["v"][:].tolist() == [1.5, 2.5]


def test_memory(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    ds = nc.Dataset("inmemory.nc", "w", memory=4096, format=fmt)
    assert isinstance(ds, nc.Dataset)
    ds.createDimension("x", 3)
    ds.createVariable("v", "i2", ("x",))[:] = [4, 5, 6]
    ds.title = "in memory"
    buffer = ds.close()
    assert isinstance(buffer, memoryview)
    assert not (tmp_path / "inmemory.nc").exists()
    with nc.Dataset("from-bytes", memory=bytes(buffer)) as ds:
        assert isinstance(ds, nc.Dataset)
        assert ds.filepath() == "from-bytes"
        assert (ds.file_format, ds.title) == (fmt, "in memory")
        assert ds["v"][:].tolist() == [4, 5, 6]
    path = tmp_path / "disk.nc"
    path.write_bytes(bytes(buffer))
    with nc.Dataset("from-disk-bytes", "r", memory=path.read_bytes()) as ds:
        assert ds["v"].dtype == np.int16


def test_keepweakref(nc: ModuleType, tmp_path: Path) -> None:
    with nc.Dataset(tmp_path / "w.nc", "w", keepweakref=True) as ds:
        g = ds.createGroup("g")
        g.createDimension("x", 2)
        v = g.createVariable("v", "i4", ("x",))
        v[:] = [7, 8]
        assert g.parent is ds
        assert ds["g/v"][:].tolist() == [7, 8]
    with nc.Dataset(tmp_path / "w.nc", keepweakref=True) as ds:
        assert ds["g"]["v"][:].tolist() == [7, 8]
        assert ds["g"].parent is ds


def test_parallel_rejected(nc: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parallel") as info:
        nc.Dataset(tmp_path / "p.nc", "w", parallel=True)
    if nc.__name__ == "semsl":
        assert isinstance(info.value, nc.errors.UnsupportedFeatureError)


# ------------------------------------------------------------------------- groups


def test_groups_and_paths(nc: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "g.nc"
    with nc.Dataset(path, "w") as ds:
        b = ds.createGroup("a/b")
        assert isinstance(b, nc.Group)
        assert isinstance(b, netCDF4.Group)
        assert (b.name, b.path) == ("b", "/a/b")
        assert b.parent is ds["a"]
        assert ds["a"].parent is ds
        assert ds.createGroup("a") is ds["a"]
        assert ds.createGroup("/a/b/") is b
        assert ds.createGroup("a//b") is b
        assert ds.createGroup("a/../a/b") is b
        assert ds.createGroup("/") is ds
        assert b.createGroup("p/q").path == "/a/b/p/q"
        b.createDimension("x", 2)
        b.createVariable("v", "f4", ("x",))[:] = [1, 2]
        w = ds.createVariable("c/w", "i4", ())
        w[...] = 5
        assert isinstance(ds["c"], nc.Group)
        assert w.group() is ds["c"]
        assert list(ds.groups) == ["a", "c"]
        assert list(ds["a"].groups) == ["b"]
        ds.renameGroup("c", "d")
        assert list(ds.groups) == ["a", "d"]
        assert ds["d"].name == "d"
    with nc.Dataset(path, "a") as ds:
        assert isinstance(ds.groups["a"], nc.Group)
        assert isinstance(ds["a/b"], nc.Group)
        assert isinstance(ds["/a/b/v"], nc.Variable)
        assert ds["/a/b/v"][:].tolist() == [1.0, 2.0]
        assert ds["a"]["b"].variables["v"].dimensions == ("x",)
        assert ds["a/b"].parent is ds["a"]
        assert ds["a/b/v"].group() is ds["a/b"]
        assert ds.createGroup("a/b") is ds["a/b"]
        ds.createVariable("a/b/v2", "i2", ("x",))
        assert ds["d/w"][...] == 5
        assert isinstance(ds["a/b"].dimensions["x"], nc.Dimension)
        ds["a"].renameGroup("b", "e")
        ds.createGroup("a/e/f")
    with nc.Dataset(path) as ds:
        assert ds["a/e/f"].path == "/a/e/f"
        assert list(ds["a"].groups) == ["e"]
        assert list(ds["a/e"].groups) == ["p", "f"]
        assert list(ds["a/e"].variables) == ["v", "v2"]
        assert all(isinstance(g, nc.Group) for g in ds["a/e"].groups.values())


def scenario_group_errors(lib: ModuleType, folder: Path, fmt: str) -> Any:
    with lib.Dataset(folder / "f.nc", "w", format=fmt) as ds:
        seen = [outcome(lambda: ds.createGroup("g")),
                outcome(lambda: ds["nothing"]),
                outcome(lambda: ds["/no/such/var"]),
                outcome(lambda: ds.renameGroup("nothing", "x"))]
    return seen


def test_group_errors(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    parity(nc, scenario_group_errors, tmp_path, fmt)


# --------------------------------------------------------------------- dimensions


def test_dimensions(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    with nc.Dataset(tmp_path / "d.nc", "w", format=fmt) as ds:
        t = ds.createDimension("t", None)
        x = ds.createDimension("x", 3)
        assert isinstance(t, nc.Dimension)
        assert (t.isunlimited(), x.isunlimited()) == (True, False)
        assert (len(t), t.size, len(x), x.size) == (0, 0, 3, 3)
        v = ds.createVariable("v", "f8", ("t", "x"))
        v[0:2] = np.ones((2, 3))
        assert (len(t), v.shape) == (2, (2, 3))
        v[4, 1] = 5.0
        assert (t.size, v.shape) == (5, (5, 3))
        assert v[:].mask[2:4].all()
        assert v[4].mask.tolist() == [True, False, True]
        ds.renameDimension("x", "y")
        assert list(ds.dimensions) == ["t", "y"]
        assert v.dimensions == ("t", "y")
        assert x.name == "y"
        assert v.get_dims() == (t, x)
    with nc.Dataset(tmp_path / "d.nc") as ds:
        assert ds.dimensions["t"].isunlimited()
        assert len(ds.dimensions["t"]) == 5
        assert ds["v"][4, 1] == 5.0


# ---------------------------------------------------------------- createVariable

STORAGE = {
    "plain": {},
    "compression": {"compression": "zlib", "complevel": 6, "shuffle": False},
    "zlib": {"zlib": True, "complevel": 1, "fletcher32": True},
    "chunked": {"chunksizes": (4,), "zlib": True},
    "contiguous": {"contiguous": True},
    "big": {"endian": "big"},
    "little": {"endian": "little"},
    "lsd": {"least_significant_digit": 2},
    "significant": {"significant_digits": 3},
    "nofill": {"fill_value": False},
    "defaultfill": {"fill_value": "default"},
    "fill": {"fill_value": -1.5},
}


def describe_variable(v: Any) -> list[Any]:
    return [outcome(f) for f in (v.filters, v.chunking, v.endian, v.get_fill_value,
                                 v.ncattrs, lambda: v.dtype, lambda: v[:5], lambda: v)]


def scenario_storage(lib: ModuleType, folder: Path, fmt: str) -> Any:
    seen: dict[str, Any] = {}
    data = np.linspace(0.0, np.pi, 8)
    with lib.Dataset(folder / "f.nc", "w", format=fmt) as ds:
        ds.createDimension("x", 8)
        for name, keywords in STORAGE.items():
            try:
                v = ds.createVariable(name, "f4", ("x",), **keywords)
            except Exception as err:
                seen[name] = type(err).__name__, str(err)
                continue
            v[:6] = data[:6]
            seen[name] = describe_variable(v)
    with lib.Dataset(folder / "f.nc") as ds:
        for name, v in ds.variables.items():
            seen[name + " reopened"] = describe_variable(v)
    return seen


@pytest.mark.filterwarnings("ignore:endian-ness of dtype and endian kwarg do not match")
def test_create_variable_keywords(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    seen = parity(nc, scenario_storage, tmp_path, fmt)
    if fmt == "NETCDF4":
        filters = ast.literal_eval(seen["compression reopened"][0][2])  # a dict's repr
        assert (filters["zlib"], filters["complevel"], filters["shuffle"]) == (True, 6, False)
        assert seen["chunked reopened"][1][2] == "[4]"
        assert seen["contiguous reopened"][1][2] == "'contiguous'"
        assert seen["big reopened"][2][2] == "'big'"
    assert seen["fill"][3][2] == "np.float32(-1.5)"


# --------------------------------------------------------------------- attributes


def describe_attributes(obj: Any) -> list[Any]:
    return [obj.ncattrs(), {k: snap(obj.getncattr(k)) for k in obj.ncattrs()},
            text(obj.__dict__), outcome(lambda: obj.no_such_attribute),
            outcome(lambda: obj.getncattr("no_such_attribute")),
            outcome(lambda: obj.delncattr("no_such_attribute"))]


ATTRIBUTES = {"int": 1, "float": 2.5, "str": "text", "list": [1, 2, 3],
              "f32": np.float32(1.5), "i8": np.int8(-3), "u8": np.uint8(3),
              "i64": np.int64(2**40), "floats": np.array([1.0, 2.0]),
              "bytes": b"raw", "unicode": "gr\u00fc\u00dfe", "empty": ""}


def scenario_attributes(lib: ModuleType, folder: Path, fmt: str) -> Any:
    seen: list[Any] = []
    with lib.Dataset(folder / "f.nc", "w", format=fmt) as ds:
        ds.createDimension("x", 1)
        v = ds.createVariable("v", "i4", ("x",))
        for obj in (ds, v):
            for name, value in ATTRIBUTES.items():
                seen.append(outcome(lambda o=obj, n=name, x=value: o.setncattr(n, x)))
            seen.append(outcome(lambda o=obj: o.setncattr_string("vstr", "one")))
            seen.append(outcome(lambda o=obj: o.setncattr_string("vstrs", ["a", "bc"])))
            obj.setncatts({"a": 1, "b": "two"})
            obj.title = "by name"
            seen.append(outcome(lambda o=obj: o.renameAttribute("title", "heading")))
            if "heading" not in obj.ncattrs():  # netCDF-3 files cannot grow names in data mode
                obj.heading = obj.title
            obj.delncattr("b")
            seen.append(obj.heading)
            seen.append(describe_attributes(obj))
    with lib.Dataset(folder / "f.nc") as ds:
        seen.extend([describe_attributes(ds), describe_attributes(ds["v"])])
    return seen


def test_attributes(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    seen = parity(nc, scenario_attributes, tmp_path, fmt)
    root_reopened = seen[-2]
    assert root_reopened[1]["heading"] == ("str", "", "'by name'")
    int64 = fmt in ("NETCDF4", "NETCDF3_64BIT_DATA")
    assert root_reopened[1]["list"][:2] == ("ndarray", "int64" if int64 else "int32")
    assert root_reopened[3][:2] == ("raises", "AttributeError")


def test_attribute_access_by_name(nc: ModuleType, tmp_path: Path) -> None:
    with nc.Dataset(tmp_path / "a.nc", "w") as ds:
        ds.history = "made"
        ds.createDimension("x", 1)
        v = ds.createVariable("v", "f8", ("x",))
        v.units = "m"
        assert ds.__dict__ == {"history": "made"}
        assert v.__dict__ == {"units": "m"}
        assert (ds.history, v.units, v.scale) == ("made", "m", True)
        with pytest.raises(AttributeError, match="reserved"):
            v.scale = 2.0  # the auto-scale switch, not a netCDF attribute
        del v.units
        assert v.ncattrs() == []
        with pytest.raises(AttributeError):
            _ = v.units


# ------------------------------------------------------------ mask and scale


def scenario_mask_and_scale(lib: ModuleType, folder: Path, fmt: str) -> Any:
    path = folder / "f.nc"
    with lib.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("x", 4)
        ds.createDimension("n", 3)
        packed = ds.createVariable("packed", "i2", ("x",), fill_value=-999)
        packed.scale_factor = 0.5
        packed.add_offset = 10.0
        packed[:] = np.ma.masked_array([10.0, 10.5, 0.0, 60.0], mask=[0, 0, 1, 0])
        missing = ds.createVariable("missing", "f4", ("x",))
        missing.missing_value = np.float32(-1)
        missing[:] = [1, -1, 3, 4]
        valid = ds.createVariable("valid", "i2", ("x",))
        valid.valid_range = np.array([0, 100], "i2")
        valid[:] = [-5, 50, 150, 100]
        unsigned = ds.createVariable("unsigned", "i1", ("x",))
        unsigned._Unsigned = "true"
        unsigned[:] = np.array([1, 200, 255, 0], "u1")
        char = ds.createVariable("char", "S1", ("x", "n"))
        char._Encoding = "ascii"
        char[:] = np.array(["ab", "cde", "", "f"], "S3")
        seen = [snap(v[:]) for v in ds.variables.values()]
    settings: list[Callable[[Any], Any]] = [
        lambda o: None,
        lambda o: o.set_auto_mask(False),
        lambda o: o.set_auto_scale(False),
        lambda o: o.set_auto_maskandscale(False),
        lambda o: o.set_always_mask(False),
        lambda o: o.set_auto_chartostring(False),
    ]
    for setting in settings:
        with lib.Dataset(path) as ds:
            setting(ds)
            seen.append([snap(v[:]) for v in ds.variables.values()])
            seen.append([snap(v[1]) for v in ds.variables.values()])
        with lib.Dataset(path) as ds:
            for v in ds.variables.values():
                setting(v)
                seen.append((v.mask, v.scale, v.always_mask, v.chartostring, snap(v[:3])))
    return seen


def test_mask_and_scale(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    seen = parity(nc, scenario_mask_and_scale, tmp_path, fmt)
    with nc.Dataset(tmp_path / "scenario" / "f.nc") as ds:
        assert ds["packed"][:].tolist() == [10.0, 10.5, None, 60.0]
        assert ds["missing"][:].mask.tolist() == [False, True, False, False]
        assert ds["valid"][:].mask.tolist() == [True, False, True, False]
        assert ds["unsigned"][:].tolist() == [1, 200, 255, 0]
        assert ds["char"][:].tolist() == ["ab", "cde", "", "f"]
        ds.set_auto_maskandscale(False)
        assert ds["packed"][:].tolist() == [0, 1, -999, 100]
    assert seen[0][0] == "MaskedArray"


# ------------------------------------------------------------------ user types


def scenario_user_types(lib: ModuleType, folder: Path) -> Any:
    pair = np.dtype([("a", "i4"), ("b", "f8")])
    with lib.Dataset(folder / "f.nc", "w") as ds:
        ds.createDimension("n", 2)
        ct = ds.createCompoundType(pair, "pair")
        vt = ds.createVLType(np.int32, "ints")
        et = ds.createEnumType(np.uint8, "cloud", {"clear": 0, "cloudy": 1, "missing": 255})
        assert isinstance(ct, lib.CompoundType)
        assert isinstance(vt, lib.VLType)
        assert isinstance(et, lib.EnumType)
        ds.createVariable("c", ct, ("n",))[:] = np.array([(1, 2.0), (3, 4.0)], pair)
        vl = ds.createVariable("vl", vt, ("n",))
        vl[0] = np.arange(3, dtype="i4")
        vl[1] = np.arange(1, dtype="i4")
        ds.createVariable("e", et, ("n",), fill_value=255)[:] = [0, 1]
        ds.createVariable("s", str, ("n",))[:] = np.array(["x", "yz"], object)
        ds.setncattr("cattr", np.array((5, 6.5), pair))
    with lib.Dataset(folder / "f.nc") as ds:
        types = [ds.cmptypes, ds.vltypes, ds.enumtypes]
        return ([text(t) for t in types], [snap(v[:]) for v in ds.variables.values()],
                [text(v) for v in ds.variables.values()], ds["e"].datatype.enum_dict,
                outcome(lambda: ds.cattr), [type(t).__name__ for t in types[0].values()])


def test_user_types(nc: ModuleType, tmp_path: Path) -> None:
    seen = parity(nc, scenario_user_types, tmp_path)
    assert seen[3] == {"clear": 0, "cloudy": 1, "missing": 255}
    with nc.Dataset(tmp_path / "scenario" / "f.nc") as ds:
        assert isinstance(ds.cmptypes["pair"], nc.CompoundType)
        assert ds["vl"][0].tolist() == [0, 1, 2]
        assert ds["s"][:].tolist() == ["x", "yz"]
        assert ds["c"][1].tolist() == (3, 4.0)


# ---------------------------------------------------------- rename, sync, repr


def scenario_repr(lib: ModuleType, folder: Path, fmt: str) -> Any:
    path = folder / "f.nc"
    seen = []
    with lib.Dataset(path, "w", format=fmt) as ds:
        ds.title = "repr"
        ds.createDimension("time", None)
        ds.createDimension("x", 2)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        v = ds.createVariable("v", "f4", ("time", "x"), fill_value=-1)
        v[0] = [1, 2]
        seen.append(outcome(lambda: ds.renameVariable("v", "w")))
        seen.append(outcome(lambda: ds.renameVariable("missing", "z")))
        seen.append(outcome(lambda: ds.renameVariable("w", "time")))
        ds.sync()
        if fmt == "NETCDF4":
            g = ds.createGroup("g/h")
            g.createDimension("y", 1)
            g.createVariable("u", "i8", ("y", "x"))
            seen.append([text(g), text(ds["g"]), text(g["u"])])
        seen.append([text(ds), text(ds, str), text(ds["w"]),
                     text(ds.dimensions["time"]), text(ds.dimensions["x"]), list(ds.variables)])
    with lib.Dataset(path) as ds:
        seen.append([text(ds), text(ds["w"]), text(ds["time"]), str(ds.dimensions["x"])])
        seen.append([text(x) for x in (ds.dimensions, ds.variables, ds.groups)])
    return seen


def test_rename_sync_repr(nc: ModuleType, tmp_path: Path, fmt: str) -> None:
    seen = parity(nc, scenario_repr, tmp_path, fmt)
    assert seen[0] == ("NoneType", "", "None")
    assert "float32 w(time, x)" in seen[-2][1]


# ---------------------------------------------------------------- module helpers


def test_module_helpers(nc: ModuleType) -> None:
    units = "days since 2000-01-01"
    dates = nc.num2date([0, 1.5], units, calendar="noleap")
    assert [str(d) for d in dates] == ["2000-01-01 00:00:00", "2000-01-02 12:00:00"]
    assert nc.date2num(dates, units, calendar="noleap").tolist() == [0.0, 1.5]
    assert nc.date2num(datetime(2000, 1, 3), units) == 2.0
    chars = nc.stringtochar(np.array(["ab", "c"], "S2"))
    assert (chars.shape, chars.dtype) == ((2, 2), np.dtype("S1"))
    assert nc.chartostring(chars).tolist() == ["ab", "c"]
    assert nc.stringtoarr("abc", 5).tolist() == [b"a", b"b", b"c", b"", b""]
    assert nc.default_fillvals == netCDF4.default_fillvals
    assert nc.default_fillvals["f4"] == np.float32(9.969209968386869e36)
    assert nc.getlibversion() == netCDF4.getlibversion()
    for name in ("MFDataset", "MFTime", "CompoundType", "VLType", "EnumType"):
        assert getattr(nc, name) is getattr(netCDF4, name)


def test_date2index(nc: ModuleType, tmp_path: Path) -> None:
    with nc.Dataset(tmp_path / "t.nc", "w") as ds:
        ds.createDimension("time", 4)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "hours since 2000-01-01"
        t.calendar = "standard"
        t[:] = [0, 6, 12, 18]
        assert nc.date2index(datetime(2000, 1, 1, 12), t) == 2
        assert nc.date2index(datetime(2000, 1, 1, 7), t, select="before") == 1
        with pytest.raises(ValueError, match="not found"):
            nc.date2index(datetime(2000, 1, 1, 7), t)


def test_mfdataset_mftime(nc: ModuleType, tmp_path: Path) -> None:
    for k, units in enumerate(["days since 2000-01-01", "days since 2000-01-03"]):
        with nc.Dataset(tmp_path / f"part{k}.nc", "w", format="NETCDF4_CLASSIC") as ds:
            ds.createDimension("time", None)
            t = ds.createVariable("time", "f8", ("time",))
            t.units = units
            t.calendar = "standard"
            t[:] = [0, 1]
            ds.createVariable("v", "i4", ("time",))[:] = [2 * k, 2 * k + 1]
    with nc.MFDataset(str(tmp_path / "part*.nc")) as mf:
        assert mf["v"][:].tolist() == [0, 1, 2, 3]
        assert len(mf.dimensions["time"]) == 4
        assert nc.MFTime(mf["time"])[:].tolist() == [0, 1, 2, 3]


def test_version(nc: ModuleType) -> None:
    assert isinstance(nc.__version__, str)
    if nc.__name__ == "semsl":
        assert nc.__version__ == importlib.import_module("semsl._version").__version__
        assert nc.__version__ != netCDF4.__version__
