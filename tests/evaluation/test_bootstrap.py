"""Bootstrap intervals and calibration error: known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from precisionmed.evaluation import bootstrap_ci, calibration_bins, expected_calibration_error


def test_bootstrap_interval_of_a_mean_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, size=400)
    ci = bootstrap_ci(np.mean, x, n_boot=2000, seed=0)
    assert ci["value"] == pytest.approx(x.mean())
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert ci["low"] == pytest.approx(x.mean() - 1.96 * se, abs=0.25 * se)
    assert ci["high"] == pytest.approx(x.mean() + 1.96 * se, abs=0.25 * se)
    assert ci == bootstrap_ci(np.mean, x, n_boot=2000, seed=0)  # seeded


def test_stratified_bootstrap_keeps_both_classes() -> None:
    y = np.array([0] * 95 + [1] * 5)
    score = np.linspace(0, 1, 100)
    ci = bootstrap_ci(roc_auc_score, y, score, n_boot=200, stratify=y)
    assert ci["n_boot"] == 200  # no resample lost a class
    assert ci["value"] == pytest.approx(1.0)


def test_resamples_where_the_metric_is_undefined_are_skipped_and_counted() -> None:
    x = np.arange(100.0)

    def metric(v: np.ndarray) -> float:
        return float("nan") if v.min() > 0 else float(v.mean())  # undefined without row 0

    ci = bootstrap_ci(metric, x, n_boot=300, seed=0)
    # about (1 - 1/100)^100 = 37% of resamples miss row 0: they are left out of the interval
    assert 150 < ci["n_boot"] < 230
    assert np.isfinite(ci["low"])
    assert np.isfinite(ci["high"])


def test_expected_calibration_error_known_answers() -> None:
    labels = np.array([1] * 8 + [0] * 2)
    # Every prediction at 0.8 for class 1, right 8 times out of 10: perfectly calibrated.
    assert expected_calibration_error(np.full(10, 0.8), labels) == pytest.approx(0.0)
    # At 0.8 but right only half the time: a gap of 0.3.
    half = np.array([1] * 5 + [0] * 5)
    assert expected_calibration_error(np.full(10, 0.8), half) == pytest.approx(0.3)
    bins = calibration_bins(np.full(10, 0.8), half.astype(float), n_bins=10)
    assert bins["count"].sum() == 10
    assert bins["accuracy"][7] == pytest.approx(0.5)
