"""``precisionmed treatment fit`` / ``recommend`` in fresh processes, on IHDP realisation 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import precisionmed
from precisionmed.cli.main import app
from tests.conftest import require_dataset
from tests.treatment.test_recommender import ihdp_csv


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NO_COLOR": "1"}
    return subprocess.run(  # noqa: S603  (our own interpreter running our own CLI)
        [sys.executable, "-m", "precisionmed.cli.main", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False,
    )  # fmt: skip


def test_fit_recommend_and_reload_give_the_same_numbers(tmp_path: Path) -> None:
    require_dataset("ihdp")
    csv = ihdp_csv(tmp_path / "ihdp1.csv")
    fit = cli(
        "treatment", "fit", "--csv", str(csv), "--treatment-column", "treatment",
        "--outcome-column", "y", "--better", "higher", "--model", "tlearner",
        "--param", "n_bootstrap=5", "--arm-names", "no visits,home visits",
        "--out", str(tmp_path / "model"), "--json", cwd=tmp_path,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr[-2000:]
    metrics = json.loads(fit.stdout)["metrics"]
    assert metrics["n_home visits"] == 139
    assert 3.5 < metrics["ate"]["value"] < 4.5  # realisation 1's true ATE: 4.02
    assert metrics["ate"]["low"] <= metrics["ate"]["value"] <= metrics["ate"]["high"]
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({f"x{i}": 0.0 for i in range(1, 26)} | {"x1": 0.5}))
    rec = cli("treatment", "recommend", str(tmp_path / "model"), "--csv", str(csv), "--json",
              cwd=tmp_path)  # fmt: skip
    assert rec.returncode == 0, rec.stderr[-2000:]
    records = json.loads(rec.stdout)
    assert len(records) == 747
    reloaded = precisionmed.load(tmp_path / "model").predict(csv)
    for got, again in zip(records, reloaded, strict=True):
        assert got["prediction"] == again.prediction
        for key, value in got["values"].items():
            assert value == pytest.approx(again.values[key], rel=1e-12)
        for key, (lo, hi) in got["interval"].items():
            np.testing.assert_allclose([lo, hi], again.interval[key], rtol=1e-12)
    assert {r["details"]["status"] for r in records} == {
        "recommended",
        "no confident recommendation",
    }
    # one patient from a JSON file, as a table (in-process: the subprocess path is tested above)
    one = CliRunner().invoke(app, ["treatment", "recommend", str(tmp_path / "model"),
                                   "--patient", str(patient)])  # fmt: skip
    assert one.exit_code == 0, one.output
    assert "expected outcome" in one.output
    assert "home visits" in one.output


def test_a_missing_column_is_one_clear_line_naming_file_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "study.csv"
    rng = np.random.default_rng(0)
    lines = ["arm,y,age"] + [f"{i % 2},{v:.3f},{50 + i}" for i, v in enumerate(rng.normal(size=40))]
    csv.write_text("\n".join(lines) + "\n")
    run = cli("treatment", "fit", "--csv", str(csv), "--treatment-column", "arm",
              "--outcome-column", "weight", "--better", "lower", "--out", str(tmp_path / "m"),
              cwd=tmp_path)  # fmt: skip
    assert run.returncode == 1
    message = run.stderr.strip()
    assert message.startswith("error:")
    assert "study.csv" in message
    assert "column 'weight' not found" in message
    assert not (tmp_path / "m").exists()
