"""The README's "Your own data" examples, run as written on a folder and a CSV built from the
shared datasets (cli/imaging.py ``--data-dir``, cli/clinical.py ``--csv``).

The commands are parsed from the README so that the documentation and this test cannot drift;
only options that make them fast (fewer epochs, bootstrap resamples, refits) are appended.
"""

from __future__ import annotations

import json
import re
import shlex
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app, main
from tests.conftest import REPO, require_dataset, require_path

runner = CliRunner()

#: Appended to the README's commands, to keep the test fast; nothing else is changed.
FAST = {
    ("imaging", "train"): ["--max-epochs", "1", "--n-boot", "50", "--json"],
    ("clinical", "train"): ["--n-boot", "50", "--interval-models", "3", "--no-explain", "--json"],
    ("clinical", "evaluate"): ["--n-boot", "50"],
}


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Your own data")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.S)


def _commands(keyword: str) -> list[list[str]]:
    """The README's ``precisionmed`` commands of the block that mentions ``keyword``."""
    (block,) = [b for b in _blocks("bash") if keyword in b]
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("precisionmed")]


def _invoke(args: list[str]) -> str:
    result = runner.invoke(app, args + FAST.get(tuple(args[:2]), []))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def test_readme_image_folder_example_trains_loads_and_predicts(tmp_path, monkeypatch):
    from PIL import Image

    import precisionmed

    path = require_path("imaging/medmnist/pneumoniamnist.npz")
    with np.load(path) as npz:
        x, y = npz["train_images"], npz["train_labels"].ravel()
    tree = _blocks("text")[0]
    classes = re.findall(r"^  (\w+)/", tree, flags=re.M)
    root = tmp_path / tree.split("/")[0].strip()
    assert classes == ["normal", "pneumonia"]
    for label, name in enumerate(classes):  # PneumoniaMNIST: 0 normal, 1 pneumonia
        (root / name).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(y == label)[:60], start=1):
            Image.fromarray(x[i]).save(root / name / f"{k:04d}.png")
    monkeypatch.chdir(tmp_path)
    train, predict = _commands("--data-dir")
    record = json.loads(_invoke(train))
    assert record["test"]["n"] == 24  # 20% of 120, stratified: 12 per class
    model_dir = tmp_path / train[train.index("--out") + 1]
    predictor = precisionmed.load(model_dir)
    assert predictor.labels == ["normal", "pneumonia"]
    assert predictor.input_size == (28, 28)
    (result,) = json.loads(_invoke(predict))
    assert result["prediction"] in classes
    assert sum(result["values"].values()) == pytest.approx(1.0)


