"""DeepSurv (src/precisionmed/clinical/deepsurv.py): loss, API, invariants, known answers."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("sksurv")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sksurv.linear_model import CoxPHSurvivalAnalysis  # noqa: E402

from precisionmed.clinical.deepsurv import (  # noqa: E402
    CoxRankLoss,
    DeepSurv,
    cox_ph_loss,
    pairwise_rank_loss,
)
from precisionmed.clinical.preprocess import make_preprocessor  # noqa: E402
from precisionmed.data import load_dataset  # noqa: E402
from precisionmed.errors import ConfigError  # noqa: E402
from tests.clinical.survival_invariants import assert_survival_invariants  # noqa: E402

FAST = {"max_epochs": 30, "patience": 6, "batch_size": 256, "lr": 3e-3}


@pytest.fixture(scope="module")
def gbsg2():
    data = load_dataset("gbsg2")
    Xtr, Xte, ytr, yte = train_test_split(
        data.X, data.y, test_size=0.25, random_state=0, stratify=data.y["event"]
    )
    return data, Xtr, Xte, ytr, yte


@pytest.fixture(scope="module")
def fitted(gbsg2):
    data, Xtr, Xte, ytr, yte = gbsg2
    model = make_pipeline(make_preprocessor(data.feature_types), DeepSurv(**FAST))
    return model.fit(Xtr, ytr)


def test_cox_loss_gradient_vanishes_at_sksurv_optimum(gbsg2) -> None:
    """Known answer: scikit-survival's CoxPH (Breslow ties, no penalty) maximises the same
    partial likelihood, so our loss's gradient at its coefficients is ~0."""
    data, Xtr, _, ytr, _ = gbsg2
    numeric = {c: t for c, t in data.feature_types.items() if t == "numeric"}
    X = make_preprocessor(numeric).fit_transform(Xtr)
    cox = CoxPHSurvivalAnalysis(ties="breslow", alpha=0.0).fit(X, ytr)
    w = torch.tensor(cox.coef_, dtype=torch.float64, requires_grad=True)
    target = torch.tensor(np.column_stack([ytr["time"], ytr["event"]]), dtype=torch.float64)
    loss = cox_ph_loss(torch.tensor(X) @ w, target)
    loss.backward()
    assert w.grad is not None
    assert float(w.grad.abs().max()) < 1e-4
    w0 = torch.zeros_like(w)
    assert float(cox_ph_loss(torch.tensor(X) @ w0, target)) > loss.item()


def test_cox_loss_ties_and_no_events() -> None:
    # Two tied events at t=1 with equal risk, one later censoring: each event's risk set is all
    # three (Breslow), so the loss is log(3) exactly.
    target = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    assert float(cox_ph_loss(torch.zeros(3), target)) == pytest.approx(np.log(3))
    none = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert float(cox_ph_loss(torch.ones(2), none)) == 0.0


def test_holdout_cindex_in_band_of_coxph(gbsg2, fitted) -> None:
    """Known answer: on GBSG2, DeepSurv's held-out C-index is in a sane band of CoxPH's."""
    data, Xtr, Xte, ytr, yte = gbsg2
    cox = make_pipeline(make_preprocessor(data.feature_types), CoxPHSurvivalAnalysis(alpha=1e-4))
    c_cox = cox.fit(Xtr, ytr).score(Xte, yte)
    c_deep = fitted.score(Xte, yte)
    assert 0.62 < c_cox < 0.75
    assert abs(c_deep - c_cox) < 0.05, (c_deep, c_cox)


def test_survival_invariants(gbsg2, fitted) -> None:
    _, _, Xte, _, _ = gbsg2
    model = fitted[-1]
    Z = fitted[:-1].transform(Xte)
    assert_survival_invariants(model, Z)
    assert model.unique_times_.shape == model.baseline_.unique_times_.shape
    chf = model.predict_cumulative_hazard_function(Z[:3], return_array=True)
    surv = model.predict_survival_function(Z[:3], return_array=True)
    np.testing.assert_allclose(surv, np.exp(-chf), rtol=1e-10)


def test_trained_through_engine_with_early_stopping(fitted) -> None:
    model = fitted[-1]
    assert model.n_epochs_ <= FAST["max_epochs"]
    assert model.best_epoch_ is not None
    assert {"train_loss", "val_loss", "val_cindex"} <= set(model.history_[-1])
    assert len(np.intersect1d(model.train_indices_, model.val_indices_)) == 0


