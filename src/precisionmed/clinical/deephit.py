"""DeepHit for a single risk (Lee et al., AAAI 2018) with the scikit-survival API.

Time is discretised on a grid ``t_0 = 0 < t_1 < ... < t_{m-1}`` (``num_durations`` points); the
network outputs, per patient, a probability mass over the grid plus one bin "after the last
grid time". The loss is ``alpha * NLL + (1 - alpha) * ranking``: the censored-data likelihood of
the discrete distribution, and DeepHit's pairwise ranking penalty
``exp(-(F_i(t_i) - F_j(t_i)) / sigma)`` over comparable pairs (patient ``i`` had the event
before ``j``'s time). The ``alpha``/``sigma`` convention is pycox's ``DeepHitSingle``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from sksurv.base import SurvivalAnalysisMixin
from sksurv.functions import StepFunction
from torch import nn
from torch.nn import functional as F

from precisionmed.clinical.deepsurv import MONITORS, concordance, validate_survival_fit
from precisionmed.clinical.nets import MLPEstimator, encoded_mlp
from precisionmed.train.estimator import check_param


def time_grid(time: np.ndarray, event: np.ndarray, num_durations: int, scheme: str) -> np.ndarray:
    """The discretisation grid: 0, then up to the largest time; at most ``num_durations`` points.

    ``"equidistant"``: evenly spaced up to the largest time; ``"quantiles"``: quantiles of the
    event times (the grid is denser where events happen).
    """
    if scheme == "equidistant":
        return np.linspace(0.0, float(time.max()), num_durations)
    events = time[event] if event.any() else time
    inner = np.quantile(events, np.linspace(0.0, 1.0, num_durations))[1:-1]
    return np.unique(np.concatenate([[0.0], inner, [time.max()]]))


def discretise(grid: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Grid index of each time: an event falls in the interval that ends at ``grid[idx]``
    (rounded up), a censoring time keeps the last grid point the patient survived (rounded
    down). Shape (n,), int64."""
    up = np.searchsorted(grid, time, side="left")
    down = np.searchsorted(grid, time, side="right") - 1
    idx = np.where(event, up, down)
    return np.clip(idx, 0, len(grid) - 1).astype(np.int64)


def _padded_log_pmf(logits: torch.Tensor) -> torch.Tensor:
    pad = logits.new_zeros((logits.shape[0], 1))
    return F.log_softmax(torch.cat([logits, pad], dim=1), dim=1)


def deephit_loss(
    logits: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.2, sigma: float = 0.1
) -> torch.Tensor:
    """DeepHit's single-risk loss. Hand-written (pycox is not a dependency); it follows the
    paper and pycox's ``DeepHitSingleLoss``.

    Parameters
    ----------
    logits : Tensor of shape (B, m)
        Network outputs over the ``m`` grid points (a zero logit is appended for "after").
    target : Tensor of shape (B, 2)
        Column 0: grid index (see :func:`discretise`); column 1: event indicator.
    alpha : float
        Weight of the likelihood; ``1 - alpha`` weighs the ranking term.
    sigma : float
        Scale of the ranking term's exponential.
    """
    idx = target[:, 0].long().reshape(-1, 1)
    event = target[:, 1]
    log_pmf = _padded_log_pmf(logits)
    log_p_event = log_pmf.gather(1, idx).reshape(-1)
    after = torch.arange(log_pmf.shape[1], device=logits.device).reshape(1, -1) > idx
    log_survive = torch.logsumexp(log_pmf.masked_fill(~after, float("-inf")), dim=1)
    nll = -(event * log_p_event + (1.0 - event) * log_survive).mean()

    cdf = torch.cumsum(log_pmf.exp(), dim=1)
    at_own = cdf.gather(1, idx)  # F_i(t_i), shape (B, 1)
    at_other = cdf[:, idx.reshape(-1)].T  # [i, j] = F_j(t_i)
    i_idx, j_idx = idx.reshape(-1, 1), idx.reshape(1, -1)
    comparable = (event.reshape(-1, 1) > 0) & (
        (i_idx < j_idx) | ((i_idx == j_idx) & (event.reshape(1, -1) == 0))
    )
    rank = (comparable * torch.exp(-(at_own - at_other) / sigma)).mean()
    return alpha * nll + (1.0 - alpha) * rank


def survival_from_logits(logits: torch.Tensor) -> np.ndarray:
    """``S(t_k) = 1 - F(t_k)`` at the grid points; float array of shape (B, m)."""
    pmf = _padded_log_pmf(logits).exp()
    cdf = torch.cumsum(pmf, dim=1)[:, :-1]
    return np.clip(1.0 - cdf.double().numpy(), 0.0, 1.0)


