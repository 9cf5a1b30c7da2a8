"""Seed ensembles of survival models."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.clinical.ensemble import SurvivalEnsemble
from precisionmed.clinical.models import make_pipeline
from precisionmed.errors import ConfigError
from tests.clinical.survival_invariants import assert_survival_invariants


@pytest.fixture(scope="module")
def gbsg2():
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    types = {c: "categorical" if X[c].dtype == "category" else "numeric" for c in X.columns}
    return X, y, types


def test_ensemble_averages_its_members(gbsg2):
    X, y, types = gbsg2
    pipe = make_pipeline("deepsurv-ensemble", types, n_members=2, max_epochs=3, random_state=7)
    pipe.fit(X, y)
    ens = pipe[-1]
    assert [m.random_state for m in ens.estimators_] == [7, 8]
    Xt = pipe[:-1].transform(X.head(20))
    np.testing.assert_allclose(
        ens.predict(Xt), (ens.estimators_[0].predict(Xt) + ens.estimators_[1].predict(Xt)) / 2
    )
    assert_survival_invariants(ens, Xt)
    grid = ens.unique_times_[[0, len(ens.unique_times_) // 2, -1]]
    members = [
        np.vstack([f(np.clip(grid, *f.domain)) for f in m.predict_survival_function(Xt)])
        for m in ens.estimators_
    ]
    np.testing.assert_allclose(
        ens.predict_survival_function(Xt, return_array=True)[
            :, [0, len(ens.unique_times_) // 2, -1]
        ],
        (members[0] + members[1]) / 2,
        atol=1e-12,
    )
    assert 0.5 < pipe.score(X, y) <= 1.0


def test_ensemble_checks_its_parameters(gbsg2):
    X, y, _ = gbsg2
    Xn = X.select_dtypes("number")
    with pytest.raises(ConfigError, match="'n_members' parameter of SurvivalEnsemble"):
        SurvivalEnsemble(make_pipeline("deepsurv", {"age": "numeric"})[-1], n_members=0).fit(Xn, y)
    with pytest.raises(ConfigError, match="must be a survival model"):
        SurvivalEnsemble(None).fit(Xn, y)


def test_mixed_members_percentile_risk_and_selection(gbsg2):
    from precisionmed.clinical.deephit import DeepHit
    from precisionmed.clinical.deepsurv import DeepSurv
    from precisionmed.clinical.preprocess import make_preprocessor

    X, y, types = gbsg2
    Z = make_preprocessor(types).fit_transform(X)
    fast = {"max_epochs": 4, "patience": 2, "batch_size": 256}
    candidates = [DeepSurv(**fast), DeepHit(num_durations=10, **fast)]
    ens = SurvivalEnsemble(candidates, n_members=4, random_state=3, risk="percentile").fit(Z, y)
    assert [type(m).__name__ for m in ens.estimators_] == ["DeepSurv", "DeepHit"] * 2
    risk = ens.predict(Z[:30])
    assert risk.min() >= 0.0
    assert risk.max() <= 1.0
    # each member's risk as its mid-rank among that member's own training risks, averaged
    pcts = []
    for k, member in enumerate(ens.estimators_):
        ref = np.sort(member.predict(Z))
        np.testing.assert_allclose(ens.train_risks_[k], ref)
        r = member.predict(Z[:30])
        pcts.append((np.searchsorted(ref, r, "left") + np.searchsorted(ref, r, "right")) / 2)
    np.testing.assert_allclose(risk, np.mean(pcts, axis=0) / len(Z))
    np.testing.assert_allclose(ens.predict(Z[:5]), ens.predict(Z[:30])[:5])  # per-patient score
    assert_survival_invariants(ens, Z[:20])
    assert 0.55 < ens.score(Z, y) <= 1.0

    sel = SurvivalEnsemble(candidates, n_members=4, random_state=3, select="val_cindex").fit(Z, y)
    assert sel.candidate_scores_.shape == (2,)
    assert sel.selected_ == int(np.argmax(sel.candidate_scores_))
    kept = type(candidates[sel.selected_]).__name__
    assert [type(m).__name__ for m in sel.estimators_] == [kept, kept]
    assert [m.random_state for m in sel.estimators_] == [3 + sel.selected_, 5 + sel.selected_]
    with pytest.raises(ConfigError, match="'risk' parameter of SurvivalEnsemble"):
        SurvivalEnsemble(candidates, risk="median").fit(Z, y)
    with pytest.raises(ConfigError, match="'select' parameter of SurvivalEnsemble"):
        SurvivalEnsemble(candidates, select="loss").fit(Z, y)
    with pytest.raises(ConfigError, match="at least the number of candidates"):
        SurvivalEnsemble(candidates, n_members=1, select="val_cindex").fit(Z, y)
