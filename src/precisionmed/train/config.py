"""Typed run configuration of the training engine (loadable from YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from precisionmed.errors import ConfigError


class TrainConfig(BaseModel):
    """How the engine trains a network.

    Attributes
    ----------
    max_epochs : int
        Upper bound on epochs; early stopping usually ends sooner.
    batch_size : int
        Samples per optimisation step (per process under DDP).
    optimizer : {"adam", "adamw", "sgd"}
    lr, weight_decay, momentum : float
        Optimiser parameters (``momentum`` for SGD only).
    nesterov : bool
        Nesterov momentum for SGD (DeepSurv's optimiser); needs ``momentum > 0``.
    scheduler : {"none", "cosine", "step", "plateau", "onecycle"}
        Learning-rate schedule, stepped once per epoch: cosine annealing to 0 over
        ``max_epochs``; ``lr_gamma`` times every ``lr_step_size`` epochs (default
        ``max_epochs // 3``); or ``lr_gamma`` times when ``monitor`` has not improved for
        ``lr_patience`` epochs (default ``patience // 2``). ``"onecycle"`` is stepped after
        every optimisation step instead: one cycle over the whole run (``max_epochs`` times the
        batches of an epoch), warming up from ``lr / 25`` to ``lr`` over the first 30% of the
        steps and annealing to ``lr / 2.5e5`` (PyTorch's ``OneCycleLR`` defaults): the
        schedule for a fixed budget of steps, e.g. a single long epoch.
    lr_step_size, lr_gamma, lr_patience
        Parameters of the ``step`` and ``plateau`` schedules.
    monitor : str
        Validation metric for early stopping and best-checkpoint selection: ``"val_loss"`` or
        ``"val_<name>"`` for a ``<name>`` the ``metrics_fn`` returns (e.g. ``"val_auc"``).
    mode : {"min", "max"}, optional
        Whether ``monitor`` improves downwards or upwards. Left out, it is the direction the
        metric registry (:data:`precisionmed.evaluation.METRICS`) knows for ``monitor``
        (``val_loss`` -> ``"min"``, ``val_auc`` / ``val_cindex`` / ``val_dice`` -> ``"max"``);
        given, it must agree with that direction. An unregistered monitor needs it.
    patience : int
        Epochs without improvement before stopping.
    validate_start : bool
        Also validate the network as given, before any training step, and keep those weights
        if no epoch beats them on ``monitor`` (``best_epoch`` -1): a warm start (a pretrained or
        otherwise initialised network) is then never replaced by a worse trained one.
    restore_best : bool
        True (default): early stopping on ``monitor`` and the best epoch's weights restored.
        False: exactly ``max_epochs`` epochs, the last epoch's weights kept (validation is
        still run and logged each epoch): a refit on all the data for a number of epochs
        that an earlier early-stopped run found.
    ema_decay : float or None
        Keep an exponential moving average of the network's weights (and buffers), updated
        after every optimisation step with this decay (e.g. 0.9: about the last 10 steps);
        validation, early stopping, the restored best weights and the test use the averaged
        weights, and the returned network carries them. None (default): no averaging.
    seed : int
        In ``[0, 2**32 - 1]``: seeds Python, NumPy and torch before anything is built
        (:func:`~precisionmed.train.seed_everything`), and the data order.
    accelerator, devices, strategy, num_nodes
        Passed to Lightning: ``devices=2, strategy="ddp"`` trains on 2 processes.
    num_workers : int
        DataLoader worker processes.
    progress : bool
        Show the Rich progress bar.
    precision : {"32-true", "bf16-mixed", "16-mixed"}
        Lightning's precision: ``"32-true"`` (default) or automatic mixed precision, the
        forward passes of training and validation under ``torch.autocast`` in bfloat16 or
        float16 while the weights and the optimiser stay float32. ``"bf16-mixed"`` also runs on
        CPUs with bfloat16 instructions (AVX-512 BF16, AMX): a CharRNN's LSTM trains about 1.7x
        faster there; ``"16-mixed"`` (loss scaling) needs a GPU.
    """

    model_config = ConfigDict(extra="forbid")

    max_epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=128, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = False
    scheduler: Literal["none", "cosine", "step", "plateau", "onecycle"] = "none"
    lr_step_size: int | None = Field(default=None, ge=1)
    lr_gamma: float = Field(default=0.1, gt=0, lt=1)
    lr_patience: int | None = Field(default=None, ge=0)
    monitor: str = "val_loss"
    mode: Literal["min", "max"] | None = Field(default=None, validate_default=True)
    patience: int = Field(default=5, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    validate_start: bool = False
    restore_best: bool = True
    ema_decay: float | None = Field(default=None, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    accelerator: str = "cpu"
    devices: int = Field(default=1, ge=1)
    strategy: str = "auto"
    num_nodes: int = Field(default=1, ge=1)
    num_workers: int = Field(default=0, ge=0)
    progress: bool = True
    deterministic: bool = False
    gradient_clip: float | None = None
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"

    @field_validator("monitor")
    @classmethod
    def _monitor_is_validation_metric(cls, value: str) -> str:
        if not value.startswith("val_") or value == "val_":
            raise ValueError(
                "must name a validation metric, 'val_loss' or 'val_<name>' for a <name> the "
                "metrics_fn returns (e.g. 'val_auc')"
            )
        return value

    @field_validator("mode")
    @classmethod
    def _mode_is_the_metric_direction(cls, value: str | None, info: ValidationInfo) -> str:
        from precisionmed.evaluation.metrics import METRICS, find_metric

        monitor = info.data.get("monitor")
        if monitor is None:  # the monitor itself was invalid; its error is reported
            return value or "min"
        spec = find_metric(monitor)
        if spec is None:
            if value is None:
                raise ValueError(
                    f"the monitored metric {monitor!r} has no registered direction: set mode "
                    f"to 'min' or 'max', or monitor a known metric ({', '.join(METRICS.names())})"
                )
            return value
        if value is not None and value != spec.mode:
            better = "higher" if spec.higher_is_better else "lower"
            raise ValueError(
                f"{monitor!r} is better when {better} (mode {spec.mode!r}); mode {value!r} "
                "contradicts it: leave mode out or set it to the metric's direction"
            )
        return spec.mode

    @field_validator("precision")
    @classmethod
    def _float16_needs_a_gpu(cls, value: str, info: ValidationInfo) -> str:
        if value == "16-mixed" and info.data.get("accelerator") == "cpu":
            raise ValueError(
                "'16-mixed' (float16 with loss scaling) needs a GPU accelerator; on a CPU use "
                "'bf16-mixed' or '32-true'"
            )
        return value

    @property
    def direction(self) -> Literal["min", "max"]:
        """``mode`` as validation resolved it (from the metric registry when not given)."""
        return self.mode or "min"  # never None once validated

    @field_validator("nesterov")
    @classmethod
    def _nesterov_needs_sgd_momentum(cls, value: bool, info: ValidationInfo) -> bool:
        if value and (info.data.get("optimizer") != "sgd" or not info.data.get("momentum")):
            raise ValueError("Nesterov momentum needs optimizer 'sgd' and momentum > 0")
        return value

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a config from a YAML mapping of field names to values.

        Raises
        ------
        ConfigError
            The file cannot be read or parsed, is not a mapping, or a field is unknown or has
            a bad value; the message names the file (and line) and the field.
        """
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the training config ({exc}).") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or exc
            raise ConfigError(f"{path}: not valid YAML{where} ({problem}).") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{path}: a training config must be a YAML mapping of field: value; "
                f"got a {type(raw).__name__}."
            )
        bad_keys = [k for k in raw if not isinstance(k, str)]
        if bad_keys:
            raise ConfigError(f"{path}: field names must be text; got {bad_keys[0]!r}.")
        try:
            return cls(**raw)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {_describe(exc, 'field')}") from exc

    @classmethod
    def build(cls, **kwargs: object) -> TrainConfig:
        """Construct with a one-line :class:`ConfigError` instead of a pydantic traceback."""
        try:
            return cls(**kwargs)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ConfigError(_describe(exc, "Training parameter")) from exc


def _describe(exc: ValidationError, noun: str) -> str:
    """``<noun> 'lr': Input should be greater than 0. Got -1.`` for each error, joined."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        got = "" if err["type"] == "missing" else f" Got {err.get('input')!r}."
        parts.append(f"{noun} '{field}': {msg}.{got}")
    return "; ".join(parts)
