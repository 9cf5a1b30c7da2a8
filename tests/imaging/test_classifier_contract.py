"""The image classifier keeps the predictor contract on real images: a tiny PneumoniaMNIST model
(1 epoch on 96 images per split) predicts files by their declared range, so 8- and 16-bit copies
of a chest X-ray agree; a CT slice carries a warning; 0-255 arrays and NaN are refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from precisionmed.errors import DataFormatError
from tests.conftest import require_dataset, require_path


@pytest.fixture(scope="module")
def pneumonia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from precisionmed.imaging import train_image_classifier
    from precisionmed.train import TrainConfig

    require_dataset("pneumoniamnist")
    out = tmp_path_factory.mktemp("pneumonia") / "model"
    config = TrainConfig(max_epochs=1, batch_size=32, seed=0, progress=False)
    train_image_classifier(
        "pneumoniamnist", "reference-cnn", out_dir=out, config=config, subset=96, n_boot=10
    )
    return out


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    from precisionmed.imaging import load_classification_data

    return load_classification_data("pneumoniamnist", subset=6).arrays["test"][0]


def test_input_spec_is_recorded_at_training_and_read_back(pneumonia: Path) -> None:
    from precisionmed import load
    from precisionmed.predict import ImageInputSpec

    clf = load(pneumonia)
    spec = clf.input_spec
    assert isinstance(spec, ImageInputSpec)
    assert (spec.modality, spec.photometric, spec.channels) == ("x-ray", "MONOCHROME2", 1)
    assert (spec.spatial_dims, spec.size) == (2, (28, 28))
    assert (spec.source_range, spec.intensity_range) == ((0.0, 255.0), (0.0, 1.0))
    assert {"CR", "DX"} <= set(spec.dicom_modalities)
    recorded = json.loads((pneumonia / "config.json").read_text())["input_spec"]
    assert ImageInputSpec.from_dict(json.loads(json.dumps(recorded))) == spec


def test_a_model_saved_before_the_spec_gets_one_derived_from_its_config(pneumonia: Path) -> None:
    from precisionmed import load
    from precisionmed.imaging import ImageClassifier

    clf = load(pneumonia)
    old_config = {k: v for k, v in clf.config.items() if k != "input_spec"}
    old = ImageClassifier(clf.net, old_config)
    # the same spec, but fitted as such models always were: stretched, not letterboxed
    assert old.input_spec == dataclasses.replace(clf.input_spec, resize="stretch")
    assert clf.input_spec.resize == "letterbox"
    assert old.model_version is None  # built in memory, not loaded from a directory


def test_the_same_image_as_8_and_16_bit_png_gives_the_same_probability(
    pneumonia: Path, test_images: np.ndarray, tmp_path: Path
) -> None:
    from precisionmed import load

    clf = load(pneumonia)
    files8, files16 = [], []
    for i, image in enumerate(test_images):
        pixels = np.round(image[0] * 255).astype(np.uint16)
        PILImage.fromarray(pixels.astype(np.uint8)).save(tmp_path / f"x{i}_8.png")
        PILImage.fromarray(pixels * 257).save(tmp_path / f"x{i}_16.png")
        files8.append(tmp_path / f"x{i}_8.png")
        files16.append(tmp_path / f"x{i}_16.png")
    p8 = np.array([list(r.values.values()) for r in clf.predict(files8)])
    p16 = np.array([list(r.values.values()) for r in clf.predict(files16)])
    np.testing.assert_allclose(p8, p16, atol=1e-6)
    # and both equal predicting the training-scaled arrays
    np.testing.assert_allclose(p8, clf.predict_proba(test_images), atol=1e-6)


def test_records_are_typed_json_safe_and_carry_the_model_version(
    pneumonia: Path, test_images: np.ndarray, tmp_path: Path
) -> None:
    from precisionmed import load
    from precisionmed.artifacts import read_artifact
    from precisionmed.predict import PredictionRecord

    clf = load(pneumonia)
    png = tmp_path / "one.png"
    PILImage.fromarray(np.round(test_images[0, 0] * 255).astype(np.uint8)).save(png)
    (record,) = clf.predict(png)
    assert isinstance(record, PredictionRecord)
    data = json.loads(json.dumps(record.to_dict(), allow_nan=False))
    assert data["model"] == "reference-cnn on pneumoniamnist"
    assert data["model_version"] == read_artifact(pneumonia).version
    assert len(data["model_version"]) == 64
    assert data["kind"] == "image-classifier"
    assert data["input"] == str(png)
    assert set(data["values"]) == set(clf.labels)
    assert sum(data["values"].values()) == pytest.approx(1.0, abs=1e-6)
    assert data["prediction"] == max(data["values"], key=data["values"].get)
    kept = clf.metrics["temperature_scaling"]["kept"]
    assert data["calibration"]["method"] == (
        "temperature scaling" if kept else "none (not kept: no gain)"
    )
    assert data["calibration"]["temperature"] == pytest.approx(clf.temperature)
    assert data["warnings"] == []  # a PNG like the training images: nothing to say
    arrays = clf.predict(test_images[:2])
    assert [r.input for r in arrays] == ["image 1", "image 2"]


def test_a_ct_slice_into_the_chest_xray_model_carries_a_warning(pneumonia: Path) -> None:
    from precisionmed import load

    clf = load(pneumonia)
    (ct,) = clf.predict(require_path("imaging/dicom/ct/CT1_UNC.dcm"))
    assert any("DICOM modality is CT" in w and "x-ray" in w for w in ct.warnings)
    assert any("resized" in w for w in ct.warnings)
    (cr,) = clf.predict(require_path("imaging/dicom/xray/RG1_J2KI_chest_CR.dcm"))
    assert not any("modality" in w for w in cr.warnings)  # a chest CR is an x-ray


def test_a_dicom_is_scaled_by_its_window_when_it_has_one_else_by_bits_stored() -> None:
    from precisionmed.imaging.classifier import read_input_image

    pydicom = pytest.importorskip("pydicom")
    windowed = read_input_image(require_path("imaging/dicom/ct_seg_liver/ct_01.dcm"))
    assert windowed.metadata["voi"] == "window"  # 40 / 400 HU
    assert windowed.value_range == (0.0, 1.0)
    ct = require_path("imaging/dicom/ct/CT1_UNC.dcm")  # no window: Bits Stored after rescale
    header = pydicom.dcmread(ct, stop_before_pixels=True)
    assert "WindowCenter" not in header
    bits, intercept = int(header.BitsStored), float(header.RescaleIntercept)
    signed = int(header.PixelRepresentation) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(header.RescaleSlope)
    assert read_input_image(ct).value_range == (lo * slope + intercept, hi * slope + intercept)


def test_nan_pixels_are_replaced_with_a_warning_and_an_all_nan_file_is_refused(
    pneumonia: Path, test_images: np.ndarray, tmp_path: Path
) -> None:
    from precisionmed import load

    clf = load(pneumonia)
    image = test_images[0, 0] * 255
    image[:3, :3] = np.nan
    np.savez(tmp_path / "holes.npz", image=image.astype(np.float32))
    (record,) = clf.predict(tmp_path / "holes.npz")
    assert any("9 of 784 values" in w for w in record.warnings)
    json.dumps(record.to_dict(), allow_nan=False)
    np.savez(tmp_path / "blank.npz", image=np.full((28, 28), np.nan, np.float32))
    with pytest.raises(DataFormatError, match=r"blank\.npz: expected an image with finite"):
        clf.predict(tmp_path / "blank.npz")


def test_predict_proba_refuses_0_255_arrays_and_nan(
    pneumonia: Path, test_images: np.ndarray
) -> None:
    """0-255 arrays gave probability 1.0 for every image; now the expected range is named."""
    from precisionmed import load

    clf = load(pneumonia)
    with pytest.raises(
        DataFormatError, match=r"expected intensities in \[0, 1\].*got values in \[\d+, \d+\]"
    ):
        clf.predict_proba(test_images * 255)
    holes = test_images.copy()
    holes[0, 0, 0, 0] = np.nan
    with pytest.raises(DataFormatError, match="1 NaN or infinite"):
        clf.predict_proba(holes)
