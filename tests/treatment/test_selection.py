"""Model selection by the nearest-neighbour PEHE (Shalit et al. 2017) on a validation split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.treatment import (
    SLearner,
    TLearner,
    nn_imputed_effect,
    pehe_nn,
    select_by_validation,
)
from tests.conftest import require_dataset


def test_nn_imputed_effect_known_answer() -> None:
    # two controls at x=0 (y=1) and x=10 (y=5); one treated at x=9 (y=8), one at x=1 (y=2)
    X = np.array([[0.0], [10.0], [9.0], [1.0]])
    t = np.array([0, 0, 1, 1])
    y = np.array([1.0, 5.0, 8.0, 2.0])
    # control 0 -> treated at 1 (y=2): -(1-2)=1; control 10 -> treated at 9: -(5-8)=3;
    # treated 9 -> control at 10: 8-5=3; treated 1 -> control at 0: 2-1=1
    np.testing.assert_allclose(nn_imputed_effect(X, t, y), [1.0, 3.0, 3.0, 1.0])
    assert pehe_nn([1.0, 3.0, 3.0, 1.0], X, t, y) == 0.0
    assert pehe_nn([2.0, 2.0, 2.0, 2.0], X, t, y) == pytest.approx(1.0)
    # a pool gives closer neighbours: the treated at x=1 now meets a control at x=1.5 (y=1.8)
    pool = {"X_pool": np.vstack([X, [[1.5]]]), "t_pool": np.r_[t, 0], "y_pool": np.r_[y, 1.8]}
    assert nn_imputed_effect(X, t, y, **pool)[3] == pytest.approx(0.2)
    with pytest.raises(DataFormatError, match="effect has 3 values; expected one per patient"):
        pehe_nn([1.0, 2.0, 3.0], X, t, y)
    with pytest.raises(ConfigError, match="given together"):
        nn_imputed_effect(X, t, y, X_pool=X)


def test_pehe_nn_ranks_the_true_effect_first_on_ihdp() -> None:
    require_dataset("ihdp")
    d = load_dataset("ihdp", realisation=1)
    X, tau = d.X.to_numpy(), d.true_effect
    truth = pehe_nn(tau, X, d.t, d.y)
    assert truth < pehe_nn(np.zeros_like(tau), X, d.t, d.y)
    assert truth < pehe_nn(np.full_like(tau, tau.mean() + 2.0), X, d.t, d.y)


def test_select_by_validation_picks_the_better_model_and_refits_it() -> None:
    require_dataset("ihdp")
    d = load_dataset("ihdp", realisation=1)
    X = d.X.to_numpy()
    no_effect = SLearner(model=DummyRegressor(), n_bootstrap=0)  # predicts a zero effect
    linear = TLearner(model=LinearRegression(), n_bootstrap=0)
    sel = select_by_validation({"none": no_effect, "ols-2": linear}, X, d.t, d.y)
    assert sel.best == "ols-2"
    assert set(sel.scores) == {"none", "ols-2"}
    assert sel.scores["ols-2"] < sel.scores["none"]
    # the chosen model is refitted on all rows: its error against the truth is that of a fresh fit
    fresh = TLearner(model=LinearRegression(), n_bootstrap=0).fit(X, d.t, d.y)
    np.testing.assert_allclose(sel.estimator.effect(X), fresh.effect(X))
    assert not hasattr(linear, "n_features_in_")  # candidates are cloned, never fitted in place
    with pytest.raises(ConfigError, match="candidates is empty"):
        select_by_validation({}, X, d.t, d.y)
    with pytest.raises(ConfigError, match="val_fraction must be a float in"):
        select_by_validation({"ols-2": linear}, X, d.t, d.y, val_fraction=1.5)
