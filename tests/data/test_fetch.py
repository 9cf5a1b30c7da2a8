"""fetch_file / download against a real HTTP server on 127.0.0.1 and real MedMNIST bytes.

Sources in order: cache, local mirror folder, http(s) mirror, canonical URL. A file is used
only once its checksum matches; nothing partial or unverified is ever left in the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
from pathlib import Path

import pytest

from precisionmed.data import DataFile, fetch_file, get_dataset, load_dataset, verify_file
from precisionmed.data.fetch import download, download_sources, file_digest, verify_local
from precisionmed.errors import ChecksumError, DownloadError
from tests.conftest import require_path
from tests.data.fileserver import FileServer, Truncated

BREAST = "imaging/medmnist/breastmnist.npz"
BREAST_MD5 = "750601b1f35ba3300ea97c75c52ff8f6"  # the md5 MedMNIST publishes for this file


def flip_byte(data: bytes, at: int = 1000) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, temporary ones included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def breast_spec(canonical: str | None = None) -> DataFile:
    """The catalog's BreastMNIST entry, its canonical URL optionally moved to the test server."""
    spec = get_dataset("breastmnist").files[0]
    return spec if canonical is None else dataclasses.replace(spec, url=canonical)


@pytest.fixture
def http_mirror(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``PRECISIONMED_DATA_MIRROR`` pointed at ``<server>/mirror``; returns the file's URL path."""
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", f"{server.url}/mirror/")
    monkeypatch.setenv("PRECISIONMED_DOWNLOAD_TIMEOUT", "10")
    return f"/mirror/{BREAST}"


def test_catalog_checksum_is_the_publishers(breast_bytes: bytes) -> None:
    assert breast_spec().checksum == f"md5:{BREAST_MD5}"
    assert hashlib.md5(breast_bytes).hexdigest() == BREAST_MD5


def test_http_mirror_download_lands_verified_in_the_cache(
    cache: Path, server: FileServer, http_mirror: str, breast_bytes: bytes
) -> None:
    server.routes[http_mirror] = breast_bytes
    path = fetch_file(breast_spec(), progress=True)  # canonical (Zenodo) is never contacted
    assert path == cache / BREAST
    assert path.read_bytes() == breast_bytes
    assert server.hits == [http_mirror]
    assert server.headers[0]["Accept-Encoding"] == "identity"  # the file's own bytes, no gzip
    assert files_under(cache) == [BREAST]  # no .part / .download left behind
    # A second call is a cache hit: no request.
    assert fetch_file(breast_spec(), progress=False) == path
    assert server.hits == [http_mirror]


def test_corrupt_download_is_a_checksum_error_and_never_cached(
    cache: Path, server: FileServer, http_mirror: str, breast_bytes: bytes
) -> None:
    bad = flip_byte(breast_bytes)
    server.routes[http_mirror] = bad
    server.routes["/canonical/breastmnist.npz"] = bad
    spec = breast_spec(canonical=f"{server.url}/canonical/breastmnist.npz")
    with pytest.raises(ChecksumError) as info:
        fetch_file(spec, progress=False)
    message = str(info.value)
    assert BREAST in message
    assert f"expected {BREAST_MD5}" in message
    assert f"got {hashlib.md5(bad).hexdigest()}" in message
    assert f"{server.url}{http_mirror}" in message
    assert spec.url in message
    assert "nothing was written to the cache" in message
    assert server.hits == [http_mirror, "/canonical/breastmnist.npz"]
    assert files_under(cache) == []


def test_missing_on_mirror_falls_back_to_canonical(
    cache: Path, server: FileServer, http_mirror: str, breast_bytes: bytes
) -> None:
    server.routes["/canonical/breastmnist.npz"] = breast_bytes  # the mirror answers 404
    spec = breast_spec(canonical=f"{server.url}/canonical/breastmnist.npz")
    path = fetch_file(spec, progress=False)
    assert server.hits == [http_mirror, "/canonical/breastmnist.npz"]
    assert path == cache / BREAST
    assert path.read_bytes() == breast_bytes
    assert files_under(cache) == [BREAST]


def test_corrupt_mirror_falls_back_to_good_canonical_with_a_warning(
    cache: Path,
    server: FileServer,
    http_mirror: str,
    breast_bytes: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.routes[http_mirror] = flip_byte(breast_bytes)
    server.routes["/canonical/breastmnist.npz"] = breast_bytes
    spec = breast_spec(canonical=f"{server.url}/canonical/breastmnist.npz")
    with caplog.at_level(logging.WARNING, logger="precisionmed.data.fetch"):
        path = fetch_file(spec, progress=False)
    assert path.read_bytes() == breast_bytes
    assert "checksum mismatch" in caplog.text
    assert http_mirror in caplog.text
    assert files_under(cache) == [BREAST]


@pytest.mark.parametrize("keep", [0, 1000, 559579])
def test_transfer_cut_midway_is_an_error_and_leaves_nothing(
    cache: Path, server: FileServer, http_mirror: str, breast_bytes: bytes, keep: int
) -> None:
    server.routes[http_mirror] = Truncated(breast_bytes, keep)
    server.routes["/canonical/breastmnist.npz"] = Truncated(breast_bytes, keep)
    spec = breast_spec(canonical=f"{server.url}/canonical/breastmnist.npz")
    with pytest.raises(DownloadError) as info:
        fetch_file(spec, progress=False)
    message = str(info.value)
    assert message.count(f"of {len(breast_bytes)} bytes") == 2  # both sources, both truncated
    assert f"{server.url}{http_mirror}" in message
    assert spec.url in message
    assert files_under(cache) == []


def test_download_of_a_truncated_transfer_writes_nothing(
    tmp_path: Path, server: FileServer, breast_bytes: bytes
) -> None:
    server.routes["/f.npz"] = Truncated(breast_bytes, 4096)
    dest = tmp_path / "sub" / "f.npz"
    with pytest.raises(DownloadError, match=r"truncated download: .*4096 of 559580 bytes"):
        download(f"{server.url}/f.npz", dest, progress=False, timeout=10)
    assert files_under(tmp_path) == []


def test_every_failed_source_is_named(
    cache: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = cache.parent / "empty-mirror"
    local.mkdir()
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", str(local))
    server.routes["/canonical/breastmnist.npz"] = 500
    spec = breast_spec(canonical=f"{server.url}/canonical/breastmnist.npz")
    with pytest.raises(DownloadError) as info:
        fetch_file(spec, progress=False)
    message = str(info.value)
    assert f"Could not fetch {BREAST}" in message
    assert f"local mirror {local / BREAST}: no such file" in message
    assert f"canonical {spec.url}: HTTP 500" in message
    assert "\n" not in message


def test_unreachable_server_is_a_download_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", f"http://127.0.0.1:{port}")
    spec = breast_spec(canonical=f"http://127.0.0.1:{port}/canonical.npz")
    with pytest.raises(DownloadError, match="ConnectionError") as info:
        fetch_file(spec, progress=False)
    assert f"mirror http://127.0.0.1:{port}/{BREAST}" in str(info.value)
    assert files_under(cache) == []


def test_http_mirror_comes_before_canonical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", "https://mirror.example.org/data/")
    spec = breast_spec()
    assert download_sources(spec) == [
        ("mirror", f"https://mirror.example.org/data/{BREAST}"),
        ("canonical", spec.url),
    ]
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", "")
    assert download_sources(spec) == [("canonical", spec.url)]


def test_local_mirror_file_is_verified_and_used_in_place(cache: Path) -> None:
    mirror_file = require_path(BREAST)
    assert fetch_file(breast_spec(), progress=False) == mirror_file
    assert not cache.exists() or files_under(cache) == []  # nothing copied


def test_corrupt_local_mirror_file_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breast_bytes: bytes
) -> None:
    mirror = tmp_path / "mirror"
    (mirror / BREAST).parent.mkdir(parents=True)
    (mirror / BREAST).write_bytes(flip_byte(breast_bytes))
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", f"file://{mirror}")
    with pytest.raises(ChecksumError, match="local mirror's copy") as info:
        fetch_file(breast_spec(), progress=False)
    assert str(mirror / BREAST) in str(info.value)


@pytest.fixture
def corrupt_cache(cache: Path, breast_bytes: bytes) -> Path:
    """The cache holding BreastMNIST with one byte flipped."""
    cached = cache / BREAST
    cached.parent.mkdir(parents=True)
    cached.write_bytes(flip_byte(breast_bytes))
    return cached


def test_flipped_byte_in_the_cache_fails_fetch_and_load(corrupt_cache: Path) -> None:
    before = corrupt_cache.read_bytes()
    for call in (lambda: fetch_file(breast_spec()), lambda: load_dataset("breastmnist")):
        with pytest.raises(ChecksumError) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"{corrupt_cache}: md5 checksum mismatch")
        assert f"expected {BREAST_MD5}, got {hashlib.md5(before).hexdigest()}" in message
        assert "--force" in message
    assert corrupt_cache.read_bytes() == before  # never silently replaced
    with pytest.raises(ChecksumError):
        verify_local(breast_spec())


def test_force_replaces_a_corrupt_cached_file_by_download(
    corrupt_cache: Path, server: FileServer, http_mirror: str, breast_bytes: bytes
) -> None:
    server.routes[http_mirror] = breast_bytes
    assert fetch_file(breast_spec(), force=True, progress=False) == corrupt_cache
    assert corrupt_cache.read_bytes() == breast_bytes


def test_force_with_a_failing_download_keeps_the_cached_file(
    corrupt_cache: Path, server: FileServer, http_mirror: str
) -> None:
    before = corrupt_cache.read_bytes()
    spec = breast_spec(canonical=f"{server.url}/canonical/breastmnist.npz")
    with pytest.raises(DownloadError):
        fetch_file(spec, force=True, progress=False)
    assert corrupt_cache.read_bytes() == before
    assert files_under(corrupt_cache.parents[2]) == [BREAST]


def test_force_with_a_local_mirror_drops_the_corrupt_cached_copy(corrupt_cache: Path) -> None:
    path = fetch_file(breast_spec(), force=True, progress=False)
    assert path == require_path(BREAST)
    assert not corrupt_cache.exists()
    assert fetch_file(breast_spec(), progress=False) == path


def test_an_edit_is_seen_even_right_after_hashing_and_with_mtime_restored(
    tmp_path: Path, breast_bytes: bytes
) -> None:
    path = tmp_path / "f.npz"
    path.write_bytes(breast_bytes)
    old = os.stat(path)
    os.utime(path, ns=(old.st_atime_ns - 10**10, old.st_mtime_ns - 10**10))  # "settled"
    verify_file(path, breast_spec())
    st = os.stat(path)
    with path.open("r+b") as fh:  # same size, then the old mtime put back
        fh.seek(1000)
        fh.write(bytes([breast_bytes[1000] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ChecksumError):
        verify_file(path, breast_spec())
    assert file_digest(path, "md5") == hashlib.md5(flip_byte(breast_bytes)).hexdigest()
