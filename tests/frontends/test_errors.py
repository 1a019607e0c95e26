"""Bad input gets a semsl error naming the master, the variable and the fragment."""

from __future__ import annotations

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl
from semsl import errors
from semsl.parsers.cf_aggregation import CFAggregationParser


@pytest.fixture
def master(tmp_path: Path) -> Path:
    path = tmp_path / "m.nca"
    with semsl.Dataset(path, "w", format="CFA4") as ds:
        ds.createDimension("y", 4)
        ds.createDimension("x", 6)
        v = ds.createVariable("v", "f4", ("y", "x"), subarray_shape=(2, 3))
        v[:] = np.arange(24.0).reshape(4, 6)
    return path


def fragment(master: Path, index: str = "0.0") -> Path:
    return master.parent / "m" / f"m.v.{index}.nc"


def replace_fragment(master: Path, shape: tuple[int, ...], dtype: str = "f4",
                     name: str = "v") -> None:
    path = fragment(master)
    path.unlink()
    with netCDF4.Dataset(path, "w") as ds:
        for k, n in enumerate(shape):
            ds.createDimension(f"d{k}", n)
        ds.createVariable(name, dtype, tuple(f"d{k}" for k in range(len(shape))))


def assert_names_everything(err: errors.FragmentError, master: Path) -> None:
    text = str(err)
    assert str(master) in text
    assert "/v" in text
    assert "m.v.0.0.nc" in text
    assert err.master == str(master)
    assert err.variable == "/v"


def test_missing_fragment(master: Path) -> None:
    fragment(master).unlink()
    with semsl.Dataset(master) as ds:
        assert ds["v"][2:, 3:].tolist() == [[15.0, 16.0, 17.0], [21.0, 22.0, 23.0]]
        with pytest.raises(errors.FragmentNotFoundError) as info:
            ds["v"][0, 0]
    assert isinstance(info.value, FileNotFoundError)
    assert_names_everything(info.value, master)


def test_fragment_that_is_not_netcdf(master: Path) -> None:
    fragment(master).write_bytes(b"this is not a netCDF file" * 10)
    with semsl.Dataset(master) as ds, pytest.raises(errors.FragmentReadError) as info:
        ds["v"][:]
    assert isinstance(info.value, OSError)
    assert_names_everything(info.value, master)


def test_truncated_fragment(master: Path) -> None:
    path = fragment(master)
    path.write_bytes(path.read_bytes()[:100])
    with semsl.Dataset(master) as ds, pytest.raises(errors.FragmentReadError):
        ds["v"][0]


def test_fragment_with_wrong_shape(master: Path) -> None:
    replace_fragment(master, (2, 4))
    with semsl.Dataset(master) as ds, pytest.raises(errors.FragmentShapeError) as info:
        ds["v"][0, 0]
    assert isinstance(info.value, ValueError)
    assert "(2, 4)" in str(info.value)
    assert "(2, 3)" in str(info.value)
    assert_names_everything(info.value, master)


def test_fragment_with_a_type_that_cannot_stand_for_the_master(master: Path) -> None:
    replace_fragment(master, (2, 3), dtype="S1")
    with semsl.Dataset(master) as ds, pytest.raises(errors.FragmentDtypeError) as info:
        ds["v"][0, 0]
    assert "|S1" in str(info.value)
    assert_names_everything(info.value, master)


def test_fragment_without_the_variable(master: Path) -> None:
    replace_fragment(master, (2, 3), name="other")
    with semsl.Dataset(master) as ds, pytest.raises(errors.FragmentReadError) as info:
        ds["v"][0, 0]
    assert "'v'" in str(info.value)
    assert_names_everything(info.value, master)


def edit_master(master: Path, edit: object) -> None:
    with netCDF4.Dataset(master, "a") as raw:
        edit(raw)  # type: ignore[operator]


def test_aggregation_attribute_naming_missing_variable(master: Path) -> None:
    edit_master(master, lambda raw: raw["v"].setncattr(
        "aggregated_data", "map: v_fragment_map uris: nothing identifiers: v_fragment_identifiers"))
    with pytest.raises(errors.AggregationFormatError) as info:
        semsl.Dataset(master)
    assert "'nothing'" in str(info.value)
    assert str(master) in str(info.value)
    assert "'/v'" in str(info.value)


