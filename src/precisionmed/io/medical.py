"""One entry point for any clinical image file: detect the format, read it, describe it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import DataFormatError
from precisionmed.io.image import Image

__all__ = ["describe_image", "detect_format", "read_medical_image"]

_EXPECTED = "not a DICOM/NIfTI/PNG/JPEG/NPZ image"


def _sniff(path: Path) -> str | None:
    """Format from the first bytes, or None (magic numbers, because extensions lie)."""
    with path.open("rb") as fh:
        head = fh.read(352)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if len(head) >= 348 and int.from_bytes(head[:4], "little") in (348, 540):
        return "nifti"
    if len(head) >= 348 and int.from_bytes(head[:4], "big") in (348, 540):
        return "nifti"
    return None


def detect_format(path: str | Path) -> str:
    """Which reader a path needs.

    Returns one of ``"dicom-series"``, ``"dicom"``, ``"nifti"``, ``"png"``, ``"jpeg"``, ``"npz"``.

    Parameters
    ----------
    path : str or Path
        A file, or a folder of DICOM slices.

    Raises
    ------
    DataFormatError
        The path does not exist or is none of these formats.
    """
    path = Path(path)
    if path.is_dir():
        return "dicom-series"
    if not path.is_file():
        raise DataFormatError(
            f"{path}: no such file or folder; expected a DICOM/NIfTI/PNG/JPEG/NPZ image"
        )
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    sniffed = _sniff(path)
    if sniffed is not None:
        return sniffed
    if name.endswith(".dcm"):
        return "dicom"  # DICOM without the 128-byte preamble; pydicom reports if it is not
    size = path.stat().st_size
    raise DataFormatError(
        f"{path}: {_EXPECTED} (unrecognised content, {size} bytes, suffix {path.suffix!r})"
    )


def read_medical_image(path: str | Path, *, apply_voi: bool = False) -> Image:
    """Read a DICOM file or folder, a NIfTI, a PNG/JPEG or an ``.npz`` image.

    Parameters
    ----------
    path : str or Path
        The file, or a folder of DICOM slices of one series.
    apply_voi : bool
        DICOM only: apply the file's window / VOI LUT and scale to ``[0, 1]``.

    Returns
    -------
    Image
        See :class:`~precisionmed.io.Image` for shapes, spacing and affine conventions.

    Raises
    ------
    DataFormatError
        One line naming the file and what was expected, for anything that is not one of these
        images (a text file, a corrupt or truncated DICOM, a DICOM without pixel data...).
    """
    from precisionmed.io.dicom import read_dicom
    from precisionmed.io.dicom_series import read_dicom_series
    from precisionmed.io.images import read_image, read_npz
    from precisionmed.io.nifti import read_nifti

    path = Path(path)
    fmt = detect_format(path)
    if fmt == "dicom-series":
        return read_dicom_series(path, apply_voi=apply_voi)
    if fmt == "dicom":
        return read_dicom(path, apply_voi=apply_voi)
    if fmt == "nifti":
        return read_nifti(path)
    if fmt == "npz":
        return read_npz(path)
    return read_image(path)


def describe_image(path: str | Path) -> dict[str, Any]:
    """A JSON-ready summary of an image file, for ``precisionmed imaging info``.

    Parameters
    ----------
    path : str or Path
        Anything :func:`read_medical_image` accepts.

    Returns
    -------
    dict
        ``path``, ``format``, ``modality``, ``shape``, ``spatial_dims``, ``color``,
        ``spacing`` (mm, array order), ``orientation`` (e.g. ``"SPL"``; None when unknown),
        ``origin`` (RAS+ mm), ``dtype`` (as stored), ``intensity`` (min, max, mean, p1, p99 of
        the values as read) and format details (transfer syntax, window, series UID...).
    """
    image = read_medical_image(path)
    arr = image.array
    finite = arr[np.isfinite(arr)] if arr.size else arr
    p1, p99 = np.percentile(finite, [1, 99]) if finite.size else (np.nan, np.nan)
    meta = dict(image.metadata)
    info: dict[str, Any] = {
        "path": str(path),
        "format": meta.pop("format", None),
        "modality": image.modality,
        "shape": list(arr.shape),
        "spatial_dims": image.spatial_ndim,
        "color": image.is_color,
        "spacing": [round(float(s), 6) for s in image.spacing],
        "spacing_known": meta.pop("spacing_known", image.affine is not None),
        "orientation": image.orientation,
        "origin": None if image.origin is None else [round(v, 4) for v in image.origin],
        "dtype": meta.pop("stored_dtype", str(arr.dtype)),
        "intensity": {
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "mean": float(finite.mean()) if finite.size else None,
            "p1": float(p1),
            "p99": float(p99),
        },
    }
    meta.pop("files", None)
    for key, value in meta.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        info[key] = (
            value if isinstance(value, str | int | float | bool | list | dict) else str(value)
        )
    return info
