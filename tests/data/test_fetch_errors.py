"""A cache that cannot be written (a path through a regular file, a read-only or full disk) is
one line naming the path and what to do, never a traceback; a failing fetch never deletes the
file already stored (src/precisionmed/data/fetch.py)."""

from __future__ import annotations

import errno
import hashlib
import os
import sys
from pathlib import Path

import pytest

from precisionmed.cli.main import main
from precisionmed.data import fetch_file, get_dataset, load_dataset
from precisionmed.errors import DownloadError

BREAST = "imaging/medmnist/breastmnist.npz"


def breast():
    return get_dataset("breastmnist").files[0]


def serve(data: bytes, calls: list[str]):
    """A downloader that writes ``data`` to ``dest`` (the bytes a server would send)."""

    def downloader(url: str, dest: Path, *, progress: bool = True) -> None:
        calls.append(url)
        dest.write_bytes(data)

    return downloader


@pytest.fixture
def no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", "")


@pytest.fixture
def cache_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PRECISIONMED_CACHE below a regular file: no folder can ever be made there (even as
    root, which chmod does not stop)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.setenv("PRECISIONMED_CACHE", str(blocker / "cache"))
    return blocker / "cache"


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breast_bytes: bytes) -> Path:
    """A writable cache already holding BreastMNIST, one byte changed (so ``force`` refetches)."""
    monkeypatch.setenv("PRECISIONMED_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / BREAST
    cached.parent.mkdir(parents=True)
    cached.write_bytes(breast_bytes[:100] + bytes([breast_bytes[100] ^ 1]) + breast_bytes[101:])
    return cached


@pytest.mark.usefixtures("no_mirror")
def test_cache_under_a_regular_file_fails_before_downloading(
    cache_under_a_file: Path, breast_bytes: bytes
) -> None:
    calls: list[str] = []
    with pytest.raises(DownloadError) as info:
        fetch_file(breast(), progress=False, downloader=serve(breast_bytes, calls))
    message = str(info.value)
    assert "\n" not in message
    assert f"PRECISIONMED_CACHE={cache_under_a_file}" in message
    assert str(cache_under_a_file / "imaging" / "medmnist") in message
    assert "Not a directory" in message
    assert "set PRECISIONMED_CACHE to a writable folder" in message
    assert calls == []  # nothing downloaded for nothing


@pytest.mark.usefixtures("no_mirror", "cache_under_a_file")
def test_cli_fetch_into_an_unusable_cache_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["precisionmed", "data", "fetch", "breastmnist"])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    assert info.value.code not in (0, None)
    assert err.count("\n") == 1
    assert err.startswith("error: Cannot write the precisionmed cache")
    assert "Traceback" not in err


def test_a_local_mirror_still_serves_when_the_cache_is_unusable(cache_under_a_file: Path) -> None:
    assert load_dataset("breastmnist").targets("test").shape == (156,)  # read in place


@pytest.mark.usefixtures("no_mirror")
@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.ENOSPC, "free some space there"),
        (errno.EROFS, "set PRECISIONMED_CACHE to a writable folder"),
    ],
)
def test_full_or_read_only_disk_during_the_download_keeps_the_stored_file(
    stored: Path, breast_bytes: bytes, code: int, advice: str
) -> None:
    before = stored.read_bytes()
    calls: list[str] = []

    def writes_then_fails(url: str, dest: Path, *, progress: bool = True) -> None:
        calls.append(url)
        dest.write_bytes(breast_bytes[:4096])  # part of the body, then the disk says no
        raise OSError(code, os.strerror(code))

    with pytest.raises(DownloadError) as info:
        fetch_file(breast(), force=True, progress=False, downloader=writes_then_fails)
    message = str(info.value)
    assert message.startswith("Cannot write the precisionmed cache")
    assert f"at {stored}: {os.strerror(code)}." in message
    assert advice in message
    assert len(calls) == 1  # a local failure: the next source would fail the same way
    assert stored.read_bytes() == before
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name]  # no temp left


@pytest.mark.usefixtures("no_mirror")
def test_a_rename_refused_keeps_the_stored_file(
    stored: Path, breast_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stored.read_bytes()

    def read_only(src: object, dst: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(DownloadError, match="Read-only file system"):
        fetch_file(breast(), force=True, progress=False, downloader=serve(breast_bytes, []))
    assert stored.read_bytes() == before
    assert hashlib.md5(before).hexdigest() != hashlib.md5(breast_bytes).hexdigest()


def test_force_with_a_mirror_and_an_undeletable_cached_copy_says_so(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mirror's copy would serve, but the corrupt cached copy would shadow it next time."""
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stored:
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(DownloadError, match=f"at {stored}: Read-only file system"):
        fetch_file(breast(), force=True, progress=False)
    assert stored.exists()


@pytest.mark.usefixtures("no_mirror", "stored")
def test_a_network_oserror_is_a_failed_source_not_a_cache_error(breast_bytes: bytes) -> None:
    def times_out(url: str, dest: Path, *, progress: bool = True) -> None:
        raise TimeoutError("timed out")

    with pytest.raises(DownloadError, match=r"Could not fetch .*TimeoutError: timed out"):
        fetch_file(breast(), force=True, progress=False, downloader=times_out)
