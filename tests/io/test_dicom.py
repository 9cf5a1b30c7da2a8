"""read_dicom / read_dicom_series against pydicom's own decoding of the real shared DICOM files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io import read_dicom
from tests.conftest import data_root, require_path

pydicom = pytest.importorskip("pydicom")

DICOM = "imaging/dicom"
ALL_FILES = sorted(
    str(p.relative_to(data_root())) for p in (data_root() / DICOM).glob("**/*.dcm")
) or [f"{DICOM}/<missing>"]


def _reference(path: Path) -> tuple[object, np.ndarray]:
    """pydicom's decoded pixels with the rescale applied: our independent expectation."""
    ds = pydicom.dcmread(path)
    slope = float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    return ds, ds.pixel_array.astype(np.float64) * slope + intercept


@pytest.mark.parametrize("relpath", ALL_FILES)
def test_every_shared_dicom_reads_like_pydicom(relpath: str) -> None:
    path = require_path(relpath)
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:  # the ECG waveform: a clear error, not an image
        with pytest.raises(DataFormatError, match=r"waveform_ecg\.dcm: .*no pixel data"):
            read_dicom(path)
        return
    image = read_dicom(path)
    _, expected = _reference(path)
    assert image.array.dtype == np.float32
    assert image.array.shape == expected.shape
    assert np.isfinite(image.array).all()
    assert image.array.std() > 0
    assert all(s > 0 for s in image.spacing)
    assert len(image.spacing) == image.spatial_ndim
    if ds.PhotometricInterpretation == "MONOCHROME1":
        # inverted: ours + pydicom's is one constant
        total = image.array.astype(np.float64) + expected
        assert np.ptp(total) == 0
    else:
        np.testing.assert_allclose(image.array, expected, rtol=1e-6, atol=1e-3)
    if image.modality == "CT":  # Hounsfield units
        assert image.array.min() >= -3100
        assert image.array.max() <= 4100
        assert -1100 <= np.median(image.array) <= 100


def test_monochrome1_chest_cr_is_inverted_jpeg2000() -> None:
    path = require_path(f"{DICOM}/xray/RG1_J2KI_chest_CR.dcm")
    image = read_dicom(path)
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    assert image.metadata["transfer_syntax"].startswith("JPEG 2000")
    assert image.metadata["photometric_stored"] == "MONOCHROME1"
    assert image.photometric == "MONOCHROME2"
    r = np.corrcoef(image.array.ravel()[::97], raw.ravel()[::97])[0, 1]
    assert r < -0.999
    # BitsStored 15: inverted over 0..32767
    np.testing.assert_array_equal(image.array, 32767 - raw)
    # no usable PixelSpacing (0\0) in this file: spacing flagged as unknown
    assert image.spacing == (1.0, 1.0)
    assert image.metadata["spacing_known"] is False
    assert image.affine is None


def test_apply_voi_windows_to_unit_range_and_keeps_inversion() -> None:
    ct = require_path(f"{DICOM}/ct_seg_liver/ct_01.dcm")  # window 40 / 400 HU
    hu = read_dicom(ct).array
    windowed = read_dicom(ct, apply_voi=True).array
    assert windowed.min() == 0.0
    assert windowed.max() == 1.0
    assert np.all(windowed[hu <= 40 - 200] == 0.0)
    assert np.all(windowed[hu > 40 + 200] == 1.0)
    inside = (hu > -150) & (hu < 230)
    assert np.all(np.diff(windowed[inside][np.argsort(hu[inside])]) >= 0)  # monotone in HU
    chest = require_path(f"{DICOM}/xray/RG1_J2KI_chest_CR.dcm")
    raw = read_dicom(chest).array
    display = read_dicom(chest, apply_voi=True).array
    assert 0.0 <= display.min() < display.max() <= 1.0
    assert np.corrcoef(display.ravel()[::97], raw.ravel()[::97])[0, 1] > 0.99


