"""semsl and cfdm (the CF reference implementation) read each other's aggregations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import semsl

try:
    import cfdm
except (ImportError, OSError) as err:  # cfdm loads the UDUNITS-2 C library at import
    pytest.skip(f"cfdm is not usable here ({err}); pip install cfdm and install the "
                "UDUNITS-2 library (Debian: apt-get install libudunits2-0)",
                allow_module_level=True)

FILL = np.float32(1e20)


def write_semsl(path: Path, fmt: str = "CFA4") -> np.ma.MaskedArray:
    data = np.arange(6 * 10 * 4, dtype="f4").reshape(6, 10, 4)
    data[1, 2, 3] = FILL
    with semsl.Dataset(path, "w", format=fmt) as ds:
        ds.Conventions = "CF-1.13"
        ds.createDimension("time", None)
        ds.createDimension("y", 10)
        ds.createDimension("x", 4)
        t = ds.createVariable("time", "f8", ("time",))
        t.standard_name = "time"
        t.units = "days since 2000-01-01"
        t.calendar = "360_day"
        for name, n, std in (("y", 10, "projection_y_coordinate"),
                             ("x", 4, "projection_x_coordinate")):
            c = ds.createVariable(name, "f8", (name,))
            c.standard_name = std
            c.units = "m"
            c[:] = np.arange(float(n))
        v = ds.createVariable("tas", "f4", ("time", "y", "x"), fill_value=FILL,
                              subarray_shape=(4, 5, 4))
        v.standard_name = "air_temperature"
        v.units = "K"
        v[:] = data
        t[:] = np.arange(6.0)
    return np.ma.masked_values(data, FILL)


def read_cfdm(path: Path) -> Any:
    # cfdm 1.13.3 resolves relative fragment paths against the working directory, not
    # the aggregation file's folder (FORMATS.md): point it at the right folder.
    folder = os.path.dirname(os.path.abspath(path))
    options = {"replace_directory": {"old": folder, "new": folder, "normalise": True}}
    fields = cfdm.read(str(path), cfa=options)
    assert len(fields) == 1
    return fields[0]


@pytest.mark.parametrize("fmt", ["CFA4", "CFA3"])
def test_cfdm_reads_what_semsl_writes(tmp_path: Path, fmt: str) -> None:
    expected = write_semsl(tmp_path / "tas.nca", fmt)
    field = read_cfdm(tmp_path / "tas.nca")
    assert field.identity() == "air_temperature"
    got = np.ma.asarray(field.data.array)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(expected))
    np.testing.assert_array_equal(got.filled(0), expected.filled(0))
    time = field.dimension_coordinate("time")
    np.testing.assert_array_equal(time.data.array, np.arange(6.0))


def test_semsl_reads_what_cfdm_writes(tmp_path: Path) -> None:
    expected = write_semsl(tmp_path / "tas.nca")
    field = read_cfdm(tmp_path / "tas.nca")
    out = tmp_path / "by_cfdm.nc"
    cfdm.write(field, str(out), cfa={"constructs": "field"})
    import netCDF4
    with netCDF4.Dataset(out) as raw:
        assert "aggregated_data" in raw["tas"].ncattrs()  # cfdm wrote an aggregation
    with semsl.Dataset(out) as ds:
        var = ds["tas"]
        assert isinstance(var, semsl.AggregatedVariable)
        got = var[:]
        np.testing.assert_array_equal(got.mask, expected.mask)
        np.testing.assert_array_equal(got.filled(0), expected.filled(0))
        np.testing.assert_array_equal(ds["tas"][::-2, 3, 1:], expected[::-2, 3, 1:])
