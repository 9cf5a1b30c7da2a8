"""DeepSurv (Katzman et al. 2018): a Cox proportional-hazards model with a neural log-risk.

The network ``g(x)`` replaces the linear predictor of Cox's model, ``h(t | x) = h0(t) exp(g(x))``,
and is trained on the negative Cox partial log-likelihood (Breslow's handling of ties). After
training, the baseline hazard ``h0`` is Breslow's estimator over the training data (scikit-
survival's :class:`~sksurv.linear_model.coxph.BreslowEstimator`), which gives each patient's
survival and cumulative-hazard functions. The estimator follows scikit-survival's API.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, cast

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data
from sksurv.base import SurvivalAnalysisMixin
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.metrics import concordance_index_censored
from sksurv.util import check_y_survival
from torch import nn

from precisionmed.clinical.nets import MLPEstimator, WideAndDeep, encoded_mlp
from precisionmed.train import TrainConfig
from precisionmed.train.estimator import TorchEstimatorBase, check_param

#: Early-stopping metrics of the survival networks (DeepHit's ``monitor``; DeepSurv: ``loss``).
MONITORS = {"loss": ("val_loss", "min"), "cindex": ("val_cindex", "max")}
#: Ridge penalty of the Cox model that starts the linear term (``linear_init="cox-all"``): the
#: registry's ``coxph`` default.
COX_INIT_ALPHA = 0.1
LINEAR_INITS = ("random", "cox-all")

#: Training regimens of :class:`DeepSurv` that ``deepsurv-select`` chooses between (the
#: choice made per training set, on the members' validation C-index). Picked by 5-fold CV on
#: GBSG2, WHAS500, GSE7390 and on DeepSurv's METABRIC and WHAS training files (never their
#: test files). ``minibatch``: the partial likelihood within batches of 256 patients.
#: ``large-batch``: one batch of up to 4,096 patients (the exact partial likelihood on these
#: cohorts; DeepSurv's full-batch training) with batch normalisation, Adam at 1e-2.
#: ``binned``: ``large-batch`` behind a 16-bin piecewise-linear encoding of the inputs
#: (:class:`~precisionmed.clinical.nets.PiecewiseLinearEncoding`): step-like effects and
#: repeated covariate patterns, as on DeepSurv's WHAS file, where it added about 0.02 to the
#: C-index, while it lost about 0.015 on METABRIC.
REGIMENS: dict[str, dict[str, Any]] = {
    "minibatch": {"hidden_layers": (64, 64), "batch_size": 256, "lr": 3e-3, "patience": 20},
    "large-batch": {
        "hidden_layers": (64, 64), "batch_size": 4096, "lr": 1e-2, "patience": 40,
        "max_epochs": 400, "batch_norm": True,
    },
    "binned": {
        "hidden_layers": (64, 64), "batch_size": 4096, "lr": 1e-2, "patience": 40,
        "max_epochs": 400, "batch_norm": True, "input_bins": 16,
    },
}  # fmt: skip


def cox_ph_loss(log_risk: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood per event, Breslow's method for ties.

    Hand-written because the loss must be a differentiable torch function inside the engine;
    it matches the partial likelihood scikit-survival's ``CoxPHSurvivalAnalysis`` maximises.

    Parameters
    ----------
    log_risk : Tensor of shape (B,) or (B, 1)
        The network's log hazard ratio ``g(x)``.
    target : Tensor of shape (B, 2)
        Column 0: time; column 1: event indicator (1 = event, 0 = censored).

    Returns
    -------
    Tensor
        Scalar: ``-(1/d) * sum_{i: event} [g(x_i) - log sum_{j: t_j >= t_i} exp g(x_j)]``, with
        ``d`` the number of events (0 when there is none).
    """
    risk = log_risk.reshape(-1)
    time, event = target[:, 0], target[:, 1]
    order = torch.argsort(time)
    time, event, risk = time[order], event[order], risk[order]
    # log-sum-exp over each suffix {j >= k} in ascending time; the risk set of i starts at the
    # first sample tied with t_i (Breslow: all tied samples are at risk).
    suffix = torch.flip(torch.logcumsumexp(torch.flip(risk, [0]), 0), [0])
    first = torch.searchsorted(time.contiguous(), time.contiguous(), side="left")
    log_risk_set = suffix[first]
    n_events = event.sum()
    if n_events == 0:
        return (risk * 0.0).sum()
    return -((risk - log_risk_set) * event).sum() / n_events


