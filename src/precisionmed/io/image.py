"""The result type every image reader of :mod:`precisionmed.io` returns.

Axis and world conventions, the same for DICOM, NIfTI, PNG/JPEG and npz:

* ``array`` is ``(H, W)`` for a grey 2D image, ``(H, W, 3)`` for an RGB one and ``(D, H, W)``
  for a volume (slice, row, column); a DICOM series is stacked along ``D`` and a NIfTI volume
  is transposed from nibabel's ``(x, y, z)`` to ``(z, y, x)`` so that both read the same way.
* ``spacing`` is in millimetres, one value per spatial axis, in the array's axis order.
* ``affine`` is a 4x4 matrix mapping array indices to RAS+ world coordinates in mm (the
  NIfTI/nibabel convention; DICOM's LPS positions are flipped on x and y). For a volume it maps
  ``(d, h, w, 1)``; for a 2D image it maps ``(h, w, 0, 1)`` and its third column is the slice
  normal times the slice thickness. ``None`` where the file carries no geometry (PNG/JPEG, a
  radiograph without Image Orientation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import DataFormatError

__all__ = ["Image", "check_spatial_dims", "orientation_code"]

# DICOM patient coordinates are LPS+; NIfTI world coordinates are RAS+.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Image:
    """An image or volume read from a clinical file, with its geometry.

    Attributes
    ----------
    array : np.ndarray
        float32 intensities (integer labels for segmentation masks) of shape ``(H, W)``,
        ``(H, W, 3)`` or ``(D, H, W)``; see the module docstring for the axis order.
    spacing : tuple of float
        Voxel size in mm along each spatial axis, in array order.
    affine : np.ndarray of shape (4, 4) or None
        Array index -> RAS+ world coordinates in mm, or None where unknown.
    modality : str or None
        DICOM modality (``"CT"``, ``"MR"``, ``"CR"``, ``"SEG"``...), or None for NIfTI/PNG/npz.
    photometric : str
        ``"MONOCHROME2"`` (higher is brighter, also after MONOCHROME1 inversion) or ``"RGB"``.
    path : Path or None
        The file or folder it was read from.
    metadata : dict
        Format-specific details: window centre/width, transfer syntax, series UID, labels...
        ``metadata["value_range"]`` is the range the file declares for the values (see
        :attr:`value_range`).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray | None = None
    modality: str | None = None
    photometric: str = "MONOCHROME2"
    path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_color(self) -> bool:
        """True for an RGB image of shape ``(H, W, 3)``."""
        return self.photometric == "RGB"

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The range the file declares for ``array``'s values, or None where it declares none.

        ``(0, 255)`` for an 8-bit PNG/JPEG or a uint8 npz, ``(0, 65535)`` for 16 bits; for DICOM
        the Bits Stored range after Rescale Slope/Intercept (or the modality LUT's), ``(0, 1)``
        once a VOI window or LUT was applied; None for floating-point npz and NIfTI data, whose
        scale only the data's origin knows. Image models map this range to ``[0, 1]``, so the same
        picture gives the same input whatever its bit depth.
        """
        value = self.metadata.get("value_range")
        return None if value is None else (float(value[0]), float(value[1]))

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes: 2 for ``(H, W)`` / ``(H, W, 3)``, 3 for ``(D, H, W)``."""
        return self.array.ndim - 1 if self.is_color else self.array.ndim

    @property
    def origin(self) -> tuple[float, ...] | None:
        """RAS+ world position (mm) of the first voxel's centre, or None when unknown."""
        if self.affine is None:
            return None
        return tuple(float(v) for v in self.affine[:3, 3])

    @property
    def orientation(self) -> str | None:
        """Direction code of the array axes, e.g. ``"SPL"`` or ``"RAS"``; None if unknown."""
        if self.affine is None:
            return None
        return orientation_code(self.affine, self.spatial_ndim)


def orientation_code(affine: np.ndarray, ndim: int = 3) -> str:
    """Direction each array axis points to, as letters of R/L, A/P, S/I.

    Parameters
    ----------
    affine : np.ndarray of shape (4, 4)
        Index -> RAS+ world affine.
    ndim : int
        Number of spatial array axes to describe (2 or 3).

    Returns
    -------
    str
        One letter per axis, e.g. ``"RAS"`` for a canonical NIfTI read as ``(x, y, z)`` or
        ``"SPL"`` for an axial DICOM series read as ``(D, H, W)``.
    """
    letters = (("L", "R"), ("P", "A"), ("I", "S"))
    code = []
    for axis in range(ndim):
        column = np.asarray(affine, dtype=float)[:3, axis]
        world = int(np.argmax(np.abs(column)))
        code.append(letters[world][int(column[world] > 0)])
    return "".join(code)


def check_spatial_dims(image: Image, spatial_dims: int, *, color: bool | None = None) -> Image:
    """Raise a one-line :class:`DataFormatError` unless ``image`` has ``spatial_dims`` axes.

    Parameters
    ----------
    image : Image
        A read image.
    spatial_dims : int
        2 for ``(H, W)`` images, 3 for ``(D, H, W)`` volumes.
    color : bool, optional
        If given, also require an RGB (True) or a grey (False) image.

    Returns
    -------
    Image
        ``image`` itself, so that calls can be chained.
    """
    what = {2: "a 2D image (H, W) or (H, W, 3)", 3: "a 3D volume (D, H, W)"}.get(
        spatial_dims, f"a {spatial_dims}D image"
    )
    got = (
        f"{image.spatial_ndim}D {'RGB ' if image.is_color else ''}data of shape {image.array.shape}"
    )
    if image.spatial_ndim != spatial_dims:
        raise DataFormatError(f"{image.path}: expected {what}, got {got}")
    if color is not None and image.is_color != color:
        kind = "an RGB" if color else "a greyscale"
        raise DataFormatError(f"{image.path}: expected {kind} image, got {got}")
    return image
