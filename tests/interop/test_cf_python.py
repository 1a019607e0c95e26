"""semsl reads the aggregations cf-python writes over a set of ordinary files."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

import semsl

try:
    import cf
except (ImportError, OSError) as err:  # cf-python loads the UDUNITS-2 C library
    pytest.skip(f"cf-python is not usable here ({err}); pip install cf-python and install "
                "the UDUNITS-2 library (Debian: apt-get install libudunits2-0)",
                allow_module_level=True)


def write_piece(path: Path, times: np.ndarray, values: np.ndarray) -> None:
    with netCDF4.Dataset(path, "w") as ds:
        ds.Conventions = "CF-1.12"
        ds.createDimension("time", len(times))
        ds.createDimension("y", values.shape[1])
        ds.createDimension("x", values.shape[2])
        t = ds.createVariable("time", "f8", ("time",))
        t.standard_name = "time"
        t.units = "days since 2000-01-01"
        t.calendar = "360_day"
        t[:] = times
        for name, std in (("y", "projection_y_coordinate"), ("x", "projection_x_coordinate")):
            c = ds.createVariable(name, "f8", (name,))
            c.standard_name = std
            c.units = "m"
            c[:] = np.arange(float(len(ds.dimensions[name])))
        v = ds.createVariable("tas", "f8", ("time", "y", "x"), fill_value=-1e30)
        v.standard_name = "air_temperature"
        v.units = "K"
        v[:] = values


def test_semsl_reads_cf_python_aggregation(tmp_path: Path) -> None:
    data = np.ma.masked_array(np.arange(7 * 3 * 4, dtype="f8").reshape(7, 3, 4))
    data[4, 1, 2] = np.ma.masked
    pieces = [(0, 2), (2, 7)]  # unequal fragments
    for i, (a, b) in enumerate(pieces):
        write_piece(tmp_path / f"piece{i}.nc", np.arange(a, b, dtype="f8"), data[a:b])
    fields = cf.read([str(tmp_path / "piece0.nc"), str(tmp_path / "piece1.nc")])
    assert len(fields) == 1  # cf-python aggregated the two files into one field
    out = tmp_path / "aggregation.nc"
    cf.write(fields, str(out), cfa={"constructs": "field"})
    with netCDF4.Dataset(out) as raw:
        assert "aggregated_data" in raw["tas"].ncattrs()
    with semsl.Dataset(out) as ds:
        var = ds["tas"]
        assert isinstance(var, semsl.AggregatedVariable)
        assert var.fragments.grid_shape[0] == 2
        got = var[:]
        np.testing.assert_array_equal(got.mask, np.ma.getmaskarray(data))
        np.testing.assert_array_equal(got.filled(0), data.filled(0))
        assert ds["time"][:].tolist() == list(range(7))
