"""The dataset catalog: what each dataset is, where its files live and how to load it.

A :class:`DatasetSpec` declares a dataset's name, modality, task, files (each with its canonical
public URL and the publisher's checksum), licence and citation, and the loader that turns the
verified files into ready splits. Pillars register their datasets in modules of this package;
:func:`get_dataset` and :func:`list_datasets` see them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from precisionmed.errors import ConfigError, DatasetNotFoundError


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


Loader = Callable[..., Any]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the catalog.

    Attributes
    ----------
    name : str
        Registered name, lower case (``"pneumoniamnist"``).
    modality : str
        e.g. ``"x-ray"``, ``"mri"``, ``"clinical"``, ``"dna"``.
    task : str
        e.g. ``"binary-class"``, ``"multi-class"``, ``"multi-label"``, ``"ordinal-regression"``,
        ``"segmentation"``, ``"survival"``.
    files : tuple of DataFile
        The files the loader needs; empty for data shipped inside an installed package.
    license, citation, description : str
    loader : callable
        ``loader(paths: dict[str, Path], **kwargs)`` -> ready splits; ``paths`` maps each
        ``DataFile.path`` to a verified local file.
    extra : str or None
        The precisionmed extra the loader needs.
    metadata : dict
        Anything else a loader or user needs (label names, split sizes, ...).
    """

    name: str
    modality: str
    task: str
    files: tuple[DataFile, ...]
    license: str
    citation: str
    loader: Loader
    description: str = ""
    extra: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int | None:
        """Sum of the files' sizes in bytes, or None if any size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)


_CATALOG: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the catalog; a name can be registered only once."""
    key = spec.name.lower()
    if key in _CATALOG and _CATALOG[key] is not spec:
        raise ConfigError(f"Dataset {spec.name!r} is already registered.")
    _CATALOG[key] = spec
    return spec


def _load_registry() -> None:
    """Import every module of :mod:`precisionmed.data.sources` (each registers its datasets)."""
    from precisionmed.data import sources

    for info in pkgutil.iter_modules(sources.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{sources.__name__}.{info.name}")


def list_datasets(modality: str | None = None) -> list[DatasetSpec]:
    """All registered datasets, sorted by name, optionally of one modality."""
    _load_registry()
    specs = sorted(_CATALOG.values(), key=lambda s: s.name)
    return [s for s in specs if modality is None or s.modality == modality]


def get_dataset(name: str) -> DatasetSpec:
    """The dataset registered as ``name`` (case-insensitive).

    Raises
    ------
    DatasetNotFoundError
        No such dataset; the message lists close names.
    """
    _load_registry()
    key = name.lower()
    if key not in _CATALOG:
        import difflib

        close = difflib.get_close_matches(key, _CATALOG, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise DatasetNotFoundError(
            f"No dataset named {name!r} in the catalog.{hint} "
            "Run 'precisionmed data list' to see them all."
        )
    return _CATALOG[key]


def iter_files(names: list[str] | None = None) -> Iterator[tuple[DatasetSpec, DataFile]]:
    """Every (dataset, file) pair of the named datasets, or of the whole catalog."""
    specs = [get_dataset(n) for n in names] if names else list_datasets()
    for spec in specs:
        for f in spec.files:
            yield spec, f


def load_dataset(name: str, **kwargs: Any) -> Any:
    """Fetch (if needed), verify and load a dataset by name.

    Parameters
    ----------
    name : str
        Registered dataset name.
    **kwargs
        Passed to the dataset's loader.
    """
    from precisionmed.data.fetch import fetch_file

    spec = get_dataset(name)
    if spec.extra:
        from precisionmed.errors import require_extra

        for module in spec.metadata.get("requires", ()):
            require_extra(module, spec.extra)
    paths: dict[str, Path] = {f.path: fetch_file(f) for f in spec.files}
    return spec.loader(paths, **kwargs)