def test_readme_survival_csv_example_trains_loads_and_predicts(tmp_path, monkeypatch):
    import precisionmed
    from precisionmed.data import load_dataset

    require_dataset("gbsg2")
    header = _blocks("csv")[0].splitlines()[0].split(",")
    gbsg2 = load_dataset("gbsg2")
    frame = gbsg2.X.copy()
    frame.insert(0, "patient_id", [f"P{i + 1:04d}" for i in range(len(frame))])
    frame["rfs_days"] = gbsg2.y["time"]
    frame["recurrence"] = gbsg2.y["event"].astype(int)
    assert sorted(frame.columns) == sorted(header)  # the README's file is this cohort
    frame[header].to_csv(tmp_path / "cohort.csv", index=False)
    frame[header].head(3).to_csv(tmp_path / "new_patients.csv", index=False)
    monkeypatch.chdir(tmp_path)
    train, evaluate, predict = _commands("--csv")
    record = json.loads(_invoke(train))
    # the same patients and split as the catalog cohort: a real signal is learned
    c_index = record["test"]["c_index_harrell"]["value"]
    assert 0.6 < c_index < 0.8
    evaluated = json.loads(_invoke(evaluate))
    assert evaluated["patients"] == "held-out test split"
    assert evaluated["c_index_harrell"]["value"] == pytest.approx(c_index)
    prediction = json.loads(_invoke(predict))
    assert [p["input"] for p in prediction] == ["P0001", "P0002", "P0003"]
    kinds = precisionmed.load(tmp_path / train[train.index("--out") + 1]).schema.feature_types()
    assert list(kinds) == list(gbsg2.X.columns)  # neither identifier nor outcome is a feature
    assert kinds == gbsg2.feature_types  # text columns categorical, numbers numeric


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the real entry point; return its exit code and its stderr."""
    monkeypatch.setattr(sys, "argv", ["precisionmed", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clinical", "train", "--model", "coxph", "--out", "m"], "Give either --dataset"),
        (
            [
                "clinical",
                "train",
                "--dataset",
                "gbsg2",
                "--csv",
                "c.csv",
                "--model",
                "coxph",
                "--out",
                "m",
            ],
            "Give either --dataset",
        ),
        (
            [
                "clinical",
                "train",
                "--dataset",
                "gbsg2",
                "--time-column",
                "t",
                "--model",
                "coxph",
                "--out",
                "m",
            ],
            "describe a --csv file",
        ),
        (["clinical", "evaluate", "m"], "Give either --dataset"),
        (["imaging", "train", "--out", "m"], "Give either --dataset"),
        (["imaging", "train", "--dataset", "breastmnist", "--data-dir", "d"], "Give either"),
        (
            ["imaging", "train", "--dataset", "breastmnist", "--task", "segmentation"],
            "--task describes a --data-dir",
        ),
    ],
)
def test_train_takes_exactly_one_data_source(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, err = _main(monkeypatch, capsys, *args)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["clinical", "train", "--dataset", "gbsg2", "--model", "coxph", "--seed", "-1"], "--seed"),
        (
            ["clinical", "train", "--dataset", "gbsg2", "--model", "coxph", "--n-boot", "0"],
            "--n-boot",
        ),
        (["clinical", "evaluate", "m", "--dataset", "gbsg2", "--seed", "-1"], "--seed"),
        (["clinical", "evaluate", "m", "--dataset", "gbsg2", "--n-boot", "0"], "--n-boot"),
        (["imaging", "train", "--dataset", "breastmnist", "--seed", "-1"], "--seed"),
        (["imaging", "train", "--dataset", "breastmnist", "--cv", "1"], "--cv"),
        (["imaging", "train", "--dataset", "breastmnist", "--max-epochs", "0"], "--max-epochs"),
        (["imaging", "train", "--data-dir", "d", "--size", "2"], "--size"),
        (["imaging", "evaluate", "m", "--dataset", "breastmnist", "--n-boot", "0"], "--n-boot"),
    ],
)
def test_out_of_range_numbers_are_usage_errors_not_tracebacks(tmp_path, args, option):
    out = ["--out", str(tmp_path / "m")] if args[1] == "train" else []
    result = runner.invoke(app, [*args, *out])
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def deepsurv_dir(tmp_path_factory):
    """DeepSurv (2 epochs) trained through the CLI on GBSG2 written as a user's CSV."""
    from precisionmed.data import load_dataset

    require_dataset("gbsg2")
    root = tmp_path_factory.mktemp("own")
    gbsg2 = load_dataset("gbsg2")
    frame = gbsg2.X.assign(days=gbsg2.y["time"], event=gbsg2.y["event"].astype(int))
    frame.to_csv(root / "cohort.csv", index=False)
    _invoke(["clinical", "train", "--csv", str(root / "cohort.csv"), "--time-column", "days",
             "--event-column", "event", "--model", "deepsurv", "--param", "max_epochs=2",
             "--out", str(root / "model")])  # fmt: skip
    return root


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "age",
            "inf",
            "row 2, column 'age': expected a finite number of magnitude at most 1e+15; got 'inf'",
        ),
        (
            "tsize",
            "-inf",
            "row 2, column 'tsize': expected a finite number of magnitude at most 1e+15; "
            "got '-inf'",
        ),
        (
            "age",
            "1e308",
            "row 2, column 'age': expected a finite number of magnitude at most 1e+15; got '1e308'",
        ),
        # 'tsize' renamed 'age' in the header: pandas alone would call it 'age.1', predict silently
        ("tsize", "", "the header names column 'age' twice (columns 1 and 8)"),
    ],
)
def test_bad_patient_csv_is_one_line_naming_row_and_column(
    deepsurv_dir, monkeypatch, capsys, column, value, message
):
    text = (deepsurv_dir / "cohort.csv").read_text().splitlines()[:4]
    header = text[0].split(",")
    cells = text[2].split(",")
    if value:
        cells[header.index(column)] = value
        text[2] = ",".join(cells)
    else:
        header[header.index(column)] = "age"
        text[0] = ",".join(header)
    csv = deepsurv_dir / "patients.csv"
    csv.write_text("\n".join(text) + "\n")
    code, err = _main(monkeypatch, capsys, "clinical", "predict", str(deepsurv_dir / "model"),
                      str(csv), "--json")  # fmt: skip
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in err


def test_segmentation_folder_trains_a_segmenter(tmp_path):
    """Images with masks in the Decathlon layout (imagesTr/labelsTr + dataset.json)."""
    import shutil

    import precisionmed

    source = require_path("imaging/nifti/msd_task04_hippocampus")
    root = tmp_path / "hippo"
    for name in sorted(p.name for p in (source / "imagesTr").iterdir())[:4]:
        for sub in ("imagesTr", "labelsTr"):
            (root / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(source / sub / name, root / sub / name)
    shutil.copy(source / "dataset.json", root)
    out = tmp_path / "model"
    record = json.loads(_invoke(["imaging", "train", "--data-dir", str(root), "--model",
                                 "unet-small", "--max-epochs", "1", "--n-boot", "20", "--out",
                                 str(out), "--json"]))  # fmt: skip
    assert record["model_dir"] == str(out)
    segmenter = precisionmed.load(out)
    assert segmenter.labels == {0: "background", 1: "Anterior", 2: "Posterior"}
    config = json.loads((out / "config.json").read_text())
    assert config["input"]["modality"] == "mri"
    assert config["data"]["split"]["test"] == 1
    assert config["data"]["files"] == 8
