"""read_image (PNG/JPEG via Pillow) and read_npz on files written in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io import read_image, read_npz

PIL = pytest.importorskip("PIL.Image")


def test_png_grey_8_and_16_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (12, 17), dtype=np.uint8)
    PIL.fromarray(grey).save(tmp_path / "g.png", dpi=(254, 254))
    image = read_image(tmp_path / "g.png")
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array, grey)
    assert image.photometric == "MONOCHROME2"
    assert image.spatial_ndim == 2
    assert image.spacing == pytest.approx((0.1, 0.1), rel=1e-3)  # 254 dpi = 0.1 mm
    assert image.metadata["spacing_known"] is True
    deep = rng.integers(0, 65536, (9, 8), dtype=np.uint16)
    PIL.fromarray(deep).save(tmp_path / "d.png")
    image16 = read_image(tmp_path / "d.png")
    np.testing.assert_array_equal(image16.array, deep)
    assert image16.spacing == (1.0, 1.0)
    assert image16.metadata["spacing_known"] is False


def test_rgb_palette_rgba_and_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (10, 11, 3), dtype=np.uint8)
    PIL.fromarray(rgb).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_image(tmp_path / "c.png").array, rgb)
    rgba = np.dstack([rgb, np.full((10, 11), 128, np.uint8)])
    PIL.fromarray(rgba).save(tmp_path / "a.png")
    with_alpha = read_image(tmp_path / "a.png")
    assert with_alpha.array.shape == (10, 11, 3)
    assert with_alpha.is_color
    np.testing.assert_array_equal(with_alpha.array, rgb)
    PIL.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").array.shape == (10, 11, 3)
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    PIL.fromarray(smooth).save(tmp_path / "s.jpg", quality=95)
    jpeg = read_image(tmp_path / "s.jpg")
    assert jpeg.array.shape == (48, 64)
    assert jpeg.metadata["format"] == "jpeg"
    assert np.abs(jpeg.array - smooth).max() <= 4  # lossy, but close


def test_image_errors(tmp_path: Path) -> None:
    PIL.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.gif")
    with pytest.raises(DataFormatError, match=r"x\.gif: expected a PNG or JPEG image, got GIF"):
        read_image(tmp_path / "x.gif")
    (tmp_path / "t.png").write_text("not a png")
    with pytest.raises(DataFormatError, match=r"t\.png: not a readable PNG/JPEG image"):
        read_image(tmp_path / "t.png")


def test_npz_single_array_and_named_image(tmp_path: Path) -> None:
    volume = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    np.savez(tmp_path / "one.npz", volume)
    image = read_npz(tmp_path / "one.npz")
    np.testing.assert_array_equal(image.array, volume)
    assert image.spatial_ndim == 3
    assert image.spacing == (1.0, 1.0, 1.0)
    np.savez(tmp_path / "named.npz", image=volume, spacing=np.array([2.0, 0.5, 0.5]))
    named = read_npz(tmp_path / "named.npz")
    assert named.spacing == (2.0, 0.5, 0.5)
    rgb = np.zeros((5, 6, 3), np.uint8)
    np.savez_compressed(tmp_path / "rgb.npz", x=rgb)
    assert read_npz(tmp_path / "rgb.npz").is_color
    np.savez(tmp_path / "two.npz", a=volume, b=volume)
    with pytest.raises(DataFormatError, match=r"two\.npz: expected one array .* got \['a', 'b'\]"):
        read_npz(tmp_path / "two.npz")
    np.savez(tmp_path / "bad.npz", image=volume, spacing=np.array([1.0, 1.0]))
    with pytest.raises(DataFormatError, match=r"'spacing' has 2 values for 3 spatial axes"):
        read_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFormatError, match=r"obj\.npz: not a readable \.npz"):
        read_npz(tmp_path / "obj.npz")


def test_declared_range_follows_the_bit_depth_not_the_values(tmp_path: Path) -> None:
    """A dark 8-bit PNG still declares 0-255 and its 16-bit copy 0-65535: models scale by that."""
    dark = np.full((6, 5), 40, dtype=np.uint8)
    PIL.fromarray(dark).save(tmp_path / "dark8.png")
    PIL.fromarray(dark.astype(np.uint16) * 257).save(tmp_path / "dark16.png")
    assert read_image(tmp_path / "dark8.png").value_range == (0.0, 255.0)
    assert read_image(tmp_path / "dark16.png").value_range == (0.0, 65535.0)
    PIL.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.jpg")
    assert read_image(tmp_path / "rgb.jpg").value_range == (0.0, 255.0)
    np.savez(tmp_path / "u8.npz", image=dark)
    np.savez(tmp_path / "f32.npz", image=dark.astype(np.float32))
    assert read_npz(tmp_path / "u8.npz").value_range == (0.0, 255.0)
    assert read_npz(tmp_path / "f32.npz").value_range is None  # a float's scale is not declared
