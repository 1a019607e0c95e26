"""semsl: a semantic storage layer for very large netCDF datasets.

``import semsl as netCDF4`` and a script reads and writes plain netCDF files exactly as
with netCDF4-python, and aggregated (CFA) datasets whose variables are split into
fragment files: ``semsl.Dataset(path, "w", format="CFA4")``.
"""

from __future__ import annotations

import netCDF4 as _netCDF4
from netCDF4 import (
    CompoundType,
    Dimension,
    EnumType,
    MFDataset,
    MFTime,
    Variable,
    VLType,
    chartostring,
    date2index,
    date2num,
    default_fillvals,
    get_alignment,
    get_chunk_cache,
    getlibversion,
    num2date,
    rc_get,
    rc_set,
    set_alignment,
    set_chunk_cache,
    stringtoarr,
    stringtochar,
)

from semsl._version import __version__
from semsl.convert import convert
from semsl.errors import SemslError
from semsl.frontends.netcdf4 import AggregatedVariable, Dataset, FragmentInfo, Group
from semsl.frontends.xarray_write import to_semsl

__all__ = [
    "AggregatedVariable",
    "CompoundType",
    "Dataset",
    "Dimension",
    "EnumType",
    "FragmentInfo",
    "Group",
    "MFDataset",
    "MFTime",
    "SemslError",
    "VLType",
    "Variable",
    "__version__",
    "chartostring",
    "convert",
    "date2index",
    "date2num",
    "default_fillvals",
    "get_alignment",
    "get_chunk_cache",
    "getlibversion",
    "num2date",
    "rc_get",
    "rc_set",
    "set_alignment",
    "set_chunk_cache",
    "stringtoarr",
    "stringtochar",
    "to_semsl",
]


def _export_netcdf4_flags() -> None:
    # Scripts check netCDF4's capability flags and library versions on the module
    # (netCDF4.__has_quantization_support__, netCDF4.__netcdf4libversion__, ...).
    namespace = globals()
    for name in dir(_netCDF4):
        is_flag = name.startswith("__has_") or name.endswith("libversion__")
        public = not name.startswith("_") and name not in namespace
        if is_flag or public:
            namespace.setdefault(name, getattr(_netCDF4, name))


_export_netcdf4_flags()
