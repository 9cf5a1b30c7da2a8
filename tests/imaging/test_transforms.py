"""A read clinical image -> model input, and the seeded MONAI augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.transforms import augmentation, prepare_image, to_model_input
from precisionmed.io.image import Image
from precisionmed.predict import ImageInputSpec, dicom_modalities

BYTE = {"value_range": (0.0, 255.0)}


def test_8bit_grey_image_is_divided_by_255_and_kept_at_model_size() -> None:
    arr = np.arange(28 * 28, dtype=np.float32).reshape(28, 28) % 256
    x = to_model_input(
        Image(arr, (1.0, 1.0), metadata=BYTE), spatial_dims=2, n_channels=1, size=(28, 28)
    )
    assert x.shape == (1, 28, 28)
    np.testing.assert_allclose(x[0].numpy(), arr / 255.0, rtol=1e-6)


def test_the_same_picture_in_8_and_16_bits_gives_the_same_input() -> None:
    """Scaling follows the declared bit depth, not the values: a dark 8-bit image is not
    stretched (the old min-max scaling of non-8-bit files made 16-bit copies predict otherwise)."""
    arr = (np.arange(28 * 28, dtype=np.float32).reshape(28, 28) % 100) + 20
    eight = Image(arr, (1.0, 1.0), metadata=BYTE)
    sixteen = Image(arr * 257, (1.0, 1.0), metadata={"value_range": (0.0, 65535.0)})
    x8 = to_model_input(eight, spatial_dims=2, n_channels=1, size=(28, 28))
    x16 = to_model_input(sixteen, spatial_dims=2, n_channels=1, size=(28, 28))
    np.testing.assert_allclose(x8.numpy(), x16.numpy(), atol=1e-7)
    assert float(x8.max()) == pytest.approx(119 / 255)


def test_rgb_to_grey_uses_luminance_and_grey_to_rgb_repeats() -> None:
    rgb = np.zeros((28, 28, 3), np.float32)
    rgb[..., 1] = 255.0
    x = to_model_input(
        Image(rgb, (1.0, 1.0), photometric="RGB", metadata=BYTE),
        spatial_dims=2,
        n_channels=1,
        size=(28, 28),
    )
    np.testing.assert_allclose(x.numpy(), 0.587, rtol=1e-5)
    grey = np.full((28, 28), 51.0, np.float32)
    x3 = to_model_input(
        Image(grey, (1.0, 1.0), metadata=BYTE), spatial_dims=2, n_channels=3, size=(28, 28)
    )
    assert x3.shape == (3, 28, 28)
    np.testing.assert_allclose(x3.numpy(), 0.2, rtol=1e-6)


def test_hounsfield_image_is_scaled_by_its_declared_range_and_resized() -> None:
    """A 12-bit CT with intercept -1024 declares [-1024, 3071] HU: that range maps to [0, 1]
    (it was min-max scaled per image before, so the scale depended on the image's content)."""
    ct = np.linspace(-1024, 1000, 512 * 512, dtype=np.float32).reshape(512, 512)
    image = Image(ct, (0.7, 0.7), modality="CT", metadata={"value_range": (-1024.0, 3071.0)})
    x = to_model_input(image, spatial_dims=2, n_channels=1, size=(28, 28))
    assert x.shape == (1, 28, 28)
    assert 0.0 <= float(x.min()) < 0.01
    assert float(x.max()) == pytest.approx(2024 / 4095, abs=0.01)  # not stretched to 1
    # Area interpolation keeps the row-wise ramp monotonic.
    assert (np.diff(x[0, :, 0].numpy()) > 0).all()


def test_float_image_without_declared_range_uses_the_training_range() -> None:
    arr = np.full((28, 28), 127.5, np.float32)
    x = to_model_input(
        Image(arr, (1.0, 1.0)), spatial_dims=2, n_channels=1, size=(28, 28), source_range=(0, 255)
    )
    np.testing.assert_allclose(x.numpy(), 0.5)


def _spec(**changes: object) -> ImageInputSpec:
    base = {
        "modality": "x-ray",
        "dicom_modalities": dicom_modalities("x-ray"),
        "photometric": "MONOCHROME2",
        "channels": 1,
        "spatial_dims": 2,
        "size": (28, 28),
        "source_range": (0.0, 255.0),
        "intensity_range": (0.0, 1.0),
        "scaling": "test",
    }
    return ImageInputSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_nan_pixels_are_replaced_with_a_warning_and_an_all_nan_image_is_refused() -> None:
    arr = np.full((28, 28), 100.0, np.float32)
    arr[0, :4] = np.nan
    arr[1, 0] = np.inf
    x, warnings = prepare_image(Image(arr, (1.0, 1.0), metadata=BYTE), _spec())
    assert np.isfinite(x.numpy()).all()
    np.testing.assert_allclose(x.numpy(), 100 / 255)  # replaced by the lowest finite value
    assert any("5 of 784 values" in w and "NaN or infinite" in w for w in warnings)
    nan = Image(np.full((28, 28), np.nan, np.float32), (1.0, 1.0), path=Path("/data/x.npz"))
    with pytest.raises(DataFormatError, match=r"/data/x\.npz: expected an image with finite"):
        prepare_image(nan, _spec())


def test_inputs_unlike_the_training_images_are_described_in_warnings() -> None:
    ct = Image(
        np.zeros((512, 512), np.float32),
        (0.7, 0.7),
        modality="CT",
        metadata={"value_range": (-1024.0, 3071.0)},
    )
    _, warnings = prepare_image(ct, _spec())
    assert any("DICOM modality is CT" in w and "x-ray" in w for w in warnings)
    assert any("resized" in w and "512 x 512" in w for w in warnings)
    cr = Image(np.zeros((28, 28), np.float32), (1.0, 1.0), modality="CR", metadata=BYTE)
    assert prepare_image(cr, _spec())[1] == []
    rgb = Image(np.zeros((28, 28, 3), np.float32), (1.0, 1.0), photometric="RGB", metadata=BYTE)
    assert any("converted to grey" in w for w in prepare_image(rgb, _spec())[1])
    hot = Image(np.full((28, 28), 300.0, np.float32), (1.0, 1.0))  # float, over 0-255
    x, warnings = prepare_image(hot, _spec())
    assert any("outside the range the model was trained on [0, 255]" in w for w in warnings)
    assert float(x.max()) == 1.0
    unit = Image(np.linspace(0, 1, 784, dtype=np.float32).reshape(28, 28), (1.0, 1.0))
    assert any("under 5%" in w for w in prepare_image(unit, _spec())[1])


def test_volume_resized_for_a_3d_model() -> None:
    vol = np.random.default_rng(0).integers(0, 255, size=(35, 50, 40)).astype(np.float32)
    x = to_model_input(Image(vol, (1.0, 1.0, 1.0)), spatial_dims=3, n_channels=1, size=(28, 28, 28))
    assert x.shape == (1, 28, 28, 28)


def test_single_slice_volume_is_a_2d_image_with_its_declared_range() -> None:
    x = to_model_input(
        Image(np.full((1, 28, 28), 51.0, np.float32), (3.0, 1.0, 1.0), metadata=BYTE),
        spatial_dims=2,
        n_channels=1,
        size=(28, 28),
    )
    assert x.shape == (1, 28, 28)
    np.testing.assert_allclose(x.numpy(), 0.2, rtol=1e-6)


def test_wrong_dimensionality_names_file_and_expectation() -> None:
    vol = Image(
        np.zeros((20, 28, 28), np.float32), (3.0, 1.0, 1.0), path=Path("/data/brain.nii.gz")
    )
    with pytest.raises(DataFormatError, match=r"/data/brain\.nii\.gz: expected a 2D image") as info:
        to_model_input(vol, spatial_dims=2, n_channels=1, size=(28, 28))
    assert "\n" not in str(info.value)
    flat = Image(np.zeros((28, 28), np.float32), (1.0, 1.0), path=Path("/data/xray.png"))
    with pytest.raises(DataFormatError, match=r"xray\.png: expected a 3D volume"):
        to_model_input(flat, spatial_dims=3, n_channels=1, size=(28, 28, 28))


@pytest.mark.parametrize("dims", [2, 3])
def test_augmentation_is_seeded_and_shape_preserving(dims: int) -> None:
    x = torch.rand(1, *(16,) * dims)
    a, b = augmentation(dims, "strong", seed=3), augmentation(dims, "strong", seed=3)
    outs_a = [a(x) for _ in range(4)]
    outs_b = [b(x) for _ in range(4)]
    for ya, yb in zip(outs_a, outs_b, strict=True):
        assert ya.shape == x.shape
        assert type(ya) is torch.Tensor
        torch.testing.assert_close(ya, yb)
    assert any(not torch.equal(y, x) for y in outs_a)
    assert augmentation(dims, "none") is None
    with pytest.raises(ConfigError, match="'augment' parameter must be one of"):
        augmentation(dims, "wild")
