"""Engine callbacks: keep the best weights in memory, write per-epoch history and curves."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from precisionmed.errors import ConfigError


def copy_state(net: torch.nn.Module) -> dict[str, Any]:
    """A copy of ``net.state_dict()`` that later training steps leave alone: each tensor cloned
    (a copy of its data only; ``copy.deepcopy`` of the dict also walks and rebuilds each
    tensor's Python object, several times the cost on a small network), any other entry (a
    module's extra state) deep-copied."""
    return {
        k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
        for k, v in net.state_dict().items()
    }


class BestWeights(L.Callback):
    """Remember the network's weights at the best value of ``monitor``; restore them at the end;
    with ``patience``, stop training early.

    Every rank sees the same (globally computed) validation metrics, so every rank restores the
    same epoch's weights. The validation metrics of that epoch are kept too: they are the
    metrics of the restored network, so no further validation pass is needed. With
    ``include_start`` the validation of Lightning's sanity check (the whole validation set,
    before training: the engine sets ``num_sanity_val_steps=-1``) is a candidate too, as epoch -1.

    Early stopping follows Lightning's ``EarlyStopping(check_finite=True)``: an epoch improves
    when the monitor beats the last improving epoch's value by more than ``min_delta``; training
    stops after ``patience`` epochs without improvement, or at a non-finite value. Decided here,
    from the value this callback reads anyway, rather than by ``EarlyStopping``: its check costs
    about 0.07 ms an epoch on CPU (tensor comparisons and messages; measured), 1% of a small
    tabular network's epoch, and two callbacks would judge "better" twice.
    """

    def __init__(
        self,
        monitor: str,
        mode: str,
        *,
        include_start: bool = False,
        patience: int | None = None,
        min_delta: float = 0.0,
    ) -> None:
        self.monitor = monitor
        self.mode = mode
        self.include_start = include_start
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None
        self.best_metrics: dict[str, float] = {}
        self.stopped_epoch: int | None = None
        self._reference: float | None = None  # the last value that improved by min_delta
        self._waited = 0

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_score is None:
            return True
        return value < self.best_score if self.mode == "min" else value > self.best_score

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking and not self.include_start:
            return
        # the engine module's published metrics: trainer.callback_metrics costs more per read
        metrics: dict[str, float] = pl_module.published  # type: ignore[assignment]
        score = metrics.get(self.monitor)
        if score is None:
            available = ", ".join(sorted(k for k in metrics if k.startswith("val_"))) or "none"
            raise ConfigError(
                f"TrainConfig.monitor is '{self.monitor}', but no such validation metric was "
                f"logged; the validation metrics are: {available}. Set monitor to one of these, "
                f"or pass a metrics_fn that returns '{self.monitor.removeprefix('val_')}'."
            )
        if self._better(score):
            self.best_score = score
            self.best_epoch = -1 if trainer.sanity_checking else trainer.current_epoch
            self.best_state = copy_state(pl_module.net)  # type: ignore[arg-type]
            self.best_metrics = {k: v for k, v in metrics.items() if k.startswith("val_")}
        if self.patience is not None and not trainer.sanity_checking and self._stop(score):
            trainer.should_stop = True
            self.stopped_epoch = trainer.current_epoch

    def _stop(self, score: float) -> bool:
        """Whether this epoch's ``score`` ends training (see the class docstring)."""
        if not math.isfinite(score):
            return True
        sign = 1.0 if self.mode == "min" else -1.0
        if self._reference is None or sign * (score - self._reference) < -self.min_delta:
            self._reference, self._waited = score, 0
            return False
        self._waited += 1
        return self._waited >= self.patience  # type: ignore[operator]

    def restore(self, pl_module: L.LightningModule) -> None:
        if self.best_state is not None:
            net: torch.nn.Module = pl_module.net  # type: ignore[assignment]
            net.load_state_dict(self.best_state)


class WeightEMA(L.Callback):
    """An exponential moving average of the network's weights, validated in their place.

    Lightning's own ``WeightAveraging`` swaps the averaged weights in only for the duration of
    the validation epoch, so :class:`BestWeights` (which copies the weights once validation has
    ended) would keep the raw ones. This callback keeps the averaged weights in the network from
    the start of validation until the end of that training epoch, so the copy is of the weights
    that were validated. The average itself is torch's ``AveragedModel`` with its EMA function.

    Put it before :class:`BestWeights` in the callback list.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.average: torch.optim.swa_utils.AveragedModel | None = None
        self._raw: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        average = AveragedModel(
            pl_module.net,  # type: ignore[arg-type]
            multi_avg_fn=get_ema_multi_avg_fn(self.decay),
            use_buffers=True,
        )
        self.average = average
        net: torch.nn.Module = pl_module.net  # type: ignore[assignment]
        # after every optimisation step (also those of the engine's one-step-per-epoch path)
        pl_module.after_step.append(lambda: average.update_parameters(net))  # type: ignore[union-attr,operator]

    def _swap_in(self, pl_module: L.LightningModule) -> None:
        if self.average is None or self._raw is not None:
            return
        net: torch.nn.Module = pl_module.net  # type: ignore[assignment]
        self._raw = copy_state(net)
        net.load_state_dict(self.average.module.state_dict())

    def _swap_out(self, pl_module: L.LightningModule) -> None:
        if self._raw is not None:
            pl_module.net.load_state_dict(self._raw)  # type: ignore[union-attr]
            self._raw = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:  # before training the average is the network itself
            self._swap_in(pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swap_out(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Leave the averaged weights in the network (BestWeights may then restore an epoch's)."""
        self._swap_out(pl_module)
        if self.average is not None:
            pl_module.net.load_state_dict(self.average.module.state_dict())  # type: ignore[union-attr]


class EpochHistory(L.Callback):
    """Collect one row of metrics per epoch; write ``metrics.csv`` and ``training_curve.png``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, Any] = {"epoch": trainer.current_epoch}
        published: dict[str, float] = pl_module.published  # type: ignore[assignment]
        for key, value in sorted(published.items()):
            if key.startswith(("train_", "val_")):
                row[key] = value
        # The rate used during this epoch (epoch schedulers have already stepped by now).
        lr = getattr(pl_module, "epoch_lr", None)
        if lr is not None:
            row["lr"] = lr
        self.rows.append(row)

    def write(self, out_dir: Path, monitor: str) -> list[Path]:
        """Write the CSV and the PNG into ``out_dir``; return their paths."""
        if not self.rows:
            return []
        out_dir.mkdir(parents=True, exist_ok=True)
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        csv_path = out_dir / "metrics.csv"
        with csv_path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
        return [csv_path, plot_training_curve(self.rows, out_dir / "training_curve.png", monitor)]


def plot_training_curve(rows: list[dict[str, Any]], path: Path, monitor: str) -> Path:
    """Loss curves (train and validation) and the monitored metric, one PNG."""
    from precisionmed.evaluation.plots import new_figure, save_figure

    epochs = [r["epoch"] + 1 for r in rows]
    panels = ["loss"] + ([monitor] if monitor not in ("val_loss", "train_loss") else [])
    fig, axes = new_figure(len(panels), height=3.6)
    for ax, panel in zip([axes] if len(panels) == 1 else list(axes), panels, strict=True):
        keys = ["train_loss", "val_loss"] if panel == "loss" else [panel]
        for key in keys:
            ys = [r.get(key, float("nan")) for r in rows]
            ax.plot(epochs, ys, marker="o", ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)
