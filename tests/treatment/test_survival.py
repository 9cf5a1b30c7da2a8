"""Survival outcomes: the restricted mean survival time under each arm, known answer and CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import precisionmed
from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.treatment.own_data import fit_treatment_model, read_study_csv
from precisionmed.treatment.survival import SurvivalTLearner, survival_outcome

HORIZON = 2.0


def exponential_cohort(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Exponential times, hazard exp(0.5 x0 - 0.7 t); censoring uniform on (0, 6).

    The true RMST to HORIZON of rate lam is (1 - exp(-lam H)) / lam."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    t = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x[:, 0]))).astype(int)
    rate = np.exp(0.5 * x[:, 0] - 0.7 * t)
    event_time, censor = rng.exponential(1 / rate), rng.uniform(0, 6, n)
    frame = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "arm": t,
                          "time": np.minimum(event_time, censor),
                          "died": (event_time <= censor).astype(int)})  # fmt: skip
    lam = np.exp(0.5 * x[:, [0]] - 0.7 * np.array([[0, 1]]))
    return frame, (1 - np.exp(-lam * HORIZON)) / lam


def test_cox_t_learner_recovers_the_true_restricted_mean_survival_times() -> None:
    frame, truth = exponential_cohort()
    X = frame[["x0", "x1"]].to_numpy()
    y = survival_outcome(frame["died"], frame["time"])
    est = SurvivalTLearner(horizon=HORIZON, n_bootstrap=10).fit(X, frame["arm"], y)
    po = est.potential_outcomes(X)
    assert np.abs(po - truth).mean() < 0.05
    effect, truth_effect = est.effect(X), truth[:, 1] - truth[:, 0]
    assert abs(effect.mean() - truth_effect.mean()) < 0.07  # true mean effect 0.37
    assert np.abs(effect - truth_effect).mean() < 0.08
    assert np.corrcoef(effect, truth_effect)[0, 1] > 0.6  # heterogeneity is small (sd 0.04)
    low, high = est.effect_interval(X).T
    assert np.mean((low <= truth_effect) & (truth_effect <= high)) > 0.8


def test_a_survival_table_fits_through_the_csv_path_and_recommends(tmp_path: Path) -> None:
    frame, _ = exponential_cohort(n=600, seed=1)
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    table = read_study_csv(tmp_path / "cohort.csv", "arm", "time", event_column="died")
    assert table.covariates == ["x0", "x1"]
    out = fit_treatment_model(
        table, model="cox-tlearner", out=tmp_path / "m", better="higher", outcome_column="time",
        params={"n_bootstrap": 10, "horizon": HORIZON},
    )  # fmt: skip
    predictor = precisionmed.load(out)
    assert predictor.config["outcome_column"].startswith("restricted mean survival time to 2")
    records = predictor.predict(frame.head(30))
    recommended = [r for r in records if r.prediction is not None]
    assert recommended, "a hazard ratio of 0.5 separates the arms for some patients"
    assert all(r.prediction == "1" for r in recommended)  # treatment halves the hazard
    with pytest.raises(ConfigError, match="takes survival outcomes"):
        fit_treatment_model(
            read_study_csv(tmp_path / "cohort.csv", "arm", "time"), model="cox-tlearner",
            out=tmp_path / "m2", better="higher",
        )  # fmt: skip
    bad = frame.assign(died=2)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFormatError, match=r"bad.csv: row 2, column 'died': expected 1"):
        read_study_csv(tmp_path / "bad.csv", "arm", "time", event_column="died")
