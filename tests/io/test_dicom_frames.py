"""Enhanced multi-frame DICOM windows (io/dicom.py): the per-frame Frame VOI LUT is applied as
the same slice's top-level window would be, frame by frame."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest

from precisionmed.io.dicom import declares_voi, read_dicom
from tests.conftest import require_path
from tests.imaging.multiframe import build_multiframe_mr, source_slice


@pytest.fixture(scope="module")
def multiframe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_multiframe_mr(tmp_path_factory.mktemp("mf") / "adc_multiframe.dcm", n_frames=4)


def test_a_frame_window_is_declared_and_applied_as_the_slice_files_own(multiframe: Path) -> None:
    assert declares_voi(pydicom.dcmread(multiframe, stop_before_pixels=True))
    assert not declares_voi(pydicom.dcmread(require_path("imaging/dicom/ct/CT_small.dcm")))
    image = read_dicom(multiframe, apply_voi=True)
    assert image.metadata["voi"] == "frame window"
    assert image.value_range == (0.0, 1.0)
    for k in range(4):
        alone = read_dicom(source_slice(multiframe, k), apply_voi=True)
        assert alone.metadata["voi"] == "window"
        np.testing.assert_allclose(image.array[k], alone.array, atol=1e-6)


def test_each_frame_gets_its_own_window(multiframe: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(multiframe)
    shared = ds.SharedFunctionalGroupsSequence[0]
    window = shared.FrameVOILUTSequence[0]
    del shared.FrameVOILUTSequence
    for k, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        item = copy.deepcopy(window)
        item.WindowCenter, item.WindowWidth = 1300, 2400 if k else 200  # frame 0: narrow
        frame.FrameVOILUTSequence = pydicom.Sequence([item])
    ds.save_as(tmp_path / "per_frame.dcm")
    image = read_dicom(tmp_path / "per_frame.dcm", apply_voi=True)
    reference = read_dicom(multiframe, apply_voi=True)
    np.testing.assert_allclose(image.array[1:], reference.array[1:], atol=1e-6)
    raw = ds.pixel_array[0].astype(np.float64)
    expected = np.clip((raw - (1300 - 0.5)) / (200 - 1) + 0.5, 0, 1)  # PS3.3 C.11.2.1.2 LINEAR
    np.testing.assert_allclose(image.array[0], expected, atol=1e-5)
