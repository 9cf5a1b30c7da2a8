"""Evaluation of image classifiers: MedMNIST ACC/AUC, a full report with 95% intervals,
temperature scaling and the ROC / reliability-diagram PNGs.

ACC and AUC follow MedMNIST's ``medmnist.evaluator`` so our figures compare with the paper:

* binary: AUC of the positive-class score; ACC with the positive score thresholded at 0.5;
* multi-class and ordinal: macro one-vs-rest AUC; ACC of the arg-max;
* multi-label: mean per-label AUC; mean per-label ACC at a 0.5 threshold.

Scores come from scikit-learn; intervals from :func:`precisionmed.evaluation.bootstrap_ci`;
the expected calibration error from :func:`precisionmed.evaluation.expected_calibration_error`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

from precisionmed.evaluation import (
    bootstrap_ci,
    expected_calibration_error,
    plot_calibration_curves,
    plot_roc_curves,
)


def probabilities(
    logits: np.ndarray | torch.Tensor, task: str, temperature: float = 1.0
) -> np.ndarray:
    """Class probabilities from logits: softmax, or per-label sigmoid for multi-label tasks.

    Parameters
    ----------
    logits : array of shape (N, K)
    task : str
        ``"multi-label"`` uses the sigmoid, every other task the softmax.
    temperature : float
        Logits are divided by it first (temperature scaling).
    """
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64)) / temperature
    p = torch.sigmoid(z) if task == "multi-label" else torch.softmax(z, dim=1)
    return p.numpy()


def medmnist_auc(probs: np.ndarray, targets: np.ndarray, task: str) -> float:
    """AUC as MedMNIST defines it (see the module docstring)."""
    y = np.asarray(targets)
    if task == "binary-class":
        return float(skm.roc_auc_score(y, probs[:, -1]))
    if task == "multi-label":
        return float(np.mean([skm.roc_auc_score(y[:, i], probs[:, i]) for i in range(y.shape[1])]))
    onehot = np.eye(probs.shape[1])[y]
    return float(
        np.mean([skm.roc_auc_score(onehot[:, i], probs[:, i]) for i in range(probs.shape[1])])
    )


def medmnist_acc(probs: np.ndarray, targets: np.ndarray, task: str) -> float:
    """ACC as MedMNIST defines it (see the module docstring)."""
    y = np.asarray(targets)
    if task == "binary-class":
        return float(np.mean((probs[:, -1] > 0.5) == y))
    if task == "multi-label":
        return float(np.mean((probs > 0.5) == y))
    return float(np.mean(probs.argmax(axis=1) == y))


def nll(probs: np.ndarray, targets: np.ndarray, task: str) -> float:
    """Mean negative log-likelihood (cross-entropy) of the targets, in nats."""
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    y = np.asarray(targets)
    if task == "multi-label":
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def calibration_error(probs: np.ndarray, targets: np.ndarray, task: str, n_bins: int = 15) -> float:
    """Expected calibration error; for multi-label tasks the mean over labels (binary form)."""
    y = np.asarray(targets)
    if task == "multi-label":
        return float(
            np.mean(
                [
                    expected_calibration_error(probs[:, i], y[:, i], n_bins)
                    for i in range(y.shape[1])
                ]
            )
        )
    return expected_calibration_error(probs, y, n_bins)


def fit_temperature(logits: np.ndarray, targets: np.ndarray, task: str) -> float:
    """Temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)`` (Guo et al., 2017).

    Fitted on the validation set. A one-parameter convex problem in ``log T``; solved with
    scipy's bounded scalar minimiser (T in [0.05, 20]).

    Parameters
    ----------
    logits : array of shape (N, K)
    targets : array of shape (N,) or (N, K) for multi-label
    task : str
    """
    from scipy.optimize import minimize_scalar

    def objective(log_t: float) -> float:
        return nll(probabilities(logits, task, float(np.exp(log_t))), targets, task)

    res = minimize_scalar(objective, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


#: Smallest relative drop of the cross-fitted validation NLL for which a temperature is kept.
TEMPERATURE_MARGIN = 0.01


@dataclass(frozen=True)
class TemperatureChoice:
    """Whether temperature scaling is kept, and the evidence (recorded in the model card).

    Attributes
    ----------
    temperature : float
        The temperature applied: the one fitted on the whole validation set if ``kept``, else 1.
    kept : bool
        Whether scaling lowered the cross-fitted validation NLL by at least ``margin``.
    fitted : float
        The temperature fitted on the whole validation set (applied only if ``kept``).
    nll_unscaled, nll_scaled : float
        Validation NLL (nats) without scaling, and with a temperature fitted on the other folds
        of the validation set (out-of-fold, so a temperature cannot look better by fitting the
        same patients it is scored on).
    margin : float
        Relative drop of the NLL required.
    """

    temperature: float
    kept: bool
    fitted: float
    nll_unscaled: float
    nll_scaled: float
    margin: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def choose_temperature(
    logits: np.ndarray,
    targets: np.ndarray,
    task: str,
    *,
    n_splits: int = 5,
    margin: float = TEMPERATURE_MARGIN,
    seed: int = 0,
) -> TemperatureChoice:
    """Temperature scaling only where it helps on data it was not fitted on.

    The temperature is fitted (:func:`fit_temperature`) on ``n_splits - 1`` folds of the
    validation set and scored on the held-out fold; the out-of-fold NLL is compared with the NLL
    of the unscaled logits. Scaling is kept when it lowers that NLL by at least ``margin``
    (relative); else the temperature is 1 (scaling fitted on the validation set alone can make a
    test set's calibration worse).

    Parameters
    ----------
    logits : array of shape (N, K)
        Validation logits.
    targets : array of shape (N,) or (N, K) for multi-label
    task : str
    n_splits : int
        Folds of the cross-fit (fewer when the set is small; at least 2).
    margin : float
        Relative NLL drop required to keep the temperature.
    seed : int
        Seed of the fold assignment.
    """
    from sklearn.model_selection import KFold

    y = np.asarray(targets)
    folds = KFold(n_splits=max(2, min(n_splits, len(y))), shuffle=True, random_state=seed)
    total = 0.0  # out-of-fold NLL summed over the samples
    for fit_rows, score_rows in folds.split(logits):
        t = fit_temperature(logits[fit_rows], y[fit_rows], task)
        total += len(score_rows) * nll(
            probabilities(logits[score_rows], task, t), y[score_rows], task
        )
    nll_scaled = total / len(y)
    nll_unscaled = nll(probabilities(logits, task), y, task)
    fitted = fit_temperature(logits, y, task)
    kept = nll_scaled <= (1.0 - margin) * nll_unscaled
    return TemperatureChoice(
        temperature=fitted if kept else 1.0,
        kept=bool(kept),
        fitted=fitted,
        nll_unscaled=nll_unscaled,
        nll_scaled=nll_scaled,
        margin=margin,
    )


def _stratum(targets: np.ndarray, task: str) -> np.ndarray | None:
    return None if task == "multi-label" else np.asarray(targets)


def classification_report(
    logits: np.ndarray,
    targets: np.ndarray,
    *,
    task: str,
    labels: list[str],
    temperature: float = 1.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure of a classifier on one evaluation set.

    Parameters
    ----------
    logits : array of shape (N, K)
        Raw network outputs.
    targets : array of shape (N,) (class indices) or (N, K) (multi-label 0/1)
    task : str
        ``"binary-class"``, ``"multi-class"``, ``"ordinal-regression"`` or ``"multi-label"``.
    labels : list of str
        Class / label names.
    temperature : float
        Fitted temperature (on validation); ECE and NLL are reported before and after.
    n_boot : int
        Bootstrap resamples for the 95% intervals of ACC and AUC (0 skips the intervals).

    Returns
    -------
    dict
        ``n``, ``acc`` and ``auc`` as ``{value, low, high}``, ``ece`` / ``nll`` (uncalibrated),
        ``ece_calibrated`` / ``nll_calibrated``, ``temperature``, ``per_class`` (precision,
        recall, F1, support per class or label) and ``confusion_matrix`` (rows true, columns
        predicted; per label 2x2 matrices for multi-label tasks).
    """
    y = np.asarray(targets)
    raw = probabilities(logits, task)
    cal = probabilities(logits, task, temperature)
    out: dict[str, Any] = {"n": len(y), "temperature": temperature}
    for name, fn in (("acc", medmnist_acc), ("auc", medmnist_auc)):
        if n_boot > 0:
            out[name] = bootstrap_ci(
                lambda p, t, fn=fn: fn(p, t, task),
                cal,
                y,
                n_boot=n_boot,
                seed=seed,
                stratify=_stratum(y, task),
            )
        else:
            out[name] = {"value": fn(cal, y, task), "low": float("nan"), "high": float("nan")}
    out["ece"] = calibration_error(raw, y, task)
    out["ece_calibrated"] = calibration_error(cal, y, task)
    out["nll"] = nll(raw, y, task)
    out["nll_calibrated"] = nll(cal, y, task)
    if task == "multi-label":
        pred = (cal > 0.5).astype(int)
        matrices = skm.multilabel_confusion_matrix(y, pred)
        out["confusion_matrix"] = {lab: m.tolist() for lab, m in zip(labels, matrices, strict=True)}
        prec, rec, f1, sup = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    else:
        pred = cal.argmax(axis=1)
        idx = list(range(len(labels)))
        out["confusion_matrix"] = skm.confusion_matrix(y, pred, labels=idx).tolist()
        prec, rec, f1, sup = skm.precision_recall_fscore_support(
            y, pred, labels=idx, zero_division=0
        )
    out["per_class"] = {
        lab: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for lab, p, r, f, s in zip(labels, prec, rec, f1, sup, strict=True)
    }
    return out


def plot_roc(
    probs: np.ndarray, targets: np.ndarray, *, task: str, labels: list[str], path: Path
) -> Path:
    """ROC curves (positive class for binary tasks, one per class / label otherwise): PNG + JSON."""
    y = np.asarray(targets)
    if task == "binary-class":
        curves = [(labels[-1], y == 1, probs[:, -1])]
    elif task == "multi-label":
        curves = [(lab, y[:, i] == 1, probs[:, i]) for i, lab in enumerate(labels)]
    else:
        curves = [(lab, y == i, probs[:, i]) for i, lab in enumerate(labels)]
    return plot_roc_curves(curves, path)


def plot_reliability(
    logits: np.ndarray,
    targets: np.ndarray,
    *,
    task: str,
    temperature: float,
    path: Path,
    n_bins: int = 15,
) -> Path:
    """Reliability diagram (accuracy vs confidence) before/after temperature scaling: PNG + JSON.

    For multi-label tasks every (sample, label) pair is one binary prediction.
    """
    y = np.asarray(targets)
    series = []
    for name, t in (("uncalibrated", 1.0), (f"T = {temperature:.2f}", temperature)):
        p = probabilities(logits, task, t)
        if task == "multi-label":
            conf, correct = np.maximum(p, 1 - p).ravel(), ((p > 0.5) == y).ravel()
        else:
            conf, correct = p.max(axis=1), p.argmax(axis=1) == y
        ece = calibration_error(p, y, task, n_bins)
        series.append((f"{name} (ECE {ece:.3f})", conf, correct))
    return plot_calibration_curves(series, path, n_bins=n_bins)
