"""TARNet, CFR and DragonNet: representation networks with one outcome head per arm.

- **TARNet** (Shalit et al. 2017): a shared representation ``phi(x)`` and two heads
  ``h0(phi)``, ``h1(phi)``; the loss is the squared error of the factual head only.
- **CFR** (Shalit et al. 2017): TARNet plus ``alpha`` times an integral probability metric
  between the treated and control patients' representations in the batch: the Wasserstein
  distance (Sinkhorn approximation, ``ipm="wass"``) or the maximum mean discrepancy with a
  Gaussian kernel (``ipm="mmd"``), each with the arms weighted half and half.
- **DragonNet** (Shi et al. 2019): TARNet plus a propensity head ``g(phi)`` trained with
  cross-entropy (weight ``alpha``) and the targeted-regularisation term (weight ``beta``):
  the squared error of ``y_hat + eps * (t / g - (1 - t) / (1 - g))`` with ``eps`` a learned
  scalar.

Each estimator is a seed ensemble of ``n_members`` networks trained through the engine
(:class:`~precisionmed.train.estimator.TorchEstimatorBase`: early stopping on the factual
squared error of a validation split of the training data). Its prediction is the members' mean;
its intervals are the members' mean plus or minus Student's t quantile times their standard
deviation (a deep-ensemble interval of the model's uncertainty, Lakshminarayanan et al. 2017).
Covariates and outcome are standardised inside the estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.train.estimator import TorchEstimatorBase, check_param, is_int
from precisionmed.treatment.base import CATEEstimator, check_fit_inputs, check_predict_inputs

IPMS = ("wass", "mmd")


def _mlp(n_in: int, layers: Sequence[int], dropout: float) -> tuple[nn.Sequential, int]:
    mods: list[nn.Module] = []
    for width in layers:
        mods += [nn.Linear(n_in, int(width)), nn.ELU()]
        if dropout:
            mods.append(nn.Dropout(dropout))
        n_in = int(width)
    return nn.Sequential(*mods), n_in


class TwoHeadNet(nn.Module):
    """``phi = rep(x)``; outputs ``[h0(phi), h1(phi), (g_logit, eps), phi]`` along dim 1.

    Parameters
    ----------
    n_inputs : int
    rep_layers, head_layers : sequence of int
        Widths of the representation's and of each head's hidden layers (ELU).
    dropout : float
    propensity : bool
        Add DragonNet's propensity logit and its targeted-regularisation ``eps``.

    Output: tensor of shape (B, 2 [+ 2] + rep_width).
    """

    def __init__(
        self,
        n_inputs: int,
        rep_layers: Sequence[int],
        head_layers: Sequence[int],
        dropout: float = 0.0,
        propensity: bool = False,
    ) -> None:
        super().__init__()
        self.rep, width = _mlp(n_inputs, rep_layers, dropout)
        heads = []
        for _ in range(2):
            body, w = _mlp(width, head_layers, dropout)
            heads.append(nn.Sequential(*body, nn.Linear(w, 1)))
        self.heads = nn.ModuleList(heads)
        self.propensity = propensity
        if propensity:
            self.g = nn.Linear(width, 1)
            self.eps = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phi = self.rep(x)
        out = [head(phi) for head in self.heads]
        if self.propensity:
            out += [self.g(phi), self.eps.expand(len(x), 1)]
        return torch.cat([*out, phi], dim=1)


def factual_mse(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the factual head; ``target`` columns: ``t``, ``y``."""
    t, y = target[:, 0], target[:, 1]
    pred = torch.where(t > 0.5, outputs[:, 1], outputs[:, 0])
    return torch.mean((pred - y) ** 2)


def _pdist2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)).clamp_min(0.0)


def wasserstein(phi_t: torch.Tensor, phi_c: torch.Tensor, lam: float = 10.0, its: int = 10):
    """Sinkhorn approximation of the Wasserstein-1 distance between two point sets, as in
    Shalit et al.'s ``cfrnet`` (``wasserstein``, arms weighted 1/2 each, transport plan held
    constant in the gradient). Hand-written: POT/geomloss are not dependencies, and this is
    the paper's exact variant in 20 lines."""
    nt, nc, p = len(phi_t), len(phi_c), 0.5
    m = torch.sqrt(_pdist2(phi_t, phi_c) + 1e-10)
    delta = m.max().detach()
    eff_lam = lam / m.mean().detach()
    row = delta * torch.ones(1, nc, dtype=m.dtype)
    col = torch.cat([delta * torch.ones(nt, 1, dtype=m.dtype), torch.zeros(1, 1)], dim=0)
    mt = torch.cat([torch.cat([m, row], dim=0), col], dim=1)
    a = torch.cat([p * torch.ones(nt, 1) / nt, (1 - p) * torch.ones(1, 1)], dim=0)
    b = torch.cat([(1 - p) * torch.ones(nc, 1) / nc, p * torch.ones(1, 1)], dim=0)
    kernel = torch.exp(-eff_lam * mt.detach()) + 1e-6
    ainvk = kernel / a
    u = a
    for _ in range(its):
        u = 1.0 / (ainvk @ (b / (u.T @ kernel).T))
    v = b / (u.T @ kernel).T
    plan = (u * (v.T * kernel)).detach()
    return 2.0 * torch.sum(plan * mt)


