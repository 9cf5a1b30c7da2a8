"""NIfTI reading and mask writing (nibabel), in the (D, H, W) / RAS+ convention of :mod:`.image`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import DataFormatError, require_extra
from precisionmed.io.image import Image

__all__ = ["read_nifti", "write_nifti_mask"]

# nibabel's voxel axes are (x, y, z); ours are (z, y, x) = (D, H, W). Swapping the first and
# third index is its own inverse, so the same permutation converts affines both ways.
_SWAP_XZ = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _is_nifti_name(path: Path) -> bool:
    return path.name.lower().endswith(_NIFTI_SUFFIXES)


def read_nifti(path: str | Path, *, canonical: bool = True, labels: bool = False) -> Image:
    """Read a NIfTI-1/2 file (``.nii`` or ``.nii.gz``).

    Parameters
    ----------
    path : str or Path
        The file.
    canonical : bool
        Reorient to the closest canonical RAS+ voxel order first (``nibabel.as_closest_canonical``),
        so the returned ``(D, H, W)`` axes point to S, A, R (orientation code ``"SAR"``).
    labels : bool
        Return the stored integer values (a segmentation) instead of float32 intensities.

    Returns
    -------
    Image
        ``array`` of shape ``(D, H, W)`` = nibabel's ``(x, y, z)`` transposed to ``(z, y, x)``
        (4D files: ``(C, D, H, W)``), ``spacing`` in mm from the header zooms in the same order,
        ``affine`` index -> RAS+ mm.

    Raises
    ------
    DataFormatError
        Not a readable NIfTI file, or ``labels=True`` on non-integer data.
    """
    require_extra("nibabel", "imaging")
    import nibabel as nib

    path = Path(path)
    try:
        img: Any = nib.load(path)
        if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
            raise TypeError(f"{type(img).__name__} is not NIfTI")
        if canonical:
            img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj) if labels else img.get_fdata(dtype=np.float32)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, zlib/gzip errors...
        raise DataFormatError(
            f"{path}: not a readable NIfTI image ({type(exc).__name__}: {exc})"
        ) from exc
    if labels and not np.issubdtype(data.dtype, np.integer):
        if not np.array_equal(data, np.round(data)):
            raise DataFormatError(f"{path}: expected integer labels, got {data.dtype} fractions")
        data = data.astype(np.int32)
    if data.ndim not in (3, 4):
        raise DataFormatError(f"{path}: expected a 3D or 4D NIfTI image, got shape {data.shape}")
    # (x, y, z) -> (z, y, x); a 4th (channel/time) axis goes first: (c, z, y, x).
    spatial = np.ascontiguousarray(data.transpose(tuple(range(data.ndim))[::-1]))
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return Image(
        array=spatial,
        spacing=zooms[::-1],
        affine=img.affine @ _SWAP_XZ,
        modality=None,
        photometric="MONOCHROME2",
        path=path,
        metadata={
            "format": "nifti",
            "stored_dtype": str(img.get_data_dtype()),
            "canonical": canonical,
        },
    )


def write_nifti_mask(
    mask: np.ndarray,
    affine: np.ndarray | None,
    out_path: str | Path,
    *,
    spacing: tuple[float, ...] | None = None,
) -> Path:
    """Write an integer mask as NIfTI, with the geometry of the image it was predicted on.

    Parameters
    ----------
    mask : np.ndarray of shape (D, H, W) or (H, W)
        Integer labels (0 background) in the array convention of :class:`Image`.
    affine : np.ndarray of shape (4, 4) or None
        ``Image.affine`` of the source image (index -> RAS+ mm); None writes an axis-aligned
        affine with ``spacing`` (default 1 mm).
    out_path : str or Path
        Destination ending in ``.nii`` or ``.nii.gz``.
    spacing : tuple of float, optional
        Voxel size in mm in array order, used only when ``affine`` is None.

    Returns
    -------
    Path
        ``out_path``. Reading it back with ``read_nifti(out_path, canonical=False, labels=True)``
        gives ``mask`` and ``affine`` again (a 2D mask comes back as ``(1, H, W)``).
    """
    require_extra("nibabel", "imaging")
    import nibabel as nib

    out_path = Path(out_path)
    if not _is_nifti_name(out_path):
        raise DataFormatError(f"{out_path}: expected a file name ending in .nii or .nii.gz")
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise DataFormatError(
            f"{out_path}: expected a mask of shape (D, H, W) or (H, W), got {mask.shape}"
        )
    integer = np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_
    if not integer and not np.array_equal(mask, np.round(mask)):
        raise DataFormatError(
            f"{out_path}: expected integer labels in the mask, got {mask.dtype} fractions"
        )
    if mask.ndim == 2:
        if affine is not None:
            affine = np.asarray(affine, float)[:, [2, 0, 1, 3]]  # (h, w, 0) -> (0, h, w)
        spacing = (1.0, *spacing) if spacing is not None else None
        mask = mask[None]
    if affine is None:
        affine = np.diag([*(spacing or (1.0, 1.0, 1.0)), 1.0])
    low, high = int(mask.min(initial=0)), int(mask.max(initial=0))
    dtype: type[np.integer] = np.int32
    if low >= 0 and high < 256:
        dtype = np.uint8
    elif low >= -32768 and high < 32768:
        dtype = np.int16
    data = np.ascontiguousarray(mask.astype(dtype).transpose(2, 1, 0))
    img = nib.Nifti1Image(data, np.asarray(affine, float) @ _SWAP_XZ)
    img.header.set_xyzt_units("mm")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, out_path)
    return out_path
