"""A deep-network disease-risk classifier with the scikit-learn API, on the training engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from precisionmed.clinical.nets import MLPEstimator, make_mlp


def _ce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target.long())


def _accuracy(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    return {"accuracy": float((logits.argmax(1) == target.long()).float().mean())}


class DNNClassifier(ClassifierMixin, MLPEstimator):
    """Multilayer-perceptron classifier (binary or multi-class), scikit-learn compatible.

    Inputs are numeric arrays; put :func:`~precisionmed.clinical.preprocess.make_preprocessor`
    before it in a Pipeline for tables with missing values or categorical columns. Training uses
    cross-entropy in :func:`precisionmed.train.fit` with early stopping on the validation loss of
    a stratified ``val_fraction`` split of the training data.

    Parameters
    ----------
    hidden_layers : tuple of int
        Hidden layer widths.
    dropout : float
        Dropout after each hidden layer.
    lr, weight_decay : float
        Learning rate and L2 penalty.
    batch_size, max_epochs, patience : int
        Samples per step; epoch cap; epochs without validation improvement before stopping.
    val_fraction : float
        Fraction of the training data held out for early stopping.
    optimizer : {"adam", "adamw", "sgd", "sgd-nesterov"}
    activation : {"relu", "selu", "elu", "gelu", "tanh"}
    batch_norm : bool
    n_threads : int
        Torch threads while fitting and predicting (1 is fastest for these small networks).
    random_state : int, RandomState or None

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    net_ : torch.nn.Module
        Outputs one logit per class.
    history_ : list of dict
    best_epoch_ : int
    """

    def __init__(
        self,
        *,
        hidden_layers: tuple[int, ...] = (64, 32),
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
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
        self.n_threads = n_threads
        self.random_state = random_state

    def _build_net(self, n_inputs: int) -> nn.Module:
        return make_mlp(
            n_inputs,
            self.hidden_layers,
            len(self.classes_),
            dropout=self.dropout,
            activation=self.activation,
            batch_norm=self.batch_norm,
        )

    def fit(self, X: Any, y: Any) -> DNNClassifier:
        """Train on ``X`` of shape (n_samples, n_features) and labels ``y`` of shape
        (n_samples,)."""
        self._validate_common()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"DNNClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})."
            )
        codes = encoder.transform(y)
        self._train(
            X,
            codes,
            loss_fn=_ce_loss,
            metrics_fn=_accuracy,
            monitor="val_loss",
            mode="min",
            stratify=codes,
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return torch.softmax(self._forward(X).double(), dim=1).numpy()

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return torch.log_softmax(self._forward(X).double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per sample, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
