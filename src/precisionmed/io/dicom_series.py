"""A folder of DICOM slices as one volume, sorted by ImagePositionPatient along the slice normal."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import track

from precisionmed.errors import DataFormatError, require_extra
from precisionmed.io.dicom import (
    SEGMENTATION_SOP_CLASS,
    PathLike,
    _affine,
    _metadata,
    _one_line,
    _pixels,
    dcmread,
)
from precisionmed.io.image import Image

__all__ = ["DicomSeries", "find_dicom_series", "read_dicom_series"]

logger = logging.getLogger(__name__)


@dataclass
class DicomSeries:
    """The slices of one DICOM series, sorted along the slice normal (no pixels read).

    Attributes
    ----------
    paths : list of Path
        Slice files in ascending position along the normal ``row x column`` direction.
    headers : list of pydicom Dataset
        Their headers, same order.
    spacing : tuple of float
        ``(slice, row, column)`` spacing in mm; the slice spacing comes from the positions.
    affine : np.ndarray of shape (4, 4)
        ``(d, h, w)`` index -> RAS+ mm.
    series_uid : str
        SeriesInstanceUID.
    uniform : bool
        Whether successive slice distances agree within 10 %.
    """

    paths: list[Path]
    headers: list[Any]
    spacing: tuple[float, float, float]
    affine: np.ndarray
    series_uid: str
    uniform: bool


def _list_files(source: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(source, str | Path):
        folder = Path(source)
        if not folder.is_dir():
            raise DataFormatError(
                f"{folder}: expected a folder of DICOM slices, got no such folder"
            )
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return [Path(p) for p in source]


def _headers(files: list[Path], where: str) -> list[tuple[Path, Any]]:
    require_extra("pydicom", "imaging")
    import pydicom
    from pydicom.errors import InvalidDicomError

    images, skipped = [], Counter[str]()
    for file in files:
        try:
            ds = pydicom.dcmread(file, stop_before_pixels=True)
        except InvalidDicomError:
            skipped["not DICOM"] += 1
            continue
        except Exception as exc:  # damaged header: name the file
            raise DataFormatError(f"{file}: corrupt DICOM header ({_one_line(exc)})") from exc
        if str(ds.get("SOPClassUID", "")) == SEGMENTATION_SOP_CLASS:
            skipped["segmentation"] += 1
        elif "Rows" not in ds:
            skipped["without pixel data"] += 1
        elif int(ds.get("NumberOfFrames", 1) or 1) > 1:
            skipped["multi-frame (use read_dicom)"] += 1
        else:
            images.append((file, ds))
    if not images:
        detail = ", ".join(f"{n} {why}" for why, n in skipped.items()) or "no files"
        raise DataFormatError(f"{where}: no single-frame DICOM image slices found ({detail})")
    return images


def find_dicom_series(
    source: PathLike | Sequence[PathLike], *, series_uid: str | None = None
) -> DicomSeries:
    """Find the slices of one series in a folder (or list of files) and sort them in space.

    Slices are sorted by ImagePositionPatient projected on the slice normal (the cross product
    of the two ImageOrientationPatient directions); files that are not DICOM, segmentations and
    objects without pixels are skipped.

    Parameters
    ----------
    source : str, Path or sequence of them
        A folder, or the slice files.
    series_uid : str, optional
        Which series to take when the folder holds several.

    Returns
    -------
    DicomSeries

    Raises
    ------
    DataFormatError
        No slices, several series and no ``series_uid``, slices that differ in shape, orientation
        or pixel spacing, missing positions, or two slices at the same position.
    """
    files = _list_files(source)
    where = str(source) if isinstance(source, str | Path) else f"{len(files)} DICOM files"
    found = _headers(files, where)
    uids = Counter(str(ds.get("SeriesInstanceUID", "")) for _, ds in found)
    if series_uid is None and len(uids) > 1:
        listing = "; ".join(f"{uid} ({n} slices)" for uid, n in uids.items())
        raise DataFormatError(f"{where}: expected one DICOM series, got {len(uids)}: {listing}")
    chosen = series_uid if series_uid is not None else next(iter(uids))
    found = [(p, ds) for p, ds in found if str(ds.get("SeriesInstanceUID", "")) == chosen]
    if not found:
        raise DataFormatError(f"{where}: no slices of series {series_uid}; found {list(uids)}")
    first_path, first = found[0]
    for path, ds in found:
        for key in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            if key not in ds:
                raise DataFormatError(f"{path}: slice has no {key}; cannot place it in a volume")
        if (ds.Rows, ds.Columns) != (first.Rows, first.Columns):
            raise DataFormatError(
                f"{path}: slice shape {(ds.Rows, ds.Columns)} differs from "
                f"{(first.Rows, first.Columns)} of {first_path.name}"
            )
        if not np.allclose(ds.ImageOrientationPatient, first.ImageOrientationPatient, atol=1e-3):
            raise DataFormatError(
                f"{path}: ImageOrientationPatient {list(ds.ImageOrientationPatient)} differs "
                f"from {list(first.ImageOrientationPatient)} of {first_path.name}"
            )
        if not np.allclose(ds.PixelSpacing, first.PixelSpacing, rtol=1e-3):
            raise DataFormatError(
                f"{path}: PixelSpacing {list(ds.PixelSpacing)} differs from "
                f"{list(first.PixelSpacing)} of {first_path.name}"
            )
    iop = np.asarray(first.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = np.stack([np.asarray(ds.ImagePositionPatient, float) for _, ds in found])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    found = [found[i] for i in order]
    positions, along = positions[order], along[order]
    gaps = np.diff(along)
    if len(gaps) and gaps.min() < 1e-3:
        i = int(np.argmin(gaps))
        raise DataFormatError(
            f"{where}: slices {found[i][0].name} and {found[i + 1][0].name} are at the same "
            f"position ({along[i]:.3f} mm along the normal); expected distinct slices"
        )
    pixel = (float(first.PixelSpacing[0]), float(first.PixelSpacing[1]))
    if len(found) > 1:
        step = (positions[-1] - positions[0]) / (len(found) - 1)
        uniform = bool(np.all(np.abs(gaps - gaps.mean()) <= max(0.01, 0.1 * gaps.mean())))
        if not uniform:
            logger.warning("%s: slice spacing is not uniform (%s mm)", where, np.round(gaps, 3))
    else:
        step = normal * float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1)
        uniform = True
    return DicomSeries(
        paths=[p for p, _ in found],
        headers=[ds for _, ds in found],
        spacing=(float(np.linalg.norm(step)), *pixel),
        affine=_affine(iop, positions[0], pixel, step),
        series_uid=chosen,
        uniform=uniform,
    )


def read_dicom_series(
    source: PathLike | Sequence[PathLike],
    *,
    series_uid: str | None = None,
    apply_voi: bool = False,
) -> Image:
    """Read a folder of DICOM slices as a 3D volume sorted by ImagePositionPatient.

    Parameters
    ----------
    source : str, Path or sequence of them
        A folder of slices (other files are skipped), or the slice files.
    series_uid : str, optional
        Which series to read when the folder holds several.
    apply_voi : bool
        As in :func:`read_dicom`.

    Returns
    -------
    Image
        ``array`` float32 of shape ``(D, H, W)`` in ascending position along the slice normal,
        ``spacing`` ``(slice, row, column)`` in mm with the slice spacing from the positions,
        ``affine`` index -> RAS+; ``metadata["files"]`` lists the slice files in array order.
    """
    series = find_dicom_series(source, series_uid=series_uid)
    slices: list[np.ndarray] = []
    info: dict[str, Any] = {}
    # A progress bar only where reading takes a while (hundreds of slices).
    for path in track(
        series.paths,
        description="Reading DICOM slices",
        disable=len(series.paths) < 100,
        transient=True,
    ):
        arr, _, info = _pixels(dcmread(path), path, apply_voi)
        if arr.ndim != 2:
            raise DataFormatError(f"{path}: expected a grey 2D slice, got shape {arr.shape}")
        slices.append(arr)
    first = series.headers[0]
    meta = _metadata(first, info)
    meta.update(
        files=[p.name for p in series.paths],
        slice_spacing_uniform=series.uniform,
        spacing_known=True,
    )
    meta.pop("rescale")
    return Image(
        array=np.stack(slices).astype(np.float32),
        spacing=series.spacing,
        affine=series.affine,
        modality=first.get("Modality"),
        photometric="MONOCHROME2",
        path=Path(source) if isinstance(source, str | Path) else None,
        metadata=meta,
    )
