"""Known answers of the clinical metrics against direct scikit-learn / scikit-survival calls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

from precisionmed.clinical.metrics import (
    classification_metrics,
    evaluation_times,
    event_time,
    plot_calibration,
    plot_roc,
    plot_survival_calibration,
    plot_survival_curves,
    survival_calibration,
    survival_metrics,
)
from precisionmed.errors import DataFormatError
from precisionmed.evaluation import expected_calibration_error


def _within(ci: dict) -> bool:
    return ci["low"] <= ci["value"] <= ci["high"] and ci["n_boot"] > 0


@pytest.fixture(scope="module")
def whas():
    """WHAS500 numeric features, a CoxPH fit on the first 350 patients, evaluated on the rest."""
    from sksurv.datasets import load_whas500

    X, y = load_whas500()
    X = X[["age", "bmi", "diasbp", "hr", "los", "sysbp"]].to_numpy(float)
    X = (X - X.mean(0)) / X.std(0)
    model = CoxPHSurvivalAnalysis().fit(X[:350], y[:350])
    return X, y, model


def test_classification_metrics_equal_sklearn_and_intervals_contain_them():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1)
    m = classification_metrics(y, p, n_boot=200, seed=1)
    assert m["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    assert m["brier"]["value"] == pytest.approx(brier_score_loss(y, p))
    assert m["ece"]["value"] == pytest.approx(expected_calibration_error(p, y, n_bins=10))
    for key in ("roc_auc", "brier", "ece"):
        assert _within(m[key]), key
    assert sum(m["calibration"]["count"]) == 300


def test_perfect_classifier_has_auc_one():
    y = np.array([0, 0, 1, 1, 0, 1])
    m = classification_metrics(y, y * 0.8 + 0.1, n_boot=50)
    assert m["roc_auc"]["value"] == 1.0
    with pytest.raises(DataFormatError, match="proba: expected shape"):
        classification_metrics(y, np.ones((6, 2)))


def test_survival_metrics_equal_sksurv(whas):
    X, y, model = whas
    y_tr, y_te, X_te = y[:350], y[350:], X[350:]
    risk = model.predict(X_te)
    times = evaluation_times(y_tr, y_te, n_times=15)
    surv = np.vstack([fn(times) for fn in model.predict_survival_function(X_te)])
    m = survival_metrics(y_tr, y_te, risk, surv, times, n_boot=100, seed=0)
    ev, t = y_te["fstat"], y_te["lenfol"]
    assert m["c_index_harrell"]["value"] == pytest.approx(
        concordance_index_censored(ev, t, risk)[0]
    )
    uno = concordance_index_ipcw(y_tr, y_te, risk, tau=times.max())[0]
    assert m["c_index_uno"]["value"] == pytest.approx(uno)
    auc_t, mean_auc = cumulative_dynamic_auc(y_tr, y_te, risk, times)
    assert m["mean_auc"]["value"] == pytest.approx(mean_auc)
    assert m["auc_t"] == pytest.approx(list(auc_t))
    assert m["ibs"]["value"] == pytest.approx(integrated_brier_score(y_tr, y_te, surv, times))
    for key in ("c_index_harrell", "c_index_uno", "mean_auc", "ibs", "calibration_error"):
        assert _within(m[key]), key
    k = len(times) // 2  # calibration at the middle evaluation time
    assert m["calibration"] == survival_calibration(y_te, 1 - surv[:, k], times[k])
    assert m["calibration_error"]["value"] == m["calibration"]["ece"]
    assert m["n"] == 150
    assert m["n_events"] == int(ev.sum())


def test_c_index_is_one_for_the_true_order_and_zero_reversed():
    y = np.array(
        [(True, t) for t in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)], dtype=[("e", "?"), ("t", "f8")]
    )
    risk = -y["t"]
    up = survival_metrics(y, y, risk, times=np.array([2.0, 3.0, 4.0]), n_boot=20)
    down = survival_metrics(y, y, -risk, times=np.array([2.0, 3.0, 4.0]), n_boot=20)
    assert up["c_index_harrell"]["value"] == 1.0
    assert down["c_index_harrell"]["value"] == 0.0
    assert "ibs" not in up  # no survival curves given


def test_event_time_finds_the_boolean_field_in_either_order():
    a = np.array([(3.0, True)], dtype=[("time", "f8"), ("status", "?")])
    ev, t = event_time(a)
    assert ev.tolist() == [True]
    assert t.tolist() == [3.0]
    with pytest.raises(DataFormatError, match="structured array"):
        event_time(np.array([1.0, 2.0]))
    with pytest.raises(DataFormatError, match="must be boolean"):
        event_time(np.array([(1.0, 2.0)], dtype=[("a", "f8"), ("b", "f8")]))


def test_evaluation_times_lie_inside_the_follow_up(whas):
    _, y, _ = whas
    times = evaluation_times(y[:350], y[350:])
    assert times.min() >= y[350:]["lenfol"].min()
    assert times.max() < min(y[350:]["lenfol"].max(), y[:350]["lenfol"].max())
    assert np.all(np.diff(times) > 0)


def test_plots_write_png_and_json(tmp_path):
    import json

    y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.2, 0.4, 0.5])
    times = np.linspace(0, 10, 5)
    curves = np.array([[1, 0.9, 0.7, 0.5, 0.4], [1, 0.8, 0.5, 0.3, 0.1]])
    paths = [
        plot_roc(y, p, tmp_path / "roc.png"),
        plot_calibration(y, p, tmp_path / "cal.png"),
        plot_survival_curves(times, curves, tmp_path / "surv.png", low=curves - 0.05, high=curves),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "roc.json").read_text())["curves"][0]["auc"] == pytest.approx(
        roc_auc_score(y, p)
    )
    assert json.loads((tmp_path / "surv.json").read_text())["curves"][1][-1] == 0.1


def test_test_follow_up_beyond_training_pools_the_censoring_estimate(whas):
    from precisionmed.clinical.metrics import censoring_reference

    X, y, model = whas
    order = np.arange(len(y))
    longest = int(np.argmax(y["lenfol"]))
    order[[longest, 499]] = order[[499, longest]]  # the longest follow-up goes to the test set
    y_tr, y_te, X_te = y[order[:350]], y[order[350:]], X[order[350:]]
    assert y_te["lenfol"].max() > y_tr["lenfol"].max()
    ref = censoring_reference(y_tr, y_te)
    assert len(ref) == 500
    assert len(censoring_reference(y_te, y_tr)) == 150  # training follow-up covers the test one
    risk = model.predict(X_te)
    times = evaluation_times(y_tr, y_te, n_times=5)
    surv = np.vstack([fn(times) for fn in model.predict_survival_function(X_te)])
    m = survival_metrics(y_tr, y_te, risk, surv, times, n_boot=20)
    assert m["censoring_from"] == "train+test"
    assert m["ibs"]["value"] == pytest.approx(integrated_brier_score(ref, y_te, surv, times))


def test_survival_auc_interval_skips_resamples_without_an_early_event_quietly():
    rng = np.random.default_rng(0)
    # two patients censored at 0.5, the only early death at 1.0, the rest from 2 to 100
    later = rng.uniform(2.0, 100.0, 57)
    y = np.array(
        [(False, 0.5), (False, 0.5), (True, 1.0)] + [(bool(e), t) for e, t in zip(
            rng.random(57) < 0.6, later, strict=True)],
        dtype=[("e", "?"), ("t", "f8")],
    )  # fmt: skip
    risk = -y["t"] + rng.normal(0, 20, len(y))
    times = np.array([1.5, 50.0])
    # a resample without the patient who died at 1.0 has no case at 1.5 (AUC 0/0): it must be
    # left out of the interval, without numpy's warning reaching the user
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m = survival_metrics(y, y, risk, times=times, n_boot=200, seed=0)
    assert 80 < m["mean_auc"]["n_boot"] < 180
    assert m["mean_auc"]["low"] <= m["mean_auc"]["value"] <= m["mean_auc"]["high"]
    assert m["c_index_harrell"]["n_boot"] == 200


def _outcome(event, time) -> np.ndarray:
    return np.array(list(zip(event, time, strict=True)), dtype=[("event", bool), ("time", float)])


def test_survival_calibration_observes_kaplan_meier_in_risk_groups():
    # group 1 (lower predictions): events at 1, 3, 5, censored at 2; by time 4 Kaplan-Meier
    # gives 1 - (3/4)(1/2) = 5/8 (counting the censored patient as event-free would give 1/2)
    # group 2: events at 2 and 6, censored at 7 and 8: 1/4 by time 4
    y = _outcome([1, 0, 1, 1, 1, 1, 0, 0], [1, 2, 3, 5, 2, 6, 7, 8])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    cal = survival_calibration(y, p, 4.0, n_groups=2)
    assert cal["count"] == [4, 4]
    assert cal["mean_predicted"] == pytest.approx([0.25, 0.65])
    assert cal["observed"] == pytest.approx([5 / 8, 1 / 4])
    assert cal["ece"] == pytest.approx((abs(0.25 - 5 / 8) + abs(0.65 - 1 / 4)) / 2)
    with pytest.raises(DataFormatError, match="p_event: expected shape"):
        survival_calibration(y, p[:3], 4.0)


def test_survival_calibration_tells_true_probabilities_from_halved_ones():
    rng = np.random.default_rng(0)
    rate = rng.uniform(0.05, 1.0, 5000)
    time = rng.exponential(1 / rate)
    censor = rng.uniform(0, 4, 5000)  # censoring independent of the event time
    y = _outcome(time <= censor, np.minimum(time, censor))
    truth = 1 - np.exp(-rate * 1.5)  # P(T <= 1.5) of each patient
    assert survival_calibration(y, truth, 1.5)["ece"] < 0.02
    assert survival_calibration(y, truth / 2, 1.5)["ece"] > 0.15


def test_survival_calibration_plot(tmp_path):
    import json

    cal = {"horizon": 365.0, "mean_predicted": [0.1, 0.3], "observed": [0.12, 0.25],
           "count": [10, 10], "ece": 0.035}  # fmt: skip
    path = plot_survival_calibration(cal, tmp_path / "cal_t.png", time_unit="days")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "cal_t.json").read_text()) == cal
