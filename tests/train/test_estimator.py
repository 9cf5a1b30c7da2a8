"""The spine's base of torch estimators (src/precisionmed/train/estimator.py), used on its own:
a pillar-free estimator built on it validates, trains, predicts and pickles."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError
from precisionmed.train.estimator import BatchedTensorDataset, TorchEstimatorBase, torch_threads


class LinearScore(RegressorMixin, TorchEstimatorBase):
    """A linear score trained on the mean squared error: the least a pillar writes."""

    def __init__(self, *, lr=1e-2, weight_decay=0.0, batch_size=64, max_epochs=20, patience=5,
                 val_fraction=0.2, optimizer="adam", n_threads=1, random_state=0):  # fmt: skip
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
        return nn.Linear(n_inputs, 1)

    def fit(self, X, y):
        self._validate_common()
        self.n_features_in_ = X.shape[1]

        def mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return nn.functional.mse_loss(out.reshape(-1), target.reshape(-1))

        self._train(X, y, loss_fn=mse, metrics_fn=None, monitor="val_loss", mode="min")
        return self

    def predict(self, X):
        return self._forward(X).reshape(-1).numpy()


@pytest.fixture(scope="module")
def breast() -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset("gbsg2")
    X = data.X.select_dtypes("number").to_numpy(float)
    X = (X - X.mean(0)) / X.std(0)
    return X, data.y["event"].astype(float)


def test_a_pillar_free_estimator_trains_splits_and_pickles(breast) -> None:
    X, y = breast
    est = LinearScore().fit(X, y)
    assert len(est.train_indices_) + len(est.val_indices_) == len(X)
    assert len(est.val_indices_) == pytest.approx(0.2 * len(X), abs=1)
    assert roc_auc_score(y, est.predict(X)) > 0.6  # the event is predictable from the columns
    again = LinearScore().fit(X, y)  # seeded: the same split, weights and scores
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    restored = pickle.loads(pickle.dumps(est))
    assert not any(
        isinstance(v, torch.Tensor | nn.Module) for v in restored.__getstate__().values()
    )
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("lr", -1.0, "a float > 0"),
        ("batch_size", 2.5, "an int >= 1"),
        ("val_fraction", 0.5, "a float in (0, 0.5)"),
        ("optimizer", "lbfgs", "one of 'adam', 'adamw', 'sgd', 'sgd-nesterov'"),
    ],
)
def test_bad_training_parameters_fail_at_fit(breast, param, value, expected) -> None:
    X, y = breast
    message = f"The '{param}' parameter of LinearScore must be {expected}. Got {value!r} instead."
    with pytest.raises(ConfigError) as info:
        LinearScore(**{param: value}).fit(X, y)
    assert str(info.value) == message


def test_torch_threads_restores() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_batched_tensor_dataset_gives_the_same_batches() -> None:
    x, t = torch.randn(50, 3), torch.randn(50, 2)
    plain, batched = (
        list(DataLoader(cls(x, t), batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(3)))
        for cls in (TensorDataset, BatchedTensorDataset)
    )  # fmt: skip
    assert len(plain) == len(batched) == 4
    for (a, b), (c, d) in zip(plain, batched, strict=True):
        assert torch.equal(a, c)
        assert torch.equal(b, d)