class DeepHit(SurvivalAnalysisMixin, MLPEstimator):
    """Single-risk DeepHit with scikit-survival's API.

    Parameters
    ----------
    hidden_layers : tuple of int
        Hidden layer widths.
    num_durations : int
        Points of the time grid (>= 2).
    alpha : float in (0, 1]
        Weight of the likelihood term (``1 - alpha`` on the ranking term).
    sigma : float > 0
        Scale of the ranking term.
    discretization : {"quantiles", "equidistant"}
        How the grid is placed over time: at quantiles of the training event times (the
        default: it was better than equidistant in 3-fold CV on each of DeepSurv's three
        training cohorts) or evenly up to the largest time.
    dropout, lr, weight_decay, batch_size, max_epochs, patience, val_fraction, optimizer,
    activation, batch_norm, monitor, input_bins, n_threads, random_state
        As for :class:`~precisionmed.clinical.deepsurv.DeepSurv`.

    Attributes
    ----------
    time_grid_ : ndarray of shape (n_times,)
        Grid times (the training data's unit), starting at 0.
    unique_times_ : ndarray of shape (n_times,)
        Same as ``time_grid_``: where survival functions are evaluated.
    net_ : torch.nn.Module
    """

    def __init__(
        self,
        *,
        hidden_layers: tuple[int, ...] = (32, 32),
        num_durations: int = 30,
        alpha: float = 0.2,
        sigma: float = 0.1,
        discretization: str = "quantiles",
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 300,
        patience: int = 30,
        val_fraction: float = 0.15,
        optimizer: str = "adam",
        activation: str = "relu",
        batch_norm: bool = False,
        monitor: str = "loss",
        input_bins: int = 0,
        n_threads: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.num_durations = num_durations
        self.alpha = alpha
        self.sigma = sigma
        self.discretization = discretization
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.optimizer = optimizer
        self.activation = activation
        self.batch_norm = batch_norm
        self.monitor = monitor
        self.input_bins = input_bins
        self.n_threads = n_threads
        self.random_state = random_state

    def _build_net(self, n_inputs: int) -> nn.Module:
        return encoded_mlp(
            n_inputs,
            self.input_bins,
            getattr(self, "input_edges_", None),
            self.hidden_layers,
            len(self.time_grid_),
            dropout=self.dropout,
            activation=self.activation,
            batch_norm=self.batch_norm,
        )

    def _validate(self) -> None:
        self._validate_common()
        check_param(
            self,
            "num_durations",
            isinstance(self.num_durations, numbers.Integral) and self.num_durations >= 2,
            "an int >= 2",
        )
        check_param(self, "alpha", 0.0 < self.alpha <= 1.0, "a float in (0, 1]")
        check_param(self, "sigma", self.sigma > 0, "a float > 0")
        check_param(
            self,
            "discretization",
            self.discretization in ("equidistant", "quantiles"),
            "one of 'equidistant', 'quantiles'",
        )
        check_param(self, "monitor", self.monitor in MONITORS, "one of 'loss', 'cindex'")

    def fit(self, X: Any, y: Any) -> DeepHit:
        """Train on ``X`` of shape (n_samples, n_features) and the structured (event, time)
        array ``y``."""
        self._validate()
        X, event, time = validate_survival_fit(self, X, y)
        self.time_grid_ = time_grid(time, event, self.num_durations, self.discretization)
        self.unique_times_ = self.time_grid_
        idx = discretise(self.time_grid_, time, event)
        alpha, sigma = float(self.alpha), float(self.sigma)

        def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return deephit_loss(logits, target, alpha=alpha, sigma=sigma)

        def metrics_fn(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
            risk = _risk(survival_from_logits(logits))
            ev = target[:, 1].numpy()
            return {"cindex": concordance(risk, target[:, 0].numpy(), ev)}

        monitor, mode = MONITORS[self.monitor]
        self._train(
            X,
            np.column_stack([idx, event]),
            loss_fn=loss_fn,
            metrics_fn=metrics_fn,
            monitor=monitor,
            mode=mode,
            stratify=event,
        )
        return self

    def _survival_array(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return survival_from_logits(self._forward(X))

    def predict(self, X: Any) -> np.ndarray:
        """Risk score of shape (n_samples,), higher = worse: the cumulative incidence summed
        over the grid times ``sum_k (1 - S(t_k))`` (unitless)."""
        return _risk(self._survival_array(X))

    def predict_survival_function(self, X: Any, return_array: bool = False) -> np.ndarray:
        """Survival probability per patient at ``unique_times_``: float array of shape
        (n_samples, n_times) with ``return_array=True``, else StepFunction objects."""
        surv = self._survival_array(X)
        if return_array:
            return surv
        return np.array([StepFunction(self.time_grid_, s) for s in surv])

    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> np.ndarray:
        """Cumulative hazard ``-log S(t)`` per patient, like :meth:`predict_survival_function`."""
        cum_hazard = -np.log(np.clip(self._survival_array(X), 1e-12, 1.0))
        if return_array:
            return cum_hazard
        return np.array([StepFunction(self.time_grid_, h) for h in cum_hazard])


def _risk(surv: np.ndarray) -> np.ndarray:
    """Cumulative incidence summed over the grid times, ``sum_k (1 - S(t_k))``.

    Like scikit-survival's random survival forest (cumulative hazard summed over event times),
    the score weighs each time by how densely the grid covers it: on a quantile grid, the times
    where events happen; on an equidistant grid, all times alike (close to minus the restricted
    mean survival time).
    """
    return (1.0 - surv).sum(axis=1)
