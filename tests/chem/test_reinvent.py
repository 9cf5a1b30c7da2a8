"""REINVENT on a tiny CharRNN prior: a few seeded steps raise the mean score of an easy objective,
the scoring budget is exact, the prior is untouched, the scaffold filter empties full buckets, and
``precisionmed chem optimize`` writes the CSV and both PNGs from a fresh process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from precisionmed.chem.optimize.objective import build_objective
from precisionmed.chem.optimize.reinvent import (
    ReinventConfig,
    ScaffoldDiversityFilter,
    run_reinvent,
)

CLI = [sys.executable, "-m", "precisionmed.cli.main", "chem"]
#: An easy target for chains of 2-12 heavy atoms: molecular weight of at least 150 g/mol.
HEAVY = {"components": [{"type": "mw", "min": 150, "width": 30}]}


@pytest.fixture(scope="module")
def prior_dir(tmp_path_factory):
    """A 32-unit LSTM trained for 5 epochs on 260 small acyclic molecules (alcohols, amines,
    ketones, ethers, branched alkanes of 1-12 carbons)."""
    from precisionmed.chem.generative.training import TrainingSmiles, train_generator
    from precisionmed.train.config import TrainConfig

    middles = ["", "O", "N", "C(=O)", "C(C)", "OC", "C(O)", "C(N)"]
    smiles = sorted({"C" * a + m + "C" * b for a in range(1, 9) for b in range(5) for m in middles})
    out = tmp_path_factory.mktemp("reinvent") / "prior"
    train_generator(
        "charrnn",
        TrainingSmiles(smiles, "test: small acyclic molecules", len(smiles)),
        out,
        hparams={"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
        config=TrainConfig(max_epochs=5, batch_size=32, lr=1e-2, seed=0, progress=False),
    )
    return out


def _prior(prior_dir):
    from precisionmed.chem.generative import load_generator

    return load_generator(prior_dir).model


def test_a_few_steps_raise_the_mean_score_and_keep_the_prior(prior_dir):
    prior = _prior(prior_dir)
    before = {k: v.clone() for k, v in prior.state_dict().items()}
    objective = build_objective(HEAVY)
    config = ReinventConfig(
        steps=8, batch_size=32, learning_rate=5e-3, sigma=60, seed=0, max_length=40
    )
    result = run_reinvent(prior, objective, config, progress=False)
    means = [h["mean_score"] for h in result.history]
    assert len(means) == 8
    assert np.mean(means[-2:]) > np.mean(means[:2]) + 0.15, means
    assert all(torch.equal(before[k], v) for k, v in prior.state_dict().items())
    best = result.top(3)
    assert best[0]["score"] == pytest.approx(1.0)
    assert best[0]["mw"] == pytest.approx(1.0)
    assert [r["score"] for r in result.molecules] == sorted(
        (r["score"] for r in result.molecules), reverse=True
    )


def test_the_scoring_budget_is_exact(prior_dir):
    objective = build_objective(HEAVY)
    config = ReinventConfig(steps=10, batch_size=32, max_calls=50, seed=1, max_length=40)
    result = run_reinvent(_prior(prior_dir), objective, config, progress=False)
    assert result.calls == objective.calls == 50
    assert result.history[-1]["calls"] == 50


def test_scaffold_filter_empties_full_buckets_and_repeats():
    dfilter = ScaffoldDiversityFilter(bucket_size=2, min_score=0.4)
    smiles = ["Cc1ccccc1", "Oc1ccccc1", "COc1ccccc1", "Cc1ccccc1", "CCO", None, "Nc1ccccc1"]
    scores = np.array([0.9, 0.8, 0.9, 0.9, 0.9, 0.0, 0.1])
    # the benzene bucket fills with toluene and phenol; anisole then scores 0, toluene again
    # is a repeat; aniline scores below min_score and is kept (it does not fill the bucket)
    assert dfilter(smiles, scores).tolist() == [0.9, 0.8, 0.0, 0.0, 0.9, 0.0, 0.1]
    assert dfilter.buckets == {"c1ccccc1": 2, "": 1}


def test_optimize_cli_writes_the_csv_and_both_pngs(prior_dir, tmp_path):
    objective = tmp_path / "heavy.yaml"
    objective.write_text(yaml.safe_dump(HEAVY))
    out = tmp_path / "run" / "optimized.csv"
    args = [
        "optimize",
        str(prior_dir),
        "--objective",
        str(objective),
        "--steps",
        "2",
        "--batch-size",
        "16",
        "--out",
        str(out),
        "--top",
        "4",
        "--json",
    ]
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["calls"] <= 32
    assert summary["steps"] == 2
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["rank", "smiles", "score", "step", "mw"]
    assert len(rows) == summary["molecules"]
    assert rows[0]["smiles"] == summary["top"][0]["smiles"]
    for png in (out.with_name("optimized_top.png"), out.with_name("optimized_steps.png")):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run(
        CLI
        + [
            "optimize",
            str(prior_dir),
            "--objective",
            str(tmp_path / "x.yaml"),
            "--out",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode != 0
    assert "x.yaml: cannot read the objective file" in bad.stderr
