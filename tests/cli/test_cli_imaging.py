"""End to end through the CLI on real BreastMNIST images: train -> evaluate -> predict -> explain,
and the one-line errors for files a model cannot read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from precisionmed.artifacts import read_artifact
from precisionmed.cli.main import app
from precisionmed.errors import DataFormatError
from tests.conftest import require_dataset, require_path

HIPPOCAMPUS = "imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_001.nii.gz"


def _json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch reference-cnn on the first 96 images of each BreastMNIST split."""
    require_dataset("breastmnist")
    out = tmp_path_factory.mktemp("cli") / "model"
    result = CliRunner().invoke(
        app,
        [
            "imaging",
            "train",
            "--dataset",
            "breastmnist",
            "--model",
            "reference-cnn",
            "--max-epochs",
            "1",
            "--subset",
            "96",
            "--batch-size",
            "32",
            "--seed",
            "0",
            "--n-boot",
            "50",
            "--out",
            str(out),
            "--json",
        ],
    )
    record = _json(result)
    assert record["model_dir"] == str(out)
    return out


def test_train_writes_a_complete_model_directory(trained: Path) -> None:
    for name in (
        "model.safetensors",
        "config.json",
        "metrics.json",
        "model_card.md",
        "training_curve.png",
        "roc.png",
        "reliability.png",
    ):
        assert (trained / name).is_file(), name
    config = json.loads((trained / "config.json").read_text())
    assert config["kind"] == "image-classifier"
    assert config["architecture"] == "reference-cnn"
    assert (config["spatial_dims"], config["n_channels"], config["input_size"]) == (2, 1, [28, 28])
    assert config["labels"] == ["malignant", "normal, benign"]
    assert config["dataset"]["checksum"].startswith("md5:")
    assert config["temperature"] > 0


def test_evaluate_json(trained: Path, tmp_path: Path) -> None:
    report = _json(
        CliRunner().invoke(
            app,
            [
                "imaging",
                "evaluate",
                str(trained),
                "--dataset",
                "breastmnist",
                "--split",
                "test",
                "--n-boot",
                "50",
                "--out",
                str(tmp_path),
                "--json",
            ],
        )
    )
    assert report["n"] == 156  # the whole official test split
    assert report["model_version"] == read_artifact(trained).version
    assert report["acc"]["low"] <= report["acc"]["value"] <= report["acc"]["high"]
    assert np.asarray(report["confusion_matrix"]).sum() == 156
    assert {"ece", "ece_calibrated", "per_class", "temperature"} <= set(report)
    assert (tmp_path / "roc.png").is_file()
    assert (tmp_path / "reliability.png").is_file()


def test_predict_png_equals_predicting_the_array(trained: Path, tmp_path: Path) -> None:
    from precisionmed import load
    from precisionmed.imaging import load_classification_data

    images = load_classification_data("breastmnist", subset=2).arrays["test"][0]
    files = []
    for i, image in enumerate(images):
        path = tmp_path / f"case{i}.png"
        PILImage.fromarray(np.round(image[0] * 255).astype(np.uint8)).save(path)
        files.append(str(path))
    records = _json(CliRunner().invoke(app, ["imaging", "predict", str(trained), *files, "--json"]))
    expected = load(trained).predict_proba(images)
    version = read_artifact(trained).version
    assert [r["model_version"] for r in records] == [version] * len(records)
    human = CliRunner().invoke(app, ["imaging", "predict", str(trained), *files]).output
    assert f"version {version[:12]}" in human
    for record, p, file in zip(records, expected, files, strict=True):
        probs = list(record["values"].values())
        np.testing.assert_allclose(probs, p, atol=1e-5)
        assert record["prediction"] == list(record["values"])[int(np.argmax(p))]
        assert record["input"] == file
        assert len(record["model_version"]) == 64
        assert record["warnings"] == []


