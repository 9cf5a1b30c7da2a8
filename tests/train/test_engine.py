"""The training engine on real data (BreastMNIST): fit, early stopping, schedules, CV, errors."""

from __future__ import annotations

import copy
import csv
import math
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from precisionmed.errors import ConfigError
from precisionmed.train import TrainConfig, cross_validate, fit, predict_outputs
from tests.train.tiny import accuracy_and_count, state_hash, tiny_net

ce = nn.functional.cross_entropy


def quick(**kw: object) -> TrainConfig:
    base: dict[str, object] = {"max_epochs": 3, "batch_size": 64, "lr": 3e-3, "progress": False}
    return TrainConfig.build(**(base | kw))


def test_fit_restores_the_best_epoch_and_writes_history(breast, tmp_path: Path) -> None:
    net = tiny_net()
    result = fit(
        net,
        breast["train"],
        breast["val"],
        breast["test"],
        loss_fn=ce,
        metrics_fn=accuracy_and_count,
        config=quick(max_epochs=4, patience=10),
        out_dir=tmp_path,
    )
    val_losses = [row["val_loss"] for row in result.history]
    assert len(result.history) == 4
    assert result.best_epoch == int(np.argmin(val_losses))
    assert result.best_score == pytest.approx(min(val_losses))
    # The returned network carries the best epoch's weights: recompute outside the engine.
    outputs = predict_outputs(result.net, breast["val"])
    targets = breast["val"].tensors[1]
    assert float(ce(outputs, targets)) == pytest.approx(result.val_metrics["val_loss"], rel=1e-5)
    assert result.val_metrics["val_loss"] == pytest.approx(min(val_losses))
    assert result.val_metrics["val_n"] == 78
    test_out = predict_outputs(result.net, breast["test"])
    assert result.test_metrics["test_loss"] == pytest.approx(
        float(ce(test_out, breast["test"].tensors[1])), rel=1e-5
    )
    assert result.test_metrics["test_n"] == 156
    assert result.eval_sizes == {"val": 78, "test": 156}
    assert not result.net.training
    # Per-epoch CSV and training-curve PNG.
    assert {p.name for p in result.files} == {"metrics.csv", "training_curve.png"}
    with (tmp_path / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert {"train_loss", "val_loss", "val_acc", "lr"} <= set(rows[0])
    assert float(rows[2]["val_loss"]) == pytest.approx(val_losses[2])
    assert (tmp_path / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The epoch's training loss is the sample-weighted mean of the step losses: it falls.
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_same_seed_same_weights(breast) -> None:
    small = Subset(breast["train"], range(200))
    hashes = [
        state_hash(
            fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick()).net.state_dict()
        )
        for _ in range(2)
    ]
    other = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick(seed=1))
    assert hashes[0] == hashes[1]
    assert state_hash(other.net.state_dict()) != hashes[0]


def test_early_stopping_with_sgd_stops_after_patience(breast) -> None:
    # SGD with a vanishing rate: the validation loss cannot improve by min_delta after epoch 0.
    config = quick(
        optimizer="sgd", lr=1e-12, max_epochs=20, patience=2, min_delta=1e-3, momentum=0.0
    )
    small = Subset(breast["train"], range(128))
    result = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=config)
    assert len(result.history) == 3  # epoch 0 (best) + 2 epochs without improvement
    assert result.best_epoch == 0


def test_validate_start_keeps_a_warm_start_that_training_only_worsens(breast) -> None:
    """A network already trained well, then "fine-tuned" at a rate that wrecks it: without
    validate_start the engine returns the least bad wrecked epoch; with it, the start."""
    small = Subset(breast["train"], range(256))
    warm = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick(max_epochs=4)).net
    start = state_hash(warm.state_dict())
    wreck = {"optimizer": "sgd", "lr": 50.0, "momentum": 0.0, "max_epochs": 2, "patience": 5}
    plain = fit(copy.deepcopy(warm), small, breast["val"], loss_fn=ce, config=quick(**wreck))
    keep = quick(**wreck, validate_start=True)
    kept = fit(copy.deepcopy(warm), small, breast["val"], loss_fn=ce, config=keep)
    assert plain.best_epoch >= 0
    assert state_hash(plain.net.state_dict()) != start
    assert kept.best_epoch == -1
    assert state_hash(kept.net.state_dict()) == start
    assert kept.val_metrics["val_loss"] < min(row["val_loss"] for row in kept.history)
    assert len(kept.history) == 2  # the start is not an epoch of the history


