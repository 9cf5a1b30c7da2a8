"""fit_members: member i is seeded config.seed + i before it is built, and trains on its own."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from precisionmed.errors import ConfigError
from precisionmed.train import TrainConfig, seed_everything
from precisionmed.train.steps import fit_members
from tests.train.tiny import accuracy_and_count, state_hash


def unseeded_net() -> nn.Module:
    """Initialised from torch's global generator: only the caller's seeding fixes it."""
    return nn.Sequential(
        nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 32), nn.ReLU(), nn.Linear(32, 2)
    )


def test_members_are_seeded_seed_plus_i_before_they_are_built(
    breast: dict[str, TensorDataset], tmp_path: Path
) -> None:
    built: list[tuple[int, str]] = []

    def build_member(seed: int) -> tuple[nn.Module, TensorDataset]:
        net = unseeded_net()
        built.append((seed, state_hash(copy.deepcopy(net.state_dict()))))
        return net, breast["train"]

    config = TrainConfig(max_epochs=1, batch_size=64, progress=False, seed=7)
    fits = fit_members(
        build_member,
        breast["val"],
        loss_fn=nn.CrossEntropyLoss(),
        metrics_fn=accuracy_and_count,
        config=config,
        n_members=2,
        out_dir=tmp_path,
    )
    assert [seed for seed, _ in built] == fits.seeds == [7, 8]
    assert [r.config.seed for r in fits.results] == [7, 8]
    for seed, initial in built:  # the same weights as a fresh build after seeding by hand
        seed_everything(seed)
        assert state_hash(unseeded_net().state_dict()) == initial
    assert built[0][1] != built[1][1]
    assert state_hash(fits.nets[0].state_dict()) != state_hash(fits.nets[1].state_dict())
    # each member's training curve in its own folder
    assert (tmp_path / "member-0" / "metrics.csv").is_file()
    assert (tmp_path / "member-1" / "metrics.csv").is_file()
    summary = fits.summary(config.monitor)
    assert summary["n_members"] == 2
    assert [m["seed"] for m in summary["members"]] == [7, 8]
    assert summary["best_epoch"] == fits.first.best_epoch == 0
    assert summary["monitor"] == "val_loss"
    assert summary["best_score"] == pytest.approx(fits.first.val_metrics["val_loss"])


def test_one_member_trains_like_fit_and_writes_its_curve_into_out_dir(
    breast: dict[str, TensorDataset], tmp_path: Path
) -> None:
    from precisionmed.train import fit

    config = TrainConfig(max_epochs=1, batch_size=64, progress=False, seed=3)
    fits = fit_members(
        lambda seed: (unseeded_net(), breast["train"]),
        breast["val"],
        loss_fn=nn.CrossEntropyLoss(),
        config=config,
        out_dir=tmp_path,
    )
    assert (tmp_path / "metrics.csv").is_file()
    assert not (tmp_path / "member-0").exists()
    seed_everything(3)
    by_hand = fit(
        unseeded_net(), breast["train"], breast["val"], loss_fn=nn.CrossEntropyLoss(),
        config=config,
    )  # fmt: skip
    assert state_hash(fits.first.net.state_dict()) == state_hash(by_hand.net.state_dict())
    assert fits.first.history == by_hand.history


@pytest.mark.parametrize("n_members", [0, -1, True])
def test_a_bad_number_of_members_is_refused_before_anything_is_built(n_members: int) -> None:
    def build_member(seed: int) -> tuple[nn.Module, TensorDataset]:
        raise AssertionError("built")

    with pytest.raises(ConfigError, match=r"'n_members' parameter must be >= 1\. Got"):
        fit_members(
            build_member,
            TensorDataset(torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long)),
            loss_fn=nn.CrossEntropyLoss(),
            config=TrainConfig(progress=False),
            n_members=n_members,
        )
