"""``precisionmed chem train-generator`` / ``chem generate`` in fresh processes: a user's SMILES
file with bad rows (reported, left out), a saved charrnn, samples and a grid written beside it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

from tests.conftest import require_path

CLI = [sys.executable, "-m", "precisionmed.cli.main", "chem"]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)


def test_train_on_a_smiles_file_then_generate(tmp_path) -> None:
    with gzip.open(require_path("molecules/moses/train.csv.gz"), "rt") as fh:
        molecules = [next(fh).strip() for _ in range(151)][1:]
    source = tmp_path / "mine.smi"
    source.write_text("\n".join([*molecules[:100], "C1CC", *molecules[100:], "c1ccccc1("]) + "\n")
    model = tmp_path / "charrnn"
    done = _run([
        "train-generator", "--model", "charrnn", "--smiles", str(source), "--out", str(model),
        "--max-epochs", "1", "--param", "hidden_size=32", "--param", "num_layers=1", "--json",
        "--precision", "bf16-mixed",
    ])  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["config"]["precision"] == "bf16-mixed"
    assert summary["data"]["n_used"] == 150
    assert summary["data"]["n_invalid"] == 2
    assert [p["line"] for p in summary["data"]["problems"]] == [101, 152]
    assert "line 101: left out" in done.stderr

    out = tmp_path / "samples" / "mols.smi"
    done = _run(["generate", str(model), "-n", "30", "--out", str(out), "--seed", "7",
                 "--max-length", "60", "--json"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    lines = out.read_text().split("\n")[:-1]
    assert len(lines) == 30
    assert report["n_valid"] + report["n_invalid"] == 30
    if report["n_valid"]:
        assert out.with_suffix(".png").stat().st_size > 1000

    inside = _run(["generate", str(model), "-n", "2", "--out", str(model / "x.smi")])
    assert inside.returncode == 1
    assert "inside the model directory" in inside.stderr
    assert len(inside.stderr.splitlines()) == 1


def test_float16_on_a_cpu_is_one_clear_error(tmp_path) -> None:
    done = _run([
        "train-generator", "--model", "charrnn", "--dataset", "moses", "--out",
        str(tmp_path / "m"), "--precision", "16-mixed",
    ])  # fmt: skip
    assert done.returncode != 0
    assert "'precision': '16-mixed'" in done.stderr
    assert "needs a GPU" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "m").exists()
