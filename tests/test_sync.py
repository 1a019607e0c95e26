"""semsl's private IO loop: sync() and the windowed gather."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from semsl import _sync
from semsl._sync import BatchError, SyncReentryError, gather_windowed, get_loop, sync
from semsl.errors import SemslError, StorageTimeoutError


async def answer(value: int = 42, delay: float = 0.0) -> int:
    await asyncio.sleep(delay)
    return value


class FetchError(Exception):
    pass


async def fail(message: str, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    raise FetchError(message)


# -- sync ------------------------------------------------------------------------------


def test_sync_returns_the_result() -> None:
    assert sync(answer()) == 42


def test_sync_raises_what_the_coroutine_raises() -> None:
    with pytest.raises(FetchError, match="bad fragment"):
        sync(fail("bad fragment"))


def test_sync_runs_on_the_io_thread() -> None:
    async def thread_name() -> str:
        return threading.current_thread().name

    assert sync(thread_name()) == "semsl-io"
    loop = get_loop()
    assert loop is get_loop()
    assert loop.is_running()


def test_sync_timeout_cancels_the_work() -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(StorageTimeoutError, match="did not finish") as info:
        sync(slow(), timeout=0.05)
    assert isinstance(info.value, TimeoutError)
    assert cancelled.wait(5)


def test_timeout_raised_by_the_coroutine_is_not_relabelled() -> None:
    async def times_out() -> None:
        raise TimeoutError("the server said so")

    with pytest.raises(TimeoutError, match="the server said so") as info:
        sync(times_out(), timeout=5)
    assert not isinstance(info.value, StorageTimeoutError)


def test_sync_inside_the_io_loop_is_refused() -> None:
    async def reenter() -> int:
        return sync(answer())

    with pytest.raises(SyncReentryError, match="IO event loop") as info:
        sync(reenter())
    assert isinstance(info.value, SemslError)
    assert isinstance(info.value, RuntimeError)


def test_sync_from_a_thread_running_its_own_loop() -> None:
    # As in Jupyter: the caller's loop is running; the work goes to the IO thread.
    async def notebook_cell() -> int:
        return sync(answer(7, delay=0.01))

    assert asyncio.run(notebook_cell()) == 7


def test_sync_from_many_threads() -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda value: sync(answer(value, 0.01)), range(32)))
    assert results == list(range(32))


def test_loop_is_recreated_after_close() -> None:
    old = get_loop()
    _sync._close()
    assert old.is_closed()
    assert sync(answer()) == 42
    assert get_loop() is not old


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_gets_its_own_loop() -> None:
    parent_loop = get_loop()
    assert sync(answer()) == 42
    pid = os.fork()
    if pid == 0:  # the child: report by exit code only, never return into pytest
        code = 1
        try:
            fresh = sync(answer(5), timeout=10) == 5 and get_loop() is not parent_loop
            code = 0 if fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert get_loop() is parent_loop
    assert sync(answer(6)) == 6


# -- gather_windowed -------------------------------------------------------------------


class Probe:
    """Factories that count how many of their awaitables are in flight."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.calls = 0
        self.log: list[str] = []

    def factory(
        self, index: int, delay: float, error: str | None = None
    ) -> Callable[[], Awaitable[int]]:
        def make() -> Awaitable[int]:
            self.calls += 1
            return self.run(index, delay, error)

        return make

    async def run(self, index: int, delay: float, error: str | None) -> int:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.log.append(f"start {index}")
        try:
            await asyncio.sleep(delay)
            if error is not None:
                raise FetchError(error)
            return index
        finally:
            self.now -= 1
            self.log.append(f"end {index}")


def test_results_keep_the_order() -> None:
    probe = Probe()
    delays = [0.001 * ((index * 7) % 11) for index in range(50)]
    factories = [probe.factory(index, delay) for index, delay in enumerate(delays)]
    assert sync(gather_windowed(factories, 5)) == list(range(50))


