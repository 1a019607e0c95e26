"""Where each stored form of the dataset lives (a data store), and its registry.

A data store maps an *item* (one stored form of the same ``tas`` field) to a location
that readers open.  Only the local file system exists for now; an S3 store will
implement the same protocol and return ``s3://`` URLs (its readers register with
``store="s3"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bench.sizes import Size

ITEMS = ("single", "time40", "tiles16", "zarr_time40", "zarr_tiles16", "open100k")


class DataStore(Protocol):
    name: str
    size: Size

    def location(self, item: str) -> str: ...

    def fragments(self, item: str) -> list[str]: ...

    def available(self, item: str) -> bool: ...


class LocalStore:
    name = "local"

    def __init__(self, root: Path, size: Size) -> None:
        self.root = root / size.name
        self.size = size

    def path(self, item: str) -> Path:
        leaf = {"single": "single/tas.nc", "time40": "time40/tas.nca",
                "tiles16": "tiles16/tas.nca", "zarr_time40": "zarr/time40.zarr",
                "zarr_tiles16": "zarr/tiles16.zarr", "open100k": "open100k/tas.nca"}[item]
        return self.root / leaf

    def location(self, item: str) -> str:
        return str(self.path(item))

    def fragments(self, item: str) -> list[str]:
        """The fragment files of a semsl master, in grid order."""
        master = self.path(item)
        return sorted(str(p) for p in (master.parent / master.stem).glob("*.nc"))

    def available(self, item: str) -> bool:
        return self.path(item).exists()

    def scratch(self, name: str) -> Path:
        """A folder for the WRITE workload's output."""
        return self.root / "write" / name


STORES = {"local": LocalStore}
