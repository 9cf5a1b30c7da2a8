"""Medical Segmentation Decathlon Task04: hippocampus (Simpson 2019; Antonelli 2022).

260 labelled MR crops around the left or right hippocampus (1 mm isotropic, about 35 x 50 x 35
voxels) with labels 0 background, 1 anterior, 2 posterior hippocampus; from Vanderbilt
University Medical Center. The publisher's canonical archive is ``Task04_Hippocampus.tar`` from
http://medicaldecathlon.com (Google Drive / AWS open data); the per-file URLs below are raw
GitHub copies of the same files (pinned to a commit) so that single files can be fetched and
verified by sha256.

:func:`load_hippocampus` returns the (image, label) pairs and a fixed, seeded 208/52 train/test
split (80/20 of the 260 cases).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.data.sources._hippocampus_files import HIPPOCAMPUS_COMMIT, hippocampus_files
from precisionmed.data.splits import train_val_test_indices
from precisionmed.errors import DataFormatError

NAME = "msd-hippocampus"
ROOT = "imaging/nifti/msd_task04_hippocampus"
RAW_BASE = (
    "https://raw.githubusercontent.com/suhailnajeeb/hippocampus-seg/"
    f"{HIPPOCAMPUS_COMMIT}/Task04_Hippocampus"
)
PUBLISHER_ARCHIVE = "http://medicaldecathlon.com (Task04_Hippocampus.tar, Google Drive / AWS)"
CITATION = (
    "Antonelli M, Reinke A, Bakas S, et al. The Medical Segmentation Decathlon. Nature "
    "Communications 13, 4128 (2022); Simpson AL, et al. A large annotated medical image dataset "
    "for the development and evaluation of segmentation algorithms. arXiv:1902.09063 (2019)."
)


@dataclass
class HippocampusData:
    """The loaded hippocampus set.

    Attributes
    ----------
    cases : list of (Path, Path)
        ``(image, label)`` NIfTI files, sorted by case id.
    case_ids : list of str
        e.g. ``"hippocampus_001"``, aligned with ``cases``.
    labels : dict of int to str
        Label value -> name from ``dataset.json`` (0 background, 1 Anterior, 2 Posterior).
    train_indices, test_indices : ndarray of int
        The fixed seeded split into ``cases`` (208 / 52 with the defaults).
    seed : int
        Seed of the split.
    """

    cases: list[tuple[Path, Path]]
    case_ids: list[str]
    labels: dict[int, str]
    train_indices: np.ndarray
    test_indices: np.ndarray
    seed: int = 0
    metadata: dict[str, object] = field(default_factory=dict)

    def split(self, name: str) -> list[tuple[Path, Path]]:
        """The ``(image, label)`` pairs of ``"train"`` or ``"test"``."""
        if name not in ("train", "test"):
            raise DataFormatError(f"Split must be 'train' or 'test'. Got {name!r} instead.")
        idx = self.train_indices if name == "train" else self.test_indices
        return [self.cases[i] for i in idx]


def load_hippocampus(
    paths: dict[str, Path], *, seed: int = 0, test_fraction: float = 0.2
) -> HippocampusData:
    """Pair images with labels from ``dataset.json`` and split them 208/52 (seeded).

    Parameters
    ----------
    paths : dict
        Catalog path -> verified local file (from :func:`precisionmed.data.load_dataset`).
    seed : int
        Seed of the train/test split (0 gives the benchmark's fixed split).
    test_fraction : float
        Fraction of the 260 cases held out for testing (0.2 -> 52).
    """
    meta_path = paths[f"{ROOT}/dataset.json"]
    try:
        meta = json.loads(meta_path.read_text())
        labels = {int(k): str(v) for k, v in meta["labels"].items()}
        training = meta["training"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataFormatError(
            f"{meta_path}: expected an MSD dataset.json with 'labels' and 'training'; {exc}"
        ) from exc
    cases: list[tuple[Path, Path]] = []
    ids: list[str] = []
    for entry in sorted(training, key=lambda e: e["image"]):
        image_key = f"{ROOT}/{entry['image'].removeprefix('./')}"
        label_key = f"{ROOT}/{entry['label'].removeprefix('./')}"
        if image_key not in paths or label_key not in paths:
            raise DataFormatError(
                f"{meta_path}: training case {entry['image']} is not in the catalog's file list."
            )
        cases.append((paths[image_key], paths[label_key]))
        ids.append(Path(image_key).name.removesuffix(".nii.gz"))
    train, _, test = train_val_test_indices(
        len(cases), val_fraction=0.0, test_fraction=test_fraction, seed=seed
    )
    return HippocampusData(
        cases=cases,
        case_ids=ids,
        labels=labels,
        train_indices=train,
        test_indices=test,
        seed=seed,
        metadata={"modality": meta.get("modality", {}), "name": meta.get("name", "")},
    )


def _files() -> tuple[DataFile, ...]:
    return tuple(
        DataFile(f"{ROOT}/{path}", f"{RAW_BASE}/{path}", f"sha256:{sha}", size)
        for path, sha, size in hippocampus_files()
    )


register_dataset(
    DatasetSpec(
        name=NAME,
        modality="mri",
        task="segmentation",
        files=_files(),
        license="CC BY-SA 4.0",
        citation=CITATION,
        loader=load_hippocampus,
        description=(
            "Medical Segmentation Decathlon Task04 hippocampus: 260 MR crops, labels anterior / "
            f"posterior hippocampus; canonical source {PUBLISHER_ARCHIVE}"
        ),
        extra="imaging",
        metadata={
            "canonical_source": PUBLISHER_ARCHIVE,
            "labels": {"0": "background", "1": "Anterior", "2": "Posterior"},
            "n_samples": {"train": 208, "test": 52},
            "spacing_mm": [1.0, 1.0, 1.0],
            "requires": ["nibabel"],
        },
    )
)
