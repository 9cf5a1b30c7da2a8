"""``precisionmed chem train-dta`` / ``predict-affinity`` in fresh processes: DeepDTA on a
DeepDTA-style folder (``--data-dir``, batches of protein chunks) and GIN on the catalog's Davis,
one epoch on a small subset each; the saved models reload through ``precisionmed.load`` and the
CLI's predictions equal the in-process predictor's; an unparsable SMILES is reported and the
rest predicted."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import precisionmed
from precisionmed.chem.affinity_predictor import AffinityPredictor
from tests.chem.test_affinity_data import make_deepdta_dir
from tests.conftest import require_dataset

CLI = [sys.executable, "-m", "precisionmed.cli.main", "chem"]
SMILES = [
    "CC(=O)Nc1ccc(O)cc1",
    "C1CC(N",
    "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
]


def _run(args: list[str], ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=600)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """deepdta (2 members) through --data-dir and gin through --dataset davis, 1 epoch each."""
    require_dataset("davis")
    root = tmp_path_factory.mktemp("dta-cli")
    data_dir = make_deepdta_dir(root / "davis-copy")
    runs = {
        # batches of whole proteins' chunks (protein_chunk) on this one, random pairs on gin
        "deepdta": ["--data-dir", str(data_dir), "--ensemble", "2", "--param", "protein_chunk=4"],
        "gin": ["--dataset", "davis"],
    }
    out = {}
    for model, source in runs.items():
        model_dir = root / model
        options = ["--max-epochs", "1", "--batch-size", "16", "--subset", "40", "--json"]
        done = _run(["train-dta", *source, "--model", model, "--out", str(model_dir), *options])
        out[model] = (model_dir, json.loads(done.stdout))
    # the first kinase of Davis as a FASTA file
    name, sequence = next(iter(json.loads((data_dir / "proteins.txt").read_text()).items()))
    fasta = root / "kinase.fasta"
    fasta.write_text(
        f">{name} from Davis\n"
        + "\n".join(sequence[i : i + 60] for i in range(0, len(sequence), 60))
    )
    return out, fasta


@pytest.mark.parametrize("model", ["deepdta", "gin"])
def test_training_writes_setting1_metrics_and_a_parity_plot(models, model):
    model_dir, metrics = models[0][model]
    assert metrics["model"] == model
    assert metrics["sizes"] == {"train": 40, "val": 40, "test": 40}
    assert metrics["val_fold"] == 0
    config = json.loads((model_dir / "config.json").read_text())
    assert config["params"]["protein_chunk"] == (4 if model == "deepdta" else None)
    assert metrics["units"] == "pKd"
    test = metrics["test"]
    assert 0.0 <= test["ci"] <= 1.0
    assert test["ci_interval"]["low"] <= test["ci"] <= test["ci_interval"]["high"]
    assert test["mse_interval"]["low"] <= test["mse"] <= test["mse_interval"]["high"]
    assert (model_dir / "parity.png").is_file()
    assert json.loads((model_dir / "metrics.json").read_text())["test"]["ci"] == test["ci"]


@pytest.mark.parametrize("model", ["deepdta", "gin"])
def test_predict_affinity_equals_the_loaded_predictor_and_reports_bad_smiles(
    models, model, tmp_path
):
    (model_dir, _), fasta = models[0][model], models[1]
    predictor = precisionmed.load(model_dir)
    assert isinstance(predictor, AffinityPredictor)
    assert predictor.input_spec.format == "smiles+protein-sequence"
    records = predictor.predict(SMILES, protein=fasta)
    args = ["predict-affinity", str(model_dir), "--protein", str(fasta), "--json",
            "--out", str(tmp_path / "out")]  # fmt: skip
    for s in SMILES:
        args += ["--smiles", s]
    cli = json.loads(_run(args).stdout)
    assert len(cli) == len(records) == 3
    assert cli[1]["prediction"] is None
    assert "SMILES Parse Error" in cli[1]["warnings"][0]
    assert cli[1]["warnings"][0].startswith("row 1: not predicted")
    for mine, theirs in ((records[0], cli[0]), (records[2], cli[2])):
        assert theirs["prediction"] == pytest.approx(mine.prediction, abs=1e-5)
        low, high = theirs["interval"]["pKd"]
        assert low < theirs["prediction"] < high
        assert theirs["details"]["protein"] == fasta.read_text().split()[0][1:]
    assert ("pKd_spread" in cli[0]["values"]) == (model == "deepdta")  # 2 members vs 1
    assert (tmp_path / "out" / "predictions.csv").read_text().count("\n") == 4
    assert np.isfinite(cli[2]["prediction"])


def test_a_bad_data_dir_is_one_line_and_a_bad_protein_too(tmp_path, models):
    (tmp_path / "empty").mkdir()
    done = _run(["train-dta", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "m")],
                ok=False)  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ligands_can.txt: missing" in lines[0]
    model_dir = models[0]["gin"][0]
    done = _run(["predict-affinity", str(model_dir), "--smiles", "CCO", "--protein", "MKV1"],
                ok=False)  # fmt: skip
    assert done.returncode != 0
    assert "--protein: expected a protein sequence" in done.stderr


def test_predictions_say_whether_the_drug_and_the_protein_are_like_the_training_ones(models):
    from precisionmed.chem.affinity_training import protein_digest
    from precisionmed.data import load_dataset

    model_dir = models[0]["gin"][0]
    predictor = precisionmed.load(model_dir)
    threshold = predictor.input_spec.applicability_threshold
    assert 0.0 < threshold <= 1.0
    davis = load_dataset("davis")
    digests = set(predictor.config["train_protein_digests"])
    known = next(s for s in davis.proteins.values() if protein_digest(s) in digests)
    unknown = next(s for s in davis.proteins.values() if protein_digest(s) not in digests)
    drugs = list(davis.drugs.values())
    records = predictor.predict([*drugs, "CCCCCCCCCC"], protein=known)
    domains = [r.details["applicability"] for r in records]
    training = [d for d in domains if d["nearest_drug_similarity"] == pytest.approx(1.0)]
    assert 2 <= len(training) <= predictor.input_spec.n_training_molecules + 5  # salts, isomers
    assert all(d["in_domain"] and d["protein_in_training"] for d in training)
    assert not domains[-1]["in_domain"]  # decane among kinase inhibitors
    assert "Outside the applicability domain" in records[-1].warnings[-1]
    assert not any("Outside" in w for w in records[0].warnings if domains[0]["in_domain"])
    new = predictor.predict(drugs[:1], protein=unknown)[0]
    assert new.details["applicability"]["protein_in_training"] is False
    assert "not one of the training proteins" in new.warnings[-1]
