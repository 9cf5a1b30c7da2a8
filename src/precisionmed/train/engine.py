"""The one training engine: fit, cross-validate and predict, on Lightning.

Every deep model of precisionmed trains through :func:`fit` (a train/validation/test split) or
:func:`cross_validate` (k-fold). Early stopping watches a named validation metric, the best
epoch's weights are restored before testing, per-epoch metrics go to ``metrics.csv`` with a
``training_curve.png``, and ``TrainConfig(devices=N, strategy="ddp")`` scales out on
``torch.distributed`` (multi-node through ``torchrun``; see the README).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from precisionmed.data.splits import kfold_indices
from precisionmed.train.callbacks import BestWeights, EpochHistory
from precisionmed.train.config import TrainConfig
from precisionmed.train.module import EngineModule, LossFn, MetricsFn, _concat

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)


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


def make_loader(
    dataset: Dataset, config: TrainConfig, *, shuffle: bool, batch_size: int | None = None
) -> DataLoader:
    """The DataLoader the engine uses (seeded shuffling, ``num_workers`` from the config)."""
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(
        dataset,
        batch_size=batch_size or config.batch_size,
        shuffle=shuffle,
        num_workers=config.num_workers,
        generator=generator if shuffle else None,
        persistent_workers=config.num_workers > 0,
    )


def _trainer(config: TrainConfig, callbacks: list[L.Callback], max_epochs: int) -> L.Trainer:
    if config.progress:
        callbacks = [*callbacks, RichProgressBar(refresh_rate=10, leave=True)]
    return L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        max_epochs=max_epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        deterministic=config.deterministic,
        gradient_clip_val=config.gradient_clip,
        num_sanity_val_steps=0,
        log_every_n_steps=50,
        use_distributed_sampler=True,
    )


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
) -> FitResult:
    """Train ``net`` with early stopping on ``config.monitor``; restore the best; test.

    Parameters
    ----------
    net : nn.Module
        The network; ``net(inputs)`` gives the outputs ``loss_fn`` and ``metrics_fn`` take.
    train, val, test : Dataset
        Map-style datasets of ``(inputs, target)`` pairs.
    loss_fn : callable
        ``loss_fn(outputs, target) -> scalar tensor``.
    metrics_fn : callable, optional
        ``metrics_fn(outputs, target) -> {name: float}`` over a whole evaluation set; logged as
        ``val_<name>`` / ``test_<name>``.
    config : TrainConfig
        Optimiser, schedule, early stopping, seed and devices.
    out_dir : path, optional
        Where ``metrics.csv`` and ``training_curve.png`` are written.
    """
    config = config or TrainConfig()
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = EngineModule(net, loss_fn, config, metrics_fn)
    best = BestWeights(config.monitor, config.mode)
    history = EpochHistory()
    stopper = EarlyStopping(
        monitor=config.monitor,
        mode=config.mode,
        patience=config.patience,
        min_delta=config.min_delta,
        check_finite=True,
    )
    trainer = _trainer(config, [best, history, stopper], config.max_epochs)
    train_loader = make_loader(train, config, shuffle=True)
    val_loader = make_loader(val, config, shuffle=False, batch_size=max(256, config.batch_size))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*The number of training batches.*")
        trainer.fit(module, train_loader, val_loader)
    fit_seconds = time.perf_counter() - start
    best.restore(module)
    epochs_run = max(1, trainer.current_epoch)
    samples_per_s = len(train) * epochs_run / max(fit_seconds, 1e-9)  # type: ignore[arg-type]

    val_metrics = _evaluate(trainer, module, val_loader)
    val_metrics = {k.replace("test_", "val_", 1): v for k, v in val_metrics.items()}
    test_metrics: dict[str, float] = {}
    if test is not None:
        test_loader = make_loader(
            test, config, shuffle=False, batch_size=max(256, config.batch_size)
        )
        test_metrics = _evaluate(trainer, module, test_loader)
    files: list[Path] = []
    if out_dir is not None and trainer.is_global_zero:
        files = history.write(Path(out_dir), config.monitor)
    net.eval()
    return FitResult(
        net=net,
        history=history.rows,
        best_epoch=best.best_epoch,
        best_score=best.best_score,
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        fit_seconds=fit_seconds,
        train_samples_per_second=samples_per_s,
        is_global_zero=trainer.is_global_zero,
        files=files,
        config=config,
    )


def _evaluate(trainer: L.Trainer, module: EngineModule, loader: DataLoader) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.test(module, loader, verbose=False)
    return dict(module.test_metrics)


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
) -> CVResult:
    """k-fold (stratified when ``stratify`` is given) cross-validation with :func:`fit`.

    Each fold trains a fresh ``build_net()`` on the other folds, minus a validation part of
    ``val_fraction`` used for early stopping, and is tested on its held-out fold.
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
        result = fit(
            build_net(),
            Subset(dataset, train_idx[tr].tolist()),
            Subset(dataset, train_idx[va].tolist()),
            Subset(dataset, test_idx.tolist()),
            loss_fn=loss_fn,
            metrics_fn=metrics_fn,
            config=config,
            out_dir=fold_out,
        )
        folds.append(result)
        tests.append(test_idx)
    return CVResult(folds=folds, test_indices=tests)


@torch.no_grad()
def predict_outputs(
    net: nn.Module, dataset: Dataset, *, batch_size: int = 256, progress: bool = False
) -> torch.Tensor:
    """Run ``net`` over ``dataset`` (``(inputs, target)`` or bare inputs) in eval mode.

    Returns the concatenated outputs, on the CPU.
    """
    from rich.progress import track

    net.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    outs = []
    for batch in track(loader, description="predict", disable=not progress, transient=True):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        outs.append(net(x).cpu())
    return _concat(outs)
