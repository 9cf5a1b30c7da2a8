"""A user's own folder of images: what ``precisionmed imaging train --data-dir`` trains on.

Classification (:func:`load_image_folder`), one of two layouts:

- class subfolders, as torchvision's ``ImageFolder``: ``DIR/<label>/<image>``, the label being
  the subfolder's name;
- a labels file ``DIR/labels.csv`` with the columns ``file`` (path relative to ``DIR``) and
  ``label``, and optionally ``split`` (``train``, ``val`` or ``test`` on every row).

Images are DICOM files or series folders, NIfTI, PNG/JPEG or npz, read with
:func:`precisionmed.io.read_medical_image` and turned into model inputs by the same
:func:`~precisionmed.imaging.transforms.to_model_input` that prediction uses, fitted to ``size``
(2D images letterboxed: aspect ratio kept, zero padding; the model's input spec records it).
Without a ``split`` column the images are split 70/10/20 into train/validation/test, stratified
by class and seeded (:func:`precisionmed.data.train_val_test_indices`).

Segmentation (:func:`load_segmentation_folder`): ``DIR/images/<case>`` with the mask of the
same name in ``DIR/labels/<case>`` (or ``imagesTr``/``labelsTr``, the Medical Segmentation
Decathlon's layout), and optionally the Decathlon's ``dataset.json`` naming the labels.

A bad folder is refused with one line naming the folder, the file, or the labels file's row and
column: empty, one class only, an unreadable image, a missing file, mixed channel counts or
dimensionalities, an image without its mask.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.data.splits import train_val_test_indices
from precisionmed.errors import DataFormatError
from precisionmed.imaging.datasets import ClassificationData

LABELS_FILE = "labels.csv"
SPLITS = ("train", "val", "test")
#: The (images, masks) subfolder pairs a segmentation folder may use.
SEGMENTATION_LAYOUTS = (("images", "labels"), ("imagesTr", "labelsTr"))


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _digest(root: Path, files: Sequence[Path]) -> str:
    """sha256 over each file's relative path and content (recorded in the model directory)."""
    total = hashlib.sha256()
    for path in sorted(files):
        if path.is_file():
            total.update(f"{path.relative_to(root)}\0".encode())
            total.update(hashlib.sha256(path.read_bytes()).digest())
    return f"sha256:{total.hexdigest()}"


def _from_subfolders(root: Path) -> tuple[list[Path], list[str], list[str] | None]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not classes:
        raise DataFormatError(
            f"{root}: no class subfolders and no {LABELS_FILE}; expected DIR/<label>/<image> "
            f"or DIR/{LABELS_FILE} with the columns file,label."
        )
    files, labels = [], []
    for folder in classes:
        for path in sorted(p for p in folder.iterdir() if _visible(p)):
            files.append(path)
            labels.append(folder.name)
    return files, labels, None


def _from_labels_csv(root: Path) -> tuple[list[Path], list[str], list[str] | None]:
    table = root / LABELS_FILE
    try:
        with table.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))  # three short columns: the csv module is enough
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(f"{table}: not a readable CSV file ({exc}).") from exc
    if not rows:
        raise DataFormatError(f"{table}: empty; expected a header row file,label[,split].")
    header = [name.strip() for name in rows[0]]
    for required in ("file", "label"):
        if header.count(required) != 1:
            raise DataFormatError(
                f"{table}: expected one column {required!r} in the header; got {header}."
            )
    if header.count("split") > 1:
        raise DataFormatError(f"{table}: the header names column 'split' twice; got {header}.")
    col = {name: header.index(name) for name in ("file", "label", "split") if name in header}
    files, labels, splits = [], [], []
    for number, row in enumerate(rows[1:], start=1):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise DataFormatError(
                f"{table}: row {number}: expected {len(header)} fields; got {len(row)}."
            )
        name, label = row[col["file"]].strip(), row[col["label"]].strip()
        if not label:
            raise DataFormatError(
                f"{table}: row {number}, column 'label': empty; expected a label."
            )
        path = root / name
        if not name or not path.exists():
            raise DataFormatError(
                f"{table}: row {number}, column 'file': no such file {name!r} in {root}."
            )
        files.append(path)
        labels.append(label)
        if "split" in col:
            split = row[col["split"]].strip().lower()
            if split not in SPLITS:
                raise DataFormatError(
                    f"{table}: row {number}, column 'split': expected one of {list(SPLITS)}; "
                    f"got {row[col['split']]!r}."
                )
            splits.append(split)
    return files, labels, splits if "split" in col else None


def _read(path: Path) -> Any:
    from precisionmed.imaging.classifier import read_input_image

    return read_input_image(path)