def test_aggregation_attribute_with_unknown_term(master: Path) -> None:
    edit_master(master, lambda raw: raw["v"].setncattr(
        "aggregated_data", "map: v_fragment_map location: v_fragment_uris"))
    with pytest.raises(errors.AggregationFormatError, match="map, uris and identifiers"):
        semsl.Dataset(master)


def test_map_that_does_not_sum_to_dimension(master: Path) -> None:
    def edit(raw: netCDF4.Dataset) -> None:
        raw["v_fragment_map"][0, 0] = 3
    edit_master(master, edit)
    with pytest.raises(errors.AggregationFormatError, match="dimension 'y' has size 4"):
        semsl.Dataset(master)


def test_aggregated_dimension_that_does_not_exist(master: Path) -> None:
    edit_master(master, lambda raw: raw["v"].setncattr("aggregated_dimensions", "y z"))
    with pytest.raises(errors.AggregationFormatError, match="dimension 'z'"):
        semsl.Dataset(master)


@pytest.mark.parametrize("shape", [(2,), (2, 3, 1), (0, 3), (-1, 3), (5, 3), (2.5, 3)])
def test_bad_subarray_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with semsl.Dataset(tmp_path / "b.nca", "w", format="CFA4") as ds:
        ds.createDimension("y", 4)
        ds.createDimension("x", 6)
        with pytest.raises(errors.SubarrayShapeError, match="'bad'"):
            ds.createVariable("bad", "f4", ("y", "x"), subarray_shape=shape)
        with pytest.raises(ValueError, match="bad"):
            ds.createVariable("bad", "f4", ("y", "x"), subarray_shape=shape)


def test_subarray_shape_on_plain_dataset(tmp_path: Path) -> None:
    with semsl.Dataset(tmp_path / "p.nc", "w") as ds:
        ds.createDimension("x", 4)
        with pytest.raises(ValueError, match="not aggregated"):
            ds.createVariable("v", "f4", ("x",), subarray_shape=(2,))


def test_failed_commit_keeps_previous_master(master: Path, monkeypatch: pytest.MonkeyPatch,
                                             ) -> None:
    before = master.read_bytes()

    def broken_write(self: object, model: object, group: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(CFAggregationParser, "write", broken_write)
    ds = semsl.Dataset(master, "w", format="CFA4")
    ds.createDimension("y", 1)
    ds.createVariable("w", "f4", ("y",))[:] = 1.0
    with pytest.raises(errors.MasterWriteError, match="disk full") as info:
        ds.close()
    assert str(master) in str(info.value)
    assert master.read_bytes() == before
    assert [p.name for p in master.parent.iterdir() if "semsl-tmp" in p.name] == []
    monkeypatch.undo()
    with semsl.Dataset(master) as reread:
        assert reread["v"][3, 5] == 23.0


def test_failed_append_keeps_previous_master(master: Path, monkeypatch: pytest.MonkeyPatch,
                                             ) -> None:
    before = master.read_bytes()
    monkeypatch.setattr(CFAggregationParser, "write",
                        lambda *args: (_ for _ in ()).throw(OSError("no space")))
    ds = semsl.Dataset(master, "a")
    ds.renameVariable("v", "renamed")
    with pytest.raises(errors.MasterWriteError):
        ds.close()
    assert master.read_bytes() == before


def test_x_mode_refuses_existing_master(master: Path) -> None:
    with pytest.raises(FileExistsError):
        semsl.Dataset(master, "x", format="CFA4")
    with pytest.raises(FileExistsError):
        semsl.Dataset(master, "w", clobber=False, format="CFA4")


def test_write_to_read_only_master(master: Path) -> None:
    with semsl.Dataset(master) as ds, pytest.raises(RuntimeError, match="read only"):
        ds["v"][0, 0] = 1.0


def test_parallel_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(errors.UnsupportedFeatureError, match="parallel"):
        semsl.Dataset(tmp_path / "p.nc", "w", parallel=True)


def test_memory_with_cfa_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(errors.UnsupportedFeatureError, match="diskless"):
        semsl.Dataset(tmp_path / "p.nca", "w", format="CFA4", diskless=True)


def test_moved_archive_still_reads(master: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(master, moved / "m.nca")
    shutil.move(master.parent / "m", moved / "m")
    with semsl.Dataset(moved / "m.nca") as ds:
        assert ds["v"][3, 5] == 23.0
