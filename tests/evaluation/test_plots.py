"""The shared evaluation figures: PNG plus the plotted points as JSON, consistent with sklearn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from precisionmed.evaluation import plot_calibration_curves, plot_roc_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_roc_json_matches_sklearn_and_skips_an_undefined_curve(tmp_path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(bool)
    score = y + rng.normal(0, 1, 200)
    png = plot_roc_curves(
        [("pos", y, score), ("one class", np.ones(200, bool), score)], tmp_path / "roc.png"
    )
    assert png.read_bytes()[:8] == PNG
    curves = json.loads((tmp_path / "roc.json").read_text())["curves"]
    assert [c["label"] for c in curves] == ["pos"]
    assert curves[0]["auc"] == pytest.approx(roc_auc_score(y, score))


def test_calibration_json_bins_every_prediction_once(tmp_path) -> None:
    p = np.array([0.05, 0.1, 0.45, 0.5, 0.55, 0.95])
    outcome = np.array([0, 0, 1, 0, 1, 1])
    plot_calibration_curves([("model", p, outcome)], tmp_path / "cal.png", n_bins=10)
    record = json.loads((tmp_path / "cal.json").read_text())
    series = record["series"][0]
    assert record["n_bins"] == 10
    assert sum(series["count"]) == len(p)
    assert series["mean_predicted"][0] == pytest.approx(0.075)  # 0.05 and 0.1
    assert series["observed"][0] == 0.0
    assert series["mean_predicted"][2] is None  # no prediction in (0.2, 0.3]


def test_calibration_bins_equal_sklearn_calibration_curve() -> None:
    from sklearn.calibration import calibration_curve

    from precisionmed.evaluation import calibration_bins

    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 500)
    p[:5] = [0.0, 0.1, 0.2, 0.5, 1.0]  # values on bin edges
    y = (rng.uniform(0, 1, 500) < p).astype(int)
    bins = calibration_bins(p, y, n_bins=10)
    true, pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    keep = bins["count"] > 0
    np.testing.assert_allclose(bins["accuracy"][keep], true)
    np.testing.assert_allclose(bins["confidence"][keep], pred)
