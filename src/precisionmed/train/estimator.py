"""The scikit-learn style base of every estimator that trains a torch network in the engine.

:class:`TorchEstimatorBase` validates the training hyper-parameters at ``fit``, carves a
validation split out of the training data, trains through :func:`precisionmed.train.fit` with
early stopping, predicts in eval mode without gradients, and pickles the fitted network as plain
NumPy arrays (so ``copy``, ``pickle``, ``joblib`` and ``skops`` work without torch objects inside
the state). A pillar's estimator defines ``_build_net`` and its ``fit``; the clinical MLPs
(:class:`~precisionmed.clinical.nets.MLPEstimator`) are built on it, and so are the estimators of
the other pillars.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch import nn
from torch.utils.data import TensorDataset

from precisionmed.errors import ConfigError
from precisionmed.train.config import TrainConfig
from precisionmed.train.engine import FitResult, fit
from precisionmed.train.inference import predict_outputs
from precisionmed.train.seeding import seed_everything

#: Optimisers of the estimators ("sgd-nesterov": SGD, momentum 0.9, Nesterov).
OPTIMIZERS = ("adam", "adamw", "sgd", "sgd-nesterov")


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

    Small networks on tabular batches lose more to thread synchronisation than they gain (on a
    busy 2-core machine, 2 threads made an epoch of a clinical MLP 6x slower than 1, measured).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def is_int(value: Any, minimum: int) -> bool:
    """Whether ``value`` is an integer (not a float) of at least ``minimum``."""
    return isinstance(value, numbers.Integral) and int(value) >= minimum


def check_param(est: Any, name: str, ok: bool, expected: str) -> None:
    """Raise :class:`ConfigError` in scikit-learn's words unless ``ok``.

    "The 'lr' parameter of DeepSurv must be a float > 0. Got -1 instead."
    """
    if not ok:
        raise ConfigError(
            f"The '{name}' parameter of {type(est).__name__} must be {expected}. "
            f"Got {getattr(est, name)!r} instead."
        )


class TorchEstimatorBase(BaseEstimator, ABC):
    """Shared fitting machinery of the deep estimators (not used on its own).

    Subclasses store their constructor parameters, define ``_build_net(n_inputs)``, and call
    :meth:`_validate_common` and then :meth:`_train` from ``fit``. Hyper-parameters every
    subclass has: ``lr``, ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience``,
    ``val_fraction``, ``optimizer`` (one of :data:`OPTIMIZERS`), ``n_threads``,
    ``random_state``.
    """

    net_: nn.Module
    n_features_in_: int

    def _validate_common(self) -> None:
        """Check the training hyper-parameters (a :class:`ConfigError` names the first bad one)."""
        check_param(self, "lr", self.lr > 0, "a float > 0")
        check_param(self, "weight_decay", self.weight_decay >= 0, "a float >= 0")
        for name in ("batch_size", "max_epochs", "patience"):
            check_param(self, name, is_int(getattr(self, name), 1), "an int >= 1")
        check_param(self, "val_fraction", 0.0 < self.val_fraction < 0.5, "a float in (0, 0.5)")
        check_param(
            self,
            "optimizer",
            self.optimizer in OPTIMIZERS,
            f"one of {', '.join(repr(o) for o in OPTIMIZERS)}",
        )
        check_param(self, "n_threads", is_int(self.n_threads, 1), "an int >= 1")

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
        loss_fn, metrics_fn : callable
            ``loss_fn(outputs, targets) -> scalar tensor``; ``metrics_fn(outputs, targets) ->
            {name: float}`` on the validation split (logged as ``val_<name>``), or None.
        monitor : str
            The logged metric early stopping and the best-epoch choice follow (``"val_loss"``).
        mode : {"min", "max"}
            Whether lower or higher ``monitor`` is better.
        stratify : ndarray of shape (n_samples,), optional
            Labels to stratify the validation split on (class, or event indicator).
        """
        from sklearn.model_selection import train_test_split

        seed = self._seed()
        idx = np.arange(len(X))
        try:
            tr, va = train_test_split(
                idx, test_size=self.val_fraction, random_state=seed, stratify=stratify
            )
        except ValueError:  # a class too small to stratify: fall back to a plain split
            tr, va = train_test_split(idx, test_size=self.val_fraction, random_state=seed)
        x = torch.tensor(np.asarray(X, dtype=np.float32))
        t = torch.tensor(np.asarray(targets, dtype=np.float32))
        seed_everything(seed)
        self.net_ = self._build_net(X.shape[1])
        self._init_net(X, np.asarray(targets), tr)
        with torch_threads(self.n_threads):
            result = fit(
                self.net_,
                BatchedTensorDataset(x[tr], t[tr]),
                TensorDataset(x[va], t[va]),
                loss_fn=loss_fn,
                metrics_fn=metrics_fn,
                config=self._train_config(seed, monitor, mode),
            )
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = len(result.history)
        self.val_metrics_ = dict(result.val_metrics)
        self.train_indices_, self.val_indices_ = np.sort(tr), np.sort(va)
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


__all__ = [
    "OPTIMIZERS",
    "BatchedTensorDataset",
    "TorchEstimatorBase",
    "check_param",
    "is_int",
    "torch_threads",
]
