"""MedMNIST v2 / MedMNIST+ (Yang et al., Scientific Data 2023): 12 2D and 6 3D subsets.

Every subset is registered at every published size: ``pneumoniamnist`` (28 px),
``pneumoniamnist_64``, ``pneumoniamnist_128``, ``pneumoniamnist_224`` (2D), and 28/64 for 3D.
Files are the official npz files on Zenodo, checked against the md5 the ``medmnist`` package
publishes. A file in the official format (``{train,val,test}_{images,labels}``) dropped into the
mirror under ``imaging/medmnist/`` loads with no code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.data.sources._medmnist_info import MEDMNIST_INFO
from precisionmed.errors import DataFormatError

ZENODO_RECORD = "https://zenodo.org/records/10519652/files"
CITATION = (
    "Yang J, Shi R, Wei D, et al. MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D "
    "biomedical image classification. Scientific Data 10, 41 (2023)."
)
SPLITS = ("train", "val", "test")


@dataclass
class MedMNISTData:
    """A loaded MedMNIST subset.

    Attributes
    ----------
    name : str
        Registered name, e.g. ``"pneumoniamnist_64"``.
    task : str
        ``"binary-class"``, ``"multi-class"``, ``"multi-label, binary-class"`` or
        ``"ordinal-regression"``.
    labels : list of str
        Class (or, for multi-label, label) names, in index order.
    n_channels : int
        1 (grayscale) or 3 (RGB).
    spatial_dims : int
        2 or 3.
    splits : dict
        ``split -> (images, labels)``: ``images`` uint8 of shape (N, H, W), (N, H, W, 3) or
        (N, D, H, W); ``labels`` int64 of shape (N, L) (L = 1 except multi-label).
    """

    name: str
    task: str
    labels: list[str]
    n_channels: int
    spatial_dims: int
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    source: str = ""

    @property
    def multi_label(self) -> bool:
        return self.task.startswith("multi-label")

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    def images(self, split: str) -> np.ndarray:
        """Float32 images in [0, 1], channel first: (N, C, H, W) or (N, C, D, H, W)."""
        x = self.splits[split][0].astype(np.float32) / 255.0
        if self.n_channels == 3 and x.shape[-1] == 3:
            return np.moveaxis(x, -1, 1)
        return x[:, None]

    def targets(self, split: str) -> np.ndarray:
        """int64 labels: (N,) class indices, or (N, L) 0/1 for multi-label."""
        y = self.splits[split][1].astype(np.int64)
        return y if self.multi_label else y.reshape(-1)


def read_medmnist_npz(path: Path, name: str, info: tuple) -> MedMNISTData:
    """Read an official-format MedMNIST npz file, checking its keys and shapes."""
    modality, task, channels, _md5, labels, _n = info
    spatial_dims = 3 if name.split("_")[0].endswith("3d") else 2
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable npz file ({exc})") from exc
    splits = {}
    with npz:
        for split in SPLITS:
            for part in ("images", "labels"):
                if f"{split}_{part}" not in npz.files:
                    raise DataFormatError(
                        f"{path}: missing array '{split}_{part}'; a MedMNIST file has "
                        f"{{train,val,test}}_{{images,labels}}. Found: {sorted(npz.files)}"
                    )
            x, y = npz[f"{split}_images"], npz[f"{split}_labels"]
            want = spatial_dims + (1 if channels == 3 else 0) + 1
            if x.ndim != want or len(x) != len(y):
                raise DataFormatError(
                    f"{path}: '{split}_images' has shape {x.shape} with {len(y)} labels; "
                    f"expected {want} dimensions (N, {'D, ' if spatial_dims == 3 else ''}H, W"
                    f"{', 3' if channels == 3 else ''}) and one label row per image."
                )
            splits[split] = (x, y.reshape(len(y), -1))
    return MedMNISTData(
        name=name,
        task=task,
        labels=[labels[str(i)] for i in range(len(labels))],
        n_channels=channels,
        spatial_dims=spatial_dims,
        splits=splits,
        source=str(path),
    )


def _register_all() -> None:
    for flag, info in MEDMNIST_INFO.items():
        modality, task, _channels, md5s, labels, n_samples = info
        for size, md5 in md5s.items():
            name = flag if size == 28 else f"{flag}_{size}"
            fname = f"{name}.npz"
            path = f"imaging/medmnist/{fname}"

            def loader(paths: dict[str, Path], _p: str = path, _n: str = name, _i=info):
                return read_medmnist_npz(paths[_p], _n, _i)

            register_dataset(
                DatasetSpec(
                    name=name,
                    modality=modality,
                    task=task,
                    files=(DataFile(path, f"{ZENODO_RECORD}/{fname}?download=1", f"md5:{md5}"),),
                    license="CC BY 4.0",
                    citation=CITATION,
                    loader=loader,
                    description=f"MedMNIST {flag} at {size} px, {len(labels)} labels",
                    metadata={"size": size, "n_samples": n_samples, "labels": labels},
                )
            )


_register_all()
