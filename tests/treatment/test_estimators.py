"""Known-answer and contract tests of the treatment-effect estimators."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from precisionmed.errors import ConfigError, DataFormatError, NotFittedError
from precisionmed.treatment import CFR, DragonNet, SLearner, TARNet, TLearner, XLearner

TINY_NET = {
    "rep_layers": (32, 32),
    "head_layers": (16,),
    "max_epochs": 25,
    "patience": 10,
    "batch_size": 64,
    "lr": 3e-3,
    "n_members": 2,
}


def simulated(heterogeneous: bool, n: int = 500, seed: int = 0):
    """Confounded observational table with a known effect: t depends on x0, which also moves y.

    Constant effect 2; heterogeneous effect 1 + x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    tau = 1.0 + X[:, 1] if heterogeneous else np.full(n, 2.0)
    y = X[:, 0] + 0.5 * X[:, 2] + t * tau + 0.1 * rng.normal(size=n)
    return X, t, y, tau


LEARNERS = {
    "s-learner": lambda: SLearner(n_bootstrap=4),
    "t-learner": lambda: TLearner(n_bootstrap=4),
    "x-learner": lambda: XLearner(n_bootstrap=4),
    "tarnet": lambda: TARNet(**TINY_NET),
    "cfr-wass": lambda: CFR(ipm="wass", alpha=0.3, **TINY_NET),
    "cfr-mmd": lambda: CFR(ipm="mmd", alpha=0.3, **TINY_NET),
    "dragonnet": lambda: DragonNet(**TINY_NET),
}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_each_learner_recovers_a_heterogeneous_effect(name: str) -> None:
    X, t, y, tau = simulated(heterogeneous=True)
    est = LEARNERS[name]().fit(X, t, y)
    effect = est.effect(X)
    assert abs(effect.mean() - tau.mean()) < 0.25
    assert np.sqrt(np.mean((effect - tau) ** 2)) < 0.5  # the effect has sd 1
    assert np.corrcoef(effect, tau)[0, 1] > 0.8
    iv = est.effect_interval(X, alpha=0.1)
    assert iv.shape == (len(X), 2)
    assert np.all(iv[:, 0] <= effect + 1e-9)
    assert np.all(effect <= iv[:, 1] + 1e-9)
    po = est.potential_outcomes(X)
    np.testing.assert_allclose(po[:, 1] - po[:, 0], effect, atol=1e-9)


def test_a_constant_effect_is_recovered_with_intervals_near_their_coverage() -> None:
    # 12 simulated tables: the 95% bootstrap interval of the ATE covers the true 2.0 in at
    # least 9 (at 90% coverage, 8 or fewer has probability 0.03); each estimate is close.
    covered, errors = 0, []
    for seed in range(10, 22):
        X, t, y, _ = simulated(heterogeneous=False, n=300, seed=seed)
        est = TLearner(model=LinearRegression(), n_bootstrap=30).fit(X, t, y)
        ate, low, high = est.ate_interval(X)
        covered += low <= 2.0 <= high
        errors.append(abs(ate - 2.0))
    assert covered >= 9
    assert max(errors) < 0.06


def test_wider_coverage_gives_wider_intervals() -> None:
    X, t, y, _ = simulated(heterogeneous=True, n=300)
    est = TLearner(model=LinearRegression(), n_bootstrap=10).fit(X, t, y)
    w90 = np.diff(est.effect_interval(X[:20], alpha=0.1), axis=1)
    w50 = np.diff(est.effect_interval(X[:20], alpha=0.5), axis=1)
    assert np.all(w90 >= w50 - 1e-12)
    assert np.mean(w90) > np.mean(w50)


def test_inputs_and_parameters_are_checked_at_fit() -> None:
    X, t, y, _ = simulated(heterogeneous=False, n=100)
    with pytest.raises(DataFormatError, match=r"t must be 0 \(control\) or 1 \(treated\)"):
        TLearner().fit(X, t * 2 + 1, y)
    y_bad = y.copy()
    y_bad[7] = np.nan
    with pytest.raises(DataFormatError, match="y has a missing or non-finite value in row 7"):
        SLearner().fit(X, t, y_bad)
    with pytest.raises(ConfigError, match="'n_bootstrap' parameter of TLearner"):
        TLearner(n_bootstrap=1).fit(X, t, y)
    with pytest.raises(ConfigError, match="'ipm' parameter of CFR must be one of"):
        CFR(ipm="kl").fit(X, t, y)
    with pytest.raises(NotFittedError, match="TARNet instance is not fitted"):
        TARNet().effect(X)
    with pytest.raises(ConfigError, match="n_members=1: no intervals"):
        TARNet(n_members=1, max_epochs=1, rep_layers=(4,), head_layers=(4,)).fit(
            X, t, y
        ).effect_interval(X)
