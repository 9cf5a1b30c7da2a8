"""The one training engine: fit, cross-validate and predict, on Lightning.

Every deep model of precisionmed trains through :func:`fit` (a train/validation/test split) or
:func:`cross_validate` (k-fold). Early stopping watches a named validation metric, the best
epoch's weights are restored before testing, per-epoch metrics go to ``metrics.csv`` with a
``training_curve.png``, and ``TrainConfig(devices=N, strategy="ddp")`` scales out on
``torch.distributed`` (multi-node through ``torchrun``; see the README). :func:`evaluate` is the
same validation/test computation on its own, for a network restored from disk.

The data contract: a map-style dataset, batched by ``collate_fn`` (DataLoader's default when
None). A batch is an ``(inputs, target)`` pair; ``net(inputs)`` gives the outputs and
``loss_fn(outputs, target)`` the loss. ``inputs`` may be any structure the network takes (a
tensor, a dict or tuple of tensors, padded sequences with their lengths, a batch object with
``.to(device)``); without a ``collate_fn`` the items themselves are ``(inputs, target)`` pairs.
The outputs and targets that the loss and the metrics see over a whole evaluation set are
concatenated along the first dimension: tensors, or tuples / dicts of tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch import nn
from torch.utils.data import Dataset, Subset

from precisionmed.data.splits import kfold_indices
from precisionmed.train.callbacks import BestWeights, EpochHistory, WeightEMA
from precisionmed.train.config import TrainConfig
from precisionmed.train.inference import run_test
from precisionmed.train.loaders import CollateFn, check_dataset, eval_loader, train_loader
from precisionmed.train.module import EngineModule, LossFn, MetricsFn
from precisionmed.train.seeding import seed_everything
from precisionmed.train.tensor_data import in_memory_tensors
from precisionmed.train.trainer import build_trainer, distributed_layout, quiet_lightning


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    net : nn.Module
        The network with the best epoch's weights (in eval mode).
    history : list of dict
        One row of metrics per epoch.
    best_epoch : int or None
        0-based epoch of the best ``monitor`` value.
    best_score : float or None
        That value.
    val_metrics, test_metrics : dict
        Metrics of the restored network on the validation / test set.
    fit_seconds : float
        Wall-clock seconds of training (validation included).
    train_samples_per_second : float
        Training samples processed per second over all epochs.
    is_global_zero : bool
        True on the process that should write artefacts (always True without DDP).
    files : list of Path
        Files written (metrics.csv, training_curve.png).
    config : TrainConfig
        The configuration the network was trained with.
    eval_sizes : dict
        ``"val"`` / ``"test"`` -> number of samples the last metrics were computed on (the
        whole set, each sample once, under DDP too).
    """

    net: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_score: float | None
    val_metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    train_samples_per_second: float = 0.0
    is_global_zero: bool = True
    files: list[Path] = field(default_factory=list)
    config: TrainConfig | None = None
    eval_sizes: dict[str, int] = field(default_factory=dict)


