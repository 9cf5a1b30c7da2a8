"""read_nifti / write_nifti_mask on the MSD hippocampus crops and on reoriented copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io import read_dicom_series, read_nifti, write_nifti_mask
from tests.conftest import require_path

nib = pytest.importorskip("nibabel")

HIPPO = "imaging/nifti/msd_task04_hippocampus"


def test_hippocampus_loads_canonical_with_spacing() -> None:
    path = require_path(f"{HIPPO}/imagesTr/hippocampus_001.nii.gz")
    image = read_nifti(path)
    raw = nib.load(path)
    assert raw.shape == (35, 51, 35)
    assert image.array.shape == (35, 51, 35)  # (z, y, x)
    assert image.array.dtype == np.float32
    assert image.spacing == (1.0, 1.0, 1.0)
    assert image.orientation == "SAR"
    np.testing.assert_array_equal(image.array, np.asarray(raw.dataobj).transpose(2, 1, 0))
    labels = read_nifti(require_path(f"{HIPPO}/labelsTr/hippocampus_001.nii.gz"), labels=True)
    assert np.issubdtype(labels.array.dtype, np.integer)
    assert set(np.unique(labels.array)) == {0, 1, 2}
    assert labels.array.shape == image.array.shape


def test_reoriented_file_comes_back_canonical(tmp_path: Path) -> None:
    path = require_path(f"{HIPPO}/imagesTr/hippocampus_001.nii.gz")
    raw = nib.load(path)
    data = np.asarray(raw.dataobj).astype(np.int16)
    # the same voxels stored flipped in x and y (LPS order) with anisotropic zooms
    zooms = np.diag([-1.5, -2.0, 3.0, 1.0])
    zooms[:3, 3] = [1.5 * 34, 2.0 * 50, 0.0]
    flipped = nib.Nifti1Image(data[::-1, ::-1, :].copy(), zooms)
    out = tmp_path / "lps.nii.gz"
    nib.save(flipped, out)
    image = read_nifti(out)
    assert image.orientation == "SAR"
    assert image.spacing == pytest.approx((3.0, 2.0, 1.5))
    np.testing.assert_array_equal(image.array, data.transpose(2, 1, 0))
    as_stored = read_nifti(out, canonical=False)
    assert as_stored.orientation == "SPL"
    # every voxel keeps its world position either way
    corner = as_stored.affine @ np.array([0, 0, 0, 1.0])
    d, h, w = np.linalg.solve(image.affine, corner)[:3].round().astype(int)
    assert image.array[d, h, w] == as_stored.array[0, 0, 0]


def test_mask_round_trip_on_dicom_geometry(tmp_path: Path) -> None:
    ct = read_dicom_series(require_path("imaging/dicom/mr_series_prostate_adc"))
    mask = (ct.array > 1500).astype(np.uint8)
    mask[5:8, 100:120, 100:140] = 2
    out = write_nifti_mask(mask, ct.affine, tmp_path / "mask.nii.gz")
    back = read_nifti(out, canonical=False, labels=True)
    np.testing.assert_array_equal(back.array, mask)
    np.testing.assert_allclose(back.affine, ct.affine, atol=1e-5)
    assert back.spacing == pytest.approx(ct.spacing, abs=1e-4)
    assert nib.load(out).get_data_dtype() == np.uint8
    # canonical read: same voxels at the same world positions
    canonical = read_nifti(out, labels=True)
    assert canonical.orientation == "SAR"
    assert int(canonical.array.sum()) == int(mask.sum())
    world = ct.affine @ np.array([6, 110, 120, 1.0])
    d, h, w = np.linalg.solve(canonical.affine, world)[:3].round().astype(int)
    assert canonical.array[d, h, w] == 2


def test_2d_mask_and_errors(tmp_path: Path) -> None:
    mask = np.zeros((4, 5), dtype=bool)
    mask[1, 2] = True
    out = write_nifti_mask(mask, None, tmp_path / "m.nii", spacing=(0.5, 0.25))
    back = read_nifti(out, canonical=False, labels=True)
    assert back.array.shape == (1, 4, 5)
    assert back.array[0, 1, 2] == 1
    assert back.spacing == pytest.approx((1.0, 0.5, 0.25))
    with pytest.raises(DataFormatError, match=r"m\.png: expected a file name ending in \.nii"):
        write_nifti_mask(mask, None, tmp_path / "m.png")
    with pytest.raises(DataFormatError, match=r"expected integer labels in the mask, got float32"):
        write_nifti_mask(np.full((2, 2, 2), 0.5, np.float32), None, tmp_path / "f.nii")
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataFormatError, match=r"broken\.nii\.gz: not a readable NIfTI image"):
        read_nifti(broken)
    fractional = tmp_path / "prob.nii.gz"
    nib.save(nib.Nifti1Image(np.full((2, 2, 2), 0.3, np.float32), np.eye(4)), fractional)
    with pytest.raises(DataFormatError, match=r"prob\.nii\.gz: expected integer labels"):
        read_nifti(fractional, labels=True)
