"""A real multi-frame image DICOM for the tests, built from the mirror's single-frame MR series.

The data mirror holds no multi-frame image DICOM (its one multi-frame object, the liver DICOM
SEG, is a segmentation), so the tests convert the first slices of the prostate ADC series into
a Legacy Converted Enhanced MR Image with highdicom: one file, ``NumberOfFrames`` frames of
256 x 256, pixel data and geometry taken unchanged from the real slices.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require_path

ADC_SERIES = "imaging/dicom/mr_series_prostate_adc"


def build_multiframe_mr(out: Path, n_frames: int = 6) -> Path:
    """Write ``out`` (an enhanced multi-frame MR of ``n_frames`` real ADC slices) and return it."""
    import highdicom
    import pydicom
    from highdicom.legacy import LegacyConvertedEnhancedMRImage

    series = require_path(ADC_SERIES)
    slices = [pydicom.dcmread(p) for p in sorted(series.glob("*.dcm"))[:n_frames]]
    image = LegacyConvertedEnhancedMRImage(
        legacy_datasets=slices,
        series_instance_uid=highdicom.UID(),
        series_number=99,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save_as(out)
    return out


def source_slice(multiframe: Path, frame: int) -> Path:
    """The single-frame file of the ADC series whose stored pixels are frame ``frame``'s (the
    conversion orders frames by position, not by file name), found with pydicom alone."""
    import numpy as np
    import pydicom

    stored = pydicom.dcmread(multiframe).pixel_array[frame]
    series = require_path(ADC_SERIES)
    matches = [
        p
        for p in sorted(series.glob("*.dcm"))
        if np.array_equal(pydicom.dcmread(p).pixel_array, stored)
    ]
    assert len(matches) == 1, matches
    return matches[0]
