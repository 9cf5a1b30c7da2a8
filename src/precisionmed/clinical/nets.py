"""Networks of the clinical pillar and their glue to the one training engine.

:func:`make_mlp` builds the fully connected network every clinical deep model uses.
:class:`TorchEstimatorBase` is the shared base of the scikit-learn style deep estimators
(``DNNClassifier``, ``DeepSurv``, ``DeepHit``, ``DenoisingAutoencoder``): it validates the
common hyper-parameters at ``fit``, carves a validation split out of the training data, trains
through :func:`precisionmed.train.fit` with early stopping, and pickles the fitted network as
plain NumPy arrays (so ``copy``, ``pickle``, ``joblib`` and ``skops`` work without torch objects
inside the state).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch import nn
from torch.utils.data import TensorDataset

from precisionmed.errors import ConfigError
from precisionmed.train import FitResult, TrainConfig, fit, predict_outputs, seed_everything

#: Optimisers of the deep estimators ("sgd-nesterov": SGD, momentum 0.9, Nesterov).
OPTIMIZERS = ("adam", "adamw", "sgd", "sgd-nesterov")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def make_mlp(
    n_inputs: int,
    hidden_layers: Sequence[int],
    n_outputs: int,
    *,
    dropout: float = 0.0,
    activation: str = "relu",
    batch_norm: bool = False,
) -> nn.Sequential:
    """A fully connected net: ``[Linear -> (BatchNorm) -> activation -> dropout] * k -> Linear``.

    Parameters
    ----------
    n_inputs : int
        Input features per sample; input tensor of shape (B, n_inputs), float32.
    hidden_layers : sequence of int
        Width of each hidden layer (empty: a linear model).
    n_outputs : int
        Output width; output tensor of shape (B, n_outputs).
    dropout : float
        Dropout probability in [0, 1) after each hidden layer (alpha-dropout with SELU).
    activation : {"relu", "selu", "elu", "gelu", "tanh"}
    batch_norm : bool
        Batch normalisation before each activation.
    """
    if n_inputs < 1 or n_outputs < 1 or any(int(h) < 1 for h in hidden_layers):
        raise ConfigError(
            f"make_mlp needs positive sizes; got n_inputs={n_inputs}, "
            f"hidden_layers={tuple(hidden_layers)}, n_outputs={n_outputs}."
        )
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"The 'activation' parameter must be one of {sorted(ACTIVATIONS)}. "
            f"Got {activation!r} instead."
        )
    layers: list[nn.Module] = []
    width = n_inputs
    for h in hidden_layers:
        layers.append(nn.Linear(width, int(h)))
        if batch_norm:
            layers.append(nn.BatchNorm1d(int(h)))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.AlphaDropout(dropout) if activation == "selu" else nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class PiecewiseLinearEncoding(nn.Module):
    """Piecewise-linear encoding of numeric inputs (Gorishniy et al., NeurIPS 2022).

    Feature ``j`` with bin edges ``b_0 < ... < b_k`` (quantiles of its training values) becomes
    ``k`` values ``clamp((x_j - b_{t-1}) / (b_t - b_{t-1}), 0, 1)``: a thermometer code that
    lets an MLP build the step-like functions a tree builds with its splits. The raw inputs are
    kept beside the code, so the network can still be linear in them. Edges are a buffer (saved
    with the weights); a feature with fewer distinct quantiles has repeated edges, whose
    zero-width bins give plain 0/1 steps.

    Parameters
    ----------
    n_features : int
    n_bins : int
        Bins per feature; output width ``n_features * (n_bins + 1)``.
    """

    def __init__(self, n_features: int, n_bins: int) -> None:
        super().__init__()
        self.register_buffer("edges", torch.zeros(n_features, n_bins + 1))

    @staticmethod
    def quantile_edges(X: np.ndarray, n_bins: int) -> np.ndarray:
        """Edges at the ``n_bins + 1`` quantiles of each column of ``X``, shape
        (n_features, n_bins + 1), float32."""
        q = np.quantile(np.asarray(X, dtype=np.float64), np.linspace(0.0, 1.0, n_bins + 1), axis=0)
        return np.ascontiguousarray(q.T, dtype=np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.edges[:, :-1], self.edges[:, 1:]
        width = (hi - lo).clamp_min(1e-6)
        code = ((x.unsqueeze(-1) - lo) / width).clamp(0.0, 1.0)  # (B, F, n_bins)
        return torch.cat([x, code.flatten(1)], dim=1)


class WideAndDeep(nn.Module):
    """``linear(x) + deep(x)``: a linear term beside a network ("wide & deep", Cheng et al. 2016).

    With ``deep`` at zero this is a linear model (for a Cox loss: Cox's model), so the network
    only has to learn what a linear predictor misses. The deep part's last layer starts at zero,
    so training starts from the linear model and departs from it where the data ask.

    Parameters
    ----------
    n_inputs, n_outputs : int
    deep : nn.Module
        Maps (B, n_inputs) to (B, n_outputs).
    """

    def __init__(self, n_inputs: int, n_outputs: int, deep: nn.Module) -> None:
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.deep = deep
        last = [m for m in deep.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.deep(x)


def encoded_mlp(
    n_inputs: int,
    input_bins: int,
    edges: np.ndarray | None,
    *args: Any,
    skip_linear: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """:func:`make_mlp`, behind a :class:`PiecewiseLinearEncoding` when ``input_bins > 0``
    (``edges``: its bin edges; ``None`` leaves zeros, to be loaded from a state dict); with
    ``skip_linear``, beside a linear term in the raw inputs (:class:`WideAndDeep`)."""
    if not input_bins:
        net: nn.Module = make_mlp(n_inputs, *args, **kwargs)
    else:
        encoding = PiecewiseLinearEncoding(n_inputs, input_bins)
        if edges is not None:
            encoding.edges.copy_(torch.from_numpy(np.asarray(edges, dtype=np.float32)))
        mlp = make_mlp(n_inputs * (input_bins + 1), *args, **kwargs)
        net = nn.Sequential(encoding, *mlp)
    if skip_linear:
        n_outputs = args[1] if len(args) > 1 else kwargs["n_outputs"]
        return WideAndDeep(n_inputs, int(n_outputs), net)
    return net


class BatchedTensorDataset(TensorDataset):
    """A :class:`~torch.utils.data.TensorDataset` that fetches a whole batch at once.

    ``DataLoader`` calls ``__getitems__`` with a batch's indices: one advanced-indexing op per
    tensor instead of one ``__getitem__`` per sample (on a 1,400-patient full batch that is
    1,400 Python calls per step saved). Items and collated batches are the same as
    ``TensorDataset``'s.
    """

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, ...]]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return list(zip(*(t[idx].unbind(0) for t in self.tensors), strict=True))


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous number.

    The pillar's networks are small MLPs on tabular batches: thread synchronisation costs more
    than it saves (on a busy 2-core machine, 2 threads made an epoch 6x slower than 1, measured).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and int(value) >= minimum


def _check_param(est: Any, name: str, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(
            f"The '{name}' parameter of {type(est).__name__} must be {expected}. "
            f"Got {getattr(est, name)!r} instead."
        )


class TorchEstimatorBase(BaseEstimator, ABC):
    """Shared fitting machinery of the pillar's deep estimators (not used on its own).

    Subclasses define ``_build_net(n_inputs)`` and set ``n_outputs_`` before calling
    :meth:`_train`. Hyper-parameters common to all: ``hidden_layers``, ``dropout``, ``lr``,
    ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience``, ``val_fraction``,
    ``optimizer``, ``activation``, ``batch_norm``, ``n_threads``, ``random_state``.
    """

    net_: nn.Module
    n_features_in_: int

    def _validate_common(self) -> None:
        _check_param(
            self,
            "hidden_layers",
            isinstance(self.hidden_layers, (tuple, list))
            and all(_is_int(h, 1) for h in self.hidden_layers),
            "a tuple of positive ints",
        )
        _check_param(self, "dropout", 0.0 <= self.dropout < 1.0, "a float in [0, 1)")
        _check_param(self, "lr", self.lr > 0, "a float > 0")
        _check_param(self, "weight_decay", self.weight_decay >= 0, "a float >= 0")
        for name in ("batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            _check_param(self, name, _is_int(value, 1), "an int >= 1")
        _check_param(self, "val_fraction", 0.0 < self.val_fraction < 0.5, "a float in (0, 0.5)")
        _check_param(
            self,
            "optimizer",
            self.optimizer in OPTIMIZERS,
            f"one of {', '.join(repr(o) for o in OPTIMIZERS)}",
        )
        _check_param(
            self, "activation", self.activation in ACTIVATIONS, f"one of {sorted(ACTIVATIONS)}"
        )
        _check_param(self, "n_threads", _is_int(self.n_threads, 1), "an int >= 1")
        bins = getattr(self, "input_bins", 0)
        _check_param(self, "input_bins", _is_int(bins, 0) and bins != 1, "0 or an int >= 2")

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _train_config(self, seed: int, monitor: str, mode: str) -> TrainConfig:
        return TrainConfig.build(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            # "sgd-nesterov": SGD with Nesterov momentum 0.9, DeepSurv's own optimiser
            optimizer="sgd" if self.optimizer == "sgd-nesterov" else self.optimizer,
            nesterov=self.optimizer == "sgd-nesterov",
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            monitor=monitor,
            mode=mode,
            seed=seed,
            progress=False,
        )

    def _train(
        self,
        X: np.ndarray,
        targets: np.ndarray,
        *,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict[str, float]] | None,
        monitor: str,
        mode: str,
        stratify: np.ndarray | None = None,
    ) -> FitResult:
        """Split off ``val_fraction`` for early stopping, build the net, train it in the engine.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        targets : ndarray of shape (n_samples, ...)
            What ``loss_fn`` receives as its second argument (as float32 tensors).
        stratify : ndarray of shape (n_samples,), optional
            Labels to stratify the validation split on (class, or event indicator).
        """
        from sklearn.model_selection import train_test_split

        seed = self._seed()
        idx = np.arange(len(X))
        tr = va = np.empty(0, dtype=int)
        if getattr(self, "bootstrap", False):
            # bagging (Breiman 1996): train on a resample with replacement, stop early on the
            # rows it left out (out-of-bag, about 37%)
            tr = np.random.default_rng(seed).integers(0, len(X), len(X))
            va = np.setdiff1d(idx, tr)
        if not va.size:
            try:
                tr, va = train_test_split(
                    idx, test_size=self.val_fraction, random_state=seed, stratify=stratify
                )
            except ValueError:  # a class too small to stratify: fall back to a plain split
                tr, va = train_test_split(idx, test_size=self.val_fraction, random_state=seed)
        if getattr(self, "input_bins", 0):
            self.input_edges_ = PiecewiseLinearEncoding.quantile_edges(X, self.input_bins)
        x = torch.tensor(np.asarray(X, dtype=np.float32))
        t = torch.tensor(np.asarray(targets, dtype=np.float32))

        def train_on(rows: np.ndarray, config: TrainConfig) -> FitResult:
            """A new network from the seeded initialisation, trained on ``rows``."""
            seed_everything(seed)
            self.net_ = self._build_net(X.shape[1])
            self._init_net(X, np.asarray(targets), rows)
            with torch_threads(self.n_threads):
                return fit(
                    self.net_,
                    BatchedTensorDataset(x[rows], t[rows]),
                    TensorDataset(x[va], t[va]),
                    loss_fn=loss_fn,
                    metrics_fn=metrics_fn,
                    config=config,
                )

        result = train_on(tr, self._train_config(seed, monitor, mode))
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = len(result.history)
        self.val_metrics_ = dict(result.val_metrics)
        self.train_indices_, self.val_indices_ = np.sort(tr), np.sort(va)
        self.refit_epochs_ = 0
        best = result.best_epoch
        if getattr(self, "refit", False) and best is not None and best >= 0:
            # retrain from the same initialisation on every row (the early-stopping carve-out
            # included) for the number of epochs early stopping chose; the held-out metrics
            # above stay those of the early-stopped network
            self.refit_epochs_ = int(best) + 1
            config = self._train_config(seed, monitor, mode).model_copy(
                update={"max_epochs": self.refit_epochs_, "restore_best": False,
                        "validate_start": False}
            )  # fmt: skip
            result = train_on(idx, config)
        return result

    def _init_net(self, X: np.ndarray, targets: np.ndarray, train_idx: np.ndarray) -> None:
        """Hook: set initial weights of ``net_`` from the data (``train_idx``: the rows not
        held out for early stopping); default: none."""

    @abstractmethod
    def _build_net(self, n_inputs: int) -> nn.Module:
        """The untrained network for ``n_inputs`` features (each estimator defines it)."""

    def _forward(self, X: np.ndarray) -> torch.Tensor:
        """The fitted network's outputs on ``X`` (float32 tensor, eval mode, no gradient)."""
        x = torch.tensor(np.asarray(X, dtype=np.float32))
        with torch_threads(self.n_threads):
            return predict_outputs(self.net_, TensorDataset(x)).float()

    # Pickle the network as NumPy arrays; rebuilt from the constructor parameters on load.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        net = state.pop("net_", None)
        if net is not None:
            state["_net_state"] = {
                k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        net_state = state.pop("_net_state", None)
        self.__dict__.update(state)
        if net_state is not None:
            net = self._build_net(self.n_features_in_)
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net_state.items()})
            net.eval()
            self.net_ = net
