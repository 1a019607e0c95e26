"""The POSIX backend: the conformance suite, plus what only local files can show."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.conformance import BackendConformance, join
from semsl.backends.base import ByteRange
from semsl.backends.posix import TEMP_SUFFIX, AtomicWriter, PosixBackend, local_path
from semsl.errors import ObjectNotFoundError, StorageAccessError, StorageError


class TestPosix(BackendConformance):
    @pytest.fixture
    def backend(self) -> Iterator[PosixBackend]:
        backend = PosixBackend()
        yield backend
        backend.close()

    @pytest.fixture(params=["path", "file-uri"])
    def root(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        folder = tmp_path / "my store"  # the space is percent-encoded in the URI
        return str(folder) if request.param == "path" else folder.as_uri()


@pytest.fixture
def backend() -> PosixBackend:
    return PosixBackend()


def leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.rglob(f"*{TEMP_SUFFIX}")]


# -- URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("/data/a b.nc", "/data/a b.nc"),
        ("relative/x.nc", "relative/x.nc"),
        ("file:///data/a%20b/c%23d.nc", "/data/a b/c#d.nc"),
        ("file://localhost/data/x.nc", "/data/x.nc"),
        ("file:/data/x.nc", "/data/x.nc"),
        ("FILE:///data/x.nc", "/data/x.nc"),
    ],
)
def test_local_path(uri: str, path: str) -> None:
    assert local_path(uri) == path


@pytest.mark.parametrize("uri", ["file://otherhost/data/x.nc", "file:///data/x#1.nc"])
def test_local_path_refuses(uri: str) -> None:
    with pytest.raises(StorageError, match=r"posix backend|percent-encode") as info:
        local_path(uri)
    assert uri in str(info.value)


def test_list_returns_percent_encoded_file_uris(backend: PosixBackend, tmp_path: Path) -> None:
    (tmp_path / "a b#1.nc").write_bytes(b"abc")
    root = tmp_path.as_uri()
    (info,) = backend.list(root + "/")
    assert info.uri == root + "/a%20b%231.nc"
    assert backend.get(info.uri) == b"abc"


# -- atomic writes ---------------------------------------------------------------------


def test_temporary_file_is_beside_the_target(backend: PosixBackend, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "obj.nc"
    with backend.open(str(target), "wb") as file:
        assert isinstance(file, AtomicWriter)
        file.write(b"abc")
        assert os.path.dirname(file.temp) == str(target.parent)
        assert leftovers(tmp_path) == [os.path.basename(file.temp)]
    assert target.read_bytes() == b"abc"
    assert leftovers(tmp_path) == []


def test_put_fsyncs_then_replaces(
    backend: PosixBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), replace(a, b))[1])
    backend.put(str(tmp_path / "obj.nc"), b"abc")
    assert calls == ["fsync", "replace"]


def test_failed_write_keeps_previous_and_leaves_no_temporary_file(
    backend: PosixBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "obj.nc"
    target.write_bytes(b"old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StorageError, match="No space left") as info:
        backend.put(str(target), b"new")
    assert str(target) in str(info.value)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_unclosed_writer_is_not_stored(backend: PosixBackend, tmp_path: Path) -> None:
    target = tmp_path / "obj.nc"
    file = backend.open(str(target), "wb")
    file.write(b"partial")
    del file
    gc.collect()
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_new_files_follow_the_umask(backend: PosixBackend, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        backend.put(str(tmp_path / "obj.nc"), b"abc")
    finally:
        os.umask(umask)
    assert (tmp_path / "obj.nc").stat().st_mode & 0o777 == 0o644


def test_write_over_a_folder_fails_cleanly(backend: PosixBackend, tmp_path: Path) -> None:
    (tmp_path / "obj.nc").mkdir()
    with pytest.raises(StorageError, match=r"obj\.nc"):
        backend.put(str(tmp_path / "obj.nc"), b"abc")
    assert leftovers(tmp_path) == []


def test_write_below_a_file_fails_cleanly(backend: PosixBackend, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(StorageError, match=r"file/obj\.nc"):
        backend.put(str(tmp_path / "file" / "obj.nc"), b"abc")


def test_list_skips_unfinished_writes(backend: PosixBackend, tmp_path: Path) -> None:
    backend.put(str(tmp_path / "done.nc"), b"x")
    with backend.open(str(tmp_path / "pending.nc"), "wb") as file:
        file.write(b"y")
        assert [info.uri for info in backend.list(str(tmp_path))] == [f"{tmp_path}/done.nc"]


# -- reading ---------------------------------------------------------------------------


def bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_ranged_get_reads_only_the_range(backend: PosixBackend, tmp_path: Path) -> None:
    path = tmp_path / "obj.bin"
    data = os.urandom(8 << 20)
    path.write_bytes(data)
    before = bytes_read_by_this_process()
    assert backend.get(str(path), ByteRange(5_000_000, 5_000_010)) == data[5_000_000:5_000_010]
    assert bytes_read_by_this_process() - before < 64 << 10


def test_list_follows_links_once(backend: PosixBackend, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.nc").write_bytes(b"a")
    (root / "sub" / "loop").symlink_to(root / "sub")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.nc").write_bytes(b"bb")
    (root / "link").symlink_to(elsewhere)
    uris = [info.uri for info in backend.list(str(root))]
    assert uris == [join(str(root), "link", "b.nc"), join(str(root), "sub", "a.nc")]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="needs a user that permissions bind"
)
def test_permission_denied_is_an_access_error(backend: PosixBackend, tmp_path: Path) -> None:
    path = tmp_path / "locked" / "obj.nc"
    backend.put(str(path), b"abc")
    path.chmod(0)
    try:
        with pytest.raises(StorageAccessError) as info:
            backend.get(str(path))
        assert isinstance(info.value, PermissionError)
        assert str(path) in str(info.value)
    finally:
        path.chmod(0o644)


def test_permission_error_is_translated(
    backend: PosixBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "stat", refuse)
    with pytest.raises(StorageAccessError, match="Permission denied") as info:
        backend.size(str(tmp_path / "obj.nc"))
    assert str(tmp_path / "obj.nc") in str(info.value)


def test_folder_path_with_trailing_slash_is_not_an_object(
    backend: PosixBackend, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFoundError):
        backend.get(str(tmp_path) + "/")


def test_get_many_honours_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = PosixBackend(max_concurrency=3)
    uris = [str(tmp_path / f"{index}.nc") for index in range(20)]
    for uri in uris:
        backend.put(uri, uri.encode())
    now, peak = 0, 0
    original = backend.get_async

    async def counting(uri: str, byte_range: ByteRange | None = None) -> bytes:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.002)
        try:
            return await original(uri, byte_range)
        finally:
            now -= 1

    monkeypatch.setattr(backend, "get_async", counting)
    assert backend.get_many(uris) == [uri.encode() for uri in uris]
    assert peak == 3


def test_max_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        PosixBackend(max_concurrency=0)