def fit(
    net: nn.Module,
    train: Dataset,
    val: Dataset,
    test: Dataset | None = None,
    *,
    loss_fn: LossFn,
    metrics_fn: MetricsFn | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    collate_fn: CollateFn | None = None,
) -> FitResult:
    """Train ``net`` with early stopping on ``config.monitor``; restore the best; test.

    Parameters
    ----------
    net : nn.Module
        The network; ``net(inputs)`` gives the outputs ``loss_fn`` and ``metrics_fn`` take.
    train, val, test : Dataset
        Map-style datasets of ``(inputs, target)`` pairs, or of any items ``collate_fn``
        batches into ``(inputs, target)`` (see the module's data contract).
    loss_fn : callable
        ``loss_fn(outputs, target) -> scalar tensor``; the validation and test losses are
        ``loss_fn`` over the whole set at once.
    metrics_fn : callable, optional
        ``metrics_fn(outputs, target) -> {name: float}`` over a whole evaluation set (in dataset
        order, each sample once, also under DDP); logged as ``val_<name>`` / ``test_<name>``.
    config : TrainConfig
        Optimiser, schedule, early stopping, seed and devices.
    out_dir : path, optional
        Where ``metrics.csv`` and ``training_curve.png`` are written (by rank 0).
    collate_fn : callable, optional
        ``collate_fn(list of items) -> (inputs, target)``, DataLoader's; its default stacks
        tensors (also inside tuples and dicts).

    Returns
    -------
    FitResult
        ``val_metrics`` are those of the best epoch (the restored weights); ``test_metrics``
        those of the restored network on ``test``.

    Raises
    ------
    ConfigError
        An empty dataset, batches that are not ``(inputs, target)`` pairs, or
        ``config.monitor`` naming a metric that is never logged.
    """
    config = config or TrainConfig()
    for name, dataset in (("train", train), ("val", val), ("test", test)):
        check_dataset(name, dataset, collate_fn)
    seed_everything(config.seed)
    module = EngineModule(net, loss_fn, config, metrics_fn)
    best = BestWeights(
        config.monitor,
        config.direction,
        include_start=config.validate_start,
        patience=config.patience,  # early stopping, as Lightning's EarlyStopping does it
        min_delta=config.min_delta,
    )
    history = EpochHistory()
    # restore_best off: no best-weights copies and no early stopping, only the history
    callbacks: list[L.Callback] = [best, history] if config.restore_best else [history]
    if config.ema_decay is not None:  # first: the others see the averaged weights
        callbacks.insert(0, WeightEMA(config.ema_decay))
    tensors = None if collate_fn is not None else in_memory_tensors(train)
    devices, num_nodes, _ = distributed_layout(config)
    # float16 needs the loss scaling of Lightning's own optimisation loop
    epoch_steps = (
        tensors is not None and devices * num_nodes == 1 and config.precision != "16-mixed"
    )
    # validation inside the epoch's step too, unless the start is validated (a sanity check)
    val_tensors = in_memory_tensors(val) if epoch_steps and not config.validate_start else None
    trainer = build_trainer(
        config, callbacks, config.max_epochs, manual=epoch_steps, own_val=val_tensors is not None
    )
    train_batches = train_loader(train, tensors, config, collate_fn, epoch_steps)
    if epoch_steps:
        module.train_epoch_per_step(tensors)  # type: ignore[arg-type]
    if val_tensors is not None and collate_fn is None:
        module.validate_in_step(val_tensors)
    val_loader = eval_loader(val, config, collate_fn)
    start = time.perf_counter()
    net.train()  # a network returned by an earlier fit (a warm start) comes in eval mode
    with quiet_lightning():
        trainer.fit(module, train_batches, val_loader)
    fit_seconds = time.perf_counter() - start
    epochs_run = max(1, trainer.current_epoch)
    samples_per_s = len(train) * epochs_run / max(fit_seconds, 1e-9)  # type: ignore[arg-type]
    if config.restore_best:
        best.restore(module)
        val_metrics = dict(best.best_metrics)
        best_epoch, best_score = best.best_epoch, best.best_score
    else:  # the last epoch's weights, and its validation metrics from the history
        last = history.rows[-1] if history.rows else {}
        val_metrics = {k: float(v) for k, v in last.items() if k.startswith("val_")}
        best_epoch, best_score = epochs_run - 1, val_metrics.get(config.monitor)
    if not val_metrics:  # no finite value of the monitor in any epoch: report the last weights
        val_metrics = run_test(trainer, module, val_loader)
        val_metrics = {k.replace("test_", "val_", 1): v for k, v in val_metrics.items()}
    test_metrics: dict[str, float] = {}
    if test is not None:
        test_metrics = run_test(trainer, module, eval_loader(test, config, collate_fn))
    files: list[Path] = []
    if out_dir is not None and trainer.is_global_zero:
        files = history.write(Path(out_dir), config.monitor)
    net.eval()
    return FitResult(
        net=net,
        history=history.rows,
        best_epoch=best_epoch,
        best_score=best_score,
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        fit_seconds=fit_seconds,
        train_samples_per_second=samples_per_s,
        is_global_zero=trainer.is_global_zero,
        files=files,
        config=config,
        eval_sizes=dict(module.eval_sizes),
    )


@dataclass
class CVResult:
    """What :func:`cross_validate` returns: one :class:`FitResult` per fold and a summary."""

    folds: list[FitResult]
    test_indices: list[np.ndarray]

    def summary(self) -> dict[str, dict[str, float]]:
        """``metric -> {"mean", "std"}`` over folds of each fold's held-out metrics."""
        keys = sorted({k for f in self.folds for k in f.test_metrics})
        out = {}
        for key in keys:
            vals = np.array([f.test_metrics[key] for f in self.folds if key in f.test_metrics])
            out[key] = {
                "mean": float(vals.mean()),
                "std": float(vals.std(ddof=1) if len(vals) > 1 else 0.0),
            }
        return out


def cross_validate(
    build_net: Callable[[], nn.Module],
    dataset: Dataset,
    *,
    n_splits: int = 5,
    stratify: Sequence[int] | np.ndarray | None = None,
    val_fraction: float = 0.1,
    loss_fn: LossFn,
    metrics_fn: MetricsFn | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    collate_fn: CollateFn | None = None,
) -> CVResult:
    """k-fold (stratified when ``stratify`` is given) cross-validation with :func:`fit`.

    Each fold trains a fresh ``build_net()`` on the other folds, minus a validation part of
    ``val_fraction`` used for early stopping, and is tested on its held-out fold. The engine
    seeds (``config.seed``) before every ``build_net()``, so each fold's initial weights are
    fixed by the seed; ``collate_fn`` is :func:`fit`'s.
    """
    from precisionmed.data.splits import train_val_test_indices

    config = config or TrainConfig()
    n = len(dataset)  # type: ignore[arg-type]
    labels = None if stratify is None else np.asarray(stratify)
    folds, tests = [], []
    for k, (train_idx, test_idx) in enumerate(
        kfold_indices(n, n_splits, stratify=labels, seed=config.seed)
    ):
        inner_labels = None if labels is None else labels[train_idx]
        tr, va, _ = train_val_test_indices(
            len(train_idx),
            val_fraction=val_fraction,
            test_fraction=0.0,
            stratify=inner_labels,
            seed=config.seed,
        )
        fold_out = None if out_dir is None else Path(out_dir) / f"fold{k}"
        seed_everything(config.seed)  # the initial weights are part of what the seed fixes
        result = fit(
            build_net(),
            Subset(dataset, train_idx[tr].tolist()),
            Subset(dataset, train_idx[va].tolist()),
            Subset(dataset, test_idx.tolist()),
            loss_fn=loss_fn,
            metrics_fn=metrics_fn,
            config=config,
            out_dir=fold_out,
            collate_fn=collate_fn,
        )
        folds.append(result)
        tests.append(test_idx)
    return CVResult(folds=folds, test_indices=tests)
