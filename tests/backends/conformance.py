"""The conformance suite every writable storage backend passes.

Each backend's test module reuses it by supplying two fixtures::

    from backends.conformance import BackendConformance

    class TestPosix(BackendConformance):
        @pytest.fixture
        def backend(self) -> Backend: ...

        @pytest.fixture
        def root(self, tmp_path) -> str:
            ...  # a URI prefix (a folder) unique to the test, without a trailing slash

and may override ``secret`` (a string that must never appear in an error, such as the
S3 secret key the backend was given; ``None`` by default) and ``get_many_limit`` (the
most ``get_many`` may have in flight; by default the backend's ``max_concurrency``
attribute if it has one, else unchecked).

Besides the protocol's docstrings, the suite fixes these outcomes for every backend:

- A missing object is an ``ObjectNotFoundError`` (so a ``FileNotFoundError``) whose
  message contains the URI.  A "folder" (a prefix with objects below it) is not an
  object: ``exists`` is false and reading it is an ``ObjectNotFoundError``.
- ``get`` with a ``ByteRange`` gives ``data[start:end]`` exactly as Python slices: a
  range reaching past the end is clipped, one starting at or after the end, or an
  empty one, gives ``b""``.
- ``list(prefix)`` matches URIs by string prefix (``root/sub`` also finds
  ``root/sub2/x``), recursively, sorted by URI, each URI starting with ``prefix``
  exactly as given, with sizes.
- ``open(uri, "wb")`` makes nothing visible before ``close()``; ``abort()``, or leaving
  its ``with`` block by an exception, keeps the previous object (or none).  Modes other
  than ``"rb"``/``"wb"`` are a ``ValueError``.
- ``get_many`` returns results in order (duplicates allowed), fetches through
  ``get_async`` (so the window can be observed here), keeps at most
  ``get_many_limit`` and at least two in flight, and
  raises ``semsl._sync.BatchError`` holding the failures of the requests in flight,
  each naming its URI.
- The ``*_async`` twins, run through ``semsl._sync.sync``, give the same results and
  errors as their synchronous forms.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from semsl._sync import BatchError, sync
from semsl.backends.base import Backend, ByteRange, ObjectInfo
from semsl.errors import ObjectNotFoundError, StorageError

__all__ = ["BackendConformance"]

MiB = 1 << 20
#: Above the usual 5 MiB multipart part size, not a multiple of it.
LARGE = 6 * MiB + 3


def payload(size: int, seed: int = 0) -> bytes:
    """Reproducible random bytes."""
    return random.Random(seed).randbytes(size)


def join(root: str, *parts: str) -> str:
    return "/".join((root, *parts))


def read_all(backend: Backend, uri: str) -> bytes:
    """Open and read: a missing object may be found by ``open`` or by the first read."""
    with backend.open(uri, "rb") as file:
        return file.read()


def exceptions_in(err: BaseException) -> Iterator[BaseException]:
    """``err``, what it wraps (groups) and what it was raised from, recursively."""
    yield err
    if isinstance(err, BaseExceptionGroup):
        for inner in err.exceptions:
            yield from exceptions_in(inner)
    for linked in (err.__cause__, err.__context__):
        if linked is not None:
            yield from exceptions_in(linked)


NESTED = {
    "a.nc": 3,
    "b.nc": 0,
    "sub/c.nc": 5,
    "sub/deeper/d.nc": 7,
    "sub2/e.nc": 11,
    "subway.nc": 13,
}


class BackendConformance:
    """pytest tests run against the ``backend`` and ``root`` fixtures of a subclass."""

    @pytest.fixture
    def secret(self) -> str | None:
        """A string no error message may contain; ``None`` if the backend has none."""
        return None

    @pytest.fixture
    def get_many_limit(self, backend: Backend) -> int | None:
        """The most ``get_many`` may have in flight; ``None`` checks no upper bound."""
        limit = getattr(backend, "max_concurrency", None)
        return limit if isinstance(limit, int) else None

    def populate(self, backend: Backend, root: str) -> None:
        for seed, (rel, size) in enumerate(NESTED.items()):
            backend.put(join(root, rel), payload(size, seed))

    def expected(self, root: str, rels: list[str]) -> list[ObjectInfo]:
        infos = [ObjectInfo(join(root, rel), NESTED[rel]) for rel in rels]
        return sorted(infos, key=lambda info: info.uri)

    # -- flags ---------------------------------------------------------------------

    def test_satisfies_the_protocol(self, backend: Backend) -> None:
        assert isinstance(backend, Backend)
        assert isinstance(backend.name, str)
        assert backend.name

    @pytest.mark.parametrize("flag", ["supports_async", "supports_ranges", "writable"])
    def test_flags_are_bools(self, backend: Backend, flag: str) -> None:
        assert type(getattr(backend, flag)) is bool

    def test_is_writable(self, backend: Backend) -> None:
        assert backend.writable  # read-only backends are tested on their own

    # -- put and get ---------------------------------------------------------------

    @pytest.mark.parametrize("size", [0, 1, 1000, LARGE], ids=["0B", "1B", "1kB", "6MiB"])
    def test_round_trip(self, backend: Backend, root: str, size: int) -> None:
        uri = join(root, "obj.bin")
        data = payload(size)
        backend.put(uri, data)
        assert backend.get(uri) == data
        assert backend.size(uri) == size
        assert backend.exists(uri)

    def test_put_accepts_memoryview(self, backend: Backend, root: str) -> None:
        uri = join(root, "view.bin")
        data = payload(100)
        backend.put(uri, memoryview(data)[10:60])
        assert backend.get(uri) == data[10:60]

    def test_put_replaces_the_whole_object(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        backend.put(uri, payload(5000, seed=1))
        backend.put(uri, b"short")
        assert backend.get(uri) == b"short"
        assert backend.size(uri) == 5

    def test_put_creates_nested_objects(self, backend: Backend, root: str) -> None:
        uri = join(root, "x", "y", "z", "obj.nc")
        backend.put(uri, b"deep")
        assert backend.get(uri) == b"deep"

    # -- ranges --------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("start", "end"),
        [(0, 10), (100, 250), (990, 1000), (500, 500), (990, 2000), (1000, 1010), (5000, 6000)],
        ids=["start", "middle", "end", "empty", "past-end-clipped", "at-end", "beyond-end"],
    )
    def test_get_range(self, backend: Backend, root: str, start: int, end: int) -> None:
        uri = join(root, "obj.bin")
        data = payload(1000)
        backend.put(uri, data)
        assert backend.get(uri, ByteRange(start, end)) == data[start:end]

    def test_get_range_of_large_object(self, backend: Backend, root: str) -> None:
        uri = join(root, "large.bin")
        data = payload(LARGE)
        backend.put(uri, data)
        start, end = 5 * MiB - 7, 5 * MiB + 9
        assert backend.get(uri, ByteRange(start, end)) == data[start:end]

    # -- missing objects -----------------------------------------------------------

    @pytest.mark.parametrize(
        "operation",
        ["get", "get-range", "size", "remove", "open", "get_async", "get_file", "get_many"],
    )
    def test_missing_object(
        self, backend: Backend, root: str, tmp_path: Path, operation: str
    ) -> None:
        uri = join(root, "missing.nc")
        calls: dict[str, Callable[[], Any]] = {
            "get": lambda: backend.get(uri),
            "get-range": lambda: backend.get(uri, ByteRange(0, 10)),
            "size": lambda: backend.size(uri),
            "remove": lambda: backend.remove(uri),
            "open": lambda: read_all(backend, uri),
            "get_async": lambda: sync(backend.get_async(uri)),
            "get_file": lambda: backend.get_file(uri, str(tmp_path / "copy.nc")),
            "get_many": lambda: backend.get_many([uri]),
        }
        with pytest.raises((ObjectNotFoundError, BatchError)) as info:
            calls[operation]()
        err = info.value
        if isinstance(err, BatchError):
            assert len(err.exceptions) == 1
            err = err.exceptions[0]
        assert isinstance(err, ObjectNotFoundError)
        assert isinstance(err, FileNotFoundError)
        assert isinstance(err, StorageError)
        assert uri in str(err)
        assert not (tmp_path / "copy.nc").exists()

    def test_exists(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.nc")
        assert not backend.exists(uri)
        backend.put(uri, b"x")
        assert backend.exists(uri)
        backend.remove(uri)
        assert not backend.exists(uri)

    def test_removed_object_is_gone(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.nc")
        backend.put(uri, b"x")
        backend.remove(uri)
        with pytest.raises(ObjectNotFoundError, match=r"obj\.nc"):
            backend.get(uri)
        with pytest.raises(ObjectNotFoundError, match=r"obj\.nc"):
            backend.remove(uri)

    def test_folder_is_not_an_object(self, backend: Backend, root: str) -> None:
        backend.put(join(root, "dir", "a.nc"), b"abc")
        folder = join(root, "dir")
        assert not backend.exists(folder)
        with pytest.raises(ObjectNotFoundError):
            backend.get(folder)
        with pytest.raises(ObjectNotFoundError):
            backend.size(folder)

    # -- list ----------------------------------------------------------------------

    def test_list_folder(self, backend: Backend, root: str) -> None:
        self.populate(backend, root)
        expected = self.expected(root, list(NESTED))
        assert backend.list(root) == expected
        assert backend.list(root + "/") == expected

    def test_list_is_sorted_by_uri(self, backend: Backend, root: str) -> None:
        self.populate(backend, root)
        uris = [info.uri for info in backend.list(root)]
        assert uris == sorted(uris)

    def test_list_prefix_that_is_not_a_folder(self, backend: Backend, root: str) -> None:
        self.populate(backend, root)
        rels = ["sub/c.nc", "sub/deeper/d.nc", "sub2/e.nc", "subway.nc"]
        assert backend.list(join(root, "sub")) == self.expected(root, rels)
        assert backend.list(join(root, "a")) == self.expected(root, ["a.nc"])

    def test_list_folder_prefix_with_slash(self, backend: Backend, root: str) -> None:
        self.populate(backend, root)
        rels = ["sub/c.nc", "sub/deeper/d.nc"]
        assert backend.list(join(root, "sub") + "/") == self.expected(root, rels)

    def test_list_uris_start_with_the_prefix(self, backend: Backend, root: str) -> None:
        self.populate(backend, root)
        for prefix in (root, root + "/", join(root, "su"), join(root, "sub", "deeper")):
            infos = backend.list(prefix)
            assert infos
            assert all(info.uri.startswith(prefix) for info in infos)

    def test_list_empty(self, backend: Backend, root: str) -> None:
        assert backend.list(root) == []
        assert backend.list(root + "/") == []
        backend.put(join(root, "a.nc"), b"x")
        assert backend.list(join(root, "nothing")) == []
        assert backend.list(join(root, "nothing") + "/") == []

    def test_listed_uris_can_be_read(self, backend: Backend, root: str) -> None:
        self.populate(backend, root)
        for info in backend.list(root):
            assert len(backend.get(info.uri)) == info.size

    # -- open for reading ----------------------------------------------------------

    def test_open_read_seek_tell(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        data = payload(10_000)
        backend.put(uri, data)
        with backend.open(uri, "rb") as file:
            assert file.read(3) == data[:3]
            assert file.tell() == 3
            assert file.seek(100) == 100
            assert file.read(50) == data[100:150]
            file.seek(10, 1)
            assert file.tell() == 160
            file.seek(-20, 2)
            assert file.read() == data[-20:]
            file.seek(0)
            assert file.read() == data

    def test_open_readinto(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        data = payload(100)
        backend.put(uri, data)
        buffer = bytearray(40)
        with backend.open(uri, "rb") as file:
            file.seek(80)
            count = file.readinto(buffer)  # type: ignore[attr-defined]
        assert count == 20
        assert buffer[:20] == data[80:]

    def test_open_read_past_end(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        backend.put(uri, b"0123456789")
        with backend.open(uri, "rb") as file:
            file.seek(8)
            assert file.read(100) == b"89"
            assert file.read(10) == b""
            file.seek(50)
            assert file.read(5) == b""

    @pytest.mark.parametrize("mode", ["r", "w", "ab", "r+b"])
    def test_open_other_modes_are_refused(self, backend: Backend, root: str, mode: str) -> None:
        with pytest.raises(ValueError, match="mode"):
            backend.open(join(root, "obj.bin"), mode)  # type: ignore[arg-type]

    # -- open for writing ----------------------------------------------------------

    def test_open_write_stores_on_close(self, backend: Backend, root: str) -> None:
        uri = join(root, "new.bin")
        data = payload(LARGE)
        with backend.open(uri, "wb") as file:
            for start in range(0, LARGE, 2 * MiB):
                file.write(data[start : start + 2 * MiB])
            assert not backend.exists(uri)
            assert backend.list(root) == []
        assert backend.get(uri) == data

    def test_open_write_keeps_previous_until_close(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        backend.put(uri, b"old")
        with backend.open(uri, "wb") as file:
            file.write(b"new content")
            assert backend.get(uri) == b"old"
        assert backend.get(uri) == b"new content"

    def test_open_write_empty(self, backend: Backend, root: str) -> None:
        uri = join(root, "empty.bin")
        with backend.open(uri, "wb"):
            pass
        assert backend.get(uri) == b""

    def test_open_write_abort_stores_nothing(self, backend: Backend, root: str) -> None:
        uri = join(root, "new.bin")
        file = backend.open(uri, "wb")
        file.write(b"partial")
        file.abort()  # type: ignore[attr-defined]
        assert not backend.exists(uri)
        assert backend.list(root) == []
        file.close()  # closing after abort stores nothing either
        assert not backend.exists(uri)

    def test_open_write_abort_keeps_previous(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        backend.put(uri, b"old")
        file = backend.open(uri, "wb")
        file.write(b"partial")
        file.abort()  # type: ignore[attr-defined]
        assert backend.get(uri) == b"old"
        assert [info.uri for info in backend.list(root)] == [uri]

    def test_open_write_exception_aborts(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        backend.put(uri, b"old")
        def write_then_fail() -> None:
            with backend.open(uri, "wb") as file:
                file.write(b"partial")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            write_then_fail()
        assert backend.get(uri) == b"old"
        assert [info.uri for info in backend.list(root)] == [uri]

    # -- local files ---------------------------------------------------------------

    def test_put_file_get_file(self, backend: Backend, root: str, tmp_path: Path) -> None:
        uri = join(root, "obj.nc")
        data = payload(LARGE)
        source = tmp_path / "source.nc"
        source.write_bytes(data)
        backend.put_file(str(source), uri)
        assert backend.get(uri) == data
        target = tmp_path / "target.nc"
        target.write_bytes(b"previous")
        backend.get_file(uri, str(target))
        assert target.read_bytes() == data

    def test_put_file_of_missing_local_file(
        self, backend: Backend, root: str, tmp_path: Path
    ) -> None:
        uri = join(root, "obj.nc")
        with pytest.raises(FileNotFoundError):
            backend.put_file(str(tmp_path / "absent.nc"), uri)
        assert not backend.exists(uri)

    # -- async twins ---------------------------------------------------------------

    def test_async_round_trip(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        data = payload(5000)
        sync(backend.put_async(uri, data))
        assert sync(backend.get_async(uri)) == data
        assert sync(backend.get_async(uri, ByteRange(10, 20))) == data[10:20]
        assert sync(backend.get_async(uri, ByteRange(4990, 6000))) == data[4990:]

    def test_async_put_replaces(self, backend: Backend, root: str) -> None:
        uri = join(root, "obj.bin")
        backend.put(uri, b"old content")
        sync(backend.put_async(uri, memoryview(b"new")))
        assert backend.get(uri) == b"new"

    # -- get_many ------------------------------------------------------------------

    def test_get_many_in_order(self, backend: Backend, root: str) -> None:
        uris = [join(root, f"obj{index:03d}.bin") for index in range(40)]
        for index, uri in enumerate(uris):
            backend.put(uri, payload(index * 7, seed=index))
        wanted = [*reversed(uris), uris[3], uris[3], uris[0]]
        expected = [backend.get(uri) for uri in wanted]
        assert backend.get_many(wanted) == expected

    def test_get_many_of_nothing(self, backend: Backend) -> None:
        assert backend.get_many([]) == []

    def test_get_many_window(
        self,
        backend: Backend,
        root: str,
        get_many_limit: int | None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        uris = [join(root, f"obj{index:03d}.bin") for index in range(40)]
        for index, uri in enumerate(uris):
            backend.put(uri, payload(10, seed=index))
        state = {"now": 0, "peak": 0, "calls": 0}
        original = backend.get_async

        async def counting(uri: str, byte_range: ByteRange | None = None) -> bytes:
            state["calls"] += 1
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            try:
                await asyncio.sleep(0.005)
                return await original(uri, byte_range)
            finally:
                state["now"] -= 1

        monkeypatch.setattr(backend, "get_async", counting)
        assert backend.get_many(uris) == [payload(10, seed=index) for index in range(40)]
        assert state["calls"] == len(uris)
        assert state["peak"] >= 2
        if get_many_limit is not None:
            assert state["peak"] <= get_many_limit

    def test_get_many_reports_every_failure(self, backend: Backend, root: str) -> None:
        missing = [join(root, "missing1.nc"), join(root, "missing2.nc")]
        present = [join(root, f"obj{index}.nc") for index in range(5)]
        for uri in present:
            backend.put(uri, b"x")
        with pytest.raises(BatchError) as info:
            backend.get_many([*missing, *present])
        failures = info.value.exceptions
        assert all(isinstance(err, ObjectNotFoundError) for err in failures)
        assert sorted(uri for err in failures for uri in missing if uri in str(err)) == missing

    # -- secrets -------------------------------------------------------------------

    def test_errors_name_no_secret(
        self, backend: Backend, root: str, secret: str | None
    ) -> None:
        uri = join(root, "missing.nc")
        attempts: list[Callable[[], Any]] = [
            lambda: backend.get(uri),
            lambda: backend.get(uri, ByteRange(0, 5)),
            lambda: backend.size(uri),
            lambda: backend.remove(uri),
            lambda: read_all(backend, uri),
            lambda: backend.get_many([uri, uri]),
        ]
        for attempt in attempts:
            with pytest.raises((StorageError, BatchError)) as info:
                attempt()
            texts = [f"{err!s} {err!r}" for err in exceptions_in(info.value)]
            assert uri in texts[0] or isinstance(info.value, BatchError)
            if secret is not None:
                assert not [text for text in texts if secret in text]
        if secret is not None:
            assert secret not in repr(backend)
            assert secret not in str(backend)
