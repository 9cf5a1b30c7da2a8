"""Integrated-gradients attributions (Captum) of a tiny CNN trained once on GUE TF0 rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import precisionmed
from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError
from precisionmed.genomics.attribution import integrated_gradients
from precisionmed.genomics.encoding import reverse_complement
from precisionmed.genomics.training import train_sequence_model
from tests.conftest import require_dataset, require_path

pytest.importorskip(
    "captum", reason="attributions need Captum: pip install 'precisionmed[genomics]'"
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_dataset("gue-tf0")
    out = tmp_path_factory.mktemp("attribution") / "model"
    data = load_dataset("gue-tf0").subset(200)
    params = {"channels": 8, "max_epochs": 1, "lr": 1e-2}
    train_sequence_model(data, "cnn", out, params=params, n_boot=20, progress=False)
    return out


@pytest.fixture(scope="module")
def predictor(model_dir: Path):
    return precisionmed.load(model_dir)


@pytest.fixture(scope="module")
def sequence() -> str:
    line = require_path("genomics/gue/tf/0/test.csv").read_text().splitlines()[1]
    return line.split(",")[0]


@pytest.mark.parametrize("baseline", ["uniform", "zeros", "shuffle"])
def test_attributions_sum_to_the_prediction_minus_the_baseline_prediction(
    predictor, sequence: str, baseline: str
) -> None:
    result = integrated_gradients(predictor, sequence, baseline=baseline)
    assert result.attributions.shape == (len(sequence), 4)
    gap = result.prediction - result.baseline_prediction
    assert abs(gap) > 1e-3  # else the check below would hold for any attributions near zero
    assert abs(result.delta) < 0.05 * abs(gap)
    assert result.attributions.sum() == pytest.approx(gap, rel=0.05)
    # the two predictions are the model's own, computed independently of Captum
    direct = predictor.predict_sequences([sequence])[0, 0]
    assert result.prediction == pytest.approx(direct, abs=1e-5)
    if baseline == "uniform":  # the uniform baseline is the encoding of N at every position
        direct = predictor.predict_sequences(["N" * len(sequence)])[0, 0]
        assert result.baseline_prediction == pytest.approx(direct, abs=1e-5)


def test_no_attribution_where_the_input_equals_the_baseline(predictor, sequence: str) -> None:
    # N is encoded as 0.25 in each channel: exactly the uniform baseline there
    masked = sequence[:20] + "N" * 30 + sequence[50:]
    result = integrated_gradients(predictor, masked, baseline="uniform")
    assert np.abs(result.attributions[20:50]).max() < 1e-7
    assert np.abs(result.attributions[:20]).max() > 1e-5
    assert np.abs(result.observed()[20:50]).max() < 1e-7


def test_a_sequence_and_its_reverse_complement_get_mirrored_attributions(
    predictor, sequence: str
) -> None:
    forward = integrated_gradients(predictor, sequence)
    reverse = integrated_gradients(predictor, reverse_complement(sequence))
    assert reverse.prediction == pytest.approx(forward.prediction, abs=1e-6)
    # position i of the reverse complement is position L-1-i of the forward, base complemented
    np.testing.assert_allclose(reverse.attributions[::-1, ::-1], forward.attributions, atol=1e-6)
    np.testing.assert_allclose(reverse.observed()[::-1], forward.observed(), atol=1e-6)


def test_unknown_output_and_baseline_are_refused(predictor, sequence: str) -> None:
    with pytest.raises(ConfigError, match="--output nope: expected one of"):
        integrated_gradients(predictor, sequence, output="nope")
    with pytest.raises(ConfigError, match="--baseline mean: expected one of"):
        integrated_gradients(predictor, sequence, baseline="mean")


def test_cli_writes_a_logo_png_and_its_values_for_each_fasta_record(
    predictor, model_dir: Path, sequence: str, tmp_path: Path
) -> None:
    fasta = tmp_path / "seqs.fa"
    fasta.write_text(f">site1\n{sequence}\n>site2\n{reverse_complement(sequence)}\n")
    png = tmp_path / "logos" / "logo.png"
    args = [sys.executable, "-m", "precisionmed.cli.main", "genomics", "attribute", str(model_dir),
            "--fasta", str(fasta), "--out", str(png), "--json"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [r["name"] for r in report] == ["site1", "site2"]
    expected = integrated_gradients(predictor, sequence)
    for r in report:
        written = Path(r["png"])
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        values = json.loads(written.with_suffix(".json").read_text())
        assert values["output"] == predictor.class_names[1]
    first = json.loads(Path(report[0]["png"]).with_suffix(".json").read_text())
    assert first["observed"] == pytest.approx(expected.observed().tolist(), abs=1e-5)

    inside = [*args[:-3], "--out", str(model_dir / "logo.png")]
    refused = subprocess.run(inside, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode != 0
    assert "inside the model directory" in refused.stderr + refused.stdout
