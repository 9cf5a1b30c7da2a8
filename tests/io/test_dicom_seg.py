"""DICOM SEG: the dcmqi liver segmentation on its three CT slices, and write/read round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.io import read_dicom_seg, read_dicom_series, write_dicom_seg
from tests.conftest import require_path

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

LIVER = "imaging/dicom/ct_seg_liver"


def test_liver_seg_overlays_its_three_ct_slices() -> None:
    folder = require_path(LIVER)
    mask = read_dicom_seg(folder / "liver_seg.dcm", folder)
    ct = read_dicom_series(folder)
    assert mask.array.shape == ct.array.shape == (3, 512, 512)
    assert mask.metadata["labels"] == {1: "Liver"}
    assert mask.metadata["files"] == ct.metadata["files"] == ["ct_03.dcm", "ct_02.dcm", "ct_01.dcm"]
    np.testing.assert_allclose(mask.affine, ct.affine)
    assert set(np.unique(mask.array)) == {0, 1}
    # each slice gets the frame that references it: compare with the SEG's own frames
    seg = pydicom.dcmread(folder / "liver_seg.dcm")
    frames = seg.pixel_array
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        sop = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        names = [
            n for n in ct.metadata["files"] if pydicom.dcmread(folder / n).SOPInstanceUID == sop
        ]
        index = ct.metadata["files"].index(names[0])
        np.testing.assert_array_equal(mask.array[index], frame)
    # it lands on the liver: soft tissue inside (liver ~ 40-70 HU), mostly air/fat outside
    liver = mask.array == 1
    liver_hu = ct.array[liver]
    assert liver_hu.size > 100_000
    assert 30 < np.median(liver_hu) < 90

    def soft_tissue(region: np.ndarray) -> float:
        return float(np.mean((ct.array[region] > -50) & (ct.array[region] < 150)))

    # 94 % soft tissue where it is; mirrored or shifted by 40 px it falls to 64-76 %
    assert soft_tissue(liver) > 0.9
    for moved in (liver[:, :, ::-1], liver[:, ::-1], np.roll(liver, 40, axis=2)):
        assert soft_tissue(moved) < soft_tissue(liver) - 0.1


def test_seg_from_a_subset_of_files_and_wrong_sources(tmp_path: Path) -> None:
    folder = require_path(LIVER)
    two = [folder / "ct_01.dcm", folder / "ct_02.dcm"]
    mask = read_dicom_seg(folder / "liver_seg.dcm", two)
    full = read_dicom_seg(folder / "liver_seg.dcm", folder)
    np.testing.assert_array_equal(mask.array, full.array[1:])  # ct_02, ct_01

    other = [require_path("imaging/dicom/ct/CT1_UNC.dcm")]
    with pytest.raises(
        DataFormatError,
        match=r"liver_seg\.dcm: the SEG references 3 instances, none of them among the 1",
    ):
        read_dicom_seg(folder / "liver_seg.dcm", other)
    with pytest.raises(DataFormatError, match=r"ct_01\.dcm: expected a DICOM Segmentation, got CT"):
        read_dicom_seg(folder / "ct_01.dcm", folder)

    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("ct_01.dcm", "ct_02.dcm", "ct_03.dcm"):
        ds = pydicom.dcmread(folder / name)
        ds.ImagePositionPatient = [v + 5.0 for v in ds.ImagePositionPatient]
        ds.save_as(moved / name)
    with pytest.raises(DataFormatError, match=r"frame for ct_0\d\.dcm is at .* expected the same"):
        read_dicom_seg(folder / "liver_seg.dcm", moved)


def test_write_seg_round_trip_multi_label(tmp_path: Path) -> None:
    folder = require_path(LIVER)
    ct = read_dicom_series(folder)
    rng = np.random.default_rng(0)
    mask = np.zeros(ct.array.shape, dtype=np.uint8)
    mask[ct.array > 300] = 2  # bone
    mask[read_dicom_seg(folder / "liver_seg.dcm", folder).array == 1] = 1
    mask[1] = 0  # an empty middle slice
    mask[2, rng.integers(0, 512, 50), rng.integers(0, 512, 50)] = 3
    out = write_dicom_seg(
        mask, folder, tmp_path / "pred" / "seg.dcm", {1: "liver", 2: "bone", 3: "dots"}
    )
    back = read_dicom_seg(out, folder)
    np.testing.assert_array_equal(back.array, mask)
    assert back.metadata["labels"] == {1: "liver", 2: "bone", 3: "dots"}
    written = pydicom.dcmread(out)
    assert written.Modality == "SEG"
    assert written.SeriesDescription == "precisionmed segmentation"
    assert written.StudyInstanceUID == pydicom.dcmread(folder / "ct_01.dcm").StudyInstanceUID

    # explicit list of files, mask in that order, one slice
    single = write_dicom_seg(
        mask[2], [folder / "ct_01.dcm"], tmp_path / "one.dcm", {1: "a", 2: "b", 3: "c"}
    )
    assert read_dicom_seg(single, [folder / "ct_01.dcm"]).array.shape == (1, 512, 512)
    np.testing.assert_array_equal(read_dicom_seg(single, folder).array[2], mask[2])
    assert not read_dicom_seg(single, folder).array[:2].any()


def test_write_seg_rejects_bad_masks(tmp_path: Path) -> None:
    folder = require_path(LIVER)
    with pytest.raises(
        DataFormatError, match=r"expected a mask of shape \(3, 512, 512\).*got \(2, 512, 512\)"
    ):
        write_dicom_seg(np.zeros((2, 512, 512), np.uint8), folder, tmp_path / "x.dcm", {1: "a"})
    mask = np.zeros((3, 512, 512), np.uint8)
    mask[0, 0, 0] = 2
    with pytest.raises(DataFormatError, match=r"mask values \[2\] have no entry in labels"):
        write_dicom_seg(mask, folder, tmp_path / "x.dcm", {1: "a"})
    with pytest.raises(
        ConfigError, match=r"labels must be numbered 1..n; got segment numbers \[1, 3\]"
    ):
        write_dicom_seg(mask, folder, tmp_path / "x.dcm", {1: "a", 3: "c"})
    assert not (tmp_path / "x.dcm").exists()


def test_write_seg_on_the_prostate_series_round_trips(tmp_path: Path) -> None:
    # its slices' ImageOrientationPatient differ in the 8th digit, which highdicom refuses as is
    folder = require_path("imaging/dicom/mr_series_prostate_adc")
    volume = read_dicom_series(folder)
    mask = (volume.array > np.percentile(volume.array, 95)).astype(np.uint8)
    out = write_dicom_seg(mask, folder, tmp_path / "prostate_seg.dcm", {1: "bright"})
    back = read_dicom_seg(out, folder)
    np.testing.assert_array_equal(back.array, mask)
    np.testing.assert_allclose(back.affine, volume.affine)


def test_write_seg_on_slices_in_different_planes_is_a_clear_error(tmp_path: Path) -> None:
    folder = require_path(LIVER)
    first = pydicom.dcmread(folder / "ct_01.dcm")
    other = pydicom.dcmread(folder / "ct_02.dcm")
    other.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    with pytest.raises(DataFormatError, match=r"bad\.dcm: cannot build a DICOM Segmentation"):
        write_dicom_seg(
            np.ones((2, 512, 512), np.uint8), [first, other], tmp_path / "bad.dcm", {1: "x"}
        )
