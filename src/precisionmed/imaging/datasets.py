"""Image classification data: a catalog dataset as torch datasets, with its task description.

Any catalog dataset whose loader returns an object with ``task``, ``labels``, ``n_channels``,
``spatial_dims``, ``images(split)`` and ``targets(split)`` (as
:class:`precisionmed.data.sources.medmnist.MedMNISTData` does) trains here with no code change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from precisionmed.errors import ConfigError

#: The tasks a classifier can learn; ordinal regression is learned as multi-class, as in the
#: MedMNIST v2 benchmark (the ordinal labels are kept for the metrics).
TASKS = ("binary-class", "multi-class", "multi-label", "ordinal-regression")


def normalise_task(task: str) -> str:
    """Map a catalog task string to one of :data:`TASKS`.

    ``"multi-label, binary-class"`` (MedMNIST's ChestMNIST) becomes ``"multi-label"``.
    """
    if task.startswith("multi-label"):
        return "multi-label"
    if task not in TASKS:
        raise ConfigError(
            f"Image classification supports the tasks {TASKS}; this dataset's task is {task!r}."
        )
    return task


class ArrayImageDataset(Dataset):
    """Images in memory as a map-style dataset of ``(image, target)``.

    Parameters
    ----------
    images : np.ndarray
        float32, channel first: (N, C, H, W) or (N, C, D, H, W), intensities in [0, 1].
    targets : np.ndarray
        (N,) int64 class indices, or (N, L) 0/1 for multi-label tasks.
    transform : callable, optional
        Applied to each image tensor (C, *spatial), e.g. a MONAI ``Compose`` of random transforms.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        transform: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        if len(images) != len(targets):
            raise ConfigError(f"{len(images)} images but {len(targets)} targets.")
        self.images = torch.as_tensor(np.ascontiguousarray(images, dtype=np.float32))
        self.targets = torch.as_tensor(targets)
        if self.targets.ndim == 2:
            self.targets = self.targets.float()  # BCE wants float 0/1 targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index]
        if self.transform is not None:
            x = torch.as_tensor(self.transform(x), dtype=torch.float32)
            if hasattr(x, "as_tensor"):  # a MONAI MetaTensor: keep a plain tensor
                x = x.as_tensor()
        return x, self.targets[index]


@dataclass
class ClassificationData:
    """A loaded image classification dataset: splits plus what a model needs to know.

    Attributes
    ----------
    name : str
        Catalog name.
    task : str
        One of :data:`TASKS`.
    labels : list of str
        Class names (label names for multi-label tasks), in output order.
    n_channels, spatial_dims : int
        1 or 3 channels; 2D or 3D.
    size : tuple of int
        Spatial shape of every image.
    arrays : dict
        ``split -> (images (N, C, *size) float32 in [0, 1], targets)``.
    checksum : str
        The catalog checksum of the dataset's file(s), recorded in artefacts.
    """

    name: str
    task: str
    labels: list[str]
    n_channels: int
    spatial_dims: int
    size: tuple[int, ...]
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    checksum: str = ""

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    @property
    def multi_label(self) -> bool:
        return self.task == "multi-label"

    def split(self, name: str, transform: Callable | None = None) -> ArrayImageDataset:
        """The split ``name`` (``"train"``, ``"val"`` or ``"test"``) as a torch dataset."""
        if name not in self.arrays:
            raise ConfigError(
                f"Dataset {self.name!r} has the splits {sorted(self.arrays)}; got {name!r}."
            )
        images, targets = self.arrays[name]
        return ArrayImageDataset(images, targets, transform)

    def stratify_labels(self, split: str) -> np.ndarray | None:
        """Class labels for stratified splitting (None for multi-label tasks)."""
        return None if self.multi_label else self.arrays[split][1]


def load_classification_data(name: str, *, subset: int | None = None) -> ClassificationData:
    """Load a catalog image classification dataset by name.

    Parameters
    ----------
    name : str
        Catalog name, e.g. ``"pneumoniamnist"`` or ``"adrenalmnist3d_64"``.
    subset : int, optional
        Keep only the first ``subset`` samples of each split (smoke tests, quick looks).

    Raises
    ------
    ConfigError
        The dataset is not an image classification dataset.
    """
    from precisionmed.data import get_dataset, load_dataset

    spec = get_dataset(name)
    raw = load_dataset(name)
    required = ("task", "labels", "n_channels", "spatial_dims", "images", "targets")
    if not all(hasattr(raw, attr) for attr in required):
        raise ConfigError(
            f"Dataset {name!r} (task {spec.task!r}) is not an image classification dataset: its "
            f"loader must give {', '.join(required)}."
        )
    arrays = {}
    for split in ("train", "val", "test"):
        x, y = raw.images(split), raw.targets(split)
        if subset is not None:
            x, y = x[:subset], y[:subset]
        arrays[split] = (x, y)
    size = tuple(int(s) for s in arrays["train"][0].shape[2:])
    return ClassificationData(
        name=spec.name,
        task=normalise_task(raw.task),
        labels=list(raw.labels),
        n_channels=int(raw.n_channels),
        spatial_dims=int(raw.spatial_dims),
        size=size,
        arrays=arrays,
        checksum=";".join(f.checksum for f in spec.files),
    )
