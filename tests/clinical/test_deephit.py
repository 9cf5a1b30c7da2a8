"""DeepHit (src/precisionmed/clinical/deephit.py): discretisation, loss, API, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("sksurv")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from precisionmed.clinical.deephit import DeepHit, deephit_loss, discretise, time_grid  # noqa: E402
from precisionmed.clinical.preprocess import make_preprocessor  # noqa: E402
from precisionmed.data import load_dataset  # noqa: E402
from precisionmed.errors import ConfigError  # noqa: E402
from tests.clinical.survival_invariants import assert_survival_invariants  # noqa: E402


def _reference_loss(logits: np.ndarray, idx: np.ndarray, event: np.ndarray, alpha, sigma):
    """DeepHit's loss written out with loops, straight from Lee et al. (2018) eqs. 2-3."""
    n, m = logits.shape
    z = np.concatenate([logits, np.zeros((n, 1))], axis=1)
    pmf = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    cdf = np.cumsum(pmf, axis=1)
    nll = 0.0
    for i in range(n):
        nll -= math.log(pmf[i, idx[i]]) if event[i] else math.log(1.0 - cdf[i, idx[i]])
    nll /= n
    rank = 0.0
    for i in range(n):
        for j in range(n):
            later = idx[i] < idx[j] or (idx[i] == idx[j] and not event[j])
            if event[i] and later:
                rank += math.exp(-(cdf[i, idx[i]] - cdf[j, idx[i]]) / sigma)
    rank /= n * n
    return alpha * nll + (1 - alpha) * rank


def test_loss_matches_reference() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4))
    idx = np.array([0, 1, 1, 2, 3, 3])
    event = np.array([1, 1, 0, 1, 0, 1])
    target = torch.tensor(np.column_stack([idx, event]), dtype=torch.float64)
    ours = deephit_loss(torch.tensor(logits), target, alpha=0.3, sigma=0.5)
    assert float(ours) == pytest.approx(_reference_loss(logits, idx, event, 0.3, 0.5), rel=1e-10)


def test_loss_uniform_known_value() -> None:
    # Uniform mass over 2 grid points + "after": an event at index 1 has p = 1/3; a censoring
    # at index 0 survives past it with 2/3; no comparable pair -> no ranking term.
    target = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    loss = deephit_loss(torch.zeros(2, 2), target, alpha=1.0)
    assert float(loss) == pytest.approx((math.log(3) + math.log(1.5)) / 2)


def test_grid_and_discretisation() -> None:
    time = np.array([0.0, 2.5, 5.0, 7.5, 10.0])
    event = np.array([True, True, False, True, False])
    grid = time_grid(time, event, 5, "equidistant")
    np.testing.assert_allclose(grid, [0.0, 2.5, 5.0, 7.5, 10.0])
    # events round up to the grid point that ends their interval, censorings round down
    np.testing.assert_array_equal(
        discretise(grid, np.array([1.0, 1.0, 10.0]), np.array([True, False, True])), [1, 0, 4]
    )
    q = time_grid(time, event, 4, "quantiles")
    assert len(q) == 4
    assert q[0] == 0.0
    assert q[-1] == 10.0
    assert np.all(np.diff(q) > 0)


@pytest.fixture(scope="module")
def gbsg2_fit():
    data = load_dataset("gbsg2")
    Xtr, Xte, ytr, yte = train_test_split(
        data.X, data.y, test_size=0.25, random_state=0, stratify=data.y["event"]
    )
    pipe = make_pipeline(
        make_preprocessor(data.feature_types),
        DeepHit(num_durations=20, max_epochs=30, patience=6, batch_size=256, lr=3e-3),
    ).fit(Xtr, ytr)
    return pipe, Xte, yte


def test_gbsg2_cindex_and_invariants(gbsg2_fit) -> None:
    pipe, Xte, yte = gbsg2_fit
    assert pipe.score(Xte, yte) > 0.62
    model, Z = pipe[-1], pipe[:-1].transform(Xte)
    assert_survival_invariants(model, Z)
    assert len(model.unique_times_) == 20
    np.testing.assert_array_equal(model.unique_times_, model.time_grid_)
    chf = model.predict_cumulative_hazard_function(Z[:4], return_array=True)
    np.testing.assert_allclose(np.exp(-chf), model.predict_survival_function(Z[:4], True))


def test_risk_is_summed_cumulative_incidence(gbsg2_fit) -> None:
    """The risk is the cumulative incidence summed over the grid; it orders patients much like
    minus the restricted mean survival time."""
    from scipy.stats import spearmanr

    pipe, Xte, _ = gbsg2_fit
    model, Z = pipe[-1], pipe[:-1].transform(Xte)
    surv = model.predict_survival_function(Z, return_array=True)
    risk = model.predict(Z)
    np.testing.assert_allclose(risk, (1.0 - surv).sum(axis=1))
    rmst = (surv[:, :-1] * np.diff(model.time_grid_)).sum(axis=1)
    assert spearmanr(risk, -rmst).statistic > 0.9


def test_params_and_errors() -> None:
    est = DeepHit(alpha=0.5)
    assert clone(est).get_params()["alpha"] == 0.5
    X = np.random.default_rng(0).normal(size=(30, 2))
    from sksurv.util import Surv

    y = Surv.from_arrays(np.arange(30) % 3 != 0, np.arange(1, 31.0))
    with pytest.raises(
        ConfigError, match=r"'alpha' parameter of DeepHit must be a float in \(0, 1\]"
    ):
        DeepHit(alpha=0.0).fit(X, y)
    with pytest.raises(ConfigError, match="'num_durations' parameter of DeepHit must be an int"):
        DeepHit(num_durations=1).fit(X, y)
    with pytest.raises(ConfigError, match="'discretization'.*Got 'log'"):
        DeepHit(discretization="log").fit(X, y)
    model = DeepHit(max_epochs=2, patience=1, num_durations=5).fit(X, y)
    assert model.predict(X).shape == (30,)
