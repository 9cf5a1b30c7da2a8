"""Getting a catalog file onto this machine, verified.

Order of sources for one :class:`~precisionmed.data.files.DataFile`:

1. the cache (``PRECISIONMED_CACHE``): used if present and its checksum matches; a file there
   whose checksum does not match raises :class:`ChecksumError` (never used, never silently
   replaced: ``fetch_file(..., force=True)`` fetches it again);
2. a local mirror folder (``PRECISIONMED_DATA_MIRROR`` set to a path or ``file://`` URL): its
   file is verified and used in place, nothing is copied; a corrupt mirror file raises
   :class:`ChecksumError`;
3. an http(s) mirror (``PRECISIONMED_DATA_MIRROR`` set to a base URL), then the canonical URL:
   each downloaded into the cache.

A download is streamed to a temporary file beside its cache entry, its length checked against
``Content-Length`` and its checksum against the catalog, and only then renamed into place: the
cache never holds a partial or unverified file. When every source fails, the error names each
source tried and why it failed. A cache that cannot be written (read-only, full, or a path
through a regular file) is a one-line :class:`DownloadError` naming the path and what to do; a
failing fetch never deletes the file already stored.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from precisionmed.config import get_settings
from precisionmed.data.files import DataFile
from precisionmed.errors import ChecksumError, DownloadError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
# Digests already computed in this process, keyed by the file's identity and change times.
_DIGESTS: dict[tuple[str, int, int, int, int, str], str] = {}
# A digest is remembered only for a file unchanged for this long (see file_digest).
_SETTLED_NS = 2_000_000_000


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of the file ``path`` with ``algorithm`` (``"sha256"`` or ``"md5"``).

    A file is hashed once per process while it stays unchanged (same inode, size, mtime and
    ctime). Like git's "racily clean" rule, a digest is remembered only when the file's last
    change is older than two seconds, so that an edit within one filesystem clock tick of the
    hashing is never missed; ctime cannot be set from user space, so ``touch -r`` after an
    edit does not hide it either.
    """
    st = path.stat()
    key = (
        str(path.resolve()),
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        algorithm,
    )
    if key in _DIGESTS:
        return _DIGESTS[key]
    h = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS:
        _DIGESTS[key] = digest
    return digest


