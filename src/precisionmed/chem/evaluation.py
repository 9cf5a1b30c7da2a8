"""Evaluation of property models: masked per-task metrics, calibrated intervals, plots.

Every metric is computed per task over the molecules labelled for that task only (a missing
Tox21 label is neither right nor wrong), then averaged over the tasks where it is defined
(MoleculeNet's convention; an AUC needs both classes among the task's test labels).

Regression intervals are split-conformal (Vovk et al. 2005; normalised by the ensemble spread
where the model has one, Papadopoulos et al. 2008): on the validation molecules, ``q`` is the
``ceil((n + 1) * level) / n`` quantile of ``|y - mean| / scale`` with ``scale = spread + s0``
(``s0`` the median validation spread of the task, so that members that happen to agree do not make a
near-zero scale and a huge ``q``; ``scale = 1`` without a spread), and a new molecule's interval
is ``mean +/- q * scale``. Marginal coverage is
``level`` for molecules exchangeable with the validation set; the test coverage reported
checks it (it falls under a scaffold split, where test scaffolds are new).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.evaluation import expected_calibration_error, plot_roc_curves
from precisionmed.evaluation.plots import new_figure, save_figure

#: Default level of the regression intervals.
INTERVAL_LEVEL = 0.9
#: Smallest spread offset ``s0`` (all members agreeing on every validation molecule).
SPREAD_FLOOR = 1e-6


def spread_offset(spread: np.ndarray | None) -> np.ndarray | None:
    """Per-task ``s0``: the median validation spread (None without a spread)."""
    if spread is None:
        return None
    return np.maximum(np.median(spread, axis=0), SPREAD_FLOOR)


def _scale(mean: np.ndarray, spread: np.ndarray | None, offset: Any) -> np.ndarray:
    if spread is None:
        return np.ones_like(mean)
    return spread + np.asarray(offset, dtype=float)[None, :]


def conformal_scale(
    y: np.ndarray,
    mean: np.ndarray,
    spread: np.ndarray | None,
    offset: np.ndarray | None,
    level: float = INTERVAL_LEVEL,
) -> np.ndarray:
    """Per-task conformal multiplier ``q`` (see the module docstring).

    Parameters
    ----------
    y, mean : ndarrays of shape (n, n_tasks)
        Validation targets (NaN where missing) and predictions.
    spread : ndarray of shape (n, n_tasks) or None
    offset : ndarray of shape (n_tasks,) or None
        ``s0`` (:func:`spread_offset` of the validation spread).
    level : float
        Interval coverage in (0, 1).

    Returns
    -------
    ndarray of shape (n_tasks,)
        NaN for a task without validation labels.
    """
    scores = np.abs(y - mean) / _scale(mean, spread, offset)
    out = np.full(y.shape[1], np.nan)
    for t in range(y.shape[1]):
        s = np.sort(scores[~np.isnan(scores[:, t]), t])
        if len(s):
            k = min(len(s), int(np.ceil((len(s) + 1) * level))) - 1
            out[t] = s[k]
    return out


def intervals(
    mean: np.ndarray, spread: np.ndarray | None, offset: Any, q: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds ``mean -/+ q * (spread + offset)`` (``q`` alone without a spread)."""
    half = _scale(mean, spread, offset) * np.asarray(q)[None, :]
    return mean - half, mean + half


def classification_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), accuracy, ECE and counts of one binary task."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    known = ~np.isnan(y)
    y, prob = y[known].astype(int), prob[known]
    out: dict[str, float] = {"n": float(len(y)), "positives": float(y.sum())}
    if len(y):
        out["accuracy"] = float(((prob >= 0.5) == y).mean())
        out["ece"] = expected_calibration_error(prob, y)
    if len(np.unique(y)) == 2:
        out["roc_auc"] = float(roc_auc_score(y, prob))
        out["pr_auc"] = float(average_precision_score(y, prob))
    return out


