"""The LightningModule every deep model of precisionmed trains in.

A pillar supplies a plain ``torch.nn.Module`` (the network), a loss ``loss_fn(outputs, target)``
and optionally an epoch-level ``metrics_fn(outputs, target) -> {name: value}`` computed on all of
the validation (or test) set at once (AUC, C-index and similar need the whole set). The module
keeps optimisation and logging here and the model logic in the pillar, as Lightning's
module/datamodule split intends.

Evaluation batches are ``(indices, (inputs, target))`` (see :class:`IndexedDataset` and
:class:`IndexedCollate`): under DDP every
rank gathers all ranks' outputs, drops the samples the distributed sampler repeated to even out
the shards, and restores the dataset order, so the metrics are those of the whole evaluation set,
exactly once per sample, on every rank.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import lightning as L
import torch
from torch import nn
from torch.utils.data import Dataset

from precisionmed.errors import ConfigError
from precisionmed.train.config import TrainConfig

LossFn = Callable[[Any, Any], torch.Tensor]
MetricsFn = Callable[[Any, Any], Mapping[str, float]]


class IndexedDataset(Dataset):
    """``dataset[i] -> (i, item)``: evaluation samples carry their index (see
    :class:`IndexedCollate`)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[int, Any]:
        return i, self.dataset[i]


class IndexedCollate:
    """Collate ``(i, item)`` samples into ``(indices, batch)``: the items go through the
    dataset's own ``collate_fn`` (DataLoader's default when None) untouched by the index.

    A class rather than a closure so that DataLoader workers can pickle it.
    """

    def __init__(self, collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: list[tuple[int, Any]]) -> tuple[torch.Tensor, Any]:
        from torch.utils.data import default_collate

        collate = self.collate_fn or default_collate
        indices = torch.tensor([i for i, _ in samples], dtype=torch.long)
        return indices, collate([item for _, item in samples])


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, target)`` of a collated batch, or a :class:`ConfigError` that says what the
    engine expects."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    got = f"a {type(batch).__name__}" + (
        f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""
    )
    raise ConfigError(
        "A batch must be an (inputs, target) pair: items that are (inputs, target) pairs "
        "(inputs of any structure: a tensor, a dict, a tuple, an object with .to(device)) "
        f"batched by the default collate, or a collate_fn that returns such a pair; got {got}."
    )


def _to_cpu(obj: Any) -> Any:
    """Detached CPU copies; float16 / bfloat16 (a mixed-precision forward) as float32, so that
    the metrics and the monitored loss keep float32's resolution."""
    if isinstance(obj, torch.Tensor):
        if obj.dtype in (torch.float16, torch.bfloat16):
            obj = obj.float()
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_cpu(o) for o in obj)
    return obj


