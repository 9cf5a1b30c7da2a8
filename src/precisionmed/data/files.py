"""One file of a catalog dataset: where it lives and the checksum it must have.

Kept apart from :mod:`.catalog` (which declares datasets) and :mod:`.fetch` (which gets files
onto this machine): both need it, and the catalog's loader calls the fetcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from precisionmed.errors import ConfigError


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    Attributes
    ----------
    path : str
        Path relative to the data root, identical in the cache, a local mirror folder and an
        http(s) mirror (e.g. ``"imaging/medmnist/pneumoniamnist.npz"``).
    url : str
        Canonical public URL (the publisher's own where it has one).
    checksum : str
        ``"sha256:<hex>"`` or ``"md5:<hex>"`` (the md5 where the publisher gives only that).
    size : int or None
        Size in bytes, when known.
    """

    path: str
    url: str
    checksum: str
    size: int | None = None

    def __post_init__(self) -> None:
        algo, _, digest = self.checksum.partition(":")
        length = _DIGEST_LENGTH.get(algo)
        if length is None or len(digest) != length or not _is_hex(digest):
            raise ConfigError(
                f"DataFile {self.path}: checksum must be 'sha256:<64 hex digits>' or "
                f"'md5:<32 hex digits>'. Got {self.checksum!r} instead."
            )
        parts = PurePosixPath(self.path).parts
        if not parts or self.path.startswith("/") or "\\" in self.path or ".." in parts:
            # The path is joined to the cache and mirror roots: it must stay inside them.
            raise ConfigError(
                f"DataFile path must be relative, '/'-separated and without '..' "
                f"(e.g. 'imaging/medmnist/breastmnist.npz'). Got {self.path!r} instead."
            )
        if not self.url.startswith(("https://", "http://")):
            raise ConfigError(
                f"DataFile {self.path}: url must be an http(s) URL. Got {self.url!r} instead."
            )

    @property
    def algorithm(self) -> str:
        """``"sha256"`` or ``"md5"``."""
        return self.checksum.partition(":")[0]

    @property
    def digest(self) -> str:
        """The expected hex digest, lower case."""
        return self.checksum.partition(":")[2].lower()


_DIGEST_LENGTH = {"sha256": 64, "md5": 32}


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


__all__ = ["DataFile"]
