"""Benchmark of semsl against netCDF4, h5py, xarray and zarr (issue 7); see README.md."""