def _concat(parts: list[Any]) -> Any:
    """Concatenate per-batch outputs (or targets) along the first dimension: tensors, and
    tuples, lists and dicts of them (nested)."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) > 1 or first.ndim == 0:
            raise ConfigError(
                "Outputs and targets gathered for the loss and metrics must be tensors with a "
                "batch dimension and the same shape after it in every batch (e.g. one row per "
                f"sample; pool or pad per-token outputs to a fixed length); got shapes "
                f"{sorted(shapes)[:3]}."
            )
        return torch.cat(parts)
    if isinstance(first, Mapping):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    raise ConfigError(
        "Outputs and targets gathered for the loss and metrics must be tensors, or tuples, "
        f"lists or dicts of tensors; got a {type(first).__name__}."
    )


def _select(obj: Any, rows: torch.Tensor) -> Any:
    if isinstance(obj, Mapping):
        return {k: _select(v, rows) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_select(o, rows) for o in obj)
    return obj[rows]


def evaluation_metrics(
    outputs: Any,
    targets: Any,
    *,
    loss_fn: LossFn | None,
    metrics_fn: MetricsFn | None,
    prefix: str = "",
) -> dict[str, float]:
    """``{prefix + "loss": loss_fn(outputs, targets), prefix + name: value, ...}`` over a whole
    evaluation set: what :func:`~precisionmed.train.fit` logs for validation and test and what
    :func:`~precisionmed.train.evaluate` returns."""
    metrics: dict[str, float] = {}
    if loss_fn is not None:
        metrics[f"{prefix}loss"] = float(loss_fn(outputs, targets))
    if metrics_fn is not None:
        for key, value in metrics_fn(outputs, targets).items():
            metrics[f"{prefix}{key}"] = float(value)
    return metrics


class EngineModule(L.LightningModule):
    """Wraps ``net`` with its loss, epoch metrics and the optimiser from ``config``.

    Training batches are ``(inputs, target)`` (see :func:`split_batch`); evaluation batches
    ``(indices, (inputs, target))`` (see :class:`IndexedCollate`). ``inputs`` may have any
    structure ``net`` takes (Lightning moves tensors in collections, and objects with
    ``.to(device)``, to the device); the outputs and targets gathered for the metrics are
    tensors or tuples / dicts of tensors (e.g. survival times and events).

    Attributes
    ----------
    eval_sizes : dict
        ``"val"`` / ``"test"`` -> number of distinct samples the last metrics were computed on.
    """

    def __init__(
        self,
        net: nn.Module,
        loss_fn: LossFn | None,
        config: TrainConfig,
        metrics_fn: MetricsFn | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss_fn
        self.config = config
        self.metrics_fn = metrics_fn
        self._outputs: list[Any] = []
        self._targets: list[Any] = []
        self._indices: list[torch.Tensor] = []
        self._loss_sum: torch.Tensor | None = None
        self._seen = 0
        self.epoch_lr: float | None = None
        self.test_metrics: dict[str, float] = {}
        self.eval_sizes: dict[str, int] = {}
        #: The epoch metrics published so far (see :meth:`_publish`), as floats.
        self.published: dict[str, float] = {}
        #: Called after every optimisation step (e.g. the weight average's update).
        self.after_step: list[Callable[[], None]] = []
        self._epoch_tensors: tuple[torch.Tensor, ...] | None = None
        self._val_tensors: tuple[torch.Tensor, ...] | None = None

    def train_epoch_per_step(self, tensors: tuple[torch.Tensor, ...]) -> None:
        """Train on in-memory ``(inputs, target)`` tensors with one Lightning step per epoch:
        the batches are then the epoch's row orders (:class:`~precisionmed.train.tensor_data.
        EpochOrders`), and this module steps the optimiser once per mini-batch of
        ``config.batch_size`` rows itself (manual optimisation; single process only)."""
        self._epoch_tensors = tensors
        self.automatic_optimization = False

    def validate_in_step(self, tensors: tuple[torch.Tensor, ...]) -> None:
        """With :meth:`train_epoch_per_step`: validate on in-memory ``(inputs, target)`` tensors
        at the end of each epoch's step (the Trainer's own validation loop is switched off):
        the same hooks in the same order, the same batches, the same metrics."""
        self._val_tensors = tensors

    def forward(self, x: Any) -> Any:
        return self.net(x)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._seen = None, 0
        opt = self.trainer.optimizers[0] if self.trainer.optimizers else None
        self.epoch_lr = float(opt.param_groups[0]["lr"]) if opt is not None else None

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.loss_fn is None:
            raise ConfigError("Training needs a loss_fn(outputs, target) -> scalar tensor.")
        if self._epoch_tensors is not None:
            return self._train_epoch(batch)
        x, y = split_batch(batch)
        loss = self.loss_fn(self.net(x), y)
        self._add_loss(loss, _batch_len(y))
        return loss

    def _add_loss(self, loss: torch.Tensor, n: int) -> None:
        # Accumulated here rather than through ``self.log(on_epoch=True)``: Lightning's per-step
        # logging costs about 3 ms of Python per step on CPU (measured), 1-2% of a small CNN's
        # step; the epoch mean is logged once in ``on_validation_epoch_end``.
        weighted = loss.detach() * n
        self._loss_sum = weighted if self._loss_sum is None else self._loss_sum + weighted
        self._seen += n

    def _train_epoch(self, order: torch.Tensor) -> torch.Tensor:
        """One epoch over the in-memory tensors in ``order``: what Lightning's automatic
        optimisation does per batch (zero the gradients, forward, loss, backward, clip the
        gradient norm, step, the ``after_step`` hooks), for every mini-batch."""
        assert self._epoch_tensors is not None  # set by train_epoch_per_step
        x_all, y_all = (t.to(self.device) for t in self._epoch_tensors)  # no copy on the CPU
        optimizer = cast(torch.optim.Optimizer, self.optimizers(use_pl_optimizer=False))
        params = [p for group in optimizer.param_groups for p in group["params"]]
        clip, size = self.config.gradient_clip, self.config.batch_size
        per_step: Any = self.lr_schedulers() if self.config.scheduler == "onecycle" else None
        net, loss_fn, after_step = self.net, self.loss_fn, self.after_step  # locals: a hot loop
        assert loss_fn is not None  # checked by training_step
        order = order.to(x_all.device)
        n = len(order)
        loss = torch.zeros(())
        # the epoch's loss sum as :meth:`_add_loss` makes it, in locals: an attribute of an
        # nn.Module is set through Module.__setattr__, a few microseconds a call
        loss_sum: torch.Tensor | None = None
        for start in range(0, n, size):
            rows = order[start : start + size]
            optimizer.zero_grad()
            loss = loss_fn(net(x_all[rows]), y_all[rows])
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            if per_step is not None:
                per_step.step()
            weighted = loss.detach() * min(size, n - start)
            loss_sum = weighted if loss_sum is None else loss_sum + weighted
            for hook in after_step:
                hook()
        self._loss_sum, self._seen = loss_sum, n
        if self._val_tensors is not None:
            self._validate_epoch(self._val_tensors)
        return loss.detach()

    def _validate_epoch(self, tensors: tuple[torch.Tensor, ...]) -> None:
        """Lightning's validation epoch, run inside the training step: its hooks (callbacks,
        then this module) around the evaluation batches of ``max(256, batch_size)`` rows. Its
        loop costs about 3 ms an epoch on CPU (measured), a tenth of a small tabular network's
        epoch."""
        # a validation DataLoader draws its base seed from torch's global generator when it
        # starts; the same draw keeps the dropout masks of later steps those of the general path
        torch.empty((), dtype=torch.int64).random_()
        self._hooks("on_validation_start")
        self._hooks("on_validation_epoch_start")
        training = self.net.training
        self.net.eval()
        x_all, y_all = tensors
        n, size, device = len(x_all), max(256, self.config.batch_size), self.device
        with torch.no_grad():
            for start in range(0, n, size):
                stop = min(start + size, n)
                batch = (x_all[start:stop].to(device), y_all[start:stop].to(device))
                self._eval_step((torch.arange(start, stop), batch))
        self._hooks("on_validation_epoch_end")
        self._hooks("on_validation_end")
        self.net.train(training)

    def _hooks(self, name: str) -> None:
        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            getattr(callback, name)(self.trainer, self)
        getattr(self, name)()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._epoch_tensors is None:  # the epoch path calls them after each of its steps
            for hook in self.after_step:
                hook()

    def on_train_epoch_end(self) -> None:
        if (
            self._epoch_tensors is None
            or not self.lr_schedulers()
            or self.config.scheduler == "onecycle"  # stepped after every step
        ):
            return
        # manual optimisation: the epoch schedule is stepped here (after validation), as
        # Lightning does for automatic optimisation at the end of each epoch
        scheduler: Any = self.lr_schedulers()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            value = self.published.get(self.config.monitor)
            if value is not None:
                scheduler.step(float(value))
        else:
            scheduler.step()

    def _train_loss(self) -> float | None:
        if self._loss_sum is None:
            return None
        if self.trainer.world_size == 1:
            return float(self._loss_sum) / self._seen
        total = torch.stack([self._loss_sum.float(), self._loss_sum.new_tensor(self._seen)])
        total = self.trainer.strategy.reduce(total, reduce_op="sum")
        return float(total[0] / total[1])

    def _eval_step(self, batch: Any) -> None:
        idx, pair = batch
        x, y = split_batch(pair)
        out = self.net(x)
        self._indices.append(idx.detach().cpu())
        self._outputs.append(_to_cpu(out))
        self._targets.append(_to_cpu(y))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def _epoch_metrics(self, prefix: str) -> dict[str, float]:
        if not self._outputs:
            return {}
        outputs, targets = _concat(self._outputs), _concat(self._targets)
        indices = torch.cat(self._indices)
        self._outputs, self._targets, self._indices = [], [], []
        if self.trainer.world_size > 1:
            # Every rank computes the metrics on the whole evaluation set, so all ranks agree
            # on early stopping and on the best epoch.
            outputs, targets, indices = _gather(self, (outputs, targets, indices))
            # Dataset order, each sample once (DistributedSampler repeats a few to even the
            # shards). One process reads the set once, in order: nothing to do.
            order = torch.argsort(indices, stable=True)
            sorted_idx = indices[order]
            keep = torch.ones_like(sorted_idx, dtype=torch.bool)
            keep[1:] = sorted_idx[1:] != sorted_idx[:-1]
            rows = order[keep]
            outputs, targets = _select(outputs, rows), _select(targets, rows)
            indices = indices[rows]
        self.eval_sizes[prefix] = int(indices.numel())
        metrics = evaluation_metrics(
            outputs,
            targets,
            loss_fn=self.loss_fn,
            metrics_fn=self.metrics_fn,
            prefix=f"{prefix}_",
        )
        return metrics

    def _publish(self, metrics: Mapping[str, float]) -> None:
        """Hand epoch metrics to the callbacks (early stopping, best weights, history, progress
        bar, the plateau schedule): into ``trainer.callback_metrics``, the dict ``self.log``
        fills and they all read. Not ``self.log``: each call moves Lightning's whole result
        collection between devices, about 1 ms a key on CPU (measured), which on a small tabular
        network is a tenth of an epoch. Every rank computes the same values (see
        :meth:`_epoch_metrics`), so nothing is synchronised.

        The same values, as floats, go to :attr:`published`, which the engine's own callbacks
        read: ``trainer.callback_metrics`` rebuilds its dict from Lightning's result collection
        on every access (about 15 microseconds on CPU, measured; four reads an epoch)."""
        store = self.trainer.callback_metrics
        for key, value in metrics.items():
            store[key] = tensor = torch.tensor(float(value))
            self.published[key] = float(tensor)  # the logged (float32) value

    def on_validation_epoch_end(self) -> None:
        metrics = self._epoch_metrics("val")
        if not self.trainer.sanity_checking and metrics:
            # Validation runs once per epoch, after the last training batch, so the epoch's
            # training loss is complete here.
            train_loss = self._train_loss()
            if train_loss is not None:
                metrics = {**metrics, "train_loss": train_loss}
        self._publish(metrics)

    def on_test_epoch_end(self) -> None:
        self.test_metrics = self._epoch_metrics("test")
        self._publish(self.test_metrics)

    def _steps_per_epoch(self) -> int:
        """Optimisation steps in one epoch: the mini-batches of the epoch tensors on the
        epoch-per-step path, else the Trainer's count (its train loader's batches)."""
        if self._epoch_tensors is not None:
            return -(-len(self._epoch_tensors[0]) // self.config.batch_size)
        return max(1, int(self.trainer.estimated_stepping_batches) // self.config.max_epochs)

    def configure_optimizers(self) -> Any:
        cfg = self.config
        params = [p for p in self.net.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("The network has no trainable parameters (requires_grad=True).")
        opt: torch.optim.Optimizer
        if cfg.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(
                params,
                lr=cfg.lr,
                momentum=cfg.momentum,
                weight_decay=cfg.weight_decay,
                nesterov=cfg.nesterov,
            )
        if cfg.scheduler == "none":
            return opt
        if cfg.scheduler == "onecycle":
            sched: Any = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=cfg.lr, total_steps=max(1, self._steps_per_epoch() * cfg.max_epochs)
            )
            if not self.automatic_optimization:  # stepped by _train_epoch after each step
                return {"optimizer": opt, "lr_scheduler": sched}
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if cfg.scheduler == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.max_epochs)
        elif cfg.scheduler == "step":
            sched = torch.optim.lr_scheduler.StepLR(
                opt, step_size=cfg.lr_step_size or max(1, cfg.max_epochs // 3), gamma=cfg.lr_gamma
            )
        else:
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt,
                mode=cfg.direction,
                factor=cfg.lr_gamma,
                patience=cfg.lr_patience if cfg.lr_patience is not None else cfg.patience // 2,
            )
            if not self.automatic_optimization:  # stepped by on_train_epoch_end, with the monitor
                return {"optimizer": opt, "lr_scheduler": sched}
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": cfg.monitor}}
        return {"optimizer": opt, "lr_scheduler": sched}


def _batch_len(x: Any) -> int:
    """Samples in a batch, from its target: a tensor's first dimension, the first element of a
    tuple / dict, or ``len()`` of another object; 1 if none applies."""
    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.ndim else 1
    if isinstance(x, (tuple, list)) and x:
        return _batch_len(x[0])
    if isinstance(x, Mapping) and x:
        return _batch_len(next(iter(x.values())))
    try:
        return len(x)
    except TypeError:
        return 1


def _gather(module: L.LightningModule, obj: Any) -> Any:
    """All-gather tensors of unequal length across ranks (pads, gathers, trims).

    ``torch.distributed.all_gather`` directly: Lightning's ``all_gather`` goes through the
    deprecated ``torch.distributed.nn.functional.all_gather`` (a warning on every call).
    """
    import torch.distributed as dist

    if isinstance(obj, Mapping):
        return {k: _gather(module, v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_gather(module, o) for o in obj)
    world = dist.get_world_size()
    local = obj.to(module.device).contiguous()
    n = torch.tensor([local.shape[0]], device=module.device)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n)
    sizes = [int(c.item()) for c in counts]
    pad = max(sizes) - local.shape[0]
    padded = torch.cat([local, local.new_zeros((pad, *local.shape[1:]))]) if pad else local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size].cpu() for part, size in zip(parts, sizes, strict=True)])
