"""read_dicom_series / find_dicom_series: slices sorted in space, spacing from positions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io import find_dicom_series, read_dicom_series
from tests.conftest import require_path

pydicom = pytest.importorskip("pydicom")

DICOM = "imaging/dicom"


def _reference(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    slope = float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    return ds.pixel_array.astype(np.float64) * slope + intercept


def test_prostate_series_stacks_to_20_slices_3mm() -> None:
    folder = require_path(f"{DICOM}/mr_series_prostate_adc")
    volume = read_dicom_series(folder)
    assert volume.array.shape == (20, 256, 256)
    assert volume.spacing == pytest.approx((3.0, 0.7031, 0.7031), abs=1e-3)
    assert volume.modality == "MR"
    # sorted in space, not by file name: 000006 lies between 000003 and 000004
    files = volume.metadata["files"]
    assert files[3:6] == ["000003.dcm", "000006.dcm", "000004.dcm"]
    for index, name in ((0, "000000.dcm"), (4, "000006.dcm"), (19, "000019.dcm")):
        expected = _reference(folder / name)
        np.testing.assert_allclose(volume.array[index], expected)
    # positions: the affine maps slice k to that file's ImagePositionPatient (LPS -> RAS)
    assert volume.affine is not None
    for index in (0, 10, 19):
        ipp = np.asarray(pydicom.dcmread(folder / files[index]).ImagePositionPatient, float)
        world = volume.affine @ np.array([index, 0, 0, 1.0])
        np.testing.assert_allclose(world[:3], ipp * [-1, -1, 1], atol=0.02)
    assert volume.orientation == "SPL"


def test_series_reader_skips_non_images_and_checks_consistency(tmp_path: Path) -> None:
    liver = require_path(f"{DICOM}/ct_seg_liver")
    volume = read_dicom_series(liver)  # the SEG in the folder is skipped
    assert volume.array.shape == (3, 512, 512)
    assert volume.metadata["files"] == ["ct_03.dcm", "ct_02.dcm", "ct_01.dcm"]
    assert volume.spacing == pytest.approx((1.0, 0.810547, 0.810547))

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("ct_01.dcm", "ct_02.dcm"):
        shutil.copy(liver / name, mixed / name)
    (mixed / "notes.txt").write_text("not dicom")
    shutil.copy(require_path(f"{DICOM}/ct/CT_small.dcm"), mixed / "other.dcm")
    with pytest.raises(DataFormatError, match=r"mixed: expected one DICOM series, got 2"):
        read_dicom_series(mixed)
    uid = str(pydicom.dcmread(liver / "ct_01.dcm").SeriesInstanceUID)
    assert read_dicom_series(mixed, series_uid=uid).array.shape == (2, 512, 512)

    duplicate = tmp_path / "duplicate"
    duplicate.mkdir()
    shutil.copy(liver / "ct_01.dcm", duplicate / "a.dcm")
    ds = pydicom.dcmread(liver / "ct_02.dcm")
    ds.ImagePositionPatient = pydicom.dcmread(liver / "ct_01.dcm").ImagePositionPatient
    ds.save_as(duplicate / "b.dcm")
    with pytest.raises(DataFormatError, match=r"a\.dcm and b\.dcm are at the same position"):
        find_dicom_series(duplicate)

    tilted = tmp_path / "tilted"
    tilted.mkdir()
    shutil.copy(liver / "ct_01.dcm", tilted / "a.dcm")
    ds = pydicom.dcmread(liver / "ct_02.dcm")
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(tilted / "b.dcm")
    with pytest.raises(DataFormatError, match=r"b\.dcm: ImageOrientationPatient .* differs"):
        read_dicom_series(tilted)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")
    with pytest.raises(DataFormatError, match=r"no single-frame DICOM image slices .*1 not DICOM"):
        read_dicom_series(empty)