def test_explain_writes_an_overlay(trained: Path, tmp_path: Path) -> None:
    from precisionmed.imaging import load_classification_data

    image = load_classification_data("breastmnist", subset=1).arrays["test"][0][0, 0]
    png = tmp_path / "case.png"
    PILImage.fromarray(np.round(image * 255).astype(np.uint8)).save(png)
    out = tmp_path / "heatmap.png"
    record = _json(
        CliRunner().invoke(
            app, ["imaging", "explain", str(trained), str(png), "--out", str(out), "--json"]
        )
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    with PILImage.open(out) as drawn:
        assert drawn.size == (28, 28)  # the input image's own size
    assert record["target"] in ("malignant", "normal, benign")
    assert all(0 <= i < 28 for i in record["peak"])
    assert record["resize"] == "letterbox"


def test_explain_draws_on_a_non_square_image_at_its_own_size(trained: Path, tmp_path: Path) -> None:
    """A real 2140 x 1760 hip radiograph (DICOM) and a 28 x 16 crop of a BreastMNIST image: the
    heat map comes back at the image's width x height, computed on the letterboxed input."""
    hip = require_path("imaging/dicom/xray/RG2_J2KR_hip_CR.dcm")
    with np.load(require_path("imaging/medmnist/breastmnist.npz")) as npz:
        image = npz["test_images"][0]
    crop = tmp_path / "crop.png"
    PILImage.fromarray(image[:, 6:22]).save(crop)
    for path, size in ((hip, (1760, 2140)), (crop, (16, 28))):
        out = tmp_path / f"{path.stem}_cam.png"
        args = ["imaging", "explain", str(trained), str(path), "--out", str(out), "--json"]
        record = _json(CliRunner().invoke(app, args))
        with PILImage.open(out) as drawn:
            assert drawn.size == size
            title = drawn.text["Title"]
        assert record["size"] == list(size)
        assert 0 <= record["peak"][0] < size[1]
        assert 0 <= record["peak"][1] < size[0]
        assert all(0 <= i < 28 for i in record["input_peak"])
        assert path.name in title
        assert json.loads(out.with_suffix(".json").read_text()) == record


@pytest.fixture(scope="module")
def multiframe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.imaging.multiframe import build_multiframe_mr

    return build_multiframe_mr(tmp_path_factory.mktemp("mf") / "adc_multiframe.dcm")


def test_predict_frames_all_gives_one_record_per_frame_in_a_fresh_process(
    trained: Path, multiframe: Path
) -> None:
    args = ["imaging", "predict", str(trained), str(multiframe), "--frames", "all", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "precisionmed.cli.main", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [r["input"] for r in records] == [f"{multiframe}#frame={k}" for k in range(6)]
    assert [r["details"]["frame"] for r in records] == list(range(6))
    assert all(sum(r["values"].values()) == pytest.approx(1.0) for r in records)


def test_predict_frames_k_picks_frame_k(trained: Path, multiframe: Path) -> None:
    """Frame 3's record is the model's answer for the slice file frame 3 was converted from."""
    from tests.imaging.multiframe import source_slice

    args = ["imaging", "predict", str(trained), str(multiframe), "--json"]
    (three,) = _json(CliRunner().invoke(app, [*args, "--frames", "3"]))
    every = _json(CliRunner().invoke(app, [*args, "--frames", "all"]))
    some = _json(CliRunner().invoke(app, [*args, "--frames", "5,3"]))
    assert three["input"] == f"{multiframe}#frame=3"
    assert [r["details"]["frame"] for r in some] == [5, 3]
    alone_args = ["imaging", "predict", str(trained), str(source_slice(multiframe, 3)), "--json"]
    (alone,) = _json(CliRunner().invoke(app, alone_args))
    mine = np.array(list(three["values"].values()))
    np.testing.assert_allclose(mine, list(alone["values"].values()), atol=1e-6)
    theirs = np.array([list(r["values"].values()) for r in every])
    gaps = np.abs(theirs - mine).max(axis=1)  # batch of one vs six: float noise only
    assert gaps[3] < 1e-6
    assert np.delete(gaps, 3).min() > 1e-4  # and every other frame answers differently


def test_a_multiframe_file_without_frames_fails_with_the_hint(
    trained: Path, multiframe: Path, tmp_path: Path
) -> None:
    for command in ("predict", "explain"):
        args = ["imaging", command, str(trained), str(multiframe)]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o.png")])
        assert result.exit_code == 1
        message = str(result.exception)
        assert isinstance(result.exception, DataFormatError)
        assert "\n" not in message
        assert f"{multiframe}: expected a 2D image" in message
        assert "6 frames of 256 x 256" in message
        assert "--frames all" in message
    bad = CliRunner().invoke(
        app, ["imaging", "predict", str(trained), str(multiframe), "--frames", "x"]
    )
    assert bad.exit_code == 1
    assert "--frames: expected 'all'" in str(bad.exception)


def test_explain_frames_writes_one_png_per_frame(
    trained: Path, multiframe: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cams" / "heatmap.png"
    args = ["imaging", "explain", str(trained), str(multiframe), "--out", str(out)]
    result = _json(CliRunner().invoke(app, [*args, "--frames", "1,4", "--json"]))
    assert [r["frame"] for r in result["frames"]] == [1, 4]
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "heatmap_frame001.json",
        "heatmap_frame001.png",
        "heatmap_frame004.json",
        "heatmap_frame004.png",
    ]
    for record in result["frames"]:
        with PILImage.open(record["png"]) as drawn:
            assert drawn.size == (256, 256)
    human = CliRunner().invoke(app, [*args, "--frames", "2"])
    assert human.exit_code == 0, human.output
    assert "frame 2" in human.output
    assert (out.parent / "heatmap_frame002.png").is_file()


def test_unreadable_and_wrong_dimension_files_fail_with_one_line(
    trained: Path, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    volume = require_path(HIPPOCAMPUS)
    for path, expected in ((text, "notes.txt"), (volume, "expected a 2D image")):
        result = CliRunner().invoke(app, ["imaging", "predict", str(trained), str(path)])
        assert result.exit_code != 0
        assert isinstance(result.exception, DataFormatError)
        message = str(result.exception)
        assert "\n" not in message
        assert str(path) in message
        assert expected in message
    assert "--frames" in message  # a volume into a 2D model: its slices can be scored


def test_console_error_is_one_line_and_exit_1(trained: Path) -> None:
    volume = require_path(HIPPOCAMPUS)
    exe = Path(sys.executable).with_name("precisionmed")
    proc = subprocess.run(
        [str(exe), "imaging", "predict", str(trained), str(volume)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:")
    assert "hippocampus_001.nii.gz" in lines[0]


def test_info_reports_modality_shape_spacing() -> None:
    path = require_path("imaging/dicom/ct/CT_small.dcm")
    record = _json(CliRunner().invoke(app, ["imaging", "info", str(path), "--json"]))
    assert record["modality"] == "CT"
    assert record["spatial_dims"] == 2
    assert len(record["spacing"]) == 2


def test_predict_a_dicom_with_a_2d_model(trained: Path) -> None:
    """A real CT slice (512 px, Hounsfield units) is scaled by its declared range and resized to
    28 px; the record says it is not the ultrasound the model was trained on."""
    path = require_path("imaging/dicom/ct/CT1_UNC.dcm")
    (record,) = _json(
        CliRunner().invoke(app, ["imaging", "predict", str(trained), str(path), "--json"])
    )
    assert sum(record["values"].values()) == pytest.approx(1.0, abs=1e-6)
    assert any("DICOM modality is CT" in w for w in record["warnings"])
    table = CliRunner().invoke(app, ["imaging", "predict", str(trained), str(path)])
    assert table.exit_code == 0, table.output
    assert "warning:" in table.output
    assert "DICOM modality is CT" in table.output.replace("\n", " ")


def test_train_passes_network_args_and_trains_an_ensemble(tmp_path: Path) -> None:
    require_dataset("breastmnist")
    out = tmp_path / "narrow"
    args = ["imaging", "train", "--dataset", "breastmnist", "--model", "resnet18"]
    args += ["--network-arg", "widen_factor=0.25", "--members", "2", "--max-epochs", "1"]
    args += ["--subset", "32", "--n-boot", "10", "--out", str(out), "--json"]
    _json(CliRunner().invoke(app, args))
    config = json.loads((out / "config.json").read_text())
    assert config["network_kwargs"] == {"widen_factor": 0.25}
    assert config["n_members"] == 2


@pytest.mark.parametrize(
    ("arg", "expected"),
    [("widen_factor", "expected KEY=VALUE"), ("widen_factor=0.5", "does not take")],
)
def test_a_bad_network_arg_is_a_config_error(tmp_path: Path, arg: str, expected: str) -> None:
    from precisionmed.errors import ConfigError

    require_dataset("breastmnist")
    args = ["imaging", "train", "--dataset", "breastmnist", "--model", "reference-cnn"]
    args += ["--network-arg", arg, "--subset", "16", "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError)
    assert expected in str(result.exception)
    assert "\n" not in str(result.exception)


def test_a_fresh_process_loads_an_image_model(trained: Path) -> None:
    """`precisionmed.load` in a new process finds the imaging predictors by themselves."""
    code = "import precisionmed, sys; print(type(precisionmed.load(sys.argv[1])).__name__)"
    done = subprocess.run(
        [sys.executable, "-c", code, str(trained)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ImageClassifier"


def test_temperature_scaling_choice_is_recorded_in_metrics_config_and_card(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    choice = metrics["temperature_scaling"]
    assert set(choice) == {"temperature", "kept", "fitted", "nll_unscaled", "nll_scaled", "margin"}
    config = json.loads((trained / "config.json").read_text())
    assert config["temperature"] == choice["temperature"]
    assert choice["temperature"] == (choice["fitted"] if choice["kept"] else 1.0)
    card = (trained / "model_card.md").read_text()
    assert ("Calibrated by one temperature" if choice["kept"] else "Not temperature-scaled") in card
    assert f"{choice['nll_unscaled']:.4f}" in card


def test_predict_out_writes_the_records(trained: Path, tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    PILImage.fromarray(np.full((28, 28), 120, dtype=np.uint8)).save(png)
    printed = _json(
        CliRunner().invoke(
            app,
            ["imaging", "predict", str(trained), str(png), "--out", str(tmp_path / "o"), "--json"],
        )
    )
    assert json.loads((tmp_path / "o" / "predictions.json").read_text()) == printed


def test_outputs_inside_the_model_directory_are_refused_and_it_still_loads(
    trained: Path, tmp_path: Path
) -> None:
    from precisionmed import load

    png = tmp_path / "x.png"
    PILImage.fromarray(np.full((28, 28), 120, dtype=np.uint8)).save(png)
    runner = CliRunner()
    for args in (
        ["imaging", "explain", str(trained), str(png), "--out", str(trained / "heatmap.png")],
        ["imaging", "predict", str(trained), str(png), "--out", str(trained / "preds")],
        ["imaging", "evaluate", str(trained), "--dataset", "breastmnist", "--out", str(trained)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert "inside the model directory" in str(result.exception)
    assert load(trained).labels  # nothing was written into it
