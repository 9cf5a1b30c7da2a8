"""Typed run configuration of the training engine (loadable from YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    scheduler : {"none", "cosine", "step", "plateau"}
        Learning-rate schedule, stepped once per epoch.
    monitor : str
        Validation metric for early stopping and best-checkpoint selection, e.g. ``"val_loss"``
        or ``"val_auc"``.
    mode : {"min", "max"}
        Whether ``monitor`` improves downwards or upwards.
    patience : int
        Epochs without improvement before stopping.
    seed : int
        Seeds Python, NumPy and torch (and the data order).
    accelerator, devices, strategy, num_nodes
        Passed to Lightning: ``devices=2, strategy="ddp"`` trains on 2 processes.
    num_workers : int
        DataLoader worker processes.
    progress : bool
        Show the Rich progress bar.
    """

    model_config = ConfigDict(extra="forbid")

    max_epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    scheduler: Literal["none", "cosine", "step", "plateau"] = "none"
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0)
    seed: int = 0
    accelerator: str = "cpu"
    devices: int = Field(1, ge=1)
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    progress: bool = True
    deterministic: bool = False
    gradient_clip: float | None = None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a config from a YAML file; errors name the file and the field."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read YAML ({exc})") from exc
        try:
            return cls(**raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: field '{field}': {first['msg']}") from exc

    @classmethod
    def build(cls, **kwargs: object) -> TrainConfig:
        """Construct with a one-line :class:`ConfigError` instead of a pydantic traceback."""
        try:
            return cls(**kwargs)  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"Training parameter '{field}': {first['msg']}. Got {first.get('input')!r}."
            ) from exc
