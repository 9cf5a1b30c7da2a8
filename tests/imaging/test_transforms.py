"""A read clinical image -> model input, and the seeded MONAI augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.transforms import augmentation, to_model_input
from precisionmed.io.image import Image


def test_8bit_grey_image_is_divided_by_255_and_kept_at_model_size() -> None:
    arr = np.arange(28 * 28, dtype=np.float32).reshape(28, 28) % 256
    x = to_model_input(Image(arr, (1.0, 1.0)), spatial_dims=2, n_channels=1, size=(28, 28))
    assert x.shape == (1, 28, 28)
    np.testing.assert_allclose(x[0].numpy(), arr / 255.0, rtol=1e-6)


def test_rgb_to_grey_uses_luminance_and_grey_to_rgb_repeats() -> None:
    rgb = np.zeros((28, 28, 3), np.float32)
    rgb[..., 1] = 255.0
    x = to_model_input(
        Image(rgb, (1.0, 1.0), photometric="RGB"), spatial_dims=2, n_channels=1, size=(28, 28)
    )
    np.testing.assert_allclose(x.numpy(), 0.587, rtol=1e-5)
    grey = np.full((28, 28), 51.0, np.float32)
    x3 = to_model_input(Image(grey, (1.0, 1.0)), spatial_dims=2, n_channels=3, size=(28, 28))
    assert x3.shape == (3, 28, 28)
    np.testing.assert_allclose(x3.numpy(), 0.2, rtol=1e-6)


def test_hounsfield_image_is_min_max_scaled_and_resized() -> None:
    ct = np.linspace(-1024, 3071, 512 * 512, dtype=np.float32).reshape(512, 512)
    x = to_model_input(
        Image(ct, (0.7, 0.7), modality="CT"), spatial_dims=2, n_channels=1, size=(28, 28)
    )
    assert x.shape == (1, 28, 28)
    assert 0.0 <= float(x.min()) < 0.05
    assert 0.95 < float(x.max()) <= 1.0
    # Area interpolation keeps the row-wise ramp monotonic.
    assert (np.diff(x[0, :, 0].numpy()) > 0).all()


def test_volume_resized_for_a_3d_model() -> None:
    vol = np.random.default_rng(0).integers(0, 255, size=(35, 50, 40)).astype(np.float32)
    x = to_model_input(Image(vol, (1.0, 1.0, 1.0)), spatial_dims=3, n_channels=1, size=(28, 28, 28))
    assert x.shape == (1, 28, 28, 28)


def test_single_slice_volume_is_a_2d_image() -> None:
    x = to_model_input(
        Image(np.ones((1, 28, 28), np.float32), (3.0, 1.0, 1.0)),
        spatial_dims=2,
        n_channels=1,
        size=(28, 28),
    )
    assert x.shape == (1, 28, 28)


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
