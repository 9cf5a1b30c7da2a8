"""``precisionmed genomics``: train, evaluate and predict, in fresh processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import precisionmed
from tests.conftest import require_dataset, require_path

CLI = [sys.executable, "-m", "precisionmed.cli.main", "genomics"]
TINY = ["--max-epochs", "1", "--param", "channels=8", "--param", "hidden=8", "--n-boot", "50"]


def _run(args: list[str], ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_dataset("gue-tf0")
    out = tmp_path_factory.mktemp("gen") / "model"
    args = ["train", "--dataset", "gue-tf0", "--subset", "200", "--model", "cnn"]
    done = _run([*args, *TINY, "--out", str(out), "--json"])
    metrics = json.loads(done.stdout)
    assert set(metrics["test"]) == {"mcc", "auc", "acc"}
    return out


def test_trained_model_reloads_and_predicts_the_same_values(trained: Path, tmp_path: Path) -> None:
    seqs = require_path("genomics/gue/tf/0/test.csv").read_text().splitlines()[1:6]
    fasta = tmp_path / "seqs.fa"
    fasta.write_text("".join(f">s{i}\n{line.split(',')[0]}\n" for i, line in enumerate(seqs)))
    done = _run(["predict", str(trained), str(fasta), "--json", "--out", str(tmp_path / "p")])
    records = json.loads(done.stdout)
    assert [r["input"] for r in records] == [f"s{i}" for i in range(5)]
    here = precisionmed.load(trained).predict_sequences([s.split(",")[0] for s in seqs])
    np.testing.assert_allclose([r["values"]["1"] for r in records], here[:, 0], atol=1e-6)
    assert (tmp_path / "p" / "predictions.json").is_file()


def test_evaluate_writes_metrics_outside_the_model_dir(trained: Path, tmp_path: Path) -> None:
    done = _run(["evaluate", str(trained), "--dataset", "gue-tf0", "--json", "--n-boot", "50",
                 "--out", str(tmp_path / "ev")])  # fmt: skip
    assert json.loads(done.stdout)["n"] == 1000
    assert (tmp_path / "ev" / "roc.png").is_file()
    refused = _run(["evaluate", str(trained), "--dataset", "gue-tf0",
                    "--out", str(trained / "ev")], ok=False)  # fmt: skip
    assert "inside the model directory" in refused.stderr


def _gue_rows(n: int) -> list[str]:
    lines = require_path("genomics/gue/tf/1/train.csv").read_text().splitlines()
    return lines[1 : n + 1]


def test_own_data_dir_and_csv_train_without_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from precisionmed.cli.main import app

    rows = _gue_rows(240)
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, part in (("train", rows[:160]), ("dev", rows[160:200]), ("test", rows[200:])):
        (folder / f"{name}.csv").write_text("sequence,label\n" + "\n".join(part) + "\n")
    runner = CliRunner()
    args = ["genomics", "train", "--model", "bilstm", "--max-epochs", "1", "--param", "hidden=8"]
    args += ["--n-boot", "20"]
    done = runner.invoke(app, [*args, "--data-dir", str(folder), "--out", str(tmp_path / "a")])
    assert done.exit_code == 0, done.output
    assert precisionmed.load(tmp_path / "a").config["dataset"] == "mine"
    table = tmp_path / "table.csv"
    table.write_text("dna,bound\n" + "\n".join(rows) + "\n")
    own = ["--csv", str(table), "--sequence-column", "dna", "--label-column", "bound"]
    done = runner.invoke(app, [*args, *own, "--out", str(tmp_path / "b"), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["sizes"] == {"train": 192, "val": 24, "test": 24}


def test_bad_csv_is_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,label\nACGTACGT,1\nACGTQCGT,0\n")
    done = _run(["train", "--csv", str(bad), "--out", str(tmp_path / "m")], ok=False)
    assert done.stderr.strip() == (
        f"error: {bad}: row 3, column 'sequence': expected a DNA sequence of IUPAC letters "
        "(ACGTN...); got 'Q'."
    )
    assert not (tmp_path / "m").exists()
