"""DICOM Segmentation (highdicom): read one onto its source slices, write one from a mask."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError, DataFormatError, require_extra
from precisionmed.io.dicom import SEGMENTATION_SOP_CLASS, _one_line, dcmread
from precisionmed.io.dicom_series import find_dicom_series
from precisionmed.io.image import Image

__all__ = ["read_dicom_seg", "write_dicom_seg"]

PathLike = str | Path


def _segread(path: Path) -> Any:
    import highdicom as hd

    ds = dcmread(path)
    if str(ds.get("SOPClassUID", "")) != SEGMENTATION_SOP_CLASS:
        sop = getattr(ds.get("SOPClassUID"), "name", ds.get("SOPClassUID"))
        raise DataFormatError(f"{path}: expected a DICOM Segmentation, got {sop}")
    try:
        return hd.seg.Segmentation.from_dataset(ds)
    except Exception as exc:  # highdicom raises ValueError/AttributeError on malformed SEGs
        raise DataFormatError(f"{path}: invalid DICOM Segmentation ({exc})") from exc


def _frame_positions(seg: Any) -> dict[str, np.ndarray]:
    """Referenced source SOP instance UID -> ImagePositionPatient recorded in the SEG frame."""
    positions = {}
    for frame in seg.get("PerFrameFunctionalGroupsSequence") or []:
        if "PlanePositionSequence" not in frame or "DerivationImageSequence" not in frame:
            continue
        ipp = np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, float)
        for derivation in frame.DerivationImageSequence:
            for source in derivation.get("SourceImageSequence") or []:
                positions[str(source.ReferencedSOPInstanceUID)] = ipp
    return positions


def read_dicom_seg(seg_path: PathLike, source: PathLike | Sequence[PathLike]) -> Image:
    """Read a DICOM SEG as an integer label volume aligned with its source series.

    Parameters
    ----------
    seg_path : str or Path
        The Segmentation file (binary or fractional; fractional segments are thresholded at 0.5).
    source : str, Path or sequence of them
        The folder (other files, the SEG itself included, are skipped) or the slice files of the
        series the SEG was drawn on.

    Returns
    -------
    Image
        ``array`` of shape ``(D, H, W)`` (uint8, or uint16 beyond 255 segments) in the slice
        order of :func:`~precisionmed.io.read_dicom_series` on the same ``source``: 0 is
        background, ``k`` is segment number ``k``; source slices the SEG does not cover are 0.
        ``metadata["labels"]`` maps segment numbers to their labels. Geometry is the source's.

    Raises
    ------
    DataFormatError
        Not a SEG, none of its referenced instances in ``source``, or a SEG frame whose plane
        position differs from its source slice by more than 0.01 mm.
    """
    require_extra("highdicom", "imaging")
    seg_path = Path(seg_path)
    seg = _segread(seg_path)
    series = find_dicom_series(source)
    uids = [str(ds.SOPInstanceUID) for ds in series.headers]
    referenced = {sop for _, _, sop in seg.get_source_image_uids()}
    if not referenced & set(uids):
        raise DataFormatError(
            f"{seg_path}: the SEG references {len(referenced)} instances, none of them among the "
            f"{len(uids)} slices of series {series.series_uid} in {source}"
        )
    # highdicom refuses source-instance indexing when a SEG does not state that spatial locations
    # are preserved (dcmqi's do not); we check the frame positions against the slices instead.
    recorded = _frame_positions(seg)
    for path, ds in zip(series.paths, series.headers, strict=True):
        ipp = recorded.get(str(ds.SOPInstanceUID))
        if ipp is not None and not np.allclose(
            ipp, np.asarray(ds.ImagePositionPatient, float), atol=0.01
        ):
            raise DataFormatError(
                f"{seg_path}: frame for {path.name} is at {ipp.tolist()} mm, but the slice is at "
                f"{list(ds.ImagePositionPatient)}; expected the same position"
            )
    labels = seg.get_pixels_by_source_instance(
        uids,
        combine_segments=True,
        ignore_spatial_locations=True,
        assert_missing_frames_are_empty=True,
        skip_overlap_checks=True,
    )
    dtype = np.uint8 if seg.number_of_segments < 256 else np.uint16
    names = {int(item.SegmentNumber): str(item.SegmentLabel) for item in seg.SegmentSequence}
    return Image(
        array=np.asarray(labels).astype(dtype),
        spacing=series.spacing,
        affine=series.affine,
        modality="SEG",
        photometric="MONOCHROME2",
        path=seg_path,
        metadata={
            "format": "dicom-seg",
            "labels": names,
            "segmentation_type": str(seg.segmentation_type.value),
            "source_series_uid": series.series_uid,
            "files": [p.name for p in series.paths],
        },
    )


def _source_datasets(source: PathLike | Sequence[Any]) -> list[Any]:
    if isinstance(source, str | Path):
        items = [dcmread(p) for p in find_dicom_series(source).paths]
    else:
        items = [dcmread(p) if isinstance(p, str | Path) else p for p in source]
    reference = items[0].get("ImageOrientationPatient") if items else None
    fixed = []
    for ds in items:
        # An empty SpecificCharacterSet means the default repertoire (PS3.3 C.12.1.1.2), but
        # highdicom rejects the empty value; drop it on a copy.
        empty_charset = "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet
        # highdicom wants bit-identical ImageOrientationPatient on every slice; scanners write
        # the same plane with last-digit differences (1e-8 in the prostate series), so unify
        # orientations that agree within 1e-4 (anything further apart is a different plane).
        iop = ds.get("ImageOrientationPatient")
        unify = (
            reference is not None
            and iop is not None
            and list(iop) != list(reference)
            and np.allclose(np.asarray(iop, float), np.asarray(reference, float), atol=1e-4)
        )
        if empty_charset or unify:
            ds = copy.deepcopy(ds)
        if empty_charset:
            del ds.SpecificCharacterSet
        if unify:
            ds.ImageOrientationPatient = copy.deepcopy(reference)
        fixed.append(ds)
    return fixed


def write_dicom_seg(
    mask: np.ndarray,
    source: PathLike | Sequence[Any],
    out_path: PathLike,
    labels: Mapping[int, str],
    *,
    description: str = "precisionmed segmentation",
) -> Path:
    """Write an integer mask drawn on DICOM slices as a binary DICOM Segmentation.

    Parameters
    ----------
    mask : np.ndarray of shape (D, H, W), or (H, W) for one slice
        Labels 0 (background) .. n, one slice per source image.
    source : str, Path, or sequence of paths or pydicom Datasets
        A folder (slices are taken in :func:`~precisionmed.io.read_dicom_series` order, so a
        mask predicted on that volume lines up) or the source images in the mask's order.
    out_path : str or Path
        Destination file.
    labels : mapping of int to str
        Segment number -> label, numbered 1..n; every non-zero value of ``mask`` must be listed.
    description : str
        SeriesDescription of the new series.

    Returns
    -------
    Path
        ``out_path``; :func:`read_dicom_seg` on it and the same source gives ``mask`` back.
    """
    require_extra("highdicom", "imaging")
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from precisionmed import __version__

    out_path = Path(out_path)
    datasets = _source_datasets(source)
    mask = np.asarray(mask)
    if mask.ndim == 2:
        mask = mask[None]
    expected = (
        (len(datasets), int(datasets[0].Rows), int(datasets[0].Columns)) if datasets else None
    )
    if expected is None or mask.shape != expected:
        raise DataFormatError(
            f"{out_path}: expected a mask of shape {expected} (slices, rows, columns of the "
            f"source), got {mask.shape}"
        )
    numbers = sorted(int(k) for k in labels)
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConfigError(f"labels must be numbered 1..n; got segment numbers {numbers}")
    present = {int(v) for v in np.unique(mask)} - {0}
    if present - set(numbers):
        raise DataFormatError(
            f"{out_path}: mask values {sorted(present - set(numbers))} have no entry in "
            f"labels {dict(labels)}"
        )
    algorithm = hd.AlgorithmIdentificationSequence(
        name="precisionmed", family=codes.cid7162.ArtificialIntelligence, version=__version__
    )
    segments = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=str(labels[number]),
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number in numbers
    ]
    with warnings.catch_warnings():
        # highdicom re-validates the source's PatientName; a one-component name such as
        # "ANON0001" is legal DICOM and not ours to fix.
        warnings.filterwarnings(
            "ignore", message=".*unlikely to represent the intended person name"
        )
        try:
            seg = _build_segmentation(hd, datasets, mask, segments, description, len(numbers))
        except ValueError as exc:  # e.g. source slices in different planes
            raise DataFormatError(
                f"{out_path}: cannot build a DICOM Segmentation on these source images "
                f"({_one_line(exc)})"
            ) from exc
    out_path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out_path)
    return out_path


def _build_segmentation(
    hd: Any, datasets: list[Any], mask: np.ndarray, segments: list[Any], description: str, n: int
) -> Any:
    from precisionmed import __version__

    return hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=mask.astype(np.uint8 if n < 256 else np.uint16),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments,
        series_instance_uid=hd.UID(),
        series_number=int(datasets[0].get("SeriesNumber") or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="precisionmed",
        manufacturer_model_name="precisionmed",
        software_versions=__version__,
        device_serial_number="none",
        series_description=description,
        omit_empty_frames=bool(mask.any()),
    )
