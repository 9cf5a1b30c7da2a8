"""Fitting an image to a model's input size: stretched, or letterboxed to keep its proportions.

A 2D classifier has a square input (28 or 64 pixels a side); a radiograph or a mammogram is not
square. ``"letterbox"`` scales it by one factor so that it fits and pads the rest with zeros, so
anatomy keeps its shape; ``"stretch"`` resizes each axis on its own (what models saved before
:attr:`~precisionmed.predict.ImageInputSpec.resize` was recorded did). :func:`letterbox_geometry`
gives where the image lands, which :func:`precisionmed.imaging.gradcam.cam_on_image` uses to map a
heat map back onto the original image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from precisionmed.errors import ConfigError

#: How an image of another shape is fitted to the model's input size (ImageInputSpec.resize).
RESIZE_MODES = ("stretch", "letterbox")

__all__ = ["RESIZE_MODES", "default_resize", "fit_to_size", "letterbox_geometry"]


def default_resize(spatial_dims: int) -> str:
    """How a newly trained classifier fits images to its input: ``"letterbox"`` for 2D (a
    non-square radiograph keeps its proportions), ``"stretch"`` for 3D volumes (whose slice
    counts and voxel sizes differ by axis anyway)."""
    return "letterbox" if spatial_dims == 2 else "stretch"


def letterbox_geometry(
    shape: Sequence[int], size: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where an image of ``shape`` lands when letterboxed into ``size``.

    Parameters
    ----------
    shape : sequence of int
        The image's spatial shape, e.g. (H, W).
    size : sequence of int
        The model's spatial input shape, same length.

    Returns
    -------
    scaled : tuple of int
        The image's shape after one common scale factor (the largest that fits).
    before : tuple of int
        Zero padding before the image along each axis (``(size - scaled) // 2``, as MONAI's
        symmetric ``SpatialPad``); the rest is padded after.
    """
    scale = min(t / s for s, t in zip(shape, size, strict=True))
    scaled = tuple(max(1, min(int(t), round(s * scale))) for s, t in zip(shape, size, strict=True))
    before = tuple((int(t) - s) // 2 for s, t in zip(scaled, size, strict=True))
    return scaled, before


def fit_to_size(array: np.ndarray, size: Sequence[int], *, resize: str = "stretch") -> np.ndarray:
    """Resize a (C, *spatial) array to ``size`` by stretching or letterboxing (MONAI).

    Parameters
    ----------
    array : np.ndarray of shape (C, H, W) or (C, D, H, W)
    size : sequence of int
        Target spatial shape.
    resize : {"stretch", "letterbox"}
        ``"stretch"``: each axis resized on its own. ``"letterbox"``: one scale factor for all
        axes (aspect ratio kept, :func:`letterbox_geometry`), then zero padding to ``size``.
        Area interpolation when shrinking, (bi/tri)linear when enlarging.

    Returns
    -------
    np.ndarray of float32, shape (C, *size)
    """
    from monai.transforms import Resize, SpatialPad

    if resize not in RESIZE_MODES:
        raise ConfigError(
            f"The 'resize' parameter must be one of {RESIZE_MODES}. Got {resize!r} instead."
        )
    size = tuple(int(s) for s in size)
    shape = tuple(array.shape[1:])
    target = size if resize == "stretch" else letterbox_geometry(shape, size)[0]
    out = torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32))
    if shape != target:
        down = all(s >= t for s, t in zip(shape, target, strict=True))
        mode = "area" if down else ("bilinear" if len(size) == 2 else "trilinear")
        out = torch.as_tensor(Resize(spatial_size=target, mode=mode)(out))
    if target != size:
        out = torch.as_tensor(SpatialPad(spatial_size=size, method="symmetric")(out))
    return np.asarray(out, dtype=np.float32)
