"""The Image type: orientation codes and the dimensionality check that predict relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io import Image, check_spatial_dims, orientation_code, read_medical_image
from tests.conftest import require_path


def test_orientation_code_known_answers() -> None:
    assert orientation_code(np.eye(4)) == "RAS"
    assert orientation_code(np.diag([-1.0, -1.0, 1.0, 1.0])) == "LPS"
    swapped = np.zeros((4, 4))
    swapped[0, 2], swapped[1, 1], swapped[2, 0], swapped[3, 3] = -0.8, -0.8, 2.5, 1.0
    assert orientation_code(swapped) == "SPL"  # an axial DICOM series read as (D, H, W)
    assert orientation_code(swapped, 2) == "SP"


def test_image_properties() -> None:
    rgb = Image(array=np.zeros((4, 5, 3), np.float32), spacing=(1.0, 1.0), photometric="RGB")
    assert rgb.is_color
    assert rgb.spatial_ndim == 2
    assert rgb.origin is None
    assert rgb.orientation is None
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [10.0, 20.0, 30.0]
    volume = Image(array=np.zeros((2, 3, 4), np.float32), spacing=(2.0, 3.0, 4.0), affine=affine)
    assert volume.spatial_ndim == 3
    assert volume.origin == (10.0, 20.0, 30.0)
    assert volume.orientation == "RAS"


def test_check_spatial_dims_names_file_and_shapes(tmp_path: Path) -> None:
    volume = read_medical_image(require_path("imaging/dicom/mr_series_prostate_adc"))
    assert check_spatial_dims(volume, 3) is volume
    with pytest.raises(
        DataFormatError,
        match=r"mr_series_prostate_adc: expected a 2D image \(H, W\) or \(H, W, 3\), "
        r"got 3D data of shape \(20, 256, 256\)",
    ):
        check_spatial_dims(volume, 2)
    slice_ = read_medical_image(require_path("imaging/dicom/mr/MR_small.dcm"))
    with pytest.raises(DataFormatError, match=r"MR_small\.dcm: expected a 3D volume"):
        check_spatial_dims(slice_, 3)
    with pytest.raises(DataFormatError, match=r"MR_small\.dcm: expected an RGB image"):
        check_spatial_dims(slice_, 2, color=True)
    rgb = Image(
        array=np.zeros((4, 5, 3), np.float32),
        spacing=(1.0, 1.0),
        photometric="RGB",
        path=tmp_path / "photo.png",
    )
    assert check_spatial_dims(rgb, 2, color=True) is rgb
    with pytest.raises(DataFormatError, match=r"photo\.png: expected a greyscale image"):
        check_spatial_dims(rgb, 2, color=False)
