"""Writing and reading aggregated datasets on a two-worker dask.distributed cluster.

The cluster runs in local processes on 127.0.0.1 (no dashboard); each worker writes and
reads its own fragments with semsl.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

xr = pytest.importorskip("xarray")
distributed = pytest.importorskip("distributed")

from xarray_cases import source  # noqa: E402

import semsl  # noqa: E402
from semsl.frontends.dask import to_dask  # noqa: E402
from semsl.frontends.xarray_write import to_semsl  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a LocalCluster with two single-threaded worker processes."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _task_names(stream: Any, prefix: str) -> list[tuple[str, str]]:
    """(key, worker) of the tasks whose key starts with ``prefix``."""
    out = []
    for record in stream.data:
        key = record["key"] if isinstance(record["key"], str) else record["key"][0]
        if str(key).startswith(prefix):
            out.append((str(key), record["worker"]))
    return out


def test_distributed_write_and_read(tmp_path: Path, client: Any) -> None:
    ds = source().chunk({"time": 4, "lat": 3})
    target = tmp_path / "dist.nca"
    with distributed.get_task_stream(client) as stream:
        to_semsl(ds, target)
    fragments = _task_names(stream, "write_fragment")
    assert len(fragments) == 3 * 2 + 3 * 2 + 3 * 1 + 2 + 2  # tas, pr, stamp, count, land
    # every fragment was written by a worker process, not by this one
    assert {worker for _, worker in fragments} <= set(client.scheduler_info()["workers"])
    assert os.getpid() not in client.run(os.getpid).values()
    assert len(_task_names(stream, "write_master")) == 1

    reference = tmp_path / "reference.nc"
    ds.to_netcdf(reference)
    want = xr.open_dataset(reference).load()
    want.attrs["Conventions"] = "CF-1.13"
    with xr.open_dataset(target, engine="semsl", chunks={}) as got:
        assert got.tas.chunks == ds.tas.chunks
        with distributed.get_task_stream(client) as stream:
            loaded = got.compute()
        readers = {record["worker"] for record in stream.data}
        assert readers  # the fragments were read by the workers
        assert readers <= set(client.scheduler_info()["workers"])
        xr.testing.assert_identical(loaded, want)

    with semsl.Dataset(target) as nc:
        expected = nc["tas"][:]
    array = to_dask(target, "tas")
    assert array.numblocks == (3, 2, 1)
    values = client.compute(array).result()
    np.testing.assert_array_equal(np.ma.getmaskarray(values), np.ma.getmaskarray(expected))
    np.testing.assert_array_equal(values.filled(0), expected.filled(0))
