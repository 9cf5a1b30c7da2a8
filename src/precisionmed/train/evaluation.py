"""Evaluation helpers shared by every pillar: bootstrap confidence intervals and calibration.

Metrics themselves come from scikit-learn / scikit-survival / torchmetrics; this module only adds
what they lack: a percentile bootstrap around any metric, and the expected calibration error
(Guo et al., 2017) with its reliability-diagram bins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratify: np.ndarray | None = None,
) -> dict[str, float]:
    """Percentile bootstrap interval of ``metric(*arrays)``.

    Parameters
    ----------
    metric : callable
        ``metric(*resampled_arrays) -> float``; resamples on which it raises ``ValueError``
        (e.g. a single class) or gives a non-finite value (e.g. a time-dependent AUC at a time
        before which the resample holds no event) are skipped.
    *arrays : array-like, each of length N
        Resampled together, row-wise (structured arrays are fine).
    n_boot : int
        Number of bootstrap resamples.
    alpha : float
        1 - confidence level (0.05 gives a 95% interval).
    stratify : array of shape (N,), optional
        Resample within each stratum (keeps class balance for AUC).

    Returns
    -------
    dict
        ``{"value", "low", "high", "n_boot"}``: the metric on the full data, the interval, and
        the number of resamples it is taken over (those not skipped).
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    value = float(metric(*arrays))
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if stratify is None
        else [np.flatnonzero(stratify == g) for g in np.unique(stratify)]
    )
    stats = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            stat = float(metric(*(a[idx] for a in arrays)))
        except ValueError:
            continue
        if np.isfinite(stat):
            stats.append(stat)
    if not stats:
        return {"value": value, "low": float("nan"), "high": float("nan"), "n_boot": 0}
    low, high = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"value": value, "low": float(low), "high": float(high), "n_boot": len(stats)}


def calibration_bins(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> dict[str, np.ndarray]:
    """Equal-width confidence bins: mean confidence, accuracy and count per bin.

    Parameters
    ----------
    confidence : array of shape (N,)
        Predicted probability of the predicted class (or of the positive class).
    correct : array of shape (N,)
        1 where the prediction was right (or the outcome was positive), else 0.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(float)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(which, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "edges": edges,
            "confidence": np.where(count > 0, conf_sum / count, np.nan),
            "accuracy": np.where(count > 0, acc_sum / count, np.nan),
            "count": count,
        }


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15
) -> float:
    """Expected calibration error of class probabilities (top-label ECE, Guo et al. 2017).

    Parameters
    ----------
    probabilities : array of shape (N, K), or (N,) for the positive class of a binary task
    labels : array of shape (N,)
        True class indices (0/1 for the binary form).
    """
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels).astype(int)
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    bins = calibration_bins(confidence, correct, n_bins)
    weight = bins["count"] / max(len(y), 1)
    gap = np.abs(np.nan_to_num(bins["accuracy"]) - np.nan_to_num(bins["confidence"]))
    return float(np.sum(weight * gap))
