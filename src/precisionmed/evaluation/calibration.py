"""Calibration of predicted probabilities: reliability-diagram bins and the expected
calibration error (top-label ECE, Guo et al. 2017).

Written here because scikit-learn's ``calibration_curve`` drops the empty bins and returns no
counts, and neither it nor torchmetrics' ECE (a tensor API) gives the per-bin counts the
reliability diagrams and their JSON points need; the bins are the same as
``calibration_curve(strategy="uniform")``'s (checked in ``tests/evaluation``).
"""

from __future__ import annotations

import numpy as np


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
