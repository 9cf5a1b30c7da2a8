"""read_medical_image dispatch, describe_image, and the dimensionality check used by predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io import describe_image, detect_format, read_medical_image
from tests.conftest import require_path

PIL = pytest.importorskip("PIL.Image")


def test_dispatch_on_content_not_only_extension(tmp_path: Path) -> None:
    dicom = require_path("imaging/dicom/ct/CT_small.dcm")
    renamed = tmp_path / "scan.bin"
    shutil.copy(dicom, renamed)  # DICM preamble found whatever the name
    assert detect_format(renamed) == "dicom"
    assert read_medical_image(renamed).array.shape == (128, 128)
    PIL.fromarray(np.zeros((3, 4), np.uint8)).save(tmp_path / "img", format="PNG")
    assert detect_format(tmp_path / "img") == "png"
    folder = require_path("imaging/dicom/mr_series_prostate_adc")
    assert detect_format(folder) == "dicom-series"
    assert read_medical_image(folder).array.shape == (20, 256, 256)
    nifti = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_001.nii.gz")
    assert read_medical_image(nifti).spatial_ndim == 3
    np.savez(tmp_path / "a.npz", np.ones((4, 4)))
    assert read_medical_image(tmp_path / "a.npz").array.shape == (4, 4)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "notes.txt",
            b"blood pressure 120/80",
            r"notes\.txt: not a DICOM/NIfTI/PNG/JPEG/NPZ image",
        ),
        ("empty.dcm", b"", r"empty\.dcm: (not a DICOM file|corrupt)"),
        ("missing.png", None, r"missing\.png: no such file or folder"),
    ],
)
def test_unreadable_inputs_are_one_line_errors(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message) as info:
        read_medical_image(path)
    assert "\n" not in str(info.value)


def test_ecg_and_truncated_dicom_through_the_dispatcher(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"waveform_ecg\.dcm: DICOM 12-lead ECG .* no pixel"):
        read_medical_image(require_path("imaging/dicom/ecg/waveform_ecg.dcm"))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(require_path("imaging/dicom/mr/MR_small.dcm").read_bytes()[:5000])
    with pytest.raises(DataFormatError, match=r"cut\.dcm: (truncated|cannot decode)"):
        read_medical_image(cut)


def test_describe_image_for_imaging_info() -> None:
    info = describe_image(require_path("imaging/dicom/mr_series_prostate_adc"))
    json.dumps(info)  # JSON-ready
    assert info["modality"] == "MR"
    assert info["shape"] == [20, 256, 256]
    assert info["spacing"] == pytest.approx([3.0, 0.7031, 0.7031], abs=1e-3)
    assert info["orientation"] == "SPL"
    assert info["dtype"] == "int16"
    assert info["intensity"]["min"] == 0.0
    assert info["intensity"]["max"] == 4095.0
    cr = describe_image(require_path("imaging/dicom/xray/RG2_J2KR_hip_CR.dcm"))
    assert cr["modality"] == "CR"
    assert cr["spatial_dims"] == 2
    assert cr["spacing"] == [0.2, 0.2]
    assert cr["orientation"] is None
    assert cr["transfer_syntax"] == "JPEG 2000 Image Compression (Lossless Only)"
    nii = describe_image(
        require_path("imaging/nifti/msd_task04_hippocampus/labelsTr/hippocampus_001.nii.gz")
    )
    assert nii["format"] == "nifti"
    assert nii["orientation"] == "SAR"
    assert nii["intensity"]["max"] == 2.0