def _geometry(image: Any) -> tuple[int, int]:
    """``(spatial_dims, channels)``: a single-slice volume counts as a 2D image."""
    dims = image.spatial_ndim
    if dims == 3 and not image.is_color and image.array.shape[0] == 1:
        dims = 2
    return dims, 3 if image.is_color else 1


def load_image_folder(
    root: str | Path,
    *,
    size: int = 64,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    subset: int | None = None,
) -> ClassificationData:
    """Read a folder of labelled images as a :class:`ClassificationData`.

    Parameters
    ----------
    root : str or Path
        Class subfolders (``root/<label>/<image>``) or ``root/labels.csv`` (``file,label[,split]``).
    size : int
        Side of the model input in pixels (voxels for 3D volumes); every 2D image is letterboxed
        to it (scaled to fit, aspect ratio kept, zero padding), every volume resized to it.
    seed : int
        Seed of the stratified split (when the labels file has no ``split`` column).
    val_fraction, test_fraction : float
        Parts of the images held out for validation (early stopping, calibration) and testing.
    subset : int, optional
        Keep only the first ``subset`` images of each split (smoke runs).

    Returns
    -------
    ClassificationData
        ``name`` is the folder's name; labels sorted by name; ``task`` ``"binary-class"`` for two
        classes, else ``"multi-class"``; images float32 (N, C, size, size[, size]) in [0, 1].

    Raises
    ------
    DataFormatError
        The folder is missing or empty, holds one class only, an image cannot be read (file
        named), the labels file names a missing file (row and column named), or the images mix
        channel counts or dimensionalities.
    ConfigError
        A class has too few images to be split.
    """
    from precisionmed.imaging.letterbox import default_resize
    from precisionmed.imaging.transforms import to_model_input

    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"{root}: no such folder; expected a folder of images.")
    if size < 8:
        raise DataFormatError(f"size must be at least 8 pixels; got {size}.")
    layout = _from_labels_csv if (root / LABELS_FILE).is_file() else _from_subfolders
    files, labels, given_splits = layout(root)
    if not files:
        raise DataFormatError(f"{root}: no images found; expected DIR/<label>/<image> files.")
    names = sorted(set(labels))
    if len(names) < 2:
        raise DataFormatError(
            f"{root}: one class only ({names[0]!r}, {len(files)} images); expected at least two."
        )
    images: list[Any] = []
    first_of: dict[tuple[int, int], Path] = {}
    for path in files:
        image = _read(path)
        geometry = _geometry(image)
        first_of.setdefault(geometry, path)
        if len(first_of) > 1:
            (g1, p1), (g2, p2) = first_of.items()
            raise DataFormatError(
                f"{root}: mixed images: {p1} is {g1[0]}D with {g1[1]} channel(s) but {p2} is "
                f"{g2[0]}D with {g2[1]} channel(s); expected every image alike."
            )
        images.append(image)
    spatial_dims, n_channels = next(iter(first_of))
    shape = (size,) * spatial_dims
    # the fit the saved model's input spec records (classifier_input_spec), so that
    # prediction letterboxes a non-square 2D image exactly as training did
    resize = default_resize(spatial_dims)
    x = np.stack(
        [
            np.asarray(
                to_model_input(
                    im, spatial_dims=spatial_dims, n_channels=n_channels, size=shape, resize=resize
                )
            )
            for im in images
        ]
    ).astype(np.float32)
    y = np.array([names.index(label) for label in labels], dtype=np.int64)
    parts: tuple[np.ndarray, ...]
    if given_splits is None:
        parts = train_val_test_indices(
            len(y), val_fraction=val_fraction, test_fraction=test_fraction, stratify=y, seed=seed
        )
    else:
        parts = tuple(np.flatnonzero(np.array(given_splits) == s) for s in SPLITS)
        empty = [s for s, idx in zip(SPLITS, parts, strict=True) if len(idx) == 0]
        if empty:
            raise DataFormatError(
                f"{root / LABELS_FILE}: column 'split' gives no {empty} images; expected "
                "images in each of train, val and test."
            )
    arrays = {}
    for split, idx in zip(SPLITS, parts, strict=True):
        idx = idx[:subset] if subset else idx
        arrays[split] = (x[idx], y[idx])
    return ClassificationData(
        name=root.resolve().name,
        task="binary-class" if len(names) == 2 else "multi-class",
        labels=names,
        n_channels=n_channels,
        spatial_dims=spatial_dims,
        size=shape,
        arrays=arrays,
        checksum=_digest(root, files),
    )


