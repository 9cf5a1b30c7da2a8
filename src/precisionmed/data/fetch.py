"""Getting a catalog file onto this machine, verified.

Order of sources for one :class:`~precisionmed.data.catalog.DataFile`:

1. the cache (``PRECISIONMED_CACHE``): used if present and its checksum matches; a file there
   whose checksum does not match raises :class:`ChecksumError` (never used, never silently
   replaced: ``fetch_file(..., force=True)`` downloads it again);
2. the mirror (``PRECISIONMED_DATA_MIRROR``): a local folder (its file is verified and used in
   place, nothing is copied) or an http(s) base URL (downloaded into the cache);
3. the canonical URL (downloaded into the cache).

A download is written to ``<name>.part``, its size checked against ``Content-Length`` and its
checksum against the catalog, and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import requests
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from precisionmed.config import get_settings
from precisionmed.data.catalog import DataFile
from precisionmed.errors import ChecksumError, DownloadError

_CHUNK = 1 << 20
# (path, size, mtime_ns) -> digest: a file is hashed once per process unless it changes.
_DIGESTS: dict[tuple[str, int, int, str], str] = {}


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` with ``algorithm`` (``"sha256"`` or ``"md5"``)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, algorithm)
    if key not in _DIGESTS:
        h = hashlib.new(algorithm, usedforsecurity=False)
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def verify_file(path: Path, spec: DataFile) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the checksum ``spec`` declares."""
    actual = file_digest(path, spec.algorithm)
    if actual != spec.digest:
        raise ChecksumError(path, spec.algorithm, spec.digest, actual)


def cache_path(spec: DataFile) -> Path:
    """Where ``spec`` lives in the cache."""
    return get_settings().cache / spec.path


def local_mirror_path(spec: DataFile) -> Path | None:
    """The file in a local mirror folder, if a local mirror is configured."""
    mirror = get_settings().data_mirror
    if not mirror or mirror.startswith(("http://", "https://")):
        return None
    return Path(mirror).expanduser() / spec.path


def available_locally(spec: DataFile) -> Path | None:
    """The local file (cache first, then a local mirror) that would serve ``spec``, unverified."""
    for candidate in (cache_path(spec), local_mirror_path(spec)):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _sources(spec: DataFile) -> list[str]:
    mirror = get_settings().data_mirror
    urls = []
    if mirror and mirror.startswith(("http://", "https://")):
        urls.append(mirror.rstrip("/") + "/" + spec.path)
    urls.append(spec.url)
    return urls


def download(url: str, dest: Path, *, progress: bool = True, timeout: float | None = None) -> None:
    """Stream ``url`` into ``dest`` (via ``dest.part``), checking the length the server announced.

    Raises
    ------
    DownloadError
        HTTP error, connection failure, or fewer bytes than ``Content-Length`` (truncated).
    """
    timeout = timeout if timeout is not None else get_settings().download_timeout
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    received = 0
    try:
        with requests.get(url, stream=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
            expected = int(resp.headers.get("Content-Length", 0)) or None
            with (
                part.open("wb") as out,
                Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    disable=not progress,
                    transient=True,
                ) as bar,
            ):
                task = bar.add_task(f"download {dest.name}", total=expected)
                for chunk in resp.iter_content(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(task, advance=len(chunk))
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: truncated download: got {received} of {expected} bytes")
    except requests.RequestException as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {type(exc).__name__}: {exc}") from exc
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)


def fetch_file(
    spec: DataFile,
    *,
    force: bool = False,
    progress: bool = True,
    downloader: Callable[..., None] = download,
) -> Path:
    """Return a verified local path for ``spec``, downloading it if needed.

    Parameters
    ----------
    spec : DataFile
        The catalog entry.
    force : bool
        Re-download even if the cache holds the file (a corrupt cached file is replaced).
    progress : bool
        Show a progress bar while downloading.

    Raises
    ------
    ChecksumError
        A cached or local-mirror file, or every downloaded copy, has the wrong checksum.
    DownloadError
        No source could deliver the file.
    """
    cached = cache_path(spec)
    if cached.is_file() and not force:
        verify_file(cached, spec)
        return cached
    local = local_mirror_path(spec)
    if local is not None and local.is_file() and not force:
        verify_file(local, spec)
        return local

    failures: list[str] = []
    bad_checksum: ChecksumError | None = None
    for url in _sources(spec):
        tmp = cached.with_name(cached.name + ".download")
        try:
            downloader(url, tmp, progress=progress)
            verify_file(tmp, spec)
        except DownloadError as exc:
            failures.append(str(exc))
            continue
        except ChecksumError as exc:
            tmp.unlink(missing_ok=True)
            bad_checksum = ChecksumError(url, exc.algorithm, exc.expected, exc.actual)
            failures.append(str(bad_checksum))
            continue
        os.replace(tmp, cached)
        return cached
    if bad_checksum is not None and len(failures) == 1:
        raise bad_checksum
    where = f"; local mirror has no {local}" if local is not None else ""
    raise DownloadError(f"Could not fetch {spec.path}{where}. Tried: " + " | ".join(failures))
