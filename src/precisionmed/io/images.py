"""PNG/JPEG (Pillow) and ``.npz`` array readers, in the conventions of :mod:`.image`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from precisionmed.errors import DataFormatError, require_extra
from precisionmed.io.image import Image

__all__ = ["read_image", "read_npz"]


def _dtype_range(dtype: np.dtype) -> tuple[float, float] | None:
    """The full range of an integer dtype (its declared bit depth); None for floats."""
    if np.issubdtype(dtype, np.bool_):
        return (0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return (float(info.min), float(info.max))
    return None


def read_image(path: str | Path) -> Image:
    """Read a PNG or JPEG photograph/screenshot of an image.

    Parameters
    ----------
    path : str or Path
        A PNG or JPEG file (8 or 16 bit, grey, palette, RGB or RGBA).

    Returns
    -------
    Image
        ``array`` float32 of shape ``(H, W)`` (grey, values as stored: 0-255 or 0-65535) or
        ``(H, W, 3)`` (RGB; palettes expanded, alpha dropped); ``value_range`` is the declared
        bit depth's range, (0, 255) or (0, 65535), whatever values the pixels happen to take.
        ``spacing`` is (1.0, 1.0) pixel units (``metadata["spacing_known"]`` False) unless the
        file records a resolution in dots per inch, then 25.4 / dpi mm. No affine.
    """
    require_extra("PIL", "imaging")
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    path = Path(path)
    try:
        with PILImage.open(path) as pil:
            pil.load()
            fmt, mode, info = pil.format, pil.mode, dict(pil.info)
            plain: PILImage.Image = pil
            if mode in ("1", "LA"):
                plain = pil.convert("L")
            elif mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F", "RGB"):
                plain = pil.convert("RGB")  # palette, RGBA, CMYK, YCbCr
            arr = np.asarray(plain)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable PNG/JPEG image ({exc})") from exc
    if fmt not in ("PNG", "JPEG"):
        raise DataFormatError(f"{path}: expected a PNG or JPEG image, got {fmt}")
    color = arr.ndim == 3
    if color and arr.shape[-1] == 4:
        arr = arr[..., :3]
    spacing, known = (1.0, 1.0), False
    dpi = info.get("dpi")
    if dpi and all(float(d) > 1 for d in dpi):
        spacing, known = (25.4 / float(dpi[1]), 25.4 / float(dpi[0])), True
    return Image(
        array=arr.astype(np.float32),
        spacing=spacing,
        affine=None,
        modality=None,
        photometric="RGB" if color else "MONOCHROME2",
        path=path,
        metadata={
            "format": fmt.lower(),
            "mode": mode,
            "stored_dtype": str(arr.dtype),
            "value_range": _png_range(mode, arr.dtype),
            "spacing_known": known,
        },
    )


def _png_range(mode: str, dtype: np.dtype) -> tuple[float, float] | None:
    """Declared range of a PNG/JPEG by its Pillow mode: 8-bit modes 0-255, "I;16*" 0-65535."""
    if mode.startswith("I;16"):
        return (0.0, 65535.0)
    if mode in ("I", "F"):  # 32-bit integer or float: Pillow's 16-bit grey PNGs open as "I"
        return (0.0, 65535.0) if mode == "I" else None
    return _dtype_range(dtype)


def read_npz(path: str | Path) -> Image:
    """Read a NumPy ``.npz`` holding one image array (optionally with ``spacing`` / ``affine``).

    Parameters
    ----------
    path : str or Path
        An ``.npz`` with exactly one array, or an ``image`` array plus optional ``spacing``
        (one value per spatial axis, mm) and ``affine`` (4x4) arrays. Pickled objects are refused.

    Returns
    -------
    Image
        ``array`` float32 of shape ``(H, W)``, ``(H, W, 3)`` or ``(D, H, W)``; ``value_range`` is
        the stored integer dtype's full range (0-255 for uint8), None for float arrays.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError (pickled object), OSError...
        raise DataFormatError(f"{path}: not a readable .npz array file ({exc})") from exc
    if "image" in arrays:
        image = arrays["image"]
    elif len(arrays) == 1:
        image = next(iter(arrays.values()))
    else:
        raise DataFormatError(
            f"{path}: expected one array (or one named 'image'), got {sorted(arrays)}"
        )
    if image.ndim not in (2, 3) or not np.issubdtype(image.dtype, np.number):
        raise DataFormatError(
            f"{path}: expected a numeric (H, W), (H, W, 3) or (D, H, W) array, "
            f"got {image.dtype} {image.shape}"
        )
    n_spacing = len(arrays["spacing"]) if "spacing" in arrays else None
    color = image.ndim == 3 and image.shape[-1] == 3 and n_spacing in (None, 2)
    spatial = image.ndim - 1 if color else image.ndim
    spacing = tuple(float(s) for s in arrays.get("spacing", np.ones(spatial)))
    if len(spacing) != spatial:
        raise DataFormatError(
            f"{path}: 'spacing' has {len(spacing)} values for {spatial} spatial axes"
        )
    affine = arrays.get("affine")
    if affine is not None and affine.shape != (4, 4):
        raise DataFormatError(f"{path}: 'affine' must be 4x4, got shape {affine.shape}")
    return Image(
        array=image.astype(np.float32),
        spacing=spacing,
        affine=None if affine is None else affine.astype(float),
        photometric="RGB" if color else "MONOCHROME2",
        path=path,
        metadata={
            "format": "npz",
            "stored_dtype": str(image.dtype),
            "value_range": _dtype_range(image.dtype),
            "spacing_known": "spacing" in arrays,
        },
    )