@dataclass
class SegmentationFolder:
    """A folder of images with masks, as ``train_segmenter`` takes it.

    It offers the same ``split`` and ``labels`` as the catalog's hippocampus set, so that
    :func:`~precisionmed.imaging.segmentation.train_segmenter` trains on either.

    Attributes
    ----------
    name : str
        The folder's name.
    cases : list of (Path, Path)
        ``(image, mask)`` files, sorted by file name.
    labels : dict of int to str
        Mask value -> name (0 is the background).
    train_indices, test_indices : ndarray of int
        Seeded split into ``cases``.
    modality : str
        From ``dataset.json`` where given, else ``"unknown"``.
    checksum : str
        sha256 over every file's relative path and content.
    """

    name: str
    cases: list[tuple[Path, Path]]
    labels: dict[int, str]
    train_indices: np.ndarray
    test_indices: np.ndarray
    modality: str = "unknown"
    checksum: str = ""
    description: str = field(default="")

    def split(self, name: str) -> list[tuple[Path, Path]]:
        """The ``(image, mask)`` pairs of ``"train"`` or ``"test"``."""
        if name not in ("train", "test"):
            raise DataFormatError(f"Split must be 'train' or 'test'. Got {name!r} instead.")
        idx = self.train_indices if name == "train" else self.test_indices
        return [self.cases[i] for i in idx]


def is_segmentation_folder(root: str | Path) -> bool:
    """True where ``root`` holds an images/labels (or imagesTr/labelsTr) pair of subfolders."""
    return any(
        (Path(root) / a).is_dir() and (Path(root) / b).is_dir() for a, b in SEGMENTATION_LAYOUTS
    )


def _label_names(root: Path, masks: Sequence[Path]) -> tuple[dict[int, str], str]:
    meta_path = root / "dataset.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            labels = {int(k): str(v) for k, v in meta["labels"].items()}
            modality = str(next(iter(meta.get("modality", {}).values()), "unknown"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataFormatError(
                f"{meta_path}: expected a JSON object with 'labels' (value -> name); {exc}"
            ) from exc
        return labels, modality.lower()
    from precisionmed.imaging.volumes import read_volume

    values: set[int] = set()
    for mask in masks:
        values |= {int(v) for v in np.unique(np.rint(read_volume(mask).array))}
    top = max(values)
    if top < 1 or values != set(range(top + 1)):
        raise DataFormatError(
            f"{root}: the masks hold the values {sorted(values)}; expected the labels 0 "
            "(background), 1, ..., K with no gap (or a dataset.json naming them)."
        )
    names = {0: "background"} | {v: f"label_{v}" for v in range(1, top + 1)}
    return names, "unknown"


def load_segmentation_folder(
    root: str | Path, *, seed: int = 0, test_fraction: float = 0.2
) -> SegmentationFolder:
    """Pair the images of a folder with their masks and split them (seeded).

    Parameters
    ----------
    root : str or Path
        ``root/images/<case>`` and ``root/labels/<case>`` (or ``imagesTr``/``labelsTr``), NIfTI
        or other 3D volumes; optionally ``root/dataset.json`` with ``labels`` and ``modality``.
    seed : int
        Seed of the train/test split.
    test_fraction : float
        Part of the cases held out for testing.

    Raises
    ------
    DataFormatError
        No such layout, no images, an image without its mask or a mask without its image.
    """
    root = Path(root)
    for images_dir, masks_dir in SEGMENTATION_LAYOUTS:
        if (root / images_dir).is_dir() and (root / masks_dir).is_dir():
            break
    else:
        raise DataFormatError(
            f"{root}: expected subfolders images/ and labels/ (or imagesTr/ and labelsTr/) "
            "holding each image and its mask under the same file name."
        )
    images = sorted(p for p in (root / images_dir).iterdir() if _visible(p))
    masks = {p.name: p for p in (root / masks_dir).iterdir() if _visible(p)}
    if not images:
        raise DataFormatError(f"{root / images_dir}: no images.")
    cases = []
    for image in images:
        if image.name not in masks:
            raise DataFormatError(
                f"{image}: no mask {root / masks_dir / image.name}; expected one mask per image "
                "under the same file name."
            )
        cases.append((image, masks.pop(image.name)))
    if masks:
        orphan = sorted(masks)[0]
        raise DataFormatError(
            f"{root / masks_dir / orphan}: a mask without its image {root / images_dir / orphan}."
        )
    labels, modality = _label_names(root, [m for _, m in cases])
    train, _, test = train_val_test_indices(
        len(cases), val_fraction=0.0, test_fraction=test_fraction, seed=seed
    )
    return SegmentationFolder(
        name=root.resolve().name,
        cases=cases,
        labels=labels,
        train_indices=train,
        test_indices=test,
        modality=modality,
        checksum=_digest(root, [p for pair in cases for p in pair]),
        description=f"{len(cases)} image/mask pairs from {root.resolve().name}",
    )
