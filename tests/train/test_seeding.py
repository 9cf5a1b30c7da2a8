"""Seeding happens once, in the engine, before anything is built."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from precisionmed.errors import ConfigError
from precisionmed.train import TrainConfig, cross_validate, seed_everything
from tests.train.tiny import state_hash

ce = nn.functional.cross_entropy


class UnseededBuilder:
    """Builds networks from whatever state the global generator is in (no seed of its own) and
    records each one's initial weights."""

    def __init__(self) -> None:
        self.initial: list[str] = []

    def __call__(self) -> nn.Module:
        net = nn.Sequential(
            nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 16), nn.ReLU(), nn.Linear(16, 2)
        )
        self.initial.append(state_hash(net.state_dict()))
        return net


def test_fold_zero_of_cross_validation_is_the_same_in_two_runs(breast) -> None:
    data = Subset(breast["train"], range(240))
    config = TrainConfig.build(max_epochs=2, batch_size=64, lr=3e-3, progress=False)
    runs = []
    for draw in (1, 2):
        torch.manual_seed(100 + draw)  # a different global state before each run
        build = UnseededBuilder()
        result = cross_validate(build, data, n_splits=2, loss_fn=ce, config=config)
        runs.append((build.initial, [state_hash(f.net.state_dict()) for f in result.folds], result))
    (init_a, final_a, res_a), (init_b, final_b, res_b) = runs
    assert init_a[0] == init_b[0]
    assert final_a[0] == final_b[0]
    assert final_a == final_b
    assert res_a.folds[0].test_metrics == res_b.folds[0].test_metrics
    build = UnseededBuilder()
    other = cross_validate(
        build, data, n_splits=2, loss_fn=ce, config=config.model_copy(update={"seed": 1})
    )
    assert build.initial[0] != init_a[0]  # another seed, another initialisation
    assert state_hash(other.folds[0].net.state_dict()) != final_a[0]


def test_seed_everything_seeds_python_numpy_and_torch() -> None:
    draws = []
    for _ in range(2):
        assert seed_everything(7) == 7
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, True])
def test_a_seed_out_of_range_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"seed must be an integer in \[0, 4294967295\]"):
        seed_everything(bad)  # type: ignore[arg-type]


def test_a_negative_seed_in_the_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Training parameter 'seed'.*Got -1"):
        TrainConfig.build(seed=-1)
