"""The manifest of a model directory: the sha256 of every file, its hash as the model's version.

``manifest.json`` lists every file of the directory (``config.json`` included, files in
sub-folders by their relative POSIX path) with its sha256; a file on disk that the manifest does
not list is refused as firmly as a changed or missing one. The model's **version** is the
sha256 of the manifest's bytes, so any change to any file gives another version.

What a checksum guarantees, and what it does not
-------------------------------------------------
The checksums detect *accidental* damage: a disk or copy error, a truncated download, a save
that was interrupted, a file edited or added by mistake. They do **not** stop an attacker: who
can change a file can also rewrite ``manifest.json`` to match. Against that, set
``PRECISIONMED_SIGNING_KEY``: saving then writes ``manifest.sig``, an HMAC-SHA256 of the
manifest under that key, and loading with the key set refuses an unsigned directory or one
signed with another key. Without the key at load time, a signed directory still loads and its
signature is **not** checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from precisionmed.errors import ArtifactError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "precisionmed-manifest/1"
SHORT = 12  # hex digits of the version shown to users


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def directory_files(root: Path) -> Iterator[str]:
    """Relative POSIX paths of every file under ``root`` but the manifest and its signature.

    Raises
    ------
    ArtifactError
        A symbolic link or anything but a regular file or folder is found (a link could point
        outside the directory, so it is never followed).
    """
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames) + sorted(filenames):
            path = here / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise ArtifactError(
                    f"{path}: a model directory holds only regular files and folders; "
                    "got a link or special file, which is refused."
                )
        dirnames.sort()
        for name in sorted(filenames):
            rel = (here / name).relative_to(root).as_posix()
            if rel not in (MANIFEST, SIGNATURE):
                yield rel


def manifest_bytes(root: Path) -> bytes:
    """The manifest of every file now under ``root`` (deterministic bytes: sorted keys)."""
    files = {rel: sha256_file(root / rel) for rel in directory_files(root)}
    body = {"format": FORMAT, "algorithm": "sha256", "files": files}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def sign(manifest: bytes, key: bytes) -> str:
    """HMAC-SHA256 of the manifest's bytes under ``key``, hex."""
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def parse_manifest(root: Path, data: bytes) -> dict[str, str]:
    """``{relative path: sha256}`` of a manifest's bytes, every entry checked for shape.

    Raises
    ------
    ArtifactError
        Not JSON, another format, or an entry that is not a plain relative path and a digest.
    """
    where = root / MANIFEST
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{where}: not valid JSON ({exc}).") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        got = body.get("format") if isinstance(body, dict) else type(body).__name__
        raise ArtifactError(f"{where}: field 'format' must be {FORMAT!r}; got {got!r}.")
    files = body.get("files")
    if not isinstance(files, dict):
        raise ArtifactError(f"{where}: field 'files' must map file names to sha256 digests.")
    for rel, digest in files.items():
        parts = rel.split("/")
        if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ArtifactError(
                f"{where}: field 'files' names {rel!r}; expected a relative path inside {root}."
            )
        if not (isinstance(digest, str) and len(digest) == 64):
            raise ArtifactError(f"{where}: {rel!r} has {digest!r}; expected a sha256 hex digest.")
    return dict(files)


def check_signature(root: Path, manifest: bytes, key: bytes | None) -> bool:
    """Check ``manifest.sig`` against ``key``; return whether a signature was checked.

    With ``key`` None nothing is checked (a signed directory loads, its signature unverified).

    Raises
    ------
    ArtifactError
        ``key`` is set and the directory is unsigned, or signed with another key.
    """
    if key is None:
        return False
    sig_path = root / SIGNATURE
    if not sig_path.is_file():
        raise ArtifactError(
            f"{root}: unsigned model directory (no {SIGNATURE}) but PRECISIONMED_SIGNING_KEY is "
            "set; only models signed with that key are loaded."
        )
    recorded = sig_path.read_text().strip()
    if not hmac.compare_digest(recorded.encode(), sign(manifest, key).encode()):
        raise ArtifactError(
            f"{sig_path}: the signature does not match PRECISIONMED_SIGNING_KEY (signed with "
            "another key, or the manifest was changed); the model will not be loaded."
        )
    return True


def verify_files(root: Path, files: Mapping[str, str]) -> None:
    """Every file under ``root`` is in ``files`` with that sha256, and every listed file exists.

    Raises
    ------
    ArtifactError
        Naming the first file missing, changed or not listed.
    """
    on_disk = set(directory_files(root))
    for rel in sorted(on_disk - set(files)):
        raise ArtifactError(
            f"{root / rel}: present but not recorded in {MANIFEST}; a model directory holds "
            "only the files it was saved with, so it will not be loaded."
        )
    for rel, digest in sorted(files.items()):
        path = root / rel
        if rel not in on_disk:
            raise ArtifactError(f"{path}: recorded in {MANIFEST} but missing.")
        actual = sha256_file(path)
        if actual != digest:
            raise ArtifactError(
                f"{path}: sha256 {actual} differs from {digest} recorded in {MANIFEST}; "
                "the artefact was modified after it was saved and will not be loaded."
            )


def read_verified(root: Path, rel: str, files: Mapping[str, str]) -> bytes:
    """The bytes of ``root/rel`` after checking them against the manifest.

    Reading once and parsing those same bytes means a file swapped after :func:`verify_files`
    (e.g. by a concurrent ``--overwrite``) is refused rather than loaded unchecked.

    Raises
    ------
    ArtifactError
        ``rel`` is not in the manifest, is missing, or its bytes differ.
    """
    path = root / rel
    if rel not in files:
        raise ArtifactError(
            f"{path}: not recorded in {MANIFEST} (this model directory has {sorted(files)}); "
            "it will not be loaded unchecked."
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be read ({exc.strerror}).") from exc
    actual = sha256_bytes(data)
    if actual != files[rel]:
        raise ArtifactError(
            f"{path}: sha256 {actual} differs from {files[rel]} recorded in {MANIFEST}; "
            "the artefact was modified after it was saved and will not be loaded."
        )
    return data
