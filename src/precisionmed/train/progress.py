"""The engine's Rich progress bar: one live bar, one printed line per epoch, on stderr.

Hand-written rather than Lightning's ``RichProgressBar`` because, measured on a 2-core CPU, that
bar's render thread sleeps ``1 / refresh_rate`` seconds between checks and each stop waits for
it (0.1-0.5 s per fit and per test at usable rates, with 2-3 stops per :func:`fit`), and it
writes to stdout, which ``--json`` commands keep for JSON. Here the training loop itself renders,
at most every ``refresh_seconds``; no thread, nothing to join.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def format_metrics(metrics: dict[str, float]) -> str:
    """``train_loss 0.4123  val_loss 0.3810`` (4 significant digits, sorted keys)."""
    return "  ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))


class EngineProgressBar(ProgressBar):
    """Rich progress of training (per epoch) and testing, rank 0 only.

    Parameters
    ----------
    refresh_seconds : float
        Minimum seconds between two renders of the live bar.
    console : rich Console, optional
        Where to draw; a stderr console by default. On a console that is not a terminal (a
        log file, a pipe) only the per-epoch lines are printed.
    """

    def __init__(self, refresh_seconds: float = 0.25, console: Console | None = None) -> None:
        super().__init__()
        self.refresh_seconds = refresh_seconds
        self._console = console
        self._enabled = True
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_render = 0.0
        self._is_terminal: bool | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _get_console(self) -> Console:
        if self._console is None:
            self._console = Console(stderr=True)
        return self._console

    def _start(self) -> Progress | None:
        console = self._get_console()
        if self._is_terminal is None:  # asked once: rich reads the environment on each call
            self._is_terminal = console.is_terminal
        if not self._is_terminal:  # logs and pipes get the epoch lines only, no live bar
            return None
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=console,
                auto_refresh=False,
                transient=True,
            )
            self._progress.start()
        return self._progress

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress, self._task = None, None

    def _begin(self, description: str, total: float) -> None:
        progress = self._start()
        if progress is None:
            return
        total_or_none = None if math.isinf(total) else total
        if self._task is None:
            self._task = progress.add_task(description, total=total_or_none, metrics="")
        else:
            progress.reset(self._task, description=description, total=total_or_none, metrics="")
        progress.refresh()
        self._last_render = time.monotonic()

    def _advance(self, completed: int) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.update(self._task, completed=completed)
        now = time.monotonic()
        if now - self._last_render >= self.refresh_seconds:
            self._progress.refresh()
            self._last_render = now

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled:
            epoch = f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
            self._begin(epoch, self.total_train_batches)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._enabled:
            self._advance(batch_idx + 1)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled and self._progress is not None and self._task is not None:
            self._progress.update(self._task, metrics="validating")
            self._progress.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._enabled:
            return
        published: dict[str, float] = getattr(pl_module, "published", {})  # EngineModule's
        metrics = {k: v for k, v in published.items() if k.startswith(("train_", "val_"))}
        line = f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {format_metrics(metrics)}"
        console = self._get_console()
        if self._progress is None:  # no live bar to draw around: a plain write (rich's print
            console.file.write(line + "\n")  # costs about 1 ms a line, measured)
            console.file.flush()
        else:
            console.print(line, highlight=False)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled:
            self._begin("Testing", float(sum(trainer.num_test_batches)))

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._enabled:
            self._advance(batch_idx + 1)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._stop()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._stop()