def mmd_rbf(phi_t: torch.Tensor, phi_c: torch.Tensor) -> torch.Tensor:
    """Squared MMD with a Gaussian kernel (bandwidth: median pairwise distance, detached)."""
    d_tc = _pdist2(phi_t, phi_c)
    sigma2 = d_tc.detach().median().clamp_min(1e-6)
    k_tt = torch.exp(-_pdist2(phi_t, phi_t) / sigma2).mean()
    k_cc = torch.exp(-_pdist2(phi_c, phi_c) / sigma2).mean()
    return k_tt + k_cc - 2 * torch.exp(-d_tc / sigma2).mean()


def causal_loss(
    outputs: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: str,
    alpha: float,
    beta: float,
    ipm: str,
) -> torch.Tensor:
    """The training loss of ``kind`` ("tarnet", "cfr", "dragonnet"); ``target``: ``t``, ``y``."""
    loss = factual_mse(outputs, target)
    t, y = target[:, 0], target[:, 1]
    if kind == "cfr":
        phi = outputs[:, 2:]
        treated = t > 0.5
        if 0 < int(treated.sum()) < len(t):
            dist = wasserstein if ipm == "wass" else mmd_rbf
            loss = loss + alpha * dist(phi[treated], phi[~treated])
    elif kind == "dragonnet":
        logit, eps = outputs[:, 2], outputs[:, 3]
        loss = loss + alpha * nn.functional.binary_cross_entropy_with_logits(logit, t)
        g = (torch.sigmoid(logit) + 0.01) / 1.02  # Shi et al.: g kept inside (0.01, 0.99)
        pred = torch.where(t > 0.5, outputs[:, 1], outputs[:, 0])
        pert = pred + eps * (t / g - (1 - t) / (1 - g))
        loss = loss + beta * torch.mean((y - pert) ** 2)
    return loss


