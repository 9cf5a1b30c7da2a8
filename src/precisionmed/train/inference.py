"""Evaluate and predict with a trained network: the validation/test computation of
:func:`~precisionmed.train.fit` on its own, and plain inference."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from precisionmed.train.config import TrainConfig
from precisionmed.train.loaders import CollateFn, check_dataset, eval_loader
from precisionmed.train.module import EngineModule, LossFn, MetricsFn, _concat, _to_cpu
from precisionmed.train.trainer import build_trainer, quiet_lightning


def run_test(trainer: L.Trainer, module: EngineModule, loader: DataLoader) -> dict[str, float]:
    with quiet_lightning():
        trainer.test(module, loader, verbose=False)
    return dict(module.test_metrics)


def evaluate(
    net: nn.Module,
    dataset: Dataset,
    *,
    metrics_fn: MetricsFn | None,
    loss_fn: LossFn | None = None,
    collate_fn: CollateFn | None = None,
    config: TrainConfig | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``net`` on ``dataset``: the computation :func:`fit` runs for its
    validation and test sets, for a network restored from disk.

    Parameters
    ----------
    net : nn.Module
        The network (put in eval mode; left in it).
    dataset : Dataset
        Items as for :func:`fit`.
    metrics_fn : callable or None
        ``metrics_fn(outputs, target) -> {name: float}`` over the whole set at once.
    loss_fn : callable, optional
        ``loss_fn(outputs, target)`` over the whole set; its value is ``"loss"``.
    collate_fn : callable, optional
        As for :func:`fit`.
    config : TrainConfig, optional
        Accelerator, devices, batch size (evaluation batches hold ``max(256, batch_size)``),
        workers and progress; default: the defaults without a progress bar.

    Returns
    -------
    dict
        ``{"loss": ..., name: ...}`` (no ``val_`` / ``test_`` prefix), each sample counted once.

    Raises
    ------
    ConfigError
        An empty dataset or batches that are not ``(inputs, target)`` pairs.
    """
    config = config or TrainConfig(progress=False)
    check_dataset("evaluation", dataset, collate_fn)
    module = EngineModule(net, loss_fn, config, metrics_fn)
    trainer = build_trainer(config, [], 1)
    metrics = run_test(trainer, module, eval_loader(dataset, config, collate_fn))
    net.eval()
    return {k.removeprefix("test_"): v for k, v in metrics.items()}


@torch.no_grad()
def predict_outputs(
    net: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    progress: bool = False,
    collate_fn: CollateFn | None = None,
) -> Any:
    """Run ``net`` over ``dataset`` in eval mode, on the device of its parameters.

    Parameters
    ----------
    net : nn.Module
    dataset : Dataset
        Items that batch (through ``collate_fn``, DataLoader's default when None) into
        ``(inputs, target)`` pairs, or into bare inputs that are not a tuple or list (a
        tensor, a dict, a batch object); a ``TensorDataset`` of inputs alone works too.
    batch_size : int
    progress : bool
        Show a progress bar (stderr).
    collate_fn : callable, optional

    Returns
    -------
    Tensor, or tuple / dict of tensors
        The outputs concatenated along the first dimension, on the CPU.
    """
    from lightning.fabric.utilities.apply_func import move_data_to_device
    from rich.progress import track

    net.eval()
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    outs = []
    # rich's track() builds a live display even when disabled (about 10 ms a call, which a
    # service answering one image at a time pays on every request): only build it when shown.
    batches = track(loader, description="predict", transient=True) if progress else loader
    for batch in batches:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        outs.append(_to_cpu(net(move_data_to_device(x, device))))
    return _concat(outs)