#: Pairs per block of :func:`pairwise_rank_loss` (about 16 MB of float32 per block).
_PAIR_BLOCK = 1 << 22


def pairwise_rank_loss(log_risk: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean logistic loss over the comparable pairs: a smooth lower bound of Harrell's C-index.

    Raykar et al. (2007), "On ranking in survival analysis: bounds on the concordance index":
    for every comparable pair ``(i, j)`` (an event at ``t_i < t_j``, or at ``t_i = t_j`` where
    ``j`` is censored), ``log(1 + exp(-(g_i - g_j)))``;
    RankDeepSurv (Jing et al. 2019) adds such a term to DeepSurv's partial likelihood.
    Hand-written for the same reason as :func:`cox_ph_loss` (a torch loss of the engine).

    Returns 0 (with a gradient path) where the batch has no comparable pair.
    """
    risk = log_risk.reshape(-1)
    time, event = target[:, 0], target[:, 1]
    total, count = (risk * 0.0).sum(), 0
    # blocks of rows i against all j: a whole validation set at once would need n^2 memory
    step = max(1, _PAIR_BLOCK // max(1, len(risk)))
    for start in range(0, len(risk), step):
        rows = slice(start, start + step)
        t_i, e_i = time[rows, None], event[rows, None]
        # Harrell's comparable pairs as scikit-survival counts them: i's event comes first,
        # or at the same time as j's censoring
        later = (t_i < time[None, :]) | ((t_i == time[None, :]) & (event[None, :] == 0))
        comparable = later & (e_i > 0)
        n_pairs = int(comparable.sum())
        if n_pairs:
            diff = risk[rows, None] - risk[None, :]
            total = total + torch.nn.functional.softplus(-diff)[comparable].sum()
            count += n_pairs
    return total / count if count else total


class CoxRankLoss:
    """``cox_ph_loss + rank_weight * pairwise_rank_loss`` (a picklable loss for the engine)."""

    def __init__(self, rank_weight: float) -> None:
        self.rank_weight = float(rank_weight)

    def __call__(self, log_risk: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = cox_ph_loss(log_risk, target)
        if self.rank_weight > 0:
            loss = loss + self.rank_weight * pairwise_rank_loss(log_risk, target)
        return loss


def concordance(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C-index of ``risk`` (higher = earlier event), scikit-survival's implementation.

    Returns 0.5 (chance) where it is undefined (no comparable pair), so that early stopping on
    it still works on a validation split without events.
    """
    event = np.asarray(event).astype(bool)
    if not event.any():
        return 0.5
    try:
        return float(concordance_index_censored(event, np.asarray(time, float), risk)[0])
    except ValueError:
        return 0.5


def _cox_metrics(log_risk: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    risk = log_risk.reshape(-1).double().numpy()
    return {"cindex": concordance(risk, target[:, 0].numpy(), target[:, 1].numpy())}


def validate_survival_fit(est: TorchEstimatorBase, X: Any, y: Any) -> tuple:
    """``(X, event, time)`` checked the scikit-survival way; sets ``n_features_in_``."""
    X = validate_data(est, X, dtype=np.float64, ensure_min_samples=2)
    event, time = check_y_survival(y)
    if len(time) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(time)}.")
    return X, event, time


class DeepSurv(SurvivalAnalysisMixin, MLPEstimator):
    """DeepSurv: Cox proportional hazards with a multilayer perceptron.

    Parameters
    ----------
    hidden_layers : tuple of int
        Hidden layer widths.
    dropout : float
        Dropout after each hidden layer.
    lr, weight_decay : float
        Optimiser learning rate and L2 penalty.
    batch_size : int
        Patients per step (the partial likelihood is computed within the batch).
    max_epochs, patience : int
        Epoch cap and early-stopping patience on the validation split's partial likelihood
        (the best epoch's network is kept).
    val_fraction : float
        Fraction of the training data held out (stratified on the event) for early stopping.
    optimizer : {"adam", "adamw", "sgd", "sgd-nesterov"}
    activation : {"relu", "selu", "elu", "gelu", "tanh"}
    batch_norm : bool
        Batch normalisation in the hidden layers.
    input_bins : int
        0 (default): the network sees the features as given. ``k >= 2``: each feature also
        enters through a ``k``-bin piecewise-linear encoding at quantiles of its training
        values (:class:`~precisionmed.clinical.nets.PiecewiseLinearEncoding`).
    skip_linear : bool
        False (default): ``g(x)`` is the network. True: ``g(x) = x.beta + MLP(x)``, a linear
        Cox predictor beside the network (:class:`~precisionmed.clinical.nets.WideAndDeep`,
        the network's output layer starting at zero): Cox's model is the special case of a
        zero network, and dropout / weight decay pull the network towards it.
    linear_init : {"random", "cox-all"}
        With ``skip_linear``: the linear term starts at PyTorch's default initialisation, or
        at scikit-survival's ridge Cox model (penalty :data:`COX_INIT_ALPHA`) fitted on all of
        ``X`` (``"cox-all"``: Cox's own fit; the rows held out for early stopping then favour
        staying near it, so early stopping lets the network depart from Cox's model only where
        that improves the validation loss clearly).
    rank_weight : float
        0 (default): the negative partial likelihood alone. ``w > 0``: plus ``w`` times the
        mean logistic loss over the batch's comparable pairs (:func:`pairwise_rank_loss`, a
        smooth bound of Harrell's C; RankDeepSurv's combination), which trains the ordering
        of patients directly; the partial likelihood keeps the log-risk on Cox's scale for
        the baseline hazard and the survival curves.
    ema_decay : float or None
        None (default): the network's weights as trained. ``d`` in (0, 1): an exponential
        moving average of the weights over the optimisation steps (decay ``d`` per step) is
        what is validated, early-stopped on and kept
        (:attr:`precisionmed.train.TrainConfig.ema_decay`).
    n_threads : int
        Torch threads while fitting and predicting (1 is fastest for these small networks).
    random_state : int, RandomState or None
        Seeds the split, the initialisation and the data order.

    Attributes
    ----------
    net_ : torch.nn.Module
        The trained network (best validation epoch).
    baseline_ : sksurv.linear_model.coxph.BreslowEstimator
        Breslow's baseline hazard over all training samples.
    unique_times_ : ndarray of shape (n_times,)
        Event times at which survival functions step.
    n_features_in_ : int
    history_ : list of dict
        Per-epoch training / validation metrics.
    best_epoch_ : int
    """

    def __init__(
        self,
        *,
        hidden_layers: tuple[int, ...] = (32, 32),
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
        input_bins: int = 0,
        skip_linear: bool = False,
        linear_init: str = "random",
        rank_weight: float = 0.0,
        ema_decay: float | None = None,
        n_threads: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.hidden_layers = hidden_layers
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
        self.input_bins = input_bins
        self.skip_linear = skip_linear
        self.linear_init = linear_init
        self.rank_weight = rank_weight
        self.ema_decay = ema_decay
        self.n_threads = n_threads
        self.random_state = random_state

    def _build_net(self, n_inputs: int) -> nn.Module:
        return encoded_mlp(
            n_inputs,
            self.input_bins,
            getattr(self, "input_edges_", None),
            self.hidden_layers,
            1,
            dropout=self.dropout,
            activation=self.activation,
            batch_norm=self.batch_norm,
            skip_linear=bool(self.skip_linear),
        )

    def _train_config(self, seed: int, monitor: str, mode: str) -> TrainConfig:
        config = super()._train_config(seed, monitor, mode)
        return config.model_copy(update={"ema_decay": self.ema_decay})

    def _init_net(self, X: np.ndarray, targets: np.ndarray, train_idx: np.ndarray) -> None:
        if not self.skip_linear or self.linear_init == "random":
            return
        # "cox-all": Cox's fit on every row, the early-stopping carve-out included
        from sksurv.linear_model import CoxPHSurvivalAnalysis
        from sksurv.util import Surv

        y = Surv.from_arrays(targets[:, 1].astype(bool), targets[:, 0])
        cox = CoxPHSurvivalAnalysis(alpha=COX_INIT_ALPHA, ties="efron").fit(X, y)
        linear = cast(WideAndDeep, self.net_).linear
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(cox.coef_, dtype=torch.float32)[None])
            linear.bias.zero_()

    def fit(self, X: Any, y: Any) -> DeepSurv:
        """Train on ``X`` of shape (n_samples, n_features) and ``y``, a structured array of
        (event: bool, time: float) as made by ``sksurv.util.Surv``."""
        self._validate_common()
        check_param(self, "linear_init", self.linear_init in LINEAR_INITS, f"one of {LINEAR_INITS}")
        check_param(
            self,
            "rank_weight",
            isinstance(self.rank_weight, numbers.Real) and 0 <= self.rank_weight < np.inf,
            "a float >= 0",
        )
        check_param(
            self,
            "ema_decay",
            self.ema_decay is None
            or (isinstance(self.ema_decay, numbers.Real) and 0 < self.ema_decay < 1),
            "None or a float in (0, 1)",
        )
        X, event, time = validate_survival_fit(self, X, y)
        monitor, mode = MONITORS["loss"]
        self._train(
            X,
            np.column_stack([time, event]),
            loss_fn=CoxRankLoss(self.rank_weight) if self.rank_weight else cox_ph_loss,
            metrics_fn=_cox_metrics,
            monitor=monitor,
            mode=mode,
            stratify=event,
        )
        log_risk = self._forward(X).reshape(-1).double().numpy()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # checked below
            self.baseline_ = BreslowEstimator().fit(log_risk, event, time)
        # exp(log-risk) overflows (the risk sets' sums become inf, hazards 0 and curves NaN),
        # or whole risk sets underflow to 0 (hazards 0/0)
        overflow = not np.isfinite(log_risk).all() or log_risk.max() > np.log(np.finfo(float).max)
        if overflow or not np.isfinite(self.baseline_.cum_baseline_hazard_.y).all():
            low, high = np.nanmin(log_risk), np.nanmax(log_risk)
            warnings.warn(
                f"DeepSurv: training diverged (the log-risk of the training patients runs from "
                f"{low:.3g} to {high:.3g}, beyond what exp() can hold), so the baseline hazard "
                f"and the survival curves are not defined and the risk order is unreliable. "
                f"Lower lr (now {self.lr!r}) or raise weight_decay.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.unique_times_ = self.baseline_.unique_times_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Log hazard ratio ``g(x)`` of shape (n_samples,): higher means higher risk."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._forward(X).reshape(-1).double().numpy()

    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> np.ndarray:
        """Cumulative hazard ``H0(t) exp(g(x))`` per patient.

        Returns an array of :class:`sksurv.functions.StepFunction` of shape (n_samples,), or with
        ``return_array=True`` a float array of shape (n_samples, n_times) at ``unique_times_``.
        """
        return self._predict_cumulative_hazard_function(
            self.baseline_, self.predict(X), return_array
        )

    def predict_survival_function(self, X: Any, return_array: bool = False) -> np.ndarray:
        """Survival ``S0(t) ** exp(g(x))`` per patient.

        Returns an array of :class:`sksurv.functions.StepFunction` of shape (n_samples,), or with
        ``return_array=True`` a float array of shape (n_samples, n_times) at ``unique_times_``.
        """
        return self._predict_survival_function(self.baseline_, self.predict(X), return_array)