def test_pipeline_gridsearch_and_cross_val_score(gbsg2) -> None:
    """Issue requirement: DeepSurv inside a Pipeline with GridSearchCV and cross_val_score."""
    data, Xtr, _, ytr, _ = gbsg2
    pipe = make_pipeline(
        make_preprocessor(data.feature_types),
        DeepSurv(max_epochs=8, patience=3, batch_size=256, lr=1e-2),
    )
    cv = KFold(2, shuffle=True, random_state=0)
    grid = GridSearchCV(pipe, {"deepsurv__hidden_layers": [(8,), (16, 16)]}, cv=cv)
    grid.fit(Xtr, ytr)
    assert grid.best_params_["deepsurv__hidden_layers"] in [(8,), (16, 16)]
    assert 0.6 < grid.best_score_ < 0.8
    scores = cross_val_score(pipe, Xtr, ytr, cv=cv)
    assert scores.shape == (2,)
    assert np.all((scores > 0.6) & (scores < 0.85))


def test_params_clone_and_reproducibility(gbsg2) -> None:
    data, Xtr, Xte, ytr, _ = gbsg2
    est = DeepSurv(hidden_layers=(8,), max_epochs=5, patience=2, random_state=3)
    assert est.get_params()["hidden_layers"] == (8,)
    assert clone(est).set_params(lr=0.01).get_params()["lr"] == 0.01
    assert est.lr == 1e-3
    pre = make_preprocessor(data.feature_types).fit(Xtr)
    Xa, Xb = pre.transform(Xtr), pre.transform(Xte)
    a = clone(est).fit(Xa, ytr).predict(Xb)
    b = clone(est).fit(Xa, ytr).predict(Xb)
    np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_has_no_torch_state(fitted, gbsg2) -> None:
    _, _, Xte, _, _ = gbsg2
    Z = fitted[:-1].transform(Xte)
    model = fitted[-1]
    state = model.__getstate__()
    assert "net_" not in state
    assert all(isinstance(v, np.ndarray) for v in state["_net_state"].values())
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(Z), model.predict(Z), rtol=1e-6)
    np.testing.assert_allclose(
        again.predict_survival_function(Z, return_array=True),
        model.predict_survival_function(Z, return_array=True),
        rtol=1e-6,
    )


def test_errors_name_parameter_and_expectation() -> None:
    X = np.random.default_rng(0).normal(size=(20, 3))
    from sksurv.util import Surv

    y = Surv.from_arrays(np.arange(20) % 2 == 0, np.arange(1, 21.0))
    with pytest.raises(
        ConfigError, match=r"The 'dropout' parameter of DeepSurv must be a float in \[0, 1\)\. "
    ):
        DeepSurv(dropout=1.5).fit(X, y)
    with pytest.raises(ConfigError, match="'ema_decay' parameter of DeepSurv must be None or"):
        DeepSurv(ema_decay=1.0).fit(X, y)
    with pytest.raises(ConfigError, match="'hidden_layers'.*Got \\(8, 0\\)"):
        DeepSurv(hidden_layers=(8, 0)).fit(X, y)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DeepSurv().predict(X)
    with pytest.raises(ValueError, match="structured array"):
        DeepSurv(max_epochs=1).fit(X, np.arange(20))
    model = DeepSurv(max_epochs=2, patience=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but DeepSurv is expecting 3"):
        model.predict(X[:, :2])


def test_skops_round_trip_needs_no_torch_types(fitted, gbsg2) -> None:
    """Artefacts are stored with skops: the fitted pipeline holds no torch objects to trust."""
    sio = pytest.importorskip("skops.io")
    _, _, Xte, _, yte = gbsg2
    blob = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=blob)
    assert not [t for t in untrusted if t.startswith("torch")]
    again = sio.loads(blob, trusted=untrusted)
    np.testing.assert_allclose(again.predict(Xte), fitted.predict(Xte), rtol=1e-6)
    assert again.score(Xte, yte) == pytest.approx(fitted.score(Xte, yte))


