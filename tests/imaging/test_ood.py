"""The out-of-distribution guard on real images: a small PneumoniaMNIST (chest X-ray) model flags
other modalities (an MR DICOM, which stands in for the mammogram of issue 21: the mirror holds no
mammogram; the same MR slice as a PNG without metadata; BreastMNIST ultrasound) and not its own
test images; the reference is a manifest-checked file; a model saved without it still predicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from precisionmed.errors import ArtifactError
from tests.conftest import require_dataset, require_path

MR = "imaging/dicom/mr/MR_small.dcm"


@pytest.fixture(scope="module")
def chest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from precisionmed.imaging import train_image_classifier
    from precisionmed.train import TrainConfig

    require_dataset("pneumoniamnist")
    out = tmp_path_factory.mktemp("chest") / "model"
    config = TrainConfig(max_epochs=1, batch_size=32, seed=0, progress=False)
    train_image_classifier(
        "pneumoniamnist", "reference-cnn", out_dir=out, config=config, subset=256, n_boot=10
    )
    return out


def _png(pixels01: np.ndarray, path: Path) -> Path:
    PILImage.fromarray(np.round(pixels01 * 255).astype(np.uint8)).save(path)
    return path


def test_mahalanobis_score_equals_scipy_for_the_closest_class() -> None:
    from scipy.spatial.distance import mahalanobis

    from precisionmed.imaging.ood import mahalanobis_scores

    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    precision = a @ a.T + np.eye(4)
    means, x = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    expected = [min(mahalanobis(row, m, precision) ** 2 for m in means) for row in x]
    np.testing.assert_allclose(mahalanobis_scores(x, means, precision), expected, rtol=1e-10)


def test_the_reference_is_a_manifest_file_and_its_threshold_a_validation_percentile(
    chest: Path,
) -> None:
    from precisionmed import load
    from precisionmed.imaging import load_classification_data
    from precisionmed.imaging.ood import REFERENCE_FILE, network_features

    files = json.loads((chest / "manifest.json").read_text())["files"]
    assert REFERENCE_FILE in files
    guard = json.loads((chest / "config.json").read_text())["ood_guard"]
    assert (guard["method"], guard["percentile"], guard["n_train"]) == ("mahalanobis", 99.0, 256)
    clf = load(chest)
    val = load_classification_data("pneumoniamnist", subset=256).arrays["val"][0]
    scores = clf.ood_reference.score(network_features(clf.net, val)[0])
    assert guard["threshold"] == pytest.approx(np.percentile(scores, 99))
    assert np.sum(scores > guard["threshold"]) <= np.ceil(0.01 * len(scores))
    assert clf.predict([]) == []  # nothing to predict, no empty forward pass


def test_an_mr_dicom_into_the_chest_model_is_flagged_with_a_warning(chest: Path) -> None:
    from precisionmed import load

    (record,) = load(chest).predict(require_path(MR))
    assert record.in_distribution is False
    assert record.details["ood"]["metadata_mismatch"] == ["DICOM modality MR"]
    assert record.ood_score > record.details["ood"]["threshold"]  # its features say so too
    text = " ".join(record.warnings)
    assert "DICOM modality is MR" in text
    assert "looks unlike the training images (feature score" in text
    assert "x-ray images (CR/DX" in text
    out = json.loads(json.dumps(record.to_dict(), allow_nan=False))
    assert out["in_distribution"] is False
    assert out["ood_score"] == pytest.approx(record.ood_score)


def test_a_mammogram_labelled_dicom_into_the_chest_model_carries_the_warning(
    chest: Path, tmp_path: Path
) -> None:
    """Issue 21's case: a mammogram into the chest X-ray model. The mirror holds no mammogram,
    so the real chest radiograph is relabelled as mammography (Modality MG, as a mammography
    unit writes it): the modality alone must turn the answer into a warned, out-of-distribution
    one, whatever the pixels look like."""
    import pydicom

    from precisionmed import load

    ds = pydicom.dcmread(require_path("imaging/dicom/xray/RG1_J2KI_chest_CR.dcm"))
    ds.Modality = "MG"
    ds.BodyPartExamined = "BREAST"
    mammogram = tmp_path / "mammogram.dcm"
    ds.save_as(mammogram)
    (record,) = load(chest).predict(mammogram)
    assert record.in_distribution is False
    assert record.details["ood"]["metadata_mismatch"] == ["DICOM modality MG"]
    assert "DICOM modality is MG" in " ".join(record.warnings)


def test_other_modalities_without_metadata_are_flagged_and_own_test_images_are_not(
    chest: Path, tmp_path: Path
) -> None:
    from precisionmed import load
    from precisionmed.imaging import load_classification_data
    from precisionmed.imaging.classifier import read_input_image

    require_dataset("breastmnist")
    clf = load(chest)
    mr = read_input_image(require_path(MR))
    mr_png = _png(np.asarray(mr.array), tmp_path / "mr.png")  # the MR slice, metadata gone
    (mr_record,) = clf.predict(mr_png)
    assert mr_record.in_distribution is False
    assert mr_record.details["ood"]["metadata_mismatch"] == []
    assert any("looks unlike the training images" in w for w in mr_record.warnings)
    ultrasound = load_classification_data("breastmnist", subset=20).arrays["test"][0]
    flagged = [r.in_distribution is False for r in clf.predict(ultrasound)]
    assert sum(flagged) >= 16, flagged
    own = load_classification_data("pneumoniamnist", subset=40).arrays["test"][0]
    files = [_png(image[0], tmp_path / f"x{i}.png") for i, image in enumerate(own)]
    records = clf.predict(files)
    assert sum(r.in_distribution is True for r in records) >= 36
    assert all(r.warnings == () for r in records if r.in_distribution)


def test_a_model_saved_without_the_reference_still_predicts_with_a_null_flag(
    chest: Path, tmp_path: Path
) -> None:
    from precisionmed import load
    from precisionmed.artifacts.manifest import MANIFEST, manifest_bytes
    from precisionmed.imaging import load_classification_data
    from precisionmed.imaging.ood import REFERENCE_FILE

    old = tmp_path / "old"
    shutil.copytree(chest, old)
    (old / REFERENCE_FILE).unlink()
    config = json.loads((old / "config.json").read_text())
    del config["ood_guard"]
    (old / "config.json").write_text(json.dumps(config))
    (old / MANIFEST).unlink()
    (old / MANIFEST).write_bytes(manifest_bytes(old))  # as saved before the guard existed
    clf = load(old)
    assert clf.ood_reference is None
    image = load_classification_data("pneumoniamnist", subset=1).arrays["test"][0][0]
    png, mr = clf.predict([_png(image[0], tmp_path / "x.png"), require_path(MR)])
    assert png.in_distribution is None
    assert png.ood_score is None
    assert "no out-of-distribution reference" in png.details["ood"]["note"]
    assert mr.in_distribution is False  # the metadata still disagree
    json.dumps([png.to_dict(), mr.to_dict()], allow_nan=False)


def test_a_changed_reference_is_refused(chest: Path, tmp_path: Path) -> None:
    from precisionmed import load
    from precisionmed.imaging.ood import REFERENCE_FILE

    changed = tmp_path / "changed"
    shutil.copytree(chest, changed)
    data = bytearray((changed / REFERENCE_FILE).read_bytes())
    data[-1] ^= 1
    (changed / REFERENCE_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=REFERENCE_FILE):
        load(changed)


def test_cli_predict_shows_the_flag_in_json_and_in_the_table(chest: Path, tmp_path: Path) -> None:
    from precisionmed.imaging import load_classification_data

    image = load_classification_data("pneumoniamnist", subset=1).arrays["test"][0][0]
    png = _png(image[0], tmp_path / "chest.png")
    command = [sys.executable, "-m", "precisionmed.cli.main", "imaging", "predict", str(chest)]
    files = [str(require_path(MR)), str(png)]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([*command, *files, "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert [r["in_distribution"] for r in json.loads(done.stdout)] == [False, True]
    from typer.testing import CliRunner

    from precisionmed.cli.main import app

    table = CliRunner().invoke(app, ["imaging", "predict", str(chest), *files], env=env)
    assert table.exit_code == 0, table.output
    assert "in distribution" in table.stdout
    rows = [line for line in table.stdout.splitlines() if ".dcm" in line or ".png" in line]
    assert "NO" in rows[0]
    assert "MR_small.dcm" in rows[0]
    assert "yes" in rows[1]
    assert "chest.png" in rows[1]
