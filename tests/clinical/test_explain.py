"""SHAP values and permutation importance of clinical pipelines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from precisionmed.clinical.explain import (
    permutation_importances,
    plot_patient_shap,
    plot_shap_summary,
    shap_values,
)
from precisionmed.clinical.models import make_pipeline

TYPES = {"a": "numeric", "b": "numeric", "c": "categorical"}


@pytest.fixture(scope="module")
def planted():
    """Outcome driven by 'a' and category 'c' == 'y' only; 'b' is noise."""
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(["x", "y"], size=n)),
        }
    )
    logit = 2.5 * X["a"] + 2.0 * (X["c"] == "y") - 1.0
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    pipe = make_pipeline("gbm", TYPES, n_estimators=50).fit(X, y)
    return X, y, pipe


def test_shap_values_have_one_value_per_patient_and_column_and_add_up(planted):
    X, _, pipe = planted
    result = shap_values(pipe, X, X.head(6), task="classification", n_background=20)
    assert result.values.shape == (6, 3)
    assert result.feature_names == ["a", "b", "c"]
    # Kernel SHAP's efficiency: base value + contributions = the model's output
    np.testing.assert_allclose(
        result.base_value + result.values.sum(axis=1),
        pipe.predict_proba(X.head(6))[:, 1],
        atol=1e-6,
    )
    mean_abs = np.abs(result.values).mean(axis=0)
    assert mean_abs[0] > mean_abs[1]  # the planted feature outweighs the noise


def test_shap_plots_are_written(tmp_path, planted):
    X, _, pipe = planted
    result = shap_values(pipe, X, X.head(5), task="classification", n_background=10)
    plot_shap_summary(result, tmp_path / "summary.png")
    plot_patient_shap(result, 1, tmp_path / "patient.png")
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
    patient = json.loads((tmp_path / "patient.json").read_text())
    assert [c["feature"] for c in patient["contributions"]] == ["a", "b", "c"]
    assert patient["contributions"][2]["value"] == str(X.loc[1, "c"])
    assert patient["prediction"] == pytest.approx(pipe.predict_proba(X.iloc[[1]])[0, 1], abs=1e-6)


def test_permutation_importance_finds_the_planted_features(planted):
    X, y, pipe = planted
    imp = permutation_importances(pipe, X, y, task="classification", n_repeats=5)
    assert imp["feature"].tolist()[:2] == ["a", "c"]
    assert imp.set_index("feature").loc["b", "importance_mean"] < 0.02


def test_survival_explanations_use_the_risk_and_the_c_index():
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    types = {c: "categorical" if X[c].dtype == "category" else "numeric" for c in X.columns}
    pipe = make_pipeline("coxph", types).fit(X, y)
    result = shap_values(pipe, X, X.head(3), task="survival", n_background=10)
    assert result.output == "risk"
    np.testing.assert_allclose(
        result.base_value + result.values.sum(axis=1), pipe.predict(X.head(3)), atol=1e-6
    )
    imp = permutation_importances(pipe, X, y, task="survival", n_repeats=3)
    assert imp["feature"].iloc[0] == "pnodes"  # positive nodes: GBSG2's strongest prognostic