def test_declared_range_is_bits_stored_after_rescale_or_unit_after_voi() -> None:
    ct = require_path(f"{DICOM}/ct/CT_small.dcm")
    ds = pydicom.dcmread(ct)
    bits, slope = int(ds.BitsStored), float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    lo, hi = (
        (0, 2**bits - 1)
        if ds.PixelRepresentation == 0
        else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    image = read_dicom(ct)
    assert image.value_range == (lo * slope + intercept, hi * slope + intercept)
    assert image.value_range[0] <= image.array.min() <= image.array.max() <= image.value_range[1]
    assert read_dicom(
        require_path(f"{DICOM}/ct_seg_liver/ct_01.dcm"), apply_voi=True
    ).value_range == (
        0.0,
        1.0,
    )
    chest = read_dicom(require_path(f"{DICOM}/xray/RG1_J2KI_chest_CR.dcm"))
    assert chest.value_range == (0.0, 32767.0)  # MONOCHROME1 inverted within its 15 bits


def test_mr_geometry_spacing_and_orientation() -> None:
    image = read_dicom(require_path(f"{DICOM}/mr/MR4_UNC_brain.dcm"))
    assert image.spacing == pytest.approx((0.488281, 0.488281))
    assert image.affine is not None
    # top-left pixel centre = ImagePositionPatient (LPS), flipped to RAS
    assert image.origin == pytest.approx((125.000992, 122.842384, 32.496708))
    # one column step moves +x in LPS (towards the patient's left) by the column spacing
    step = image.affine[:3, 1]
    assert step == pytest.approx([-0.488281, 0.0, 0.0], abs=1e-5)
    assert image.orientation == "PL"


def test_multiframe_seg_reads_as_volume() -> None:
    image = read_dicom(require_path(f"{DICOM}/ct_seg_liver/liver_seg.dcm"))
    assert image.array.shape == (3, 512, 512)
    assert image.spacing == pytest.approx((1.0, 0.810547, 0.810547))
    assert set(np.unique(image.array)) == {0.0, 1.0}
    assert image.orientation == "SPL"


@pytest.mark.parametrize("keep", [1000, 20000])
def test_truncated_dicom_is_a_one_line_error(tmp_path: Path, keep: int) -> None:
    source = require_path(f"{DICOM}/ct/CT_small.dcm")
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(source.read_bytes()[:keep])
    with pytest.raises(DataFormatError, match=r"broken\.dcm: (truncated|cannot decode)") as info:
        read_dicom(broken)
    assert "\n" not in str(info.value)


def test_truncated_jpeg2000_is_reported(tmp_path: Path) -> None:
    source = require_path(f"{DICOM}/xray/RG1_J2KI_chest_CR.dcm")
    broken = tmp_path / "cr.dcm"
    broken.write_bytes(source.read_bytes()[:300_000])
    with pytest.raises(DataFormatError, match=r"cr\.dcm: truncated DICOM"):
        read_dicom(broken)


def test_not_a_dicom_file(tmp_path: Path) -> None:
    text = tmp_path / "report.dcm"
    text.write_text("patient doing well")
    with pytest.raises(DataFormatError, match=r"report\.dcm: not a DICOM file"):
        read_dicom(text)


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless"])
def test_compressed_transfer_syntaxes_decode_losslessly(tmp_path: Path, syntax: str) -> None:
    source = require_path(f"{DICOM}/ct/CT_small.dcm")
    ds = pydicom.dcmread(source)
    try:
        ds.compress(getattr(pydicom.uid, syntax))
    except (RuntimeError, NotImplementedError) as exc:  # no encoder plug-in installed
        pytest.skip(f"cannot encode {syntax}: {exc}")
    ds.save_as(tmp_path / "c.dcm")
    image = read_dicom(tmp_path / "c.dcm")
    assert image.metadata["transfer_syntax"] == getattr(pydicom.uid, syntax).name
    np.testing.assert_array_equal(image.array, read_dicom(source).array)


# Sample files shipped inside the pydicom wheel (an imaging-extra dependency): colour models and
# transfer syntaxes the shared mirror does not cover.
PYDICOM_SAMPLES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, YBR_FULL -> RGB (Pillow)
        "SC_rgb_rle_2frame.dcm",  # RLE, RGB, 2 frames
        "examples_palette.dcm",  # PALETTE COLOR -> RGB via the LUT
        "examples_jpeg2k.dcm",  # JPEG 2000 lossless, YBR_RCT colour
        "JPEGLSNearLossless_16.dcm",  # JPEG-LS lossy 16 bit (pyjpegls)
    ],
)
def test_colour_and_compressed_samples_match_pydicom(name: str) -> None:
    path = PYDICOM_SAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} is not bundled with this pydicom")
    ds = pydicom.dcmread(path)
    image = read_dicom(path)
    expected = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        expected = pydicom.pixels.apply_color_lut(expected, ds)
    if expected.shape[-1] == 3:
        assert image.photometric == "RGB"
        assert image.is_color
        assert image.spatial_ndim == expected.ndim - 1
    np.testing.assert_array_equal(image.array, expected.astype(np.float32))


@pytest.mark.parametrize(
    "name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm"]
)
def test_lossless_encodings_of_mr_small_give_the_same_pixels(name: str) -> None:
    path = PYDICOM_SAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} is not bundled with this pydicom")
    reference = read_dicom(require_path(f"{DICOM}/mr/MR_small.dcm"))
    np.testing.assert_array_equal(read_dicom(path).array, reference.array)


# JPEG Lossless (Process 14, Process 14 SV1) and 12-bit JPEG Extended: decoded by our imagecodecs
# plug-in (pydicom's only other plug-ins for them are GDCM and GPL-3 pylibjpeg-libjpeg).
# pylibjpeg-libjpeg's decoding of JPGExtended.dcm (a reference decoder, not a dependency):
# (row, first column, values)
JPEG_EXTENDED_12BIT_ROWS = [
    (420, 132, [202, 212, 229, 243, 234, 229, 231, 240, 244, 242, 249, 260, 218, 219, 221, 223]),
    (230, 112, [86, 84, 80, 73, 69, 73, 85, 96, 95, 108, 125, 135, 136, 133, 132, 132]),
]


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG-lossy.dcm"])
def test_jpeg_extended_12bit_decodes_within_jpeg_tolerance(name: str) -> None:
    pytest.importorskip("imagecodecs")
    image = read_dicom(PYDICOM_SAMPLES / name)
    assert image.metadata["transfer_syntax"] == "JPEG Extended (Process 2 and 4)"
    assert image.metadata["stored_dtype"] == "uint16"
    assert image.array.shape == (1024, 256)
    # the values pydicom's own tests document for both files
    assert image.array[420, 140] == 244
    assert image.array[230, 120] == 95
    # IDCT rounding may differ by one grey level between decoders (ISO 10918-2 accuracy)
    for row, col, expected in JPEG_EXTENDED_12BIT_ROWS:
        np.testing.assert_allclose(image.array[row, col : col + 16], expected, atol=1)
    assert image.array.mean() == pytest.approx(3770427 / (1024 * 256), abs=0.02)
    assert image.array.min() >= 0
    assert image.array.max() < 2**12


