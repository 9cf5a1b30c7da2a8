"""Training steps every pillar reuses: train the members of a model and gather their results.

A pillar's ``train_*`` function is a handful of steps::

    def train_and_report(staging):                       # runs inside the save step
        fits = fit_members(build_member, val, ...)       # this module: seed, build, engine fit
        metrics = pillar_report(fits.first.net, ...)     # the pillar's evaluation and plots
        return ModelContents(config=..., metrics=metrics, card=..., state_dict=...), metrics

    path, metrics = write_model_dir(out_dir, train_and_report)   # precisionmed.artifacts

:func:`fit_members` trains one network or the members of a deep ensemble through
:func:`precisionmed.train.fit`: member ``i`` gets the seed ``config.seed + i``, applied before
the member is built, so its initial weights, augmentation and batch order are all fixed by it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from precisionmed.errors import ConfigError
from precisionmed.train.config import TrainConfig
from precisionmed.train.engine import FitResult, fit
from precisionmed.train.loaders import CollateFn
from precisionmed.train.module import LossFn, MetricsFn
from precisionmed.train.seeding import seed_everything

#: ``build_member(seed) -> (network, training dataset)``: called after ``seed_everything(seed)``.
BuildMember = Callable[[int], tuple[nn.Module, Dataset]]


def check_n_members(n_members: int) -> int:
    """Return ``n_members`` if it is an integer >= 1, else raise :class:`ConfigError`."""
    if isinstance(n_members, bool) or not isinstance(n_members, int) or n_members < 1:
        raise ConfigError(f"The 'n_members' parameter must be >= 1. Got {n_members!r}.")
    return n_members


@dataclass
class MemberFits:
    """What :func:`fit_members` returns: one :class:`~precisionmed.train.FitResult` per member.

    Attributes
    ----------
    results : list of FitResult
        In member order; ``results[i]`` was trained with ``seeds[i]``.
    seeds : list of int
        ``config.seed + i`` for member ``i``.
    cpu_seconds : float
        CPU time of building and training all members (every thread of this process).
    """

    results: list[FitResult]
    seeds: list[int]
    cpu_seconds: float

    @property
    def nets(self) -> list[nn.Module]:
        """The members' networks, each with its best epoch's weights (in eval mode)."""
        return [r.net for r in self.results]

    @property
    def first(self) -> FitResult:
        """Member 0's result (the whole model when there is one member)."""
        return self.results[0]

    @property
    def is_global_zero(self) -> bool:
        """Whether this process writes the model (always True without DDP)."""
        return self.first.is_global_zero

    def summary(self, monitor: str) -> dict[str, Any]:
        """The training part of ``metrics.json``: member 0's best epoch and every member's.

        Parameters
        ----------
        monitor : str
            The early-stopping metric (``config.monitor``), recorded beside its best value.

        Returns
        -------
        dict
            ``best_epoch``, ``epochs_run``, ``monitor``, ``best_score`` (member 0),
            ``n_members``, ``members`` (seed, best epoch, epochs run, best score of each),
            ``train_cpu_seconds`` and ``train_wall_seconds`` (sum of the members' fits).
        """
        return {
            "best_epoch": self.first.best_epoch,
            "epochs_run": len(self.first.history),
            "monitor": monitor,
            "best_score": self.first.best_score,
            "n_members": len(self.results),
            "members": [
                {
                    "seed": seed,
                    "best_epoch": r.best_epoch,
                    "epochs_run": len(r.history),
                    "best_score": r.best_score,
                }
                for seed, r in zip(self.seeds, self.results, strict=True)
            ],
            "train_cpu_seconds": self.cpu_seconds,
            "train_wall_seconds": sum(r.fit_seconds for r in self.results),
        }


def fit_members(
    build_member: BuildMember,
    val: Dataset,
    *,
    loss_fn: LossFn,
    metrics_fn: MetricsFn | None = None,
    config: TrainConfig,
    n_members: int = 1,
    out_dir: str | Path | None = None,
    collate_fn: CollateFn | None = None,
) -> MemberFits:
    """Seed, build and fit ``n_members`` networks, each with its own early stopping on ``val``.

    Parameters
    ----------
    build_member : callable
        ``build_member(seed) -> (net, train_dataset)``; called right after
        ``seed_everything(seed)``, so the initial weights and any seeded augmentation of the
        training set are fixed by the member's seed.
    val : Dataset
        The validation set every member early-stops on.
    loss_fn, metrics_fn, collate_fn
        As for :func:`precisionmed.train.fit`.
    config : TrainConfig
        The training configuration; member ``i`` trains with ``seed = config.seed + i``.
    n_members : int
        Number of networks (1: a single model; more: a deep ensemble).
    out_dir : path, optional
        Where the engine writes ``metrics.csv`` and ``training_curve.png``: ``out_dir`` itself
        for a single member, ``out_dir/member-<i>/`` for the members of an ensemble.

    Returns
    -------
    MemberFits

    Raises
    ------
    ConfigError
        ``n_members`` is not an integer >= 1, or the engine refuses the data or config.
    """
    check_n_members(n_members)
    out = None if out_dir is None else Path(out_dir)
    cpu0 = time.process_time()
    results, seeds = [], []
    for i in range(n_members):
        member_config = config.model_copy(update={"seed": config.seed + i})
        seed_everything(member_config.seed)  # the initial weights are part of what the seed fixes
        net, train = build_member(member_config.seed)
        member_out = out if out is None or n_members == 1 else out / f"member-{i}"
        results.append(
            fit(
                net,
                train,
                val,
                loss_fn=loss_fn,
                metrics_fn=metrics_fn,
                config=member_config,
                out_dir=member_out,
                collate_fn=collate_fn,
            )
        )
        seeds.append(member_config.seed)
    return MemberFits(results, seeds, time.process_time() - cpu0)
