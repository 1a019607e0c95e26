"""The one private IO event loop of semsl, and the bridge to it from synchronous code.

semsl's public API is synchronous, like netCDF4-python; only bulk fragment I/O is
asynchronous.  All of it runs on one asyncio loop served by a daemon thread, created on
first use, recreated in the child after :func:`os.fork` and closed at interpreter exit.
:func:`sync` hands a coroutine to that loop and waits for its result, so it works the
same from plain scripts, worker threads and threads that run their own loop (Jupyter).

:func:`gather_windowed` runs many awaitables with a bounded window: at most ``limit`` in
flight, new ones started as old ones finish, and no task per item.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Sequence,
    Sized,
)
from typing import Any, TypeVar

from semsl.errors import SemslError, StorageTimeoutError

__all__ = ["BatchError", "SyncReentryError", "gather_windowed", "get_loop", "sync"]

T = TypeVar("T")

#: Worker threads for ``asyncio.to_thread`` on the IO loop (synchronous backends).  More
#: than asyncio's default (CPU count + 4) because they wait on disks and networks.
_IO_WORKERS = 32
#: Seconds to wait for the loop thread to wind down at exit.
_CLOSE_TIMEOUT = 5.0


class SyncReentryError(SemslError, RuntimeError):
    """:func:`sync` was called from inside the IO loop thread (it would deadlock)."""


class BatchError(ExceptionGroup[Exception], SemslError):
    """Some operations of a windowed batch failed; ``exceptions`` holds every failure.

    Each inner exception names the URI it concerns (backends raise them that way).
    Catch one kind with ``except* ObjectNotFoundError`` or the whole batch with
    ``except SemslError``.
    """

    # typeshed overloads derive() for BaseException too; a batch holds only Exceptions.
    def derive(self, excs: Sequence[Exception]) -> BatchError:  # type: ignore[override]
        """A batch error with the same message over ``excs`` (used by ``except*``)."""
        return BatchError(self.message, excs)


class _IOLoop:
    """The loop, its thread and its worker pool, owned together."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=_IO_WORKERS, thread_name_prefix="semsl-io-worker"
        )
        self.loop.set_default_executor(self.executor)
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="semsl-io", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        """Cancel what is left, stop the loop and release the thread and the pool."""
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(_cancel_all_tasks(), self.loop)
            # Shutting down anyway: a stuck task must not block the exit.
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                done.result(_CLOSE_TIMEOUT)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(_CLOSE_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _cancel_all_tasks() -> None:
    me = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_lock = threading.Lock()
_io: _IOLoop | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The IO event loop, started on first use (in this process).

    Returns
    -------
    asyncio.AbstractEventLoop
        The loop; it runs forever on the daemon thread ``semsl-io``.
    """
    return _get_io().loop


def _get_io() -> _IOLoop:
    global _io  # noqa: PLW0603 -- the process-wide loop is the point of this module
    with _lock:
        if _io is None or _io.loop.is_closed():
            _io = _IOLoop()
        return _io


def _on_io_thread() -> bool:
    io = _io
    return io is not None and threading.current_thread() is io.thread


def sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the IO loop and wait for its result.

    Parameters
    ----------
    coro
        The coroutine to run.
    timeout
        Seconds to wait; ``None`` waits for ever.

    Returns
    -------
    T
        What the coroutine returns; what it raises is raised here.

    Raises
    ------
    SyncReentryError
        If called from the IO loop thread itself (await the coroutine instead).
    semsl.errors.StorageTimeoutError
        If ``timeout`` passed; the coroutine is then cancelled.
    """
    if _on_io_thread():
        coro.close()  # never awaited on purpose; avoid the "never awaited" warning
        raise SyncReentryError(
            "semsl's sync() was called from inside its IO event loop thread, which would "
            "deadlock; await the coroutine there instead"
        )
    future = asyncio.run_coroutine_threadsafe(coro, _get_io().loop)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError as err:
        if future.done():  # it raised TimeoutError itself, or finished just now
            return future.result()
        future.cancel()
        raise StorageTimeoutError(
            f"I/O did not finish within {timeout} s and was cancelled; "
            "raise the timeout or check the storage"
        ) from err
    except BaseException:
        future.cancel()  # KeyboardInterrupt: do not leave the work running
        raise


async def gather_windowed(
    factories: Iterable[Callable[[], Awaitable[T]]], limit: int
) -> list[T]:
    """Await many awaitables with at most ``limit`` in flight; results in input order.

    ``factories`` is consumed lazily: a factory is called only when a slot is free, so
    10^5 items never create 10^5 coroutines or tasks at once (there are ``limit``
    worker tasks, whatever the number of items).

    On the first failure no further factory is called; the ones already in flight are
    awaited to their end (they are few, at most ``limit - 1``) and every failure among
    them is reported together.  If the caller is cancelled, everything in flight is
    cancelled.

    Parameters
    ----------
    factories
        Callables that each return an awaitable (``functools.partial(get_async, uri)``).
    limit
        Maximum number of awaitables in flight, at least 1.

    Returns
    -------
    list
        The results, in the order of ``factories``.

    Raises
    ------
    BatchError
        If any awaitable raised an ``Exception``; it holds all of those failures.
    """
    if limit < 1:
        raise ValueError(f"gather_windowed needs a limit of at least 1, got {limit}")
    window = _Window(iter(factories))
    if isinstance(factories, Sized):
        limit = max(1, min(limit, len(factories)))
    workers = [asyncio.create_task(window.worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        # Cancelled (or a worker died of a BaseException): stop the others and wait for
        # them, so that nothing of this batch outlives it.
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return window.outcome()


class _Window:
    """The shared state of :func:`gather_windowed`'s worker tasks."""

    def __init__(self, factories: Iterator[Callable[[], Awaitable[Any]]]) -> None:
        self.factories = factories
        self.started = 0
        self.results: dict[int, Any] = {}
        self.failures: list[Exception] = []

    async def worker(self) -> None:
        """Take the next factory while nothing has failed, await it, keep the outcome."""
        while not self.failures:
            try:
                factory = next(self.factories, None)
                if factory is None:
                    return
                index = self.started
                self.started += 1
                self.results[index] = await factory()
            except Exception as err:  # collected, raised together as a BatchError
                self.failures.append(err)

    def outcome(self) -> list[Any]:
        """The results in order, or the :class:`BatchError` of the failures."""
        if self.failures:
            count = len(self.failures)
            raise BatchError(
                f"{count} of {self.started} started operations failed, the rest were not "
                f"started (first failure: {self.failures[0]})",
                self.failures,
            )
        return [self.results[index] for index in range(self.started)]


def _close() -> None:
    """Stop and close the IO loop (at exit); the next use starts a new one."""
    global _io
    with _lock:
        io, _io = _io, None
    if io is not None:
        io.close()


def _forget_after_fork() -> None:
    # The child has no IO thread (fork copies only the calling thread), and the lock may
    # have been held by a thread that no longer exists: start afresh, never touching
    # the parent's loop or pool, which the parent still uses.
    global _io, _lock  # noqa: PLW0603
    _io = None
    _lock = threading.Lock()


atexit.register(_close)
if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_forget_after_fork)
