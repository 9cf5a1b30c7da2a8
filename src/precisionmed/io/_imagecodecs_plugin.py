"""pydicom decoder plug-in backed by imagecodecs: JPEG Lossless and 12-bit JPEG Extended.

Why hand-written: pydicom's own plug-ins for these transfer syntaxes are GDCM (which did not
decode the 12-bit samples) and pylibjpeg-libjpeg, which is GPL-3 and so cannot be a dependency
of this Apache-2.0 project; Pillow only decodes 8-bit JPEG Extended. There is no permissively
licensed pydicom plug-in for them, so this module adapts imagecodecs (BSD-3, with
libjpeg-turbo 3, which decodes lossless and 12-bit JPEG) to pydicom 3's decoder plug-in API
(``is_available``, ``DECODER_DEPENDENCIES`` and a frame decoding function), registered by
:func:`register` the first time :func:`precisionmed.io.read_dicom` decodes pixels.

pydicom hands the function one encapsulated frame at a time (so multi-frame works), then does
its own post-processing (YBR to RGB, reshaping); the DICOM reader applies rescale and VOI.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from pydicom import uid

if TYPE_CHECKING:
    from pydicom.pixels.decoders.base import DecodeRunner

__all__ = ["PLUGIN", "SYNTAXES", "register"]

PLUGIN = "imagecodecs"

DECODER_DEPENDENCIES = {
    uid.JPEGExtended12Bit: ("imagecodecs>=2026.3",),
    uid.JPEGLossless: ("imagecodecs>=2026.3",),
    uid.JPEGLosslessSV1: ("imagecodecs>=2026.3",),
}
#: The transfer syntaxes this plug-in decodes.
SYNTAXES = tuple(DECODER_DEPENDENCIES)
_LOSSLESS = (uid.JPEGLossless, uid.JPEGLosslessSV1)

_lock = threading.Lock()
_registered = False


def is_available(tsyntax: str) -> bool:
    """True when imagecodecs is installed with its libjpeg-turbo decoder (pydicom's contract)."""
    if tsyntax not in DECODER_DEPENDENCIES:
        return False
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(imagecodecs.JPEG8.available)


def _decode_jpeg(src: bytes, lossless: bool) -> np.ndarray:
    import imagecodecs

    try:
        # libjpeg-turbo 3: SOF3 lossless (predictors 1-7, 2-16 bit) and 12-bit DCT.
        return np.asarray(imagecodecs.jpeg8_decode(src))
    except Exception:
        if not lossless:
            raise
        # a second, independent lossless decoder (from dcm2niix) for streams libjpeg rejects
        return np.ascontiguousarray(imagecodecs.jpegsof3_decode(src))


def _decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """Decode one JPEG frame to the bytes pydicom expects for ``runner``'s pixel format."""
    tsyntax = runner.transfer_syntax
    if tsyntax == uid.JPEGExtended12Bit and runner.bits_stored <= 8:
        # 8-bit JPEG Extended: keep pydicom's default (Pillow), which handles the colour cases.
        from pydicom.pixels.decoders import pillow

        if pillow.is_available(tsyntax):
            return pillow._decode_frame(src, runner)
    if tsyntax == uid.JPEGExtended12Bit and runner.samples_per_pixel != 1:
        # libjpeg would convert YCbCr to RGB behind pydicom's back; no sample to verify it on.
        raise ValueError("imagecodecs: 12-bit colour JPEG Extended is refused (unverified)")
    if not bytes(src[-16:]).rstrip(b"\x00\xff").endswith(b"\xff\xd9"):
        # libjpeg only warns on a truncated stream and fills the rest with grey: refuse it.
        raise ValueError("imagecodecs: truncated JPEG frame (no end-of-image marker)")
    decoded = _decode_jpeg(src, lossless=tsyntax in _LOSSLESS)
    rows, columns, samples = runner.rows, runner.columns, runner.samples_per_pixel
    expected = (rows, columns) if samples == 1 else (rows, columns, samples)
    if decoded.shape != expected:
        raise ValueError(
            f"imagecodecs: the JPEG frame is {decoded.shape}, the dataset says {expected}"
        )
    # Decoded as uint8 (precision <= 8) or uint16; the container follows Bits Allocated.
    dtype = runner.pixel_dtype  # signed or unsigned per Pixel Representation
    if decoded.dtype.itemsize > dtype.itemsize:
        raise ValueError(
            f"imagecodecs: {decoded.dtype} samples exceed Bits Allocated {runner.bits_allocated}"
        )
    arr = decoded.astype(f"u{dtype.itemsize}").view(dtype)
    if runner.pixel_representation == 1:
        # JPEG carries no sign: the Bits Stored two's complement pattern comes back as an
        # unsigned integer, so sign-extend from the stored bit width (as pydicom does for
        # JPEG-LS). With Bits Stored == Bits Allocated the view above is already signed.
        shift = 8 * dtype.itemsize - runner.bits_stored
        if shift > 0:
            np.left_shift(arr, shift, out=arr)
            np.right_shift(arr, shift, out=arr)
    if samples > 1:
        runner.set_option("planar_configuration", 0)  # decoded colour-by-pixel
    return arr.tobytes()


def register() -> None:
    """Add the plug-in to pydicom's decoders for the three syntaxes (once, thread-safe).

    For JPEG Extended it goes first, so that 12-bit files do not log Pillow's refusal; 8-bit
    frames are still handed to Pillow (see :func:`_decode_frame`).
    """
    global _registered
    with _lock:
        if _registered:
            return
        from pydicom.pixels.decoders import (
            JPEGExtended12BitDecoder,
            JPEGLosslessDecoder,
            JPEGLosslessSV1Decoder,
        )

        path = (__name__, "_decode_frame")
        for decoder in (JPEGLosslessDecoder, JPEGLosslessSV1Decoder):
            if PLUGIN not in decoder.available_plugins:
                decoder.add_plugin(PLUGIN, path)
        extended = JPEGExtended12BitDecoder
        if PLUGIN not in extended.available_plugins:
            had_pillow = "pillow" in extended.available_plugins
            if had_pillow:
                extended.remove_plugin("pillow")
            extended.add_plugin(PLUGIN, path)
            if had_pillow:
                extended.add_plugin("pillow", ("pydicom.pixels.decoders.pillow", "_decode_frame"))
        _registered = True
