"""Volumes for segmentation: reading, reorientation and MONAI preprocessing.

:func:`read_volume` reads NIfTI / DICOM into :mod:`precisionmed.io`'s convention (``(D, H, W)``
arrays with an index -> RAS+ affine); :func:`reorient` / :func:`undo_reorient` move volumes to
and from the training orientation; :func:`segmentation_transforms` and
:class:`SegmentationDataset` are the MONAI preprocessing and the in-memory training dataset that
:func:`precisionmed.imaging.segmentation.train_segmenter` uses and the
:class:`~precisionmed.imaging.segmenter.ImageSegmenter` mirrors at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from precisionmed.errors import DataFormatError
from precisionmed.io.image import Image

NORMALISATION = "z-score per volume over all voxels (monai NormalizeIntensity)"


def read_volume(path: str | Path) -> Image:
    """Read a NIfTI file, a DICOM file or a DICOM series folder as an :class:`Image`.

    :func:`precisionmed.io.read_medical_image`: arrays are ``(D, H, W)`` with an index -> RAS+
    affine (see :mod:`precisionmed.io.image`); unreadable files raise a one-line
    :class:`DataFormatError`.
    """
    from precisionmed.io import read_medical_image

    return read_medical_image(path)


def axcodes(affine: np.ndarray) -> str:
    """Orientation code of the array axes (``"SAR"`` for an MSD volume read as (D, H, W))."""
    import nibabel.orientations as nio

    return "".join(nio.aff2axcodes(affine))


def reorient(array: np.ndarray, affine: np.ndarray | None, target: str) -> np.ndarray:
    """Flip/transpose the last three axes of ``array`` from ``affine``'s orientation to ``target``.

    ``array`` is ``(..., D, H, W)``; without an affine it is returned unchanged.
    """
    if affine is None:
        return array
    import nibabel.orientations as nio

    transform = nio.ornt_transform(nio.io_orientation(affine), nio.axcodes2ornt(tuple(target)))
    lead = array.ndim - 3
    out = array
    # apply_orientation works on the first axes; move the spatial axes to the front.
    out = np.moveaxis(out, list(range(lead, array.ndim)), [0, 1, 2])
    out = nio.apply_orientation(out, transform)
    return np.ascontiguousarray(np.moveaxis(out, [0, 1, 2], list(range(lead, array.ndim))))


def undo_reorient(array: np.ndarray, affine: np.ndarray | None, source: str) -> np.ndarray:
    """Inverse of :func:`reorient`: from orientation ``source`` back to ``affine``'s."""
    if affine is None:
        return array
    import nibabel.orientations as nio

    transform = nio.ornt_transform(nio.axcodes2ornt(tuple(source)), nio.io_orientation(affine))
    return np.ascontiguousarray(nio.apply_orientation(array, transform))


def segmentation_transforms(patch_size: Sequence[int], *, train: bool) -> Any:
    """MONAI dict transforms on ``{"image": (1, D, H, W), "label": (1, D, H, W)}``.

    Deterministic: z-score normalisation of the image, zero padding of both up to
    ``patch_size``. Training then takes a random ``patch_size`` crop and adds a left-right flip
    (the W axis of the training orientation), a small random rotation/scaling and intensity
    scale/shift; evaluation takes the central crop.
    """
    from monai import transforms as mt

    keys = ["image", "label"]
    patch = tuple(int(p) for p in patch_size)
    steps: list[Any] = [
        mt.NormalizeIntensityd(keys="image"),
        mt.SpatialPadd(keys=keys, spatial_size=patch),
        mt.EnsureTyped(keys=keys, track_meta=False),
    ]
    if train:
        steps += [
            mt.RandSpatialCropd(keys=keys, roi_size=patch, random_size=False),
            mt.RandFlipd(keys=keys, prob=0.5, spatial_axis=2),
            mt.RandAffined(
                keys=keys,
                prob=0.3,
                rotate_range=(0.2, 0.2, 0.2),
                scale_range=(0.1, 0.1, 0.1),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            mt.RandScaleIntensityd(keys="image", factors=0.1, prob=0.5),
            mt.RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
        ]
    else:
        steps.append(mt.CenterSpatialCropd(keys=keys, roi_size=patch))
    return mt.Compose(steps)


class SegmentationDataset(Dataset):
    """``(image, label)`` tensors of shape (1, *patch_size) from NIfTI pairs, cached in memory.

    Parameters
    ----------
    pairs : list of (path, path)
        Image and label files.
    patch_size : sequence of int
        Fixed spatial size after pad/crop.
    orientation : str
        Axis codes every volume is reoriented to (the training orientation).
    train : bool
        Apply random augmentation.
    seed : int
        Seed of the random transforms.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        patch_size: Sequence[int],
        orientation: str,
        *,
        train: bool,
        seed: int = 0,
    ) -> None:
        from monai.data import CacheDataset

        items = []
        for image_path, label_path in pairs:
            image, label = read_volume(image_path), read_volume(label_path)
            if image.array.shape != label.array.shape:
                raise DataFormatError(
                    f"{label_path}: label shape {label.array.shape} differs from image "
                    f"{image_path} shape {image.array.shape}."
                )
            arr = reorient(image.array.astype(np.float32), image.affine, orientation)
            lab = reorient(np.rint(label.array).astype(np.int64), label.affine, orientation)
            items.append({"image": arr[None], "label": lab[None]})
        transform = segmentation_transforms(patch_size, train=train)
        transform.set_random_state(seed=seed)
        self._data = CacheDataset(items, transform=transform, progress=False, num_workers=0)

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self._data[index]
        image = torch.as_tensor(item["image"], dtype=torch.float32)
        return image, torch.as_tensor(item["label"]).long()
