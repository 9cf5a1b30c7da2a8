"""The fast path for in-memory tensors trains exactly as the general path does."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from precisionmed.train import TrainConfig, fit
from tests.train.tiny import state_hash

ce = nn.functional.cross_entropy


class AnyDataset(Dataset):
    """The same items behind a plain Dataset: the engine's general path (DataLoader per item)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int):  # noqa: ANN204
        return self.dataset[i]


def dropout_net() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.AvgPool2d(4),
        nn.Flatten(),
        nn.Linear(49, 32),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(32, 2),
    )


@pytest.mark.parametrize(
    ("n", "options"),
    [
        (256, {}),  # batches of 64 fill the epoch
        (250, {"gradient_clip": 0.05, "scheduler": "step", "lr_step_size": 1}),  # partial batch
        (250, {"ema_decay": 0.7, "scheduler": "plateau", "lr_patience": 0}),
        (250, {"scheduler": "onecycle"}),  # stepped after every step, not every epoch
    ],
)
def test_tensor_fast_path_equals_the_general_path(breast, n: int, options: dict) -> None:
    train = Subset(breast["train"], range(n))
    config = TrainConfig.build(
        max_epochs=4, batch_size=64, lr=3e-3, patience=10, progress=False, **options
    )
    fast = fit(dropout_net(), train, breast["val"], breast["test"], loss_fn=ce, config=config)
    general = fit(
        dropout_net(),
        AnyDataset(train),
        AnyDataset(breast["val"]),
        AnyDataset(breast["test"]),
        loss_fn=ce,
        config=config,
    )
    assert fast.history == general.history
    assert state_hash(fast.net.state_dict()) == state_hash(general.net.state_dict())
    assert fast.test_metrics == general.test_metrics
    assert fast.best_epoch == general.best_epoch