def test_input_bins_fit_pickle_and_errors(gbsg2) -> None:
    """The piecewise-linear input encoding: edges from the training data, saved with the net."""
    data, Xtr, Xte, ytr, yte = gbsg2
    pipe = make_pipeline(
        make_preprocessor(data.feature_types), DeepSurv(input_bins=8, batch_norm=True, **FAST)
    ).fit(Xtr, ytr)
    model = pipe[-1]
    Z = pipe[:-1].transform(Xte)
    assert isinstance(model.input_edges_, np.ndarray)
    assert model.input_edges_.shape == (
        Z.shape[1],
        9,
    )
    np.testing.assert_allclose(
        model.input_edges_[:, [0, -1]],
        np.column_stack([pipe[:-1].transform(Xtr).min(0), pipe[:-1].transform(Xtr).max(0)]),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    assert pipe.score(Xte, yte) > 0.6
    again = pickle.loads(pickle.dumps(model))
    assert all(isinstance(v, np.ndarray) for v in model.__getstate__()["_net_state"].values())
    np.testing.assert_allclose(again.predict(Z), model.predict(Z), rtol=1e-6)
    with pytest.raises(ConfigError, match="'input_bins' parameter of DeepSurv must be 0 or an int"):
        DeepSurv(input_bins=1).fit(Z, yte)


def test_skip_linear_starts_as_cox_and_round_trips(gbsg2) -> None:
    """``skip_linear``: g(x) = linear(x) + MLP(x), the MLP's output layer starting at zero
    (an untrained net is a linear predictor); with or without binned inputs; pickles."""
    from precisionmed.clinical.nets import WideAndDeep, encoded_mlp

    net = encoded_mlp(3, 0, None, (8,), 1, skip_linear=True)
    assert isinstance(net, WideAndDeep)
    x = torch.randn(5, 3)
    torch.testing.assert_close(net(x), net.linear(x))
    edges = np.tile(np.linspace(-1, 1, 5, dtype=np.float32), (3, 1))
    assert encoded_mlp(3, 4, edges, (8,), 1, skip_linear=True)(x).shape == (5, 1)
    data, Xtr, Xte, ytr, yte = gbsg2
    pipe = make_pipeline(
        make_preprocessor(data.feature_types), DeepSurv(skip_linear=True, **FAST)
    ).fit(Xtr, ytr)
    model = pipe[-1]
    assert isinstance(model.net_, WideAndDeep)
    assert pipe.score(Xte, yte) > 0.6
    Z = pipe[:-1].transform(Xte)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(Z), model.predict(Z), rtol=1e-6)
    assert not isinstance(DeepSurv(**FAST).fit(Z, yte).net_, WideAndDeep)  # default off


def test_linear_init_cox_all_starts_at_ridge_cox(gbsg2) -> None:
    """``linear_init="cox-all"``: the linear term starts at scikit-survival's ridge Cox fit on
    all rows (the early-stopping carve-out included); errors name the values."""
    from precisionmed.clinical.deepsurv import COX_INIT_ALPHA

    data, Xtr, Xte, ytr, yte = gbsg2
    Z = make_preprocessor(data.feature_types).fit_transform(Xtr)
    model = DeepSurv(skip_linear=True, linear_init="cox-all", **{**FAST, "max_epochs": 1})
    model.net_ = model._build_net(Z.shape[1])
    targets = np.column_stack([ytr["time"], ytr["event"]])
    model._init_net(Z, targets, np.arange(len(Z))[: int(0.8 * len(Z))])
    cox = CoxPHSurvivalAnalysis(alpha=COX_INIT_ALPHA, ties="efron").fit(Z, ytr)
    np.testing.assert_allclose(
        model.net_.linear.weight.detach().numpy()[0], cox.coef_, rtol=1e-4, atol=1e-5
    )
    for bad in ("ols", "cox"):  # "cox" (the training part only) was not adopted: removed
        with pytest.raises(ConfigError, match="'linear_init' parameter of DeepSurv must be one of"):
            DeepSurv(skip_linear=True, linear_init=bad).fit(Z, ytr)


def test_sgd_nesterov_is_deepsurvs_optimiser_and_learns(gbsg2) -> None:
    data, Xtr, Xte, ytr, yte = gbsg2
    est = DeepSurv(**{**FAST, "lr": 1e-2}, optimizer="sgd-nesterov")
    config = est._train_config(0, "val_loss", "min")
    assert (config.optimizer, config.nesterov, config.momentum) == ("sgd", True, 0.9)
    model = make_pipeline(make_preprocessor(data.feature_types), est).fit(Xtr, ytr)
    assert model.score(Xte, yte) > 0.62  # CoxPH's band on this split (see above)
    with pytest.raises(ConfigError, match="'optimizer' parameter of DeepSurv must be one of"):
        DeepSurv(optimizer="nesterov").fit(Xtr.select_dtypes("number").to_numpy(), ytr)