def verify_file(path: Path, spec: DataFile, *, hint: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the checksum ``spec`` declares.

    Parameters
    ----------
    path : Path
        The local file.
    spec : DataFile
        The catalog entry with the expected checksum.
    hint : str or None
        The sentence the error ends with (what happened to the file, what to do).
    """
    actual = file_digest(path, spec.algorithm)
    if actual != spec.digest:
        raise ChecksumError(path, spec.algorithm, spec.digest, actual, hint=hint)


#: OSError numbers that mean "this machine cannot write there" (not "the source failed").
_LOCAL_WRITE_ERRNOS = {
    errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.ENOTDIR,
    errno.EISDIR, errno.EEXIST,
}  # fmt: skip


def cache_write_error(path: Path, exc: OSError) -> DownloadError:
    """The one-line error for a cache entry ``path`` that could not be written or removed."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        todo = "free some space there, or set PRECISIONMED_CACHE to a folder on another disk"
    else:
        todo = "set PRECISIONMED_CACHE to a writable folder"
    return DownloadError(
        f"Cannot write the precisionmed cache (PRECISIONMED_CACHE={get_settings().cache}) at "
        f"{path}: {reason}. To fix it, {todo}, or set PRECISIONMED_DATA_MIRROR to a folder "
        "that holds the data; the files already there were left untouched."
    )


def _discard(path: Path) -> None:
    """Remove a temporary file if it exists; a path that cannot exist (its folder is a file or
    missing) is no error."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


def cache_path(spec: DataFile) -> Path:
    """Where ``spec`` lives in the cache."""
    return get_settings().cache / spec.path


def _is_url(mirror: str) -> bool:
    return mirror.startswith(("http://", "https://"))


def local_mirror_path(spec: DataFile) -> Path | None:
    """The file in a local mirror folder, if a local mirror is configured (it may not exist)."""
    mirror = get_settings().data_mirror
    if not mirror or _is_url(mirror):
        return None
    mirror = mirror.removeprefix("file://")
    # Absolute: a returned path must stay valid if the caller changes directory.
    return Path(mirror).expanduser().absolute() / spec.path


def available_locally(spec: DataFile) -> Path | None:
    """The local file (cache first, then a local mirror) that would serve ``spec``, unverified."""
    for candidate in (cache_path(spec), local_mirror_path(spec)):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


_CACHE_HINT = (
    "The cached copy is corrupt or truncated and was not used; fetch it again with force=True "
    "('precisionmed data fetch DATASET --force') or delete it."
)


def _mirror_hint(spec: DataFile) -> str:
    return (
        "The local mirror's copy (PRECISIONMED_DATA_MIRROR) is corrupt or truncated and was not "
        f"used; replace it with the file from {spec.url}."
    )


def verify_local(spec: DataFile) -> Path | None:
    """Verify the local file that would serve ``spec`` (see :func:`available_locally`).

    Returns
    -------
    Path or None
        The verified file, or None if neither the cache nor a local mirror holds it.

    Raises
    ------
    ChecksumError
        The file has the wrong checksum (the message says what to do).
    """
    path = available_locally(spec)
    if path is not None:
        hint = _CACHE_HINT if path == cache_path(spec) else _mirror_hint(spec)
        verify_file(path, spec, hint=hint)
    return path


def download_sources(spec: DataFile) -> list[tuple[str, str]]:
    """``(label, url)`` pairs to download ``spec`` from, in order: http(s) mirror, canonical."""
    mirror = get_settings().data_mirror
    urls = []
    if mirror and _is_url(mirror):
        urls.append(("mirror", mirror.rstrip("/") + "/" + quote(spec.path)))
    if not urls or urls[0][1] != spec.url:
        urls.append(("canonical", spec.url))
    return urls


def _content_length(resp: requests.Response) -> int | None:
    try:
        return int(resp.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def download(url: str, dest: Path, *, progress: bool = True, timeout: float | None = None) -> None:
    """Stream ``url`` into ``dest`` (via ``dest.part``), checking the length the server announced.

    ``dest`` appears only once the whole body arrived; on any failure nothing is left behind.
    The bytes are requested without content encoding, so they are the file's own bytes.

    Parameters
    ----------
    url : str
        http(s) URL.
    dest : Path
        Where to write the file (its folder is created).
    progress : bool
        Show a progress bar on stderr.
    timeout : float or None
        Seconds to wait to connect or between reads (default: the settings'
        ``download_timeout``).

    Raises
    ------
    DownloadError
        HTTP status other than 200, connection failure or time-out, or fewer bytes than
        ``Content-Length`` (a truncated transfer).
    OSError
        ``dest`` could not be written (a read-only or full disk): a local problem, not the
        server's, which :func:`fetch_file` reports as the cache's.
    """
    # Imported here: `precisionmed data list/verify` and cache hits never need them.
    import requests
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    timeout = timeout if timeout is not None else get_settings().download_timeout
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    received, expected = 0, None
    resp: requests.Response | None = None
    try:
        with requests.get(
            url, stream=True, timeout=timeout, headers={"Accept-Encoding": "identity"}
        ) as resp:
            if resp.status_code != 200:
                raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
            expected = _content_length(resp)
            with (
                part.open("wb") as out,
                Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=Console(stderr=True),
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
        os.replace(part, dest)
    except requests.RequestException as exc:
        if resp is not None and expected is not None:
            # Bytes that came over the wire, including a partial chunk never handed to us.
            received = max(received, int(getattr(resp.raw, "tell", lambda: 0)()))
        if expected is not None and received < expected:
            reason = f"truncated download: connection lost after {received} of {expected} bytes"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        raise DownloadError(f"{url}: {reason}") from exc
    finally:
        _discard(part)


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
        Ignore the cached copy, even a corrupt one, and fetch the file again (from a local
        mirror, which then serves it and the cached copy is removed, or by download, which
        replaces the cached copy only once verified).
    progress : bool
        Show a progress bar while downloading.
    downloader : callable
        ``downloader(url, dest, progress=bool)``, as :func:`download` (injectable for tests).

    Returns
    -------
    Path
        The cache entry, or the local mirror's file.

    Raises
    ------
    ChecksumError
        The cached or local-mirror file has the wrong checksum, or every source delivered
        a file with the wrong checksum (nothing is written to the cache).
    DownloadError
        No source could deliver the file; the message names each source tried and why it failed.
    """
    cached = cache_path(spec)
    if cached.is_file() and not force:
        verify_file(cached, spec, hint=_CACHE_HINT)
        return cached
    local = local_mirror_path(spec)
    if local is not None and local.is_file():
        verify_file(local, spec, hint=_mirror_hint(spec))
        if force:  # the mirror serves the file from now on: drop the copy that would shadow it
            try:
                _discard(cached)
            except OSError as exc:
                raise cache_write_error(cached, exc) from exc
        return local

    tried = [f"local mirror {local}: no such file"] if local is not None else []
    bad: list[ChecksumError] = []
    try:  # before any download: a cache that cannot hold the file fails at once
        cached.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_write_error(cached.parent, exc) from exc
    for label, url in download_sources(spec):
        # A unique name: two processes fetching the same file never write into one temp file.
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.download")
        try:
            downloader(url, tmp, progress=progress)
            verify_file(tmp, spec)
            os.replace(tmp, cached)
            return cached
        except DownloadError as exc:
            tried.append(f"{label} {exc}")
        except ChecksumError as exc:
            bad.append(exc)
            tried.append(
                f"{label} {url}: {exc.algorithm} checksum mismatch: expected {exc.expected}, "
                f"got {exc.actual}"
            )
        except OSError as exc:
            if exc.errno in _LOCAL_WRITE_ERRNOS:  # writing here failed: no other source helps
                raise cache_write_error(cached, exc) from exc
            tried.append(f"{label} {url}: {type(exc).__name__}: {exc}")
        finally:  # never leave a partial or unverified file in the cache
            _discard(tmp)
            _discard(tmp.with_name(tmp.name + ".part"))
        log.warning("could not fetch %s: %s", spec.path, tried[-1])
    downloads = [u for _, u in download_sources(spec)]
    if len(bad) == len(downloads):
        actual = ", ".join(dict.fromkeys(e.actual for e in bad))
        raise ChecksumError(
            spec.path,
            spec.algorithm,
            spec.digest,
            actual,
            source=" and ".join(downloads),
            hint="The download was discarded; nothing was written to the cache.",
        )
    raise DownloadError(
        f"Could not fetch {spec.path}; nothing was written to the cache. Tried: "
        + " | ".join(tried)
    )
