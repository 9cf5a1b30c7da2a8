"""A denoising autoencoder patient representation ("Deep Patient", Miotto et al. 2016).

The encoder learns to reconstruct each patient's feature vector from a corrupted copy (masking
or Gaussian noise) and its bottleneck becomes a compact representation. As a scikit-learn
transformer it goes in a Pipeline before any classifier or survival model, e.g.
``make_pipeline(make_preprocessor(types), DenoisingAutoencoder(n_components=16), CoxPH...())``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from precisionmed.clinical.nets import MLPEstimator, make_mlp
from precisionmed.train import predict_outputs
from precisionmed.train.estimator import check_param


class AutoencoderNet(nn.Module):
    """Corrupt (in training mode only) -> encoder -> decoder.

    Parameters
    ----------
    n_inputs : int
        Features per patient; input of shape (B, n_inputs).
    hidden_layers : sequence of int
        Encoder hidden widths; the decoder mirrors them.
    n_components : int
        Width of the code; :meth:`encode` returns shape (B, n_components).
    noise : float
        Masking: probability of zeroing each input; Gaussian: noise standard deviation.
    noise_type : {"mask", "gaussian"}
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_layers: tuple[int, ...],
        n_components: int,
        *,
        noise: float,
        noise_type: str,
        dropout: float,
        activation: str,
        batch_norm: bool,
    ) -> None:
        super().__init__()
        self.noise = noise
        self.noise_type = noise_type
        kw = {"dropout": dropout, "activation": activation, "batch_norm": batch_norm}
        self.encoder = make_mlp(n_inputs, hidden_layers, n_components, **kw)  # type: ignore[arg-type]
        self.decoder = make_mlp(n_components, tuple(reversed(hidden_layers)), n_inputs, **kw)  # type: ignore[arg-type]

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise <= 0:
            return x
        if self.noise_type == "mask":
            return x * (torch.rand_like(x) >= self.noise)
        return x + self.noise * torch.randn_like(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            x = self.corrupt(x)
        return self.decoder(self.encoder(x))


def _reconstruction_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(recon, target)


class DenoisingAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, MLPEstimator):
    """Denoising autoencoder with the scikit-learn transformer API.

    Inputs should be numeric and on comparable scales (standardise first, e.g. with
    :func:`~precisionmed.clinical.preprocess.make_preprocessor`); the reconstruction loss is
    the mean squared error, with early stopping on a held-out ``val_fraction`` of patients.

    Parameters
    ----------
    n_components : int
        Size of the learned representation.
    hidden_layers : tuple of int
        Encoder hidden widths (the decoder mirrors them).
    noise : float
        Corruption level: masking probability in [0, 1) or Gaussian standard deviation.
    noise_type : {"mask", "gaussian"}
    dropout, lr, weight_decay, batch_size, max_epochs, patience, val_fraction, optimizer,
    activation, batch_norm, n_threads, random_state
        As for :class:`~precisionmed.clinical.dnn.DNNClassifier`.

    Attributes
    ----------
    net_ : AutoencoderNet
    n_features_in_ : int
    history_ : list of dict
    """

    def __init__(
        self,
        *,
        n_components: int = 32,
        hidden_layers: tuple[int, ...] = (128,),
        noise: float = 0.2,
        noise_type: str = "mask",
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 20,
        val_fraction: float = 0.15,
        optimizer: str = "adam",
        activation: str = "relu",
        batch_norm: bool = False,
        n_threads: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.n_components = n_components
        self.hidden_layers = hidden_layers
        self.noise = noise
        self.noise_type = noise_type
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
        self.n_threads = n_threads
        self.random_state = random_state

    @property
    def _n_features_out(self) -> int:
        return int(self.n_components)

    def _build_net(self, n_inputs: int) -> nn.Module:
        return AutoencoderNet(
            n_inputs,
            tuple(self.hidden_layers),
            int(self.n_components),
            noise=float(self.noise),
            noise_type=self.noise_type,
            dropout=self.dropout,
            activation=self.activation,
            batch_norm=self.batch_norm,
        )

    def fit(self, X: Any, y: Any = None) -> DenoisingAutoencoder:
        """Learn the representation of ``X`` of shape (n_samples, n_features); ``y`` is
        ignored."""
        self._validate_common()
        check_param(
            self,
            "n_components",
            isinstance(self.n_components, numbers.Integral) and self.n_components >= 1,
            "an int >= 1",
        )
        check_param(
            self, "noise_type", self.noise_type in ("mask", "gaussian"), "'mask' or 'gaussian'"
        )
        if self.noise_type == "mask":
            check_param(self, "noise", 0.0 <= self.noise < 1.0, "a float in [0, 1)")
        else:
            check_param(self, "noise", self.noise >= 0.0, "a float >= 0")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self._train(
            X, X, loss_fn=_reconstruction_loss, metrics_fn=None, monitor="val_loss", mode="min"
        )
        self.reconstruction_error_ = float(self.val_metrics_.get("val_loss", np.nan))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The code of each patient: float array of shape (n_samples, n_components)."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        encoder: nn.Module = self.net_.encoder  # type: ignore[assignment]
        x = torch.tensor(np.asarray(X, dtype=np.float32))
        return predict_outputs(encoder, TensorDataset(x)).double().numpy()

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes of shape (n_samples, n_components) back to feature space,
        shape (n_samples, n_features_in_)."""
        check_is_fitted(self, "net_")
        codes = np.asarray(X, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.n_components:
            raise ValueError(
                f"inverse_transform expects codes of shape (n_samples, {self.n_components}); "
                f"got {codes.shape}."
            )
        decoder: nn.Module = self.net_.decoder  # type: ignore[assignment]
        return predict_outputs(decoder, TensorDataset(torch.tensor(codes))).double().numpy()