def test_pairwise_rank_loss_known_answer_and_bounds_cindex(monkeypatch) -> None:
    """Harrell's comparable pairs as scikit-survival counts them (an event before the other's
    time, or at the time of the other's censoring), each ``log(1 + exp(-(g_i - g_j)))``;
    ``1 - loss / log 2`` bounds Harrell's C from below (Raykar et al. 2007)."""
    from sksurv.metrics import concordance_index_censored

    # events at t=1, t=3 and t=5 (tied with a censoring), censored at t=2, 4, 3 (tied), 5
    target = torch.tensor(
        [[1.0, 1.0], [2.0, 0.0], [3.0, 1.0], [4.0, 0.0], [3.0, 0.0], [5.0, 1.0], [5.0, 0.0]]
    )
    risk = torch.tensor([2.0, 0.5, 1.0, -1.0, 0.0, -0.5, 0.3])
    # (i with the event, j later or censored at the same time); two events never tie here
    pairs = [(0, j) for j in range(1, 7)] + [(2, 3), (2, 4), (2, 5), (2, 6), (5, 6)]
    expected = np.mean([np.log1p(np.exp(-(risk[i] - risk[j]).item())) for i, j in pairs])
    assert float(pairwise_rank_loss(risk, target)) == pytest.approx(expected, rel=1e-6)
    event, time = target[:, 1].numpy().astype(bool), target[:, 0].numpy()
    c_index, concordant, discordant, *_ = concordance_index_censored(event, time, risk.numpy())
    assert concordant + discordant == len(pairs)  # the same pairs (no tied risks here)
    assert c_index >= 1 - expected / np.log(2)
    ordered = -target[:, 0] + 0.5 * target[:, 1]  # earlier first, an event before a censoring
    assert float(pairwise_rank_loss(ordered * 50, target)) < 1e-6  # every pair concordant
    assert float(pairwise_rank_loss(-ordered * 50, target)) > 10  # every pair reversed
    none = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    from precisionmed.clinical import deepsurv

    monkeypatch.setattr(deepsurv, "_PAIR_BLOCK", 8)  # blocks of one or two rows: same loss
    assert float(pairwise_rank_loss(risk, target)) == pytest.approx(expected, rel=1e-6)
    monkeypatch.undo()
    zero = pairwise_rank_loss(torch.ones(2, requires_grad=True), none)
    assert zero.requires_grad
    assert float(zero.detach()) == 0.0
    combined = CoxRankLoss(3.0)(risk, target)
    assert float(combined) == pytest.approx(
        float(cox_ph_loss(risk, target)) + 3.0 * expected, rel=1e-6
    )


def test_rank_weight_trains_ordering_and_keeps_survival_api(gbsg2) -> None:
    """``rank_weight``: the ranking term is in the trained loss (the training loss exceeds the
    partial likelihood alone), held-out C stays in CoxPH's band, curves stay valid."""
    data, Xtr, Xte, ytr, yte = gbsg2
    est = DeepSurv(rank_weight=3.0, **FAST)
    pipe = make_pipeline(make_preprocessor(data.feature_types), est).fit(Xtr, ytr)
    model = pipe[-1]
    assert pipe.score(Xte, yte) > 0.62
    assert_survival_invariants(model, pipe[:-1].transform(Xte))
    Z = pipe[:-1].transform(Xtr)
    with torch.no_grad():
        g = torch.as_tensor(model.predict(Z))
    target = torch.as_tensor(np.column_stack([ytr["time"], ytr["event"]]))
    assert float(pairwise_rank_loss(g, target)) > 0
    assert clone(est).get_params()["rank_weight"] == 3.0
    y = ytr[:40]
    with pytest.raises(
        ConfigError, match="'rank_weight' parameter of DeepSurv must be a float >= 0"
    ):
        DeepSurv(rank_weight=-1.0).fit(Z[:40], y)


def test_diverged_training_is_one_clear_warning_not_numpy_noise(gbsg2) -> None:
    data, Xtr, _, ytr, _ = gbsg2
    model = make_pipeline(
        make_preprocessor(data.feature_types), DeepSurv(**{**FAST, "lr": 1000.0, "max_epochs": 5})
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(Xtr, ytr)
    messages = [(w.category, str(w.message)) for w in caught]
    assert [c for c, _ in messages] == [ConvergenceWarning], messages
    assert "training diverged" in messages[0][1]
    assert "Lower lr (now 1000.0)" in messages[0][1]
    # a sound fit says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_pipeline(make_preprocessor(data.feature_types), DeepSurv(**FAST)).fit(Xtr, ytr)