def regression_metrics(
    y: np.ndarray, pred: np.ndarray, low: np.ndarray | None = None, high: np.ndarray | None = None
) -> dict[str, float]:
    """RMSE, MAE, R^2 and (with bounds) interval coverage and mean width of one task."""
    known = ~np.isnan(y)
    y, pred = y[known], pred[known]
    out: dict[str, float] = {"n": float(len(y))}
    if not len(y):
        return out
    err = pred - y
    out["rmse"] = float(np.sqrt(np.mean(err**2)))
    out["mae"] = float(np.mean(np.abs(err)))
    if len(y) > 1 and np.var(y) > 0:
        out["r2"] = float(1 - np.mean(err**2) / np.var(y))
    if low is not None and high is not None:
        lo, hi = low[known], high[known]
        out["coverage"] = float(np.mean((y >= lo) & (y <= hi)))
        out["mean_width"] = float(np.mean(hi - lo))
    return out


def property_metrics(
    task: str,
    Y: np.ndarray,
    mean: np.ndarray,
    target_names: Sequence[str],
    *,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-task metrics and their mean over tasks.

    Parameters
    ----------
    task : {"classification", "regression"}
    Y, mean : ndarrays of shape (n, n_tasks)
        Targets (NaN where missing) and predictions (probabilities of class 1, or values).
    target_names : sequence of str
    low, high : ndarrays of shape (n, n_tasks), optional
        Regression interval bounds.

    Returns
    -------
    dict
        ``{"tasks": {name: {metric: value}}, "mean": {metric: mean over tasks}, "n": n}``.
    """
    per_task: dict[str, dict[str, float]] = {}
    for t, name in enumerate(target_names):
        if task == "classification":
            per_task[name] = classification_metrics(Y[:, t], mean[:, t])
        else:
            lo = None if low is None else low[:, t]
            hi = None if high is None else high[:, t]
            per_task[name] = regression_metrics(Y[:, t], mean[:, t], lo, hi)
    keys = sorted({k for m in per_task.values() for k in m} - {"n", "positives"})
    means = {
        k: float(np.mean([m[k] for m in per_task.values() if k in m]))
        for k in keys
        if any(k in m for m in per_task.values())
    }
    return {"n": int(len(Y)), "tasks": per_task, "mean": means}


def plot_parity(
    Y: np.ndarray,
    pred: np.ndarray,
    target_names: Sequence[str],
    path: str | Path,
    *,
    units: str = "",
    max_tasks: int = 4,
) -> Path:
    """Parity plot (predicted against measured) of up to ``max_tasks`` tasks; points as JSON."""
    n = min(len(target_names), max_tasks)
    fig, axes = new_figure(n)
    axes = [axes] if n == 1 else list(axes)
    points = []
    for t, ax in enumerate(axes):
        known = ~np.isnan(Y[:, t])
        y, p = Y[known, t], pred[known, t]
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.scatter(y, p, s=8, alpha=0.6)
        rmse = float(np.sqrt(np.mean((p - y) ** 2)))
        label = f" ({units})" if units else ""
        ax.set(
            xlabel=f"measured{label}",
            ylabel=f"predicted{label}",
            title=f"{target_names[t]}: RMSE {rmse:.3f}",
        )
        points.append({"task": target_names[t], "measured": y.tolist(), "predicted": p.tolist()})
    return save_figure(fig, path, {"tasks": points})


def plot_property_evaluation(
    task: str,
    Y: np.ndarray,
    mean: np.ndarray,
    target_names: Sequence[str],
    out_dir: str | Path,
    *,
    units: str = "",
    max_tasks: int = 12,
) -> Path:
    """``roc.png`` (classification, up to ``max_tasks`` tasks) or ``parity.png`` in ``out_dir``."""
    out = Path(out_dir)
    if task == "classification":
        curves = []
        for t, name in enumerate(list(target_names)[:max_tasks]):
            known = ~np.isnan(Y[:, t])
            curves.append((name, Y[known, t] == 1, mean[known, t]))
        return plot_roc_curves(curves, out / "roc.png", title="ROC on the test molecules")
    return plot_parity(Y, mean, target_names, out / "parity.png", units=units)


__all__ = [
    "INTERVAL_LEVEL",
    "classification_metrics",
    "conformal_scale",
    "intervals",
    "spread_offset",
    "plot_parity",
    "plot_property_evaluation",
    "property_metrics",
    "regression_metrics",
]
