"""The networks of the clinical pillar's deep models and the base of their estimators.

:func:`make_mlp` builds the fully connected network every clinical deep model uses, optionally
behind a piecewise-linear encoding of the inputs (:class:`PiecewiseLinearEncoding`) and beside a
linear term (:class:`WideAndDeep`); :func:`encoded_mlp` combines them. :class:`MLPEstimator` is
the shared base of the pillar's scikit-learn style deep estimators (``DNNClassifier``,
``DeepSurv``, ``DeepHit``, ``DenoisingAutoencoder``): the spine's
:class:`~precisionmed.train.estimator.TorchEstimatorBase` plus the checks of the MLP's own
hyper-parameters and the bin edges of the encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.train import FitResult
from precisionmed.train.estimator import TorchEstimatorBase, check_param, is_int

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

    edges: torch.Tensor

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


class MLPEstimator(TorchEstimatorBase):
    """:class:`~precisionmed.train.estimator.TorchEstimatorBase` for the pillar's MLPs.

    Checks, besides the training hyper-parameters, ``hidden_layers``, ``dropout``,
    ``activation`` and (where the estimator has it) ``input_bins``; with ``input_bins`` it
    computes the encoding's bin edges (``input_edges_``) on the training data before the
    network is built.
    """

    def _validate_common(self) -> None:
        check_param(
            self,
            "hidden_layers",
            isinstance(self.hidden_layers, (tuple, list))
            and all(is_int(h, 1) for h in self.hidden_layers),
            "a tuple of positive ints",
        )
        check_param(self, "dropout", 0.0 <= self.dropout < 1.0, "a float in [0, 1)")
        super()._validate_common()
        check_param(
            self, "activation", self.activation in ACTIVATIONS, f"one of {sorted(ACTIVATIONS)}"
        )
        bins = getattr(self, "input_bins", 0)
        check_param(self, "input_bins", is_int(bins, 0) and bins != 1, "0 or an int >= 2")

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
        if getattr(self, "input_bins", 0):
            self.input_edges_ = PiecewiseLinearEncoding.quantile_edges(X, self.input_bins)
        return super()._train(
            X,
            targets,
            loss_fn=loss_fn,
            metrics_fn=metrics_fn,
            monitor=monitor,
            mode=mode,
            stratify=stratify,
        )
