"""Letterboxing (imaging/transforms.py) and the way back (imaging/gradcam.py): a non-square image
keeps its proportions in the model input, the same at training (a folder) and at prediction, and
a heat map computed at the input lands on the right pixel of the original image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from precisionmed.imaging.classifier import classifier_input_spec, read_input_image
from precisionmed.imaging.folder import load_image_folder
from precisionmed.imaging.gradcam import cam_on_image
from precisionmed.imaging.letterbox import fit_to_size, letterbox_geometry
from precisionmed.imaging.transforms import prepare_image
from precisionmed.io.image import Image
from precisionmed.predict import ImageInputSpec
from tests.conftest import require_path

HIP = "imaging/dicom/xray/RG2_J2KR_hip_CR.dcm"  # a real 2140 x 1760 (rows x columns) radiograph
SPEC = classifier_input_spec(None, n_channels=1, spatial_dims=2, size=(64, 64))


def _extent(mask: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def test_letterbox_keeps_a_disk_round_where_stretching_squashes_it() -> None:
    rows, cols = np.mgrid[:60, :120]
    disk = ((rows - 30) ** 2 + (cols - 60) ** 2 <= 24**2).astype(np.float32)[None]
    boxed = fit_to_size(disk, (30, 30), resize="letterbox")
    stretched = fit_to_size(disk, (30, 30), resize="stretch")
    assert boxed.shape == stretched.shape == (1, 30, 30)
    height, width = _extent(boxed[0] > 0.5)
    assert abs(height - width) <= 1  # still a disk: 48 px across becomes 12 both ways
    assert height == pytest.approx(12, abs=1)
    height, width = _extent(stretched[0] > 0.5)
    assert height == pytest.approx(2 * width, abs=2)  # squashed into an ellipse
    assert boxed[0, :7].max() == 0.0  # zero bands above and below
    assert boxed[0, 23:].max() == 0.0


def test_letterbox_geometry() -> None:
    assert letterbox_geometry((2140, 1760), (64, 64)) == ((64, 53), (0, 5))
    assert letterbox_geometry((60, 120), (30, 30)) == ((15, 30), (7, 0))
    assert letterbox_geometry((28, 28), (28, 28)) == ((28, 28), (0, 0))


def test_a_real_radiograph_is_letterboxed_into_the_square_input() -> None:
    image = read_input_image(require_path(HIP))
    assert image.array.shape == (2140, 1760)
    x, _ = prepare_image(image, SPEC)
    assert tuple(x.shape) == (1, 64, 64)
    (height, width), (top, left) = letterbox_geometry(image.array.shape, (64, 64))
    x = x.numpy()[0]
    assert x[:, :left].max() == 0.0  # the padding
    assert x[:, left + width :].max() == 0.0
    assert (x[:, left : left + width].max(axis=0) > 0).all()  # the image, every column of it
    squashed, _ = prepare_image(image, dataclasses.replace(SPEC, resize="stretch"))
    assert (squashed.numpy()[0].max(axis=0) > 0).all()  # no padding when stretched


def test_the_map_lands_on_the_original_pixel() -> None:
    """A map that is the letterboxed image itself peaks, once mapped back, where the image's
    bright spot is, to within one input pixel (2140 / 64 = 33 original pixels)."""
    array = np.zeros((2140, 1760), np.float32)
    array[1500:1540, 300:340] = 1.0
    cam = fit_to_size(array[None], (64, 64), resize="letterbox")[0]
    full = cam_on_image(cam / cam.max(), array.shape, resize="letterbox")
    assert full.shape == (2140, 1760)
    row, col = np.unravel_index(int(np.argmax(full)), full.shape)
    assert abs(row - 1520) <= 34
    assert abs(col - 320) <= 34
    assert full[:, 1200:].max() < 0.05  # nothing spills across the image


def test_the_input_spec_records_the_fit() -> None:
    assert SPEC.resize == "letterbox"
    assert ImageInputSpec.from_dict(SPEC.to_dict()).resize == "letterbox"
    old = {k: v for k, v in SPEC.to_dict().items() if k != "resize"}
    assert ImageInputSpec.from_dict(old).resize == "stretch"  # model dirs saved before
    volume = classifier_input_spec(None, n_channels=1, spatial_dims=3, size=(28, 28, 28))
    assert volume.resize == "stretch"


def test_a_folder_trains_on_the_letterboxed_inputs_prediction_makes(tmp_path: Path) -> None:
    """Non-square crops of real BreastMNIST images: the folder's training arrays equal what
    prediction makes of the same files with the spec the model will record."""
    from PIL import Image as PILImage

    with np.load(require_path("imaging/medmnist/breastmnist.npz")) as npz:
        x, y = npz["train_images"], npz["train_labels"].ravel()
    files = []
    for label, name in enumerate(("malignant", "benign")):
        for k, i in enumerate(np.flatnonzero(y == label)[:10]):
            path = tmp_path / "crops" / name / f"{k:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            PILImage.fromarray(x[i][:, 4:20]).save(path)  # 28 rows x 16 columns
            files.append(path)
    data = load_image_folder(tmp_path / "crops", size=28, seed=0)
    spec = classifier_input_spec(data.name, n_channels=1, spatial_dims=2, size=data.size)
    assert spec.resize == "letterbox"
    training = np.concatenate([data.arrays[s][0] for s in ("train", "val", "test")])
    predicted = np.stack([prepare_image(read_input_image(p), spec)[0].numpy() for p in files])
    assert training[:, 0, :, :6].max() == 0.0  # 28 x 16 -> 16 columns centred: 6 on each side
    assert training[:, 0, :, 22:].max() == 0.0
    rows = {p.tobytes() for p in predicted}
    assert all(t.tobytes() in rows for t in training)  # each training array is a prediction's


def test_an_old_stretched_image_stays_stretched() -> None:
    image = Image(np.ones((20, 40), np.float32), (1.0, 1.0), metadata={"value_range": (0, 1)})
    x, _ = prepare_image(image, dataclasses.replace(SPEC, resize="stretch"))
    np.testing.assert_allclose(x.numpy(), 1.0)