def test_never_more_than_the_limit_in_flight() -> None:
    probe = Probe()
    factories = [probe.factory(index, 0.002) for index in range(60)]
    sync(gather_windowed(factories, 4))
    assert probe.peak == 4
    assert probe.calls == 60


def test_new_ones_start_as_old_ones_finish() -> None:
    # A sliding window, not batches: the slow first item does not hold up the others.
    probe = Probe()
    factories = [probe.factory(0, 0.3), *(probe.factory(i, 0.005) for i in range(1, 8))]
    assert sync(gather_windowed(factories, 2)) == list(range(8))
    assert probe.log[-1] == "end 0"


def test_first_failure_stops_starting_new_ones() -> None:
    probe = Probe()
    factories = (
        probe.factory(index, 0.01 if index == 0 else 0.05, "bad" if index == 0 else None)
        for index in range(100)
    )
    with pytest.raises(BatchError, match="1 of 3 started") as info:
        sync(gather_windowed(factories, 3))
    assert probe.calls == 3
    assert probe.now == 0  # the ones in flight were awaited to their end
    assert [str(err) for err in info.value.exceptions] == ["bad"]


def test_every_failure_in_flight_is_reported() -> None:
    probe = Probe()
    factories = [
        probe.factory(0, 0.01, "first.nc missing"),
        probe.factory(1, 0.05, "second.nc missing"),
        probe.factory(2, 0.03),
        *(probe.factory(index, 0.01) for index in range(3, 20)),
    ]
    with pytest.raises(BatchError, match="2 of 3 started") as info:
        sync(gather_windowed(factories, 3))
    messages = sorted(str(err) for err in info.value.exceptions)
    assert messages == ["first.nc missing", "second.nc missing"]
    assert all(isinstance(err, FetchError) for err in info.value.exceptions)


def test_batch_error_is_an_exception_group_and_a_semsl_error() -> None:
    factories = [lambda: fail("a.nc"), answer]
    with pytest.raises(BatchError) as info:
        sync(gather_windowed(factories, 2))
    err = info.value
    assert isinstance(err, ExceptionGroup)
    assert isinstance(err, SemslError)
    assert "a.nc" in str(err)
    caught: list[BaseException] = []
    try:
        raise err
    except* FetchError as group:
        caught.append(group)
    assert isinstance(caught[0], BatchError)


def test_a_factory_that_raises_is_a_failure() -> None:
    def broken() -> Awaitable[int]:
        raise FetchError("cannot even start")

    with pytest.raises(BatchError) as info:
        sync(gather_windowed([broken], 4))
    assert str(info.value.exceptions[0]) == "cannot even start"


def test_cancelling_the_batch_cancels_what_is_in_flight() -> None:
    probe = Probe()
    factories = [probe.factory(index, 30) for index in range(10)]
    with pytest.raises(StorageTimeoutError):
        sync(gather_windowed(factories, 3), timeout=0.1)
    deadline = time.monotonic() + 5
    while probe.now and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.now == 0
    assert probe.calls == 3


def test_empty() -> None:
    assert sync(gather_windowed([], 4)) == []


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        sync(gather_windowed([answer], 0))


def test_hundred_thousand_items_without_a_task_each() -> None:
    count, limit = 100_000, 16
    created = finished = 0
    most_alive = most_tasks = 0

    async def item(index: int) -> int:
        nonlocal finished, most_tasks
        if index % 5_000 == 0:
            most_tasks = max(most_tasks, len(asyncio.all_tasks()))
        if index % 2:
            await asyncio.sleep(0)
        finished += 1
        return index

    def factory(index: int) -> Callable[[], Awaitable[int]]:
        def make() -> Awaitable[int]:
            nonlocal created, most_alive
            created += 1
            most_alive = max(most_alive, created - finished)
            return item(index)

        return make

    start = time.perf_counter()
    results = sync(gather_windowed((factory(index) for index in range(count)), limit))
    assert time.perf_counter() - start < 10
    assert results == list(range(count))
    assert most_alive <= limit
    assert most_tasks <= limit + 1  # the workers and the batch itself
