"""Frames of a multi-frame file for a 2D model (imaging/frames.py): parsing ``--frames``, picking
frame K of a real enhanced multi-frame MR, and the refusals that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.classifier import classifier_input_spec, read_input_image
from precisionmed.imaging.frames import load_frames, parse_frames, split_frames
from precisionmed.imaging.transforms import prepare_image
from tests.conftest import require_path
from tests.imaging.multiframe import build_multiframe_mr, source_slice

SPEC_2D = classifier_input_spec(None, n_channels=1, spatial_dims=2, size=(28, 28))


@pytest.fixture(scope="module")
def multiframe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_multiframe_mr(tmp_path_factory.mktemp("mf") / "adc_multiframe.dcm")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("all", "all"), (" ALL ", "all"), ("3", (3,)), ("0,3,5", (0, 3, 5)), (None, None)],
)
def test_parse_frames(text: str | None, expected: object) -> None:
    assert parse_frames(text) == expected


@pytest.mark.parametrize("text", ["", "x", "-1", "1,,2", "1.5"])
def test_bad_frames_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--frames: expected 'all'"):
        parse_frames(text)


def test_frame_k_is_the_files_frame_k(multiframe: Path) -> None:
    import pydicom

    from precisionmed.io import read_medical_image

    stored = pydicom.dcmread(multiframe).pixel_array  # an independent read of the frames
    image = read_medical_image(multiframe)  # in stored units (no window), to compare
    assert image.array.shape == (6, 256, 256)
    every = split_frames(image, "all")
    assert [k for k, _ in every] == list(range(6))
    ((k, frame),) = split_frames(image, [3])
    assert k == 3
    assert frame.array.shape == (256, 256)
    assert frame.metadata["frame"] == 3
    assert frame.spacing == image.spacing[1:]
    np.testing.assert_array_equal(frame.array, stored[3])
    assert not np.array_equal(stored[3], stored[2])  # the frames really differ


def test_load_frames_names_each_frame_and_scales_it_as_its_own_slice_file(
    multiframe: Path,
) -> None:
    """Frame 4 of the enhanced MR becomes the same model input as the single-frame file it was
    converted from: windowed by the per-frame VOI as that file by its top-level window."""
    image = read_input_image(multiframe)
    assert image.metadata["voi"] == "frame window"
    loaded = load_frames(image, SPEC_2D, (1, 4), name="mf.dcm")
    assert [(f.name, f.frame) for f in loaded] == [("mf.dcm#frame=1", 1), ("mf.dcm#frame=4", 4)]
    assert all(tuple(f.x.shape) == (1, 28, 28) for f in loaded)
    alone = read_input_image(source_slice(multiframe, 4))
    assert alone.metadata["voi"] == "window"
    np.testing.assert_allclose(loaded[1].image.array, alone.array, atol=1e-6)
    x, _ = prepare_image(alone, SPEC_2D)
    np.testing.assert_allclose(loaded[1].x.numpy(), x.numpy(), atol=1e-6)
    assert not np.allclose(loaded[0].x.numpy(), loaded[1].x.numpy())


def test_a_multiframe_file_without_frames_is_refused_with_the_hint(multiframe: Path) -> None:
    with pytest.raises(DataFormatError) as info:
        load_frames(read_input_image(multiframe), SPEC_2D, None, name=str(multiframe))
    message = str(info.value)
    assert "\n" not in message
    assert str(multiframe) in message
    assert "6 frames of 256 x 256" in message
    assert "--frames all" in message


def test_a_frame_beyond_the_file_names_the_count(multiframe: Path) -> None:
    with pytest.raises(DataFormatError, match=r"frame 9 requested; the file has 6 frame\(s\)"):
        split_frames(read_input_image(multiframe), [2, 9])


def test_a_single_image_is_its_own_frame_0() -> None:
    path = require_path("imaging/dicom/ct/CT_small.dcm")
    image = read_input_image(path)
    assert split_frames(image, "all") == [(None, image)]
    assert split_frames(image, [0]) == [(None, image)]
    with pytest.raises(DataFormatError, match="frame 1 requested; the file has 1 frame"):
        split_frames(image, [1])


def test_frames_of_a_nifti_volume_are_its_slices() -> None:
    path = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_001.nii.gz")
    image = read_input_image(path)
    loaded = load_frames(image, SPEC_2D, [0, image.array.shape[0] - 1], name="h.nii.gz")
    assert [f.frame for f in loaded] == [0, image.array.shape[0] - 1]


def test_frames_are_refused_for_a_3d_model() -> None:
    path = require_path("imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_001.nii.gz")
    spec = classifier_input_spec(None, n_channels=1, spatial_dims=3, size=(28, 28, 28))
    with pytest.raises(ConfigError, match="--frames applies to 2D models"):
        load_frames(read_input_image(path), spec, "all", name="h.nii.gz")
