"""The LightningModule every deep model of precisionmed trains in.

A pillar supplies a plain ``torch.nn.Module`` (the network), a loss ``loss_fn(outputs, target)``
and optionally an epoch-level ``metrics_fn(outputs, target) -> {name: value}`` computed on all of
the validation (or test) set at once (AUC, C-index and similar need the whole set). The module
keeps optimisation and logging here and the model logic in the pillar, as Lightning's
module/datamodule split intends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from precisionmed.train.config import TrainConfig

LossFn = Callable[[torch.Tensor, Any], torch.Tensor]
MetricsFn = Callable[[torch.Tensor, Any], Mapping[str, float]]


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_cpu(o) for o in obj)
    return obj


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, (tuple, list)):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    raise TypeError(f"Cannot concatenate batch targets of type {type(first).__name__}")


class EngineModule(L.LightningModule):
    """Wraps ``net`` with its loss, epoch metrics and the optimiser from ``config``.

    Batches are ``(inputs, target)``; ``target`` may be a tensor or a tuple of tensors (e.g.
    survival times and events).
    """

    def __init__(
        self,
        net: nn.Module,
        loss_fn: LossFn,
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
        self.test_metrics: dict[str, float] = {}

    def forward(self, x: Any) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=_batch_len(x))
        return loss

    def _eval_step(self, batch: Any) -> None:
        x, y = batch
        out = self.net(x)
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
        self._outputs, self._targets = [], []
        if self.trainer.world_size > 1:
            # Every rank computes the metrics on the whole evaluation set, so all ranks agree
            # on early stopping and on the best epoch.
            outputs = _gather(self, outputs)
            targets = _gather(self, targets)
        metrics = {f"{prefix}_loss": float(self.loss_fn(outputs, targets))}
        if self.metrics_fn is not None:
            for key, value in self.metrics_fn(outputs, targets).items():
                metrics[f"{prefix}_{key}"] = float(value)
        for key, value in metrics.items():
            self.log(key, value, prog_bar=key in (f"{prefix}_loss", self.config.monitor))
        return metrics

    def on_validation_epoch_end(self) -> None:
        self._epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self.test_metrics = self._epoch_metrics("test")

    def configure_optimizers(self) -> Any:
        cfg = self.config
        params = [p for p in self.net.parameters() if p.requires_grad]
        opt: torch.optim.Optimizer
        if cfg.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        if cfg.scheduler == "none":
            return opt
        if cfg.scheduler == "cosine":
            sched: Any = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.max_epochs)
        elif cfg.scheduler == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.max_epochs // 3))
        else:
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode=cfg.mode, patience=max(1, cfg.patience // 2)
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": cfg.monitor}}
        return {"optimizer": opt, "lr_scheduler": sched}


def _batch_len(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.shape[0])
    if isinstance(x, (tuple, list)) and x:
        return _batch_len(x[0])
    return 1


def _gather(module: L.LightningModule, obj: Any) -> Any:
    """All-gather tensors of unequal length across ranks (pads, gathers, trims)."""
    if isinstance(obj, (tuple, list)):
        return type(obj)(_gather(module, o) for o in obj)
    n = torch.tensor([obj.shape[0]])
    sizes = module.all_gather(n).reshape(-1).tolist()
    pad = max(sizes) - obj.shape[0]
    padded = torch.cat([obj, obj.new_zeros((pad, *obj.shape[1:]))]) if pad else obj
    gathered = module.all_gather(padded)  # (world, max, ...)
    return torch.cat([gathered[r, : sizes[r]].cpu() for r in range(len(sizes))])
