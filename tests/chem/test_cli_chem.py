"""``precisionmed chem`` in fresh processes: train on your own CSV, reload, predict a file with
bad rows (each reported, the rest predicted), the same values as the library's."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import precisionmed
from precisionmed.chem.evaluation import property_metrics
from tests.conftest import require_path

CLI = [sys.executable, "-m", "precisionmed.cli.main", "chem"]


def _run(args: list[str], ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An MLP ensemble trained through ``--csv`` on 150 ESOL molecules plus three bad rows."""
    source = require_path("molecules/moleculenet/delaney.csv")
    with source.open() as fh:
        rows = list(csv.reader(fh))[:151]
    rows[5][0] = "C1CC(N"  # a broken ring
    rows[9][0] = ""  # an empty SMILES cell
    rows[12][0] = rows[12][0] + ".[Na+].[Cl-]"  # a salt form
    rows = [["compound", "solubility"]] + [[s, y] for s, y in rows[1:]]
    root = tmp_path_factory.mktemp("chem-cli")
    path = root / "solubility.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = root / "model"
    done = _run([
        "train-property", "--csv", str(path), "--smiles-column", "compound",
        "--target-columns", "solubility", "--model", "mlp", "--ensemble", "2",
        "--param", "max_epochs=5", "--split", "scaffold", "--out", str(out), "--json",
    ])  # fmt: skip
    return path, out, json.loads(done.stdout)


def test_training_reports_each_bad_row_and_trains_on_the_rest(trained):
    _, _, metrics = trained
    reported = {r["index"]: r for r in metrics["rows"]}
    assert reported[4]["status"] == "invalid"
    assert "SMILES Parse Error" in reported[4]["reasons"][0]
    assert reported[8]["status"] == "invalid"
    assert reported[11]["status"] == "standardised"
    assert metrics["rows_summary"]["invalid"] == 2
    assert sum(metrics["sizes"].values()) == 148  # 150 rows, 2 invalid, none dropped silently
    assert metrics["split"] == "scaffold"
    assert 0.0 <= metrics["test"]["mean"]["coverage"] <= 1.0


def test_predict_reloads_the_model_and_gives_the_same_values(trained, tmp_path):
    path, model_dir, metrics = trained
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO ethanol\n\nC1CC broken\nCC(=O)[O-].[Na+] acetate\nc1ccccc1O phenol\n")
    out = tmp_path / "predictions"
    done = _run(["predict", str(model_dir), str(smi), "--json", "--out", str(out)])
    records = json.loads(done.stdout)
    assert len(records) == 5  # one per line, the empty and the broken one included
    assert [r["prediction"] is None for r in records] == [False, True, True, False, False]
    assert "empty" in records[1]["warnings"][0]
    assert "line 3" in records[2]["warnings"][0]
    assert records[3]["details"]["smiles"] == "CC(=O)O"
    assert records[3]["details"]["status"] == "standardised"
    low, high = records[0]["interval"]["solubility"]
    assert low < records[0]["values"]["solubility"] < high
    assert records[4]["details"]["applicability"]["in_domain"] in (True, False)
    coverage = metrics["test"]["mean"]["coverage"]
    assert records[0]["calibration"]["test_coverage"] == pytest.approx(coverage)
    # the library, in this process, gives the same numbers as the CLI did in another
    predictor = precisionmed.load(model_dir)
    again = predictor.predict(smi)
    assert [r.values for r in again] == [r["values"] for r in records]
    for name in ("predictions.csv", "predictions.json", "molecules.png"):
        assert (out / name).is_file()
    # and the test metrics recorded at training time are reproduced from the reloaded model
    split = json.loads((model_dir / "split.json").read_text())
    with path.open() as fh:
        rows = list(csv.reader(fh))[1:]
    test = split["test"]
    pred = predictor.predict([rows[i][0] for i in test])
    mean = np.array([[r.values["solubility"]] for r in pred])
    y = np.array([[float(rows[i][1])] for i in test])
    rmse = property_metrics("regression", y, mean, ["solubility"])["mean"]["rmse"]
    assert rmse == pytest.approx(metrics["test"]["mean"]["rmse"], rel=1e-6)


def test_predict_refuses_an_output_inside_the_model(trained, tmp_path):
    _, model_dir, _ = trained
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO\n")
    done = _run(["predict", str(model_dir), str(smi), "--out", str(model_dir / "p")], ok=False)
    assert done.returncode == 1
    assert "inside the model directory" in done.stderr


def test_a_csv_target_that_is_not_a_number_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("smiles,y\nCCO,1.5\nCCN,high\n")
    done = _run(["train-property", "--csv", str(path), "--out", str(tmp_path / "m")], ok=False)
    assert done.returncode == 1
    assert "line 3" in done.stderr
    assert "'y'" in done.stderr


def test_a_catalog_set_trains_from_the_cli_with_its_published_units(tmp_path):
    from tests.conftest import require_dataset

    require_dataset("freesolv")
    out = tmp_path / "freesolv"
    done = _run([
        "train-property", "--dataset", "freesolv", "--model", "gbm", "--param",
        "n_estimators=30", "--out", str(out), "--json",
    ])  # fmt: skip
    metrics = json.loads(done.stdout)
    assert metrics["split"] == "random"  # MoleculeNet's split for FreeSolv
    assert sum(metrics["sizes"].values()) == 642
    assert metrics["test"]["mean"]["rmse"] < 3.0  # kcal/mol; the targets' std is 3.8
    parity = json.loads((out / "parity.json").read_text())
    assert len(parity["tasks"][0]["measured"]) == metrics["sizes"]["test"]
    predictor = precisionmed.load(out)
    assert predictor.config["units"] == "kcal/mol"
