"""The DataLoaders of the engine: training batches, evaluation batches that carry their index,
the fast path for in-memory tensors, and the check of a dataset against the data contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from precisionmed.errors import ConfigError
from precisionmed.train.config import TrainConfig
from precisionmed.train.module import IndexedCollate, IndexedDataset, split_batch
from precisionmed.train.tensor_data import EpochOrders, TensorBatches, as_batch, in_memory_tensors

CollateFn = Callable[[list[Any]], Any]


def make_loader(
    dataset: Dataset,
    config: TrainConfig,
    *,
    shuffle: bool,
    batch_size: int | None = None,
    collate_fn: CollateFn | None = None,
) -> DataLoader:
    """The DataLoader the engine uses (seeded shuffling, ``num_workers`` from the config,
    ``collate_fn`` DataLoader's default when None)."""
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(
        dataset,
        batch_size=batch_size or config.batch_size,
        shuffle=shuffle,
        num_workers=config.num_workers,
        generator=generator if shuffle else None,
        persistent_workers=config.num_workers > 0,
        collate_fn=collate_fn,
    )


# Messages Lightning emits that do not apply to how the engine uses it (each with the reason).


def check_dataset(name: str, dataset: Dataset | None, collate_fn: CollateFn | None) -> None:
    """A length, at least one item, and item 0 collated into an ``(inputs, target)`` batch."""
    if dataset is None:
        return
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ConfigError(f"The {name} dataset must be a map-style Dataset with a length.") from exc
    if n == 0:
        raise ConfigError(f"The {name} dataset is empty; it needs at least one sample.")
    first = dataset[0]
    if collate_fn is None:
        if not isinstance(first, (tuple, list)) or len(first) != 2:
            got = f"a {type(first).__name__}" + (
                f" of length {len(first)}" if isinstance(first, (tuple, list)) else ""
            )
            raise ConfigError(
                f"Items of the {name} dataset must be (inputs, target) pairs (inputs of any "
                f"structure), or pass a collate_fn that batches them into such a pair; item 0 "
                f"is {got}."
            )
        return
    try:
        split_batch(collate_fn([first]))
    except ConfigError as exc:
        raise ConfigError(f"The collate_fn on item 0 of the {name} dataset: {exc}") from exc


def train_loader(
    train: Dataset,
    tensors: tuple[torch.Tensor, ...] | None,
    config: TrainConfig,
    collate_fn: CollateFn | None,
    epoch_steps: bool,
) -> DataLoader | EpochOrders:
    """Shuffled training batches; for in-memory tensors the fast path of
    :mod:`~precisionmed.train.tensor_data` (the same batches; with ``epoch_steps`` one item
    per epoch, its row order)."""
    if tensors is None:
        return make_loader(train, config, shuffle=True, collate_fn=collate_fn)
    if not epoch_steps:  # several processes: batches sliced at once, Lightning's sampler
        return make_loader(TensorBatches(tensors), config, shuffle=True, collate_fn=as_batch)
    return EpochOrders(len(tensors[0]), config.batch_size, config.seed)


def eval_loader(dataset: Dataset, config: TrainConfig, collate_fn: CollateFn | None) -> DataLoader:
    """Evaluation batches ``(indices, (inputs, target))``, in dataset order."""
    tensors = None if collate_fn is not None else in_memory_tensors(dataset)
    if tensors is not None:
        return make_loader(
            TensorBatches(tensors, indexed=True),
            config,
            shuffle=False,
            batch_size=max(256, config.batch_size),
            collate_fn=as_batch,
        )
    return make_loader(
        IndexedDataset(dataset),
        config,
        shuffle=False,
        batch_size=max(256, config.batch_size),
        collate_fn=IndexedCollate(collate_fn),
    )