def test_restore_best_off_trains_every_epoch_and_keeps_the_last(breast) -> None:
    """``restore_best=False`` (a refit for a known number of epochs): no early stopping even
    when the validation loss worsens at once, and the last epoch's weights are returned."""
    small = Subset(breast["train"], range(256))
    wreck = {"optimizer": "sgd", "lr": 50.0, "momentum": 0.0, "max_epochs": 4, "patience": 1}
    stopped = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick(**wreck))
    assert len(stopped.history) < 4
    last = fit(
        tiny_net(), small, breast["val"], loss_fn=ce, config=quick(**wreck, restore_best=False)
    )
    assert len(last.history) == 4
    assert last.best_epoch == 3
    assert last.val_metrics["val_loss"] == pytest.approx(last.history[-1]["val_loss"], rel=1e-5)
    assert last.best_score == last.val_metrics["val_loss"]


class _StepWeights(L.Callback):
    """Records the network's weights after every optimisation step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_fit_start(self, trainer, pl_module) -> None:  # noqa: ANN001
        # first, so that it sees the raw weights before the average's update
        pl_module.after_step.insert(
            0, lambda: self.steps.append(copy.deepcopy(pl_module.net.state_dict()))
        )


def test_weight_ema_is_what_is_validated_kept_and_tested(breast, monkeypatch) -> None:
    """With ``ema_decay`` the raw training trajectory is unchanged, and the network returned
    (and validated, early-stopped on, tested) is the exponential average of its steps."""
    import precisionmed.train.engine as engine

    recorder = _StepWeights()
    real_trainer = engine.build_trainer
    monkeypatch.setattr(
        engine,
        "build_trainer",
        lambda config, cbs, n, **kw: real_trainer(config, [recorder, *cbs], n, **kw),
    )
    small = Subset(breast["train"], range(256))  # 4 steps per epoch
    plain = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick(max_epochs=3))
    raw_steps, recorder.steps = recorder.steps, []
    config = quick(max_epochs=3, ema_decay=0.8, restore_best=False)
    ema = fit(tiny_net(), small, breast["val"], breast["test"], loss_fn=ce, config=config)
    # training itself is untouched by the averaging (same losses, same raw weights per step)
    assert [r["train_loss"] for r in ema.history] == [r["train_loss"] for r in plain.history]
    assert len(recorder.steps) == len(raw_steps) == 12
    for a, b in zip(recorder.steps, raw_steps, strict=True):
        assert state_hash(a) == state_hash(b)
    # the average: the first step's weights, then avg = 0.8 avg + 0.2 w at each further step
    avg = {k: v.clone().float() for k, v in raw_steps[0].items()}
    for step in raw_steps[1:]:
        avg = {k: 0.8 * avg[k] + 0.2 * step[k].float() for k in avg}
    for key, value in ema.net.state_dict().items():
        torch.testing.assert_close(value, avg[key], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(value, raw_steps[-1][key])
    # the validation and test figures are those of the averaged network
    val_out = predict_outputs(ema.net, breast["val"])
    val_loss = float(ce(val_out, breast["val"].tensors[1]))
    assert ema.val_metrics["val_loss"] == pytest.approx(val_loss, rel=1e-5)
    test_out = predict_outputs(ema.net, breast["test"])
    assert ema.test_metrics["test_loss"] == pytest.approx(
        float(ce(test_out, breast["test"].tensors[1])), rel=1e-5
    )
    # with early stopping, the restored best epoch is an averaged network too
    best = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick(ema_decay=0.8))
    out = predict_outputs(best.net, breast["val"])
    assert best.val_metrics["val_loss"] == pytest.approx(
        float(ce(out, breast["val"].tensors[1])), rel=1e-5
    )
    assert best.val_metrics["val_loss"] == pytest.approx(min(r["val_loss"] for r in best.history))


@pytest.mark.parametrize(
    ("scheduler", "extra", "expected"),
    [
        ("cosine", {}, [1e-2 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
        ("step", {"lr_step_size": 1, "lr_gamma": 0.5}, [1e-2, 5e-3, 2.5e-3, 1.25e-3]),
    ],
)
def test_epoch_schedules(breast, scheduler: str, extra: dict, expected: list[float]) -> None:
    small = Subset(breast["train"], range(128))
    config = quick(max_epochs=4, lr=1e-2, scheduler=scheduler, patience=10, **extra)
    result = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=config)
    assert [row["lr"] for row in result.history] == pytest.approx(expected)


def test_onecycle_schedule_warms_up_then_anneals_over_the_whole_run(breast) -> None:
    small = Subset(breast["train"], range(128))  # 2 steps an epoch, 8 in the run
    config = quick(max_epochs=4, lr=1e-2, scheduler="onecycle", patience=10)
    result = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=config)
    lrs = [row["lr"] for row in result.history]
    expected = torch.optim.lr_scheduler.OneCycleLR(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-2), max_lr=1e-2, total_steps=8
    )
    steps = [expected.get_last_lr()[0]]
    for _ in range(7):
        expected.optimizer.step()
        expected.step()
        steps.append(expected.get_last_lr()[0])
    assert lrs == pytest.approx(steps[::2])  # each epoch's rate is its first step's
    assert lrs[0] == pytest.approx(1e-2 / 25)
    assert max(lrs) > lrs[0]
    assert lrs[-1] < max(lrs)


def test_plateau_schedule_cuts_the_rate_when_the_monitor_stalls(breast) -> None:
    small = Subset(breast["train"], range(128))
    config = quick(
        optimizer="sgd",
        momentum=0.0,
        lr=1e-6,  # below ReduceLROnPlateau's eps (1e-8) a cut would be ignored
        max_epochs=4,
        patience=10,
        scheduler="plateau",
        lr_patience=0,
        lr_gamma=0.5,
    )
    result = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=config)
    lrs = [row["lr"] for row in result.history]
    # Epoch 0 sets the best; epoch 1 cannot improve by the relative threshold (1e-4), so the
    # rate is halved for epoch 2, and again for epoch 3.
    assert lrs == pytest.approx([1e-6, 1e-6, 5e-7, 2.5e-7])


def test_monitor_never_logged_is_a_config_error(breast) -> None:
    config = quick(monitor="val_auc", mode="max", max_epochs=1)
    with pytest.raises(ConfigError, match=r"'val_auc'.*val_loss.*metrics_fn that returns 'auc'"):
        fit(
            tiny_net(), Subset(breast["train"], range(64)), breast["val"], loss_fn=ce, config=config
        )


def test_monitor_must_be_a_validation_metric() -> None:
    with pytest.raises(ConfigError, match=r"Training parameter 'monitor'.*val_.*Got 'train_loss'"):
        TrainConfig.build(monitor="train_loss")
    with pytest.raises(ConfigError, match=r"'lr': Input should be greater than 0.*Got -1"):
        TrainConfig.build(lr=-1)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            TensorDataset(torch.zeros(4, 1, 28, 28)),
            r"\(inputs, target\) pairs.*collate_fn.*item 0 is a tuple of length 1",
        ),
        (TensorDataset(torch.zeros(0, 1, 28, 28), torch.zeros(0)), "train dataset is empty"),
    ],
)
def test_bad_datasets_are_config_errors(breast, items: TensorDataset, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fit(tiny_net(), items, breast["val"], loss_fn=ce, config=quick())


def test_stratified_cross_validation(breast) -> None:
    data = Subset(breast["train"], range(300))
    labels = breast["train"].tensors[1][:300].numpy()
    result = cross_validate(
        lambda: tiny_net(),
        data,
        n_splits=3,
        stratify=labels,
        loss_fn=ce,
        metrics_fn=accuracy_and_count,
        config=quick(max_epochs=2),
    )
    assert len(result.folds) == 3
    held_out = np.concatenate(result.test_indices)
    assert sorted(held_out.tolist()) == list(range(300))  # each sample tested exactly once
    overall = labels.mean()
    for fold, idx in zip(result.folds, result.test_indices, strict=True):
        assert abs(labels[idx].mean() - overall) < 0.02  # stratified: same class balance
        assert fold.test_metrics["test_n"] == len(idx)
    summary = result.summary()
    accs = [f.test_metrics["test_acc"] for f in result.folds]
    assert summary["test_acc"]["mean"] == pytest.approx(np.mean(accs))
    assert summary["test_acc"]["std"] == pytest.approx(np.std(accs, ddof=1))


def test_progress_goes_to_stderr_with_one_line_per_epoch(breast, capsys) -> None:
    config = quick(max_epochs=2, progress=True)
    fit(tiny_net(), Subset(breast["train"], range(128)), breast["val"], loss_fn=ce, config=config)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout stays free for --json output
    lines = [line for line in captured.err.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 2
    assert lines[1].startswith("Epoch 2/2")
    assert "train_loss" in lines[1]
    assert "val_loss" in lines[1]


def test_engine_is_silent_under_all_warnings_as_errors(breast) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(
            tiny_net(),
            Subset(breast["train"], range(128)),
            breast["val"],
            breast["test"],
            loss_fn=ce,
            config=quick(max_epochs=1),
        )


def test_predict_outputs_accepts_bare_inputs(breast) -> None:
    net = tiny_net().train()
    x = breast["val"].tensors[0]
    out = predict_outputs(net, TensorDataset(x), batch_size=32)
    assert out.shape == (78, 2)
    assert not net.training
    torch.testing.assert_close(out, net(x).detach())


class _CountingNet(nn.Module):
    """tiny_net with a non-tensor extra state: the number of training forwards so far."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_net()
        self.forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.forwards += 1
        return self.body(x)

    def get_extra_state(self) -> dict[str, int]:
        return {"forwards": self.forwards}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.forwards = state["forwards"]


