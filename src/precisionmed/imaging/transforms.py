"""MONAI transforms for classification: training augmentation and a user image -> model input.

A user image becomes model input by the range its file declares (bit depth, DICOM Bits Stored
or window), never by its own minimum and maximum, so the same picture stored in 8 or 16 bits gives
the same input; :func:`prepare_image` also says in plain sentences how the image differs from the
training data.

Array-form MONAI transforms on channel-first tensors ``(C, H, W)`` / ``(C, D, H, W)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.letterbox import fit_to_size, letterbox_geometry

if TYPE_CHECKING:
    from precisionmed.io.image import Image
    from precisionmed.predict import ImageInputSpec

AUGMENTATIONS = ("none", "light", "strong")
NORMALISATION = (
    "images scaled to [0, 1] by the range their file declares: 8-bit PNG/JPEG/npz (and the "
    "MedMNIST training images) divided by 255, 16-bit by 65535; DICOM after Rescale "
    "Slope/Intercept by its VOI window where it has one, else by its Bits Stored range; float "
    "arrays without a declared range by the training images' range; fitted to the model's "
    "input size with area interpolation (2D: letterboxed, aspect ratio kept and zero padding)"
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


def replace_non_finite(array: np.ndarray, *, where: str = "image") -> tuple[np.ndarray, list[str]]:
    """NaN and infinite values replaced by the lowest finite value, with a warning.

    Parameters
    ----------
    array : np.ndarray
        Intensities of any shape.
    where : str
        Names the input in the error message (a file path).

    Returns
    -------
    array : np.ndarray of float32
        ``array`` with every non-finite value replaced (a copy where any was).
    warnings : list of str
        One sentence giving how many values were replaced and by what; empty if none.

    Raises
    ------
    DataFormatError
        No finite value at all (an all-NaN image cannot be predicted).
    """
    a = np.asarray(array, dtype=np.float32)
    finite = np.isfinite(a)
    if finite.all():
        return a, []
    if not finite.any():
        raise DataFormatError(
            f"{where}: expected an image with finite intensities; got {a.size} values, all NaN "
            "or infinite"
        )
    low = float(a[finite].min())
    n_bad = int(a.size - finite.sum())
    message = (
        f"{n_bad} of {a.size} values ({n_bad / a.size:.1%}) are NaN or infinite; they were "
        f"replaced by the image's lowest finite value ({low:g})."
    )
    return np.where(finite, a, np.float32(low)).astype(np.float32), [message]


def _span(lo: float, hi: float) -> str:
    return f"[{lo:g}, {hi:g}]"


def scale_intensities(
    array: np.ndarray, value_range: tuple[float, float] | None, *, declared: bool
) -> tuple[np.ndarray, list[str]]:
    """Map ``value_range`` linearly to ``[0, 1]``; values outside it are clipped, with a warning.

    Parameters
    ----------
    array : np.ndarray
        Finite intensities.
    value_range : (float, float) or None
        The range to map to [0, 1]: the file's declared range, or the training images' range.
        None: the image's own minimum and maximum (with a warning: the result depends on the
        image, not on a fixed scale).
    declared : bool
        True when ``value_range`` comes from the file. When it comes from the training data,
        an image using under 5% of it is reported (floats already scaled to [0, 1] given to a
        model trained on 0-255, for instance).

    Returns
    -------
    scaled : np.ndarray of float32 in [0, 1]
    warnings : list of str
    """
    a = np.asarray(array, dtype=np.float32)
    lo_img, hi_img = float(a.min()), float(a.max())
    warnings: list[str] = []
    if value_range is None:
        warnings.append(
            "The image declares no intensity range and the model records none; it was scaled "
            f"by its own minimum and maximum {_span(lo_img, hi_img)}."
        )
        lo, hi = lo_img, hi_img
    else:
        lo, hi = value_range
        tol = 1e-6 * max(1.0, hi - lo)
        if lo_img < lo - tol or hi_img > hi + tol:
            source = "the file declares" if declared else "the model was trained on"
            warnings.append(
                f"Intensities span {_span(lo_img, hi_img)}, outside the range {source} "
                f"{_span(lo, hi)}; they were clipped to it."
            )
        elif not declared and hi > lo and (hi_img - lo_img) < 0.05 * (hi - lo):
            warnings.append(
                f"Intensities span {_span(lo_img, hi_img)}, under 5% of the range the model was "
                f"trained on {_span(lo, hi)}; check that the image is not already rescaled."
            )
    if hi <= lo:
        return np.zeros_like(a), warnings
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32), warnings


def scale_image(image: Image, spec: ImageInputSpec) -> tuple[np.ndarray, list[str]]:
    """A read image as channel-first intensities in [0, 1] at its own resolution.

    The first steps of :func:`prepare_image` (all but fitting to the model's size): channels as
    the model needs, NaN/inf replaced, intensities scaled by the declared or training range.

    Parameters
    ----------
    image : precisionmed.io.Image
        ``array`` of shape (H, W), (H, W, 3) or (D, H, W).
    spec : ImageInputSpec
        The model's input specification.

    Returns
    -------
    scaled : np.ndarray of float32, shape (spec.channels, *image spatial shape)
    warnings : list of str
    """
    from precisionmed.io.image import check_spatial_dims
    from precisionmed.predict import modality_warning

    other_modality = modality_warning(image.modality, spec, "image")
    warnings: list[str] = [other_modality] if other_modality else []
    array = np.asarray(image.array)
    if spec.spatial_dims == 2 and not image.is_color and array.ndim == 3:
        if array.shape[0] == 1:  # a single-slice volume is a 2D image (modality, range kept)
            array = array[0]
            image = dataclasses.replace(image, array=array, spacing=image.spacing[1:], affine=None)
        else:
            raise DataFormatError(
                f"{image.path}: expected a 2D image (H, W) or (H, W, 3), got {array.shape[0]} "
                f"frames of {array.shape[1]} x {array.shape[2]} (a multi-frame image or volume); "
                "choose frames with --frames all, --frames K (0-based) or --frames 0,3,5"
            )
    check_spatial_dims(image, spec.spatial_dims)
    if image.is_color:
        channels = np.moveaxis(array, -1, 0)
        if spec.channels == 1:  # ITU-R BT.601 luminance, as PIL's convert("L")
            channels = np.tensordot([0.299, 0.587, 0.114], channels, axes=1)[None]
            warnings.append(
                "The colour image was converted to grey (luminance); the model was trained on "
                "grey images."
            )
    else:
        channels = array[None]
        if spec.channels == 3:
            channels = np.repeat(channels, 3, axis=0)
            warnings.append(
                "The grey image was repeated into 3 channels; the model was trained on colour "
                "images."
            )
    if channels.shape[0] != spec.channels:
        raise DataFormatError(
            f"{image.path}: expected an image with {spec.channels} channel(s), got shape "
            f"{array.shape}"
        )
    finite, notes = replace_non_finite(channels, where=str(image.path or "image"))
    warnings += notes
    declared = image.value_range
    scaled, notes = scale_intensities(
        finite, declared or spec.source_range, declared=declared is not None
    )
    return scaled, warnings + notes


def prepare_image(image: Image, spec: ImageInputSpec) -> tuple[torch.Tensor, list[str]]:
    """Turn a read clinical image into one model input, saying how it differs from training.

    Steps (:func:`scale_image`): a single-slice volume becomes a 2D image; colour is converted
    to grey luminance (or grey repeated to 3 channels) as the model needs; NaN/inf values are
    replaced by the lowest finite value; intensities are scaled to [0, 1] by the range the file
    declares (:attr:`precisionmed.io.Image.value_range`) or else by the training range
    (``spec.source_range``). Then the image is fitted to ``spec.size`` as ``spec.resize`` says:
    stretched, or letterboxed (aspect ratio kept, zero padding; see
    :func:`~precisionmed.imaging.letterbox.fit_to_size`).

    Parameters
    ----------
    image : precisionmed.io.Image
        ``array`` of shape (H, W), (H, W, 3) or (D, H, W).
    spec : ImageInputSpec
        The model's input specification.

    Returns
    -------
    x : Tensor of shape (spec.channels, *spec.size)
        float32 in [0, 1].
    warnings : list of str
        Plain sentences: a DICOM modality other than the training one, a colour conversion,
        replaced NaN values, intensities outside the range, a resize by more than
        :data:`~precisionmed.predict.RESIZE_WARNING_FACTOR`.

    Raises
    ------
    DataFormatError
        Wrong number of spatial dimensions or channels for the model (a multi-frame image for a
        2D model included: choose its frames with :func:`precisionmed.imaging.frames.split_frames`),
        or no finite value (one line naming the file, what was expected and what was got).
    """
    from precisionmed.predict import RESIZE_WARNING_FACTOR

    scaled, warnings = scale_image(image, spec)
    size = tuple(spec.size or scaled.shape[1:])
    if tuple(scaled.shape[1:]) != size:
        letterbox = spec.resize == "letterbox"
        fitted = letterbox_geometry(scaled.shape[1:], size)[0] if letterbox else size
        factor = max(max(s / t, t / s) for s, t in zip(scaled.shape[1:], fitted, strict=True))
        if factor > RESIZE_WARNING_FACTOR:
            got = " x ".join(map(str, scaled.shape[1:]))
            want = " x ".join(map(str, size))
            warnings.append(
                f"The image ({got}) was resized to the model's {want} input, by a factor of "
                f"{factor:.1f}; detail finer than that resolution is lost."
            )
        scaled = fit_to_size(scaled, size, resize=spec.resize)
    return torch.as_tensor(np.ascontiguousarray(scaled, dtype=np.float32)), warnings


def to_model_input(
    image: Image,
    *,
    spatial_dims: int,
    n_channels: int,
    size: Sequence[int],
    source_range: tuple[float, float] | None = None,
    resize: str = "stretch",
) -> torch.Tensor:
    """Turn a read clinical image into one model input (:func:`prepare_image` without warnings).

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
    source_range : (float, float), optional
        The training images' value range, used where the file declares none (float arrays);
        without either the image is min-max scaled.
    resize : {"stretch", "letterbox"}
        How an image of another shape is fitted to ``size``
        (:func:`~precisionmed.imaging.letterbox.fit_to_size`); training on a folder uses
        :func:`~precisionmed.imaging.letterbox.default_resize`, as the saved model's spec records.

    Returns
    -------
    Tensor of shape (n_channels, *size)
        float32 in [0, 1] (see :data:`NORMALISATION`).

    Raises
    ------
    DataFormatError
        The image has the wrong number of spatial dimensions for the model (one line naming the
        file, what was expected and what was got), or no finite value.
    """
    from precisionmed.predict import ImageInputSpec

    spec = ImageInputSpec(
        modality=None,
        dicom_modalities=(),
        photometric="RGB" if n_channels == 3 else "MONOCHROME2",
        channels=n_channels,
        spatial_dims=spatial_dims,
        size=tuple(int(s) for s in size),
        source_range=source_range,
        intensity_range=(0.0, 1.0),
        scaling=NORMALISATION,
        resize=resize,
    )
    return prepare_image(image, spec)[0]
