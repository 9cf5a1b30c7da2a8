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