def test_best_weights_restore_a_modules_extra_state_of_the_best_epoch(breast) -> None:
    """The best epoch's copy holds tensors and any extra state a module saves in its
    state_dict; both come back at the end, not those of the last epoch."""
    small = Subset(breast["train"], range(256))  # 4 training forwards an epoch
    wreck = {"optimizer": "sgd", "lr": 50.0, "momentum": 0.0, "max_epochs": 4, "patience": 1}
    result = fit(_CountingNet(), small, breast["val"], loss_fn=ce, config=quick(**wreck))
    assert result.best_epoch is not None
    assert len(result.history) == result.best_epoch + 2  # stopped one epoch after the best
    assert result.net.forwards == 4 * (result.best_epoch + 1)
    outputs = predict_outputs(result.net, breast["val"])
    assert float(ce(outputs, breast["val"].tensors[1])) == pytest.approx(
        result.val_metrics["val_loss"], rel=1e-5
    )


def test_a_non_finite_validation_loss_stops_training_at_once(breast) -> None:
    """A diverged network (here NaN after the first epoch) ends training in that epoch, however
    long the patience: a NaN never improves, so patience alone would train on."""
    small = Subset(breast["train"], range(256))
    blow_up = {"optimizer": "sgd", "lr": 1e30, "momentum": 0.0, "max_epochs": 8, "patience": 8}
    result = fit(tiny_net(), small, breast["val"], loss_fn=ce, config=quick(**blow_up))
    losses = [row["val_loss"] for row in result.history]
    assert len(losses) == 1
    assert not np.isfinite(losses[0])
    assert result.best_epoch is None


def test_bfloat16_mixed_precision_trains_about_as_float32_does(breast) -> None:
    kwargs = {"loss_fn": ce, "metrics_fn": accuracy_and_count}
    full = fit(tiny_net(), breast["train"], breast["val"], config=quick(), **kwargs)
    mixed_net = tiny_net()
    mixed = fit(
        mixed_net, breast["train"], breast["val"], config=quick(precision="bf16-mixed"), **kwargs
    )
    assert all(p.dtype == torch.float32 for p in mixed_net.parameters())
    assert abs(mixed.val_metrics["val_acc"] - full.val_metrics["val_acc"]) <= 0.05
    assert abs(mixed.val_metrics["val_loss"] - full.val_metrics["val_loss"]) <= 0.05
