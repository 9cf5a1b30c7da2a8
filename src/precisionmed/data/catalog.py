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
from pathlib import Path
from typing import Any

from precisionmed.data.fetch import fetch_file
from precisionmed.data.files import DataFile
from precisionmed.errors import DatasetNotFoundError, require_extra
from precisionmed.registry import Registry

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


def _load_sources() -> None:
    """Import every module of :mod:`precisionmed.data.sources` (each registers its datasets)."""
    from precisionmed.data import sources

    for info in pkgutil.iter_modules(sources.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{sources.__name__}.{info.name}")


#: The catalog: every registered dataset by (case-insensitive) name.
DATASETS: Registry[DatasetSpec] = Registry(
    "dataset",
    error=DatasetNotFoundError,
    loader=_load_sources,
    hint="Run 'precisionmed data list' to see them all.",
)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the catalog; a name can be registered only once.

    Raises
    ------
    ConfigError
        Another dataset is already registered under ``spec.name`` (case-insensitive).
    """
    return DATASETS.add(spec.name, spec)


def list_datasets(modality: str | None = None) -> list[DatasetSpec]:
    """All registered datasets, sorted by name, optionally of one modality."""
    return [s for s in DATASETS if modality is None or s.modality == modality]


def get_dataset(name: str) -> DatasetSpec:
    """The dataset registered as ``name`` (case-insensitive).

    Raises
    ------
    DatasetNotFoundError
        No such dataset; the message offers close names and says how to list them all.
    """
    return DATASETS.get(name)


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
    spec = get_dataset(name)
    if spec.extra:
        for module in spec.metadata.get("requires", ()):
            require_extra(module, spec.extra)
    paths: dict[str, Path] = {f.path: fetch_file(f) for f in spec.files}
    return spec.loader(paths, **kwargs)
