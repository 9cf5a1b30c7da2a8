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