def test_jpeg_lossless_sv1_rgb_sample_equals_its_uncompressed_twin() -> None:
    pytest.importorskip("imagecodecs")
    image = read_dicom(PYDICOM_SAMPLES / "SC_rgb_jpeg_gdcm.dcm")  # encoded by GDCM
    assert image.metadata["transfer_syntax"].startswith("JPEG Lossless, Non-Hierarchical, First")
    assert image.photometric == "RGB"
    expected = pydicom.dcmread(PYDICOM_SAMPLES / "SC_rgb_rle.dcm").pixel_array
    np.testing.assert_array_equal(image.array, expected.astype(np.float32))
    assert tuple(image.array[15, 50]) == (255, 128, 128)  # as documented by pydicom
    assert tuple(image.array[75, 50]) == (64, 64, 64)


@pytest.mark.parametrize(
    ("name", "row", "cols", "values"),
    [  # files of the pydicom-data set, used when pydicom has them cached (no download)
        ("JPEG-LL.dcm", 400, slice(124, 132), (60, 58, 61, 68, 59, 65, 64, 67)),
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", 300, slice(512, 520), (26, 26, 25, 22, 19, 16, 14, 15)),
    ],
)
def test_pydicom_data_jpeg_lossless_samples(
    name: str, row: int, cols: slice, values: tuple
) -> None:
    pytest.importorskip("imagecodecs")
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not in pydicom's local data cache")
    image = read_dicom(path)
    assert tuple(image.array[row, cols]) == values


def _jpeg_lossless_file(
    tmp_path: Path, syntax: str, predictor: int, bits: int, signed: bool
) -> tuple[Path, np.ndarray]:
    """A 2-frame JPEG Lossless copy of CT_small with ``bits`` stored; returns it and its pixels."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(PYDICOM_SAMPLES / "CT_small.dcm")  # signed 16 bit, 128..2191
    ct = ds.pixel_array.astype(np.int32)
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        volume = np.stack([ct - 1500, ct * 3 - 3000]).clip(lo, hi)
    else:
        volume = np.stack([ct, ct // 2]) % 2**bits
    container = np.uint8 if bits <= 8 else np.uint16
    stored = (volume & (2**bits - 1)).astype(container)  # two's complement in ``bits`` bits
    frames = [
        imagecodecs.jpeg8_encode(f, lossless=True, predictor=predictor, bitspersample=bits)
        for f in stored
    ]
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds.NumberOfFrames = len(frames)
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored, ds.HighBit = bits, bits - 1
    ds.PixelRepresentation = int(signed)
    ds.file_meta.TransferSyntaxUID = getattr(pydicom.uid, syntax)
    path = tmp_path / f"{syntax}.dcm"
    ds.save_as(path)
    return path, volume.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


@pytest.mark.parametrize(
    ("syntax", "predictor", "bits", "signed"),
    [
        ("JPEGLossless", 6, 12, True),  # Process 14, 12-bit two's complement: sign-extended
        ("JPEGLossless", 4, 16, True),
        ("JPEGLosslessSV1", 1, 8, False),
    ],
)
def test_jpeg_lossless_multiframe_is_exact(
    tmp_path: Path, syntax: str, predictor: int, bits: int, signed: bool
) -> None:
    path, expected = _jpeg_lossless_file(tmp_path, syntax, predictor, bits, signed)
    image = read_dicom(path)
    assert image.metadata["transfer_syntax"] == getattr(pydicom.uid, syntax).name
    assert image.array.shape == (2, 128, 128)
    if signed:
        assert expected.min() < -1024  # negative stored values survive
    np.testing.assert_array_equal(image.array, expected.astype(np.float32))


def test_corrupt_jpeg_lossless_frame_is_a_one_line_error(tmp_path: Path) -> None:
    path, _ = _jpeg_lossless_file(tmp_path, "JPEGLossless", 6, 12, True)
    ds = pydicom.dcmread(path)
    from pydicom.encaps import encapsulate, generate_frames

    frames = list(generate_frames(ds.PixelData, number_of_frames=2))
    ds.PixelData = encapsulate([frames[0], frames[1][:300]])
    ds.save_as(path)
    with pytest.raises(DataFormatError, match=r"cannot decode DICOM pixel data .*JPEG Lossless"):
        read_dicom(path)
