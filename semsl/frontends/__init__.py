"""User-facing APIs built on the aggregation core (netCDF4-compatible classes)."""
