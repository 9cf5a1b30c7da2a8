"""The Lightning Trainer the engine runs: its settings, the distributed layout, and the
Lightning messages that do not apply to how the engine uses it."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L

from precisionmed.train.config import TrainConfig
from precisionmed.train.progress import EngineProgressBar

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)


_NOISE = (
    # Lightning's own use of a deprecated torch pytree class (lightning 2.6, torch >= 2.9).
    r".*LeafSpec.*",
    # num_workers=0 is the project default (deterministic, no fork of large arrays).
    r".*does not have many workers.*",
    r".*The number of training batches.*",
    r".*GPU available but not used.*",
    # Evaluation metrics are computed on the gathered, de-duplicated set on every rank, so the
    # logged values are identical across ranks and evaluation under DDP sees each sample once.
    r".*sync_dist=True.*",
    r".*it is recommended to use `Trainer\(devices=1, num_nodes=1\)`.*",
)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's warnings and info lines that do not apply to the engine."""
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        yield


def distributed_layout(config: TrainConfig) -> tuple[int, int, str]:
    """``(devices, num_nodes, strategy)`` for the Trainer.

    Under ``torchrun`` (``torch.distributed.is_torchelastic_launched()``) a config left at one
    device on one node takes its layout from torchrun's environment: ``LOCAL_WORLD_SIZE``
    processes per node, ``WORLD_SIZE / LOCAL_WORLD_SIZE`` nodes, strategy ``ddp``. An explicit
    layout is kept (Lightning checks that it matches ``WORLD_SIZE``).
    """
    import torch.distributed as dist

    devices, num_nodes, strategy = config.devices, config.num_nodes, config.strategy
    launched = dist.is_available() and dist.is_torchelastic_launched()
    if launched and devices == 1 and num_nodes == 1:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        world = int(os.environ.get("WORLD_SIZE", str(local)))
        devices, num_nodes = local, max(1, world // max(local, 1))
        if strategy == "auto" and world > 1:
            strategy = "ddp"
    return devices, num_nodes, strategy


def build_trainer(
    config: TrainConfig,
    callbacks: list[L.Callback],
    max_epochs: int,
    *,
    manual: bool = False,
    own_val: bool = False,
) -> L.Trainer:
    """The Lightning Trainer; ``manual``: the module optimises itself (the epoch-per-step path
    clips gradients itself, Lightning refuses ``gradient_clip_val`` then); ``own_val``: the
    module validates inside that step, the Trainer's validation loop is off."""
    if config.progress:
        callbacks = [*callbacks, EngineProgressBar()]
    devices, num_nodes, strategy = distributed_layout(config)
    with quiet_lightning():
        return L.Trainer(
            accelerator=config.accelerator,
            devices=devices,
            strategy=strategy,
            num_nodes=num_nodes,
            max_epochs=max_epochs,
            callbacks=callbacks,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=config.progress,
            enable_model_summary=False,
            deterministic=config.deterministic,
            precision=config.precision,
            gradient_clip_val=None if manual else config.gradient_clip,
            # validate_start: Lightning's sanity check runs the whole validation set once
            # before training; BestWeights records it as epoch -1
            num_sanity_val_steps=-1 if config.validate_start else 0,
            limit_val_batches=0 if own_val else None,
            log_every_n_steps=50,
            use_distributed_sampler=True,
        )
