"""DICOM reader (pydicom): one file, single or multi-frame (folders: :mod:`.dicom_series`).

Pixel values go through the DICOM pipeline in its standard order (PS3.4 N.2): decode, modality
LUT or Rescale Slope/Intercept (Hounsfield units for CT), optionally the VOI LUT or window, then
MONOCHROME1 inversion so that higher always means brighter.

Transfer syntaxes decoded: native (implicit/explicit VR, little/big endian, deflated), RLE
Lossless, JPEG Baseline 8-bit (Pillow), JPEG 2000 and HTJ2K (pylibjpeg-openjpeg), JPEG-LS
lossless and near-lossless (pyjpegls), and, through our own imagecodecs plug-in
(:mod:`._imagecodecs_plugin`), JPEG Lossless Process 14 (1.2.840.10008.1.2.4.57), Process 14
SV1 (.4.70) and 12-bit monochrome JPEG Extended (.4.51; 8-bit frames stay with Pillow).
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from precisionmed.errors import DataFormatError, require_extra
from precisionmed.io.image import LPS_TO_RAS, Image

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["dcmread", "declares_voi", "read_dicom"]

logger = logging.getLogger(__name__)

SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
PathLike = str | Path


def _one_line(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__


def dcmread(path: PathLike, *, stop_before_pixels: bool = False) -> Dataset:
    """Read a DICOM file with pydicom, turning every failure into a one-line DataFormatError."""
    require_extra("pydicom", "imaging")
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise DataFormatError(f"{path}: not a DICOM file ({_one_line(exc)})") from exc
    # pydicom raises many types on damaged input (EOFError, struct.error, ValueError, ...).
    except Exception as exc:
        raise DataFormatError(
            f"{path}: corrupt or truncated DICOM ({type(exc).__name__}: {_one_line(exc)})"
        ) from exc
    for warning in caught:
        message = _one_line(warning.message)  # type: ignore[arg-type]
        if "end of file" in message.lower():  # pydicom warns, and keeps what it read
            raise DataFormatError(f"{path}: truncated DICOM ({message})")
        warnings.warn(warning.message, warning.category, stacklevel=2)
    return ds


def _require_pixels(ds: Dataset, path: PathLike) -> None:
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        sop = str(
            getattr(ds.get("SOPClassUID"), "name", ds.get("SOPClassUID", "unknown SOP class"))
        )
        if "Image" in sop or "Rows" in ds:
            raise DataFormatError(
                f"{path}: truncated or corrupt DICOM: a {sop} object without pixel data; "
                "expected the image's pixels after its header"
            )
        raise DataFormatError(
            f"{path}: DICOM {sop} (modality {ds.get('Modality', '?')}) has no pixel data; "
            "expected an image (CT, MR, CR, DX, US, SEG...)"
        )


def _stored_range(ds: Dataset) -> tuple[float, float]:
    """Range of the values after the modality transform (pydicom's windowing range)."""
    if ds.get("ModalityLUTSequence"):
        bits = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = _rescale(ds)
    lo, hi = lo * slope + intercept, hi * slope + intercept
    return min(lo, hi), max(lo, hi)


def _rescale(ds: Dataset) -> tuple[float, float]:
    """Rescale slope/intercept: top level, or shared functional groups of enhanced objects."""
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return float(ds.get("RescaleSlope", 1.0)), float(ds.get("RescaleIntercept", 0.0))
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelValueTransformationSequence" in shared[0]:
        item = shared[0].PixelValueTransformationSequence[0]
        return float(item.get("RescaleSlope", 1.0)), float(item.get("RescaleIntercept", 0.0))
    return 1.0, 0.0


def _pixels(ds: Dataset, path: PathLike, apply_voi: bool) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Decoded pixels -> (float32 array, photometric, VOI details)."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_windowing
    from pydicom.pixels import apply_voi as apply_voi_lut_sequence

    from precisionmed.io import _imagecodecs_plugin as imagecodecs_plugin  # needs pydicom

    _require_pixels(ds, path)
    syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "unknown")
    if syntax in imagecodecs_plugin.SYNTAXES:
        # JPEG Lossless / 12-bit JPEG: pydicom has no permissively licensed plug-in
        imagecodecs_plugin.register()
    try:
        raw = ds.pixel_array
    except Exception as exc:  # decoders raise ValueError, RuntimeError, NotImplementedError...
        raise DataFormatError(
            f"{path}: cannot decode DICOM pixel data (transfer syntax "
            f"{getattr(syntax, 'name', syntax)}): {_one_line(exc)}"
        ) from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    info: dict[str, Any] = {"stored_dtype": str(raw.dtype)}
    if photometric == "PALETTE COLOR":
        return apply_color_lut(raw, ds).astype(np.float32), "RGB", info
    if raw.shape[-1] == 3 and int(ds.get("SamplesPerPixel", 1)) == 3:
        return raw.astype(np.float32), "RGB", info  # pydicom already converted YBR to RGB
    if ds.get("ModalityLUTSequence"):
        arr = apply_modality_lut(raw, ds).astype(np.float64)
    else:
        slope, intercept = _rescale(ds)
        arr = raw.astype(np.float64) * slope + intercept
    lo, hi = _stored_range(ds)
    if apply_voi:
        # Output scaled to [0, 1]; pydicom maps windows to [lo, hi] and LUTs to the LUT's bits.
        if ds.get("VOILUTSequence"):
            arr = apply_voi_lut_sequence(arr, ds).astype(np.float64)
            lo, hi = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
            info["voi"] = "lut"
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            arr = apply_windowing(arr, ds)
            info["voi"] = "window"
        elif windows := _frame_windows(ds):
            arr = np.stack([apply_windowing(a, w) for a, w in zip(arr, windows, strict=True)])
            info["voi"] = "frame window"
        else:
            lo, hi = float(arr.min()), float(arr.max())
            info["voi"] = "min-max"
        arr = (arr - lo) / max(hi - lo, 1e-12)
        lo, hi = 0.0, 1.0
    if photometric == "MONOCHROME1":
        arr = lo + hi - arr  # inverted so that higher is brighter, in the same range
    info["value_range"] = (lo, hi)  # Image.value_range: what image models scale to [0, 1]
    return arr.astype(np.float32), "MONOCHROME2", info