def _factual_metric(outputs: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    return {"factual_mse": float(factual_mse(outputs, target))}


class CausalNetMember(TorchEstimatorBase):
    """One network of a :class:`TARNet` / :class:`CFR` / :class:`DragonNet` ensemble, on
    standardised inputs (built by those classes; not meant to be used on its own)."""

    def __init__(
        self,
        *,
        kind: str = "tarnet",
        rep_layers: tuple[int, ...] = (200, 200, 200),
        head_layers: tuple[int, ...] = (100, 100),
        dropout: float = 0.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        ipm: str = "wass",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 100,
        max_epochs: int = 300,
        patience: int = 30,
        val_fraction: float = 0.3,
        optimizer: str = "adam",
        n_threads: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.kind = kind
        self.rep_layers = rep_layers
        self.head_layers = head_layers
        self.dropout = dropout
        self.alpha = alpha
        self.beta = beta
        self.ipm = ipm
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.optimizer = optimizer
        self.n_threads = n_threads
        self.random_state = random_state

    def _build_net(self, n_inputs: int) -> nn.Module:
        return TwoHeadNet(
            n_inputs,
            self.rep_layers,
            self.head_layers,
            self.dropout,
            propensity=self.kind == "dragonnet",
        )

    def fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> CausalNetMember:
        """Train on standardised ``X`` (n, p), ``t`` (n,) 0/1 and standardised ``y`` (n,)."""
        self._validate_common()
        self.n_features_in_ = X.shape[1]
        loss = partial(causal_loss, kind=self.kind, alpha=self.alpha, beta=self.beta, ipm=self.ipm)
        self._train(
            X,
            np.column_stack([t, y]),
            loss_fn=loss,
            metrics_fn=_factual_metric,
            monitor="val_factual_mse",
            mode="min",
            stratify=t,
        )
        return self

    def predict_outcomes(self, X: np.ndarray) -> np.ndarray:
        """Standardised ``(mu0, mu1)`` of each row, shape (n, 2)."""
        return self._forward(X)[:, :2].numpy().astype(np.float64)


class _CausalNet(CATEEstimator):
    """Seed ensemble of :class:`CausalNetMember` networks (the shared part of the three)."""

    interval_method = "normal"
    _kind = "tarnet"

    def __init__(
        self,
        *,
        rep_layers: tuple[int, ...] = (200, 200, 200),
        head_layers: tuple[int, ...] = (100, 100),
        dropout: float = 0.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        ipm: str = "wass",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 100,
        max_epochs: int = 300,
        patience: int = 30,
        val_fraction: float = 0.3,
        optimizer: str = "adam",
        n_members: int = 5,
        n_threads: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.rep_layers = rep_layers
        self.head_layers = head_layers
        self.dropout = dropout
        self.alpha = alpha
        self.beta = beta
        self.ipm = ipm
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.optimizer = optimizer
        self.n_members = n_members
        self.n_threads = n_threads
        self.random_state = random_state

    def _check_params(self) -> None:
        check_param(self, "n_members", is_int(self.n_members, 1), "an int >= 1")
        check_param(self, "alpha", float(self.alpha) >= 0, "a float >= 0")
        check_param(self, "beta", float(self.beta) >= 0, "a float >= 0")
        check_param(self, "ipm", self.ipm in IPMS, f"one of {IPMS}")
        for name in ("rep_layers", "head_layers"):
            value = getattr(self, name)
            ok = isinstance(value, tuple | list) and all(is_int(w, 1) for w in value)
            check_param(self, name, ok and len(value) > 0, "a non-empty tuple of positive ints")
        check_param(self, "dropout", 0.0 <= self.dropout < 1.0, "a float in [0, 1)")

    def fit(self, X: Any, t: Any, y: Any) -> _CausalNet:
        """Fit ``n_members`` networks (seeds ``random_state + k``) on covariates ``X`` (n, p),
        binary treatment ``t`` (n,) and outcome ``y`` (n,)."""
        self._check_params()
        X, t, y = check_fit_inputs(X, t, y)
        self.n_features_in_ = X.shape[1]
        self.x_mean_, self.x_scale_ = X.mean(axis=0), X.std(axis=0)
        self.x_scale_[self.x_scale_ < 1e-12] = 1.0
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        xs, ys = (X - self.x_mean_) / self.x_scale_, (y - self.y_mean_) / self.y_scale_
        params = {k: v for k, v in self.get_params().items() if k != "n_members"}
        seed = 0 if self.random_state is None else int(self.random_state)
        self.members_ = []
        for k in range(self.n_members):
            member = CausalNetMember(kind=self._kind, **{**params, "random_state": seed + k})
            self.members_.append(member.fit(xs, t, ys))
        return self

    def _outcome_samples(self, X: np.ndarray) -> np.ndarray:
        if len(self.members_) < 2:
            raise ConfigError(
                f"{type(self).__name__} was fitted with n_members=1: no intervals; refit with "
                "n_members >= 2."
            )
        xs = (X - self.x_mean_) / self.x_scale_
        return np.stack(
            [m.predict_outcomes(xs) * self.y_scale_ + self.y_mean_ for m in self.members_]
        )

    def potential_outcomes(self, X: Any) -> np.ndarray:
        X = check_predict_inputs(self, X)
        xs = (X - self.x_mean_) / self.x_scale_
        preds = [m.predict_outcomes(xs) for m in self.members_]
        return np.mean(preds, axis=0) * self.y_scale_ + self.y_mean_


class TARNet(_CausalNet):
    """TARNet (Shalit et al. 2017): shared representation, one outcome head per arm.

    Parameters
    ----------
    rep_layers, head_layers : tuple of int
        Hidden widths of the representation (default 3 x 200) and of each head (2 x 100).
    dropout : float
    alpha, beta : float
        Loss weights (CFR: the IPM term; DragonNet: propensity cross-entropy and targeted
        regularisation); unused by TARNet.
    ipm : {"wass", "mmd"}
        CFR's balancing term.
    lr, weight_decay, batch_size, max_epochs, patience, val_fraction, optimizer
        Training (Adam, early stopping on the factual error of ``val_fraction`` of the
        training patients, stratified by arm).
    n_members : int
        Networks in the seed ensemble (>= 2 for intervals).
    n_threads : int
    random_state : int
        Member ``k`` is seeded ``random_state + k``.
    """

    _kind = "tarnet"


class CFR(_CausalNet):
    """Counterfactual regression (Shalit et al. 2017): TARNet + ``alpha`` x IPM(phi_t, phi_c);
    ``ipm="wass"`` (CFR-WASS) or ``"mmd"`` (CFR-MMD). Parameters as :class:`TARNet`."""

    _kind = "cfr"


class DragonNet(_CausalNet):
    """DragonNet (Shi et al. 2019): TARNet + propensity head (``alpha`` x cross-entropy) +
    targeted regularisation (``beta``). Parameters as :class:`TARNet`."""

    _kind = "dragonnet"


__all__ = ["CFR", "CausalNetMember", "DragonNet", "TARNet", "TwoHeadNet", "mmd_rbf", "wasserstein"]
