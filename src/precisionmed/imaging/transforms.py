"""MONAI transforms for classification: training augmentation and a user image -> model input.

Array-form MONAI transforms on channel-first tensors ``(C, H, W)`` / ``(C, D, H, W)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from precisionmed.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from precisionmed.io.image import Image

AUGMENTATIONS = ("none", "light", "strong")
NORMALISATION = (
    "images scaled to [0, 1]: 8-bit inputs (integers in 0-255, e.g. MedMNIST, PNG, JPEG) "
    "divided by 255, any other input (DICOM, NIfTI, float arrays) min-max scaled; resized to "
    "the model's input size with area interpolation"
)


def augmentation(spatial_dims: int, level: str = "light", seed: int = 0) -> Callable | None:
    """Random training augmentation as a seeded MONAI ``Compose`` (None for ``"none"``).

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    level : {"none", "light", "strong"}
        ``"light"``: small random affine (rotation up to 10 degrees, 10% scaling, 2 px shift).
        ``"strong"``: also left-right flips, larger affine, contrast jitter and Gaussian noise.
    seed : int
        Seeds the random transforms (with ``num_workers=0`` the augmented epochs are
        reproducible).

    Returns
    -------
    callable or None
        Maps a (C, *spatial) tensor to an augmented tensor of the same shape.
    """
    from monai.transforms import (
        Compose,
        RandAdjustContrast,
        RandAffine,
        RandFlip,
        RandGaussianNoise,
    )

    if level not in AUGMENTATIONS:
        raise ConfigError(
            f"The 'augment' parameter must be one of {AUGMENTATIONS}. Got {level!r} instead."
        )
    if level == "none":
        return None
    strong = level == "strong"
    angle = math.radians(15 if strong else 10)
    rotate: Any = angle if spatial_dims == 2 else (angle, angle, angle)
    affine = RandAffine(
        prob=0.8 if strong else 0.5,
        rotate_range=rotate,
        scale_range=(0.15 if strong else 0.1,) * spatial_dims,
        translate_range=(3 if strong else 2,) * spatial_dims,
        padding_mode="border",
    )
    steps: list[Callable] = [affine]
    if strong:
        steps = [
            RandFlip(prob=0.5, spatial_axis=spatial_dims - 1),
            affine,
            RandAdjustContrast(prob=0.3, gamma=(0.8, 1.25)),
            RandGaussianNoise(prob=0.2, std=0.02),
        ]
    compose = Compose(steps)
    compose.set_random_state(seed=seed)
    return _PlainTensorTransform(compose)


class _PlainTensorTransform:
    """Run a MONAI transform single-threaded and without MetaTensor tracking.

    For one small image (28 px, 28^3 voxels) intra-op threading and per-sample metadata cost
    more than the resampling itself (about 10x slower on a busy 2-core machine); classification
    needs no metadata. Both global settings are restored after the call.
    """

    def __init__(self, transform: Callable) -> None:
        self.transform = transform

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from monai.data import get_track_meta, set_track_meta

        previous, threads = get_track_meta(), torch.get_num_threads()
        set_track_meta(False)
        torch.set_num_threads(1)
        try:
            return torch.as_tensor(self.transform(x))
        finally:
            set_track_meta(previous)
            torch.set_num_threads(threads)


def _is_8bit(array: np.ndarray) -> bool:
    """True for integer values within 0-255 (8-bit PNG/JPEG, MedMNIST)."""
    a = np.asarray(array)
    return bool(a.size and a.min() >= 0 and a.max() <= 255 and np.array_equal(a, np.round(a)))


def _scale_intensities(array: np.ndarray, eight_bit: bool) -> np.ndarray:
    a = np.asarray(array, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0).astype(np.float32)
    if eight_bit:
        return a / 255.0
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def to_model_input(
    image: Image,
    *,
    spatial_dims: int,
    n_channels: int,
    size: Sequence[int],
) -> torch.Tensor:
    """Turn a read clinical image into one model input.

    Parameters
    ----------
    image : precisionmed.io.Image
        ``array`` of shape (H, W), (H, W, 3) or (D, H, W).
    spatial_dims : int
        The model's: 2 or 3.
    n_channels : int
        The model's input channels: 1 (RGB inputs are converted to grey luminance) or 3 (grey
        inputs are repeated).
    size : sequence of int
        The model's spatial input shape.

    Returns
    -------
    Tensor of shape (n_channels, *size)
        float32 in [0, 1] (see :data:`NORMALISATION`).

    Raises
    ------
    DataFormatError
        The image has the wrong number of spatial dimensions for the model (one line naming the
        file, what was expected and what was got).
    """
    from monai.transforms import Resize

    from precisionmed.io.image import check_spatial_dims

    array = np.asarray(image.array)
    if spatial_dims == 2 and not image.is_color and array.ndim == 3 and array.shape[0] == 1:
        array = array[0]  # a single-slice volume is a 2D image
        image = type(image)(array=array, spacing=image.spacing[1:], path=image.path)
    check_spatial_dims(image, spatial_dims)
    eight_bit = _is_8bit(array)
    if image.is_color:
        channels = np.moveaxis(array, -1, 0)
        if n_channels == 1:  # ITU-R BT.601 luminance, as PIL's convert("L")
            channels = np.tensordot([0.299, 0.587, 0.114], channels, axes=1)[None]
    else:
        channels = array[None]
        if n_channels == 3:
            channels = np.repeat(channels, 3, axis=0)
    if channels.shape[0] != n_channels:
        raise DataFormatError(
            f"{image.path}: expected an image with {n_channels} channel(s), got shape {array.shape}"
        )
    scaled = _scale_intensities(channels, eight_bit)
    if tuple(scaled.shape[1:]) != tuple(size):
        down = all(s >= t for s, t in zip(scaled.shape[1:], size, strict=True))
        mode = "area" if down else ("bilinear" if spatial_dims == 2 else "trilinear")
        resized = Resize(spatial_size=tuple(size), mode=mode)(torch.as_tensor(scaled))
        scaled = np.asarray(torch.as_tensor(resized))
    return torch.as_tensor(np.ascontiguousarray(scaled, dtype=np.float32))