def _frame_windows(ds: Dataset) -> list[Dataset]:
    """One windowing view per frame of an enhanced multi-frame object, or [] where it has none.

    Enhanced (and legacy-converted) objects keep their window in the Frame VOI LUT functional
    group, not at the top level where pydicom's ``apply_windowing`` looks; each view carries a
    frame's window with the header fields that set the window's output range, so a frame is
    windowed exactly as the same slice stored on its own.
    """
    from pydicom.dataset import Dataset

    frames = int(ds.get("NumberOfFrames", 1) or 1)
    items = _frame_items(ds, "FrameVOILUTSequence") if frames > 1 else []
    items = items * frames if len(items) == 1 else items
    if len(items) != frames or not all("WindowCenter" in i and "WindowWidth" in i for i in items):
        return []
    slope, intercept = _rescale(ds)
    views = []
    for item in items:
        view = Dataset()
        view.WindowCenter, view.WindowWidth = item.WindowCenter, item.WindowWidth
        view.VOILUTFunction = item.get("VOILUTFunction", "LINEAR")
        view.PhotometricInterpretation = ds.PhotometricInterpretation
        view.BitsStored = ds.get("BitsStored", ds.get("BitsAllocated", 16))
        view.PixelRepresentation = ds.get("PixelRepresentation", 0)
        view.RescaleSlope, view.RescaleIntercept = slope, intercept
        views.append(view)
    return views


def declares_voi(ds: Dataset) -> bool:
    """True where a DICOM header carries a VOI LUT or window (top level or per frame)."""
    top = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    return top or bool(_frame_windows(ds))


def _first_value(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float):  # pydicom MultiValue: take the first view
        value = value[0]
    return float(value)


