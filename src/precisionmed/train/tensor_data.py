"""The engine's fast path for data held in memory as tensors (a ``TensorDataset``).

Measured on GBSG2 with DeepSurv's MLP (2 x 32 units, batch 64; ``benchmarks/engine_overhead.py``):
a plain PyTorch loop takes about 0.5-2 ms per optimisation step, while the general path cost about
3 ms more per step: 64 ``__getitem__`` calls and a ``torch.stack`` per batch in the DataLoader, and
Lightning's per-step machinery (about 2 ms of hooks, closures and optimizer wrappers). For such
data the engine therefore

* fetches a batch with one indexing operation per tensor (:class:`TensorBatches`, through the
  DataLoader's ``__getitems__``), for training and evaluation alike, and
* in a single process, runs a whole training epoch as one Lightning step
  (:class:`EpochOrders`): the module loops over the epoch's mini-batches itself
  (:meth:`~precisionmed.train.EngineModule.training_step`), so Lightning's hooks run once per
  epoch instead of once per step.

The batches are exactly those of the general path: the same rows in the same order, drawn from
the same seeded generator in the same sequence of calls as ``DataLoader(shuffle=True,
generator=...)`` makes (checked in ``tests/train/test_tensor_data.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Subset, TensorDataset


def in_memory_tensors(dataset: Dataset) -> tuple[torch.Tensor, ...] | None:
    """The tensors behind a ``TensorDataset`` (or a ``Subset`` of one, nested), rows in the
    dataset's order; None for any other dataset (or a subclass that changes ``__getitem__``)."""
    if isinstance(dataset, Subset):
        inner = in_memory_tensors(dataset.dataset)
        if inner is None:
            return None
        rows = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return tuple(t[rows] for t in inner)
    if (
        isinstance(dataset, TensorDataset)
        and type(dataset).__getitem__ is TensorDataset.__getitem__
        and len(dataset.tensors) == 2
    ):
        return tuple(dataset.tensors)
    return None


class TensorBatches(Dataset):
    """Rows of in-memory tensors, a whole batch per fetch.

    ``DataLoader`` hands ``__getitems__`` a batch's indices; it returns the batch itself
    (``(x[idx], y[idx])``, or ``(idx, (x[idx], y[idx]))`` with ``indexed``), which
    :func:`as_batch` passes through. Any sampler works (also Lightning's distributed one).
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...], *, indexed: bool = False) -> None:
        self.tensors = tensors
        self.indexed = indexed

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def __getitem__(self, i: int) -> Any:
        item = tuple(t[i] for t in self.tensors)
        return (i, item) if self.indexed else item

    def __getitems__(self, indices: list[int]) -> Any:
        idx = torch.as_tensor(indices, dtype=torch.long)
        batch = tuple(t[idx] for t in self.tensors)
        return (idx, batch) if self.indexed else batch


def as_batch(batch: Any) -> Any:
    """The collate function of :class:`TensorBatches`: the batch is already made."""
    return batch


class EpochOrders:
    """The training data of the one-step-per-epoch path: one item per epoch, that epoch's
    shuffled row order (a ``torch.randperm(n)``).

    A plain iterable, not a ``DataLoader``: Lightning takes any iterable as training data and
    calls ``iter()`` on it once per epoch; a DataLoader would add its iterator's set-up (about
    0.05 ms an epoch, measured) for nothing. The orders are those of the general path's
    ``DataLoader(shuffle=True, generator=...)`` seeded with ``seed``: per epoch that loader draws
    a base seed from the generator when its iterator starts, then ``RandomSampler`` draws one
    permutation, and, when the last batch is a partial one (``n % batch_size``), the sampler is
    run to its end, where it draws a second permutation of which it yields nothing. The same
    draws here take the generator through the same states.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n = n
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[torch.Tensor]:
        generator = self.generator
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # the loader's base seed
        order = torch.randperm(self.n, generator=generator)
        if self.n % self.batch_size:
            torch.randperm(self.n, generator=generator)  # RandomSampler's trailing draw
        yield order
