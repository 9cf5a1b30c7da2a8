"""The metric registry: every metric the engine may monitor, and whether higher is better.

The engine never guesses a direction: :class:`~precisionmed.train.TrainConfig` derives its
``mode`` from the monitored metric (``val_loss`` -> ``"min"``, ``val_auc`` -> ``"max"``), and
refuses an explicit ``mode`` that contradicts it. Following chemprop v2's ``nn/metrics.py``,
each entry is a :class:`MetricSpec` that knows its direction. A pillar whose ``metrics_fn``
returns a new name registers it once::

    register_metric("sensitivity", higher_is_better=True, description="true positive rate")

A name that is not registered takes the direction of its longest registered prefix followed by
``_``: ``dice_hippocampus`` (a per-label Dice) is ``dice``'s, ``c_index_uno`` is registered
itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from precisionmed.errors import ConfigError
from precisionmed.registry import Registry


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name and direction.

    Attributes
    ----------
    name : str
        The key a ``metrics_fn`` returns (without the ``val_`` / ``test_`` prefix).
    higher_is_better : bool
        True for scores (AUC, C-index, Dice), False for losses and errors.
    description : str
        One line for listings.
    """

    name: str
    higher_is_better: bool
    description: str = ""

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``: the mode of early stopping on this metric."""
        return "max" if self.higher_is_better else "min"


METRICS: Registry[MetricSpec] = Registry("metric", error=ConfigError)


def register_metric(
    name: str, *, higher_is_better: bool, description: str = "", replace: bool = False
) -> MetricSpec:
    """Register a metric's direction; return its spec.

    Raises
    ------
    ConfigError
        ``name`` is registered already with another direction or description (and not
        ``replace``).
    """
    spec = MetricSpec(name.lower(), higher_is_better, description)
    if not replace and name in METRICS and METRICS.get(name) == spec:
        return METRICS.get(name)
    return METRICS.add(name, spec, replace=replace)


for _name, _higher, _what in (
    ("loss", False, "the training objective (lower is better)"),
    ("auc", True, "area under the ROC curve"),
    ("roc_auc", True, "area under the ROC curve"),
    ("mean_auc", True, "time-dependent AUC averaged over evaluation times"),
    ("acc", True, "accuracy"),
    ("accuracy", True, "accuracy"),
    ("balanced_accuracy", True, "mean per-class recall"),
    ("f1", True, "F1 score"),
    ("cindex", True, "Harrell's concordance index"),
    ("c_index", True, "concordance index"),
    ("c_index_harrell", True, "Harrell's concordance index"),
    ("c_index_uno", True, "Uno's concordance index"),
    ("dice", True, "Dice overlap (per label: dice_<label>)"),
    ("r2", True, "coefficient of determination"),
    ("brier", False, "Brier score"),
    ("ibs", False, "integrated Brier score"),
    ("ece", False, "expected calibration error"),
    ("calibration_error", False, "calibration error"),
    ("nll", False, "negative log-likelihood"),
    ("mse", False, "mean squared error"),
    ("rmse", False, "root mean squared error"),
    ("mae", False, "mean absolute error"),
):
    register_metric(_name, higher_is_better=_higher, description=_what)


def find_metric(name: str) -> MetricSpec | None:
    """The spec of ``name`` (``"auc"``, ``"val_auc"``, ``"dice_hippocampus"``), or None.

    A ``val_`` / ``test_`` prefix is ignored; an unregistered name falls back to its longest
    registered prefix followed by ``_``.
    """
    key = name.lower()
    for split in ("val_", "test_", "train_"):
        if key.startswith(split) and key != split:
            key = key[len(split) :]
            break
    if key in METRICS:
        return METRICS.get(key)
    parts = key.split("_")
    for cut in range(len(parts) - 1, 0, -1):
        prefix = "_".join(parts[:cut])
        if prefix in METRICS:
            return METRICS.get(prefix)
    return None


def metric_direction(name: str) -> str:
    """``"min"`` or ``"max"`` for a registered metric (``val_`` prefix allowed).

    Raises
    ------
    ConfigError
        ``name`` is not registered (nor a ``<registered>_<suffix>`` name); the message lists
        the known metrics and how to register one.
    """
    spec = find_metric(name)
    if spec is None:
        raise ConfigError(
            f"Metric {name!r} has no registered direction; known metrics: "
            f"{', '.join(METRICS.names())}. Pass mode='min' or 'max', or register it with "
            f"precisionmed.evaluation.register_metric({name.removeprefix('val_')!r}, "
            "higher_is_better=...)."
        )
    return spec.mode


__all__ = ["METRICS", "MetricSpec", "find_metric", "metric_direction", "register_metric"]