def _frame_items(ds: Dataset, name: str) -> list[Any]:
    """Per-frame (or shared) functional group items of sequence ``name``."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    items = []
    for frame in per_frame:
        if name in frame:
            items.append(frame[name][0])
        elif shared and name in shared[0]:
            items.append(shared[0][name][0])
    if not items and shared and name in shared[0]:
        items.append(shared[0][name][0])
    return items


def _plane(
    ds: Dataset,
) -> tuple[np.ndarray | None, list[np.ndarray], tuple[float, float] | None, float | None]:
    """(orientation 6-vector, positions per frame, pixel spacing (row, col), slice spacing)."""
    iop = ds.get("ImageOrientationPatient")
    ipps = [np.asarray(ds.ImagePositionPatient, float)] if "ImagePositionPatient" in ds else []
    spacing = ds.get("PixelSpacing")
    between = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        orient = _frame_items(ds, "PlaneOrientationSequence")
        if orient and iop is None:
            iop = orient[0].ImageOrientationPatient
        pos = _frame_items(ds, "PlanePositionSequence")
        if pos and len(pos) == int(ds.get("NumberOfFrames", 1)):
            ipps = [np.asarray(p.ImagePositionPatient, float) for p in pos]
        measures = _frame_items(ds, "PixelMeasuresSequence")
        if measures:
            spacing = spacing or measures[0].get("PixelSpacing")
            between = between or measures[0].get("SpacingBetweenSlices")
            between = between or measures[0].get("SliceThickness")
    if spacing is None or min(float(v) for v in spacing) <= 0:
        spacing = ds.get("ImagerPixelSpacing")
    pixel = None
    if spacing is not None and min(float(v) for v in spacing) > 0:
        pixel = (float(spacing[0]), float(spacing[1]))
    orientation = np.asarray(iop, float) if iop is not None else None
    thickness = _first_value(between)
    return orientation, ipps, pixel, thickness if thickness and thickness > 0 else None


def _affine(
    iop: np.ndarray, origin: np.ndarray, pixel: tuple[float, float], step: np.ndarray
) -> np.ndarray:
    """RAS affine of index (slice-or-normal, row, col) from DICOM LPS geometry."""
    row_dir, col_dir = iop[:3], iop[3:]
    lps = np.eye(4)
    lps[:3, 0] = step
    lps[:3, 1] = col_dir * pixel[0]  # moving down a column: increasing row index
    lps[:3, 2] = row_dir * pixel[1]  # moving along a row: increasing column index
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps


def _metadata(ds: Dataset, info: dict[str, Any]) -> dict[str, Any]:
    file_meta = getattr(ds, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    meta: dict[str, Any] = {
        "format": "dicom",
        "sop_class": getattr(ds.get("SOPClassUID"), "name", None),
        "transfer_syntax": getattr(syntax, "name", None),
        "series_uid": ds.get("SeriesInstanceUID"),
        "photometric_stored": ds.get("PhotometricInterpretation"),
        "window_center": _first_value(ds.get("WindowCenter")),
        "window_width": _first_value(ds.get("WindowWidth")),
        "rescale": _rescale(ds),
        "body_part": ds.get("BodyPartExamined"),
    }
    meta.update(info)
    return {k: (str(v) if k.endswith("_uid") and v is not None else v) for k, v in meta.items()}


def read_dicom(path: PathLike, *, apply_voi: bool = False) -> Image:
    """Read one DICOM file: a 2D image, or a multi-frame object as a volume.

    Parameters
    ----------
    path : str or Path
        A DICOM file of any image SOP class and any transfer syntax pydicom can decode.
    apply_voi : bool
        Apply the file's VOI LUT or window (an enhanced multi-frame object's per-frame window
        included; a min-max window when it has none) and scale to ``[0, 1]``. By default
        values stay in modality units (e.g. Hounsfield units).

    Returns
    -------
    Image
        ``array`` float32 of shape ``(H, W)``, ``(H, W, 3)`` or, multi-frame, ``(D, H, W)``;
        MONOCHROME1 images are inverted (``lo + hi - x`` over the stored value range) so that
        higher is brighter. ``spacing`` in mm, (1.0, 1.0) with ``metadata["spacing_known"]``
        False when the file has none.

    Raises
    ------
    DataFormatError
        Not DICOM, corrupt/truncated, without pixel data (e.g. an ECG waveform), or undecodable.
    """
    path = Path(path)
    ds = dcmread(path)
    arr, photometric, info = _pixels(ds, path, apply_voi)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    iop, ipps, pixel, thickness = _plane(ds)
    meta = _metadata(ds, info)
    meta["spacing_known"] = pixel is not None
    pixel = pixel or (1.0, 1.0)
    affine = None
    if frames > 1:
        step = None
        if iop is not None and len(ipps) == frames:
            steps = np.diff(np.stack(ipps), axis=0)
            if np.allclose(steps, steps[0], atol=max(0.01, 0.01 * float(np.linalg.norm(steps[0])))):
                step = steps[0]
            else:
                meta["frame_positions_irregular"] = True
        slice_spacing = float(np.linalg.norm(step)) if step is not None else (thickness or 1.0)
        spacing: tuple[float, ...] = (slice_spacing, *pixel)
        if step is not None and iop is not None:
            affine = _affine(iop, ipps[0], pixel, step)
    else:
        spacing = pixel
        if iop is not None and ipps:
            normal = np.cross(iop[:3], iop[3:]) * (thickness or 1.0)
            affine = _affine(iop, ipps[0], pixel, normal)[:, [1, 2, 0, 3]]
    return Image(
        array=arr,
        spacing=tuple(float(s) for s in spacing),
        affine=affine,
        modality=ds.get("Modality"),
        photometric=photometric,
        path=path,
        metadata=meta,
    )
