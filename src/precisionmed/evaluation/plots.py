"""The evaluation figures every pillar writes: ROC curves and calibration (reliability) diagrams.

Each function writes a PNG and, beside it, a JSON file of the same name holding the plotted
points, so a report can be redrawn or checked without reading pixels. Pillars build the series
(imaging: per class or label, before and after temperature scaling; clinical: the positive-class
probability) and call these. The curves are drawn by scikit-learn's ``RocCurveDisplay`` and
``CalibrationDisplay``, from the points this module computes and writes to the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.evaluation.calibration import calibration_bins


def new_figure(ncols: int = 1, *, width: float = 5.0, height: float = 4.5) -> tuple[Any, Any]:
    """A matplotlib figure on the non-interactive Agg backend: ``(fig, axes)``, axes a 1D array
    when ``ncols > 1``, else one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=ncols == 1)
    return fig, axes if ncols == 1 else axes[0]


def save_figure(fig: Any, path: str | Path, points: dict[str, Any] | None = None) -> Path:
    """Write ``fig`` as PNG (closing it) and ``points`` as JSON beside it; return the PNG path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if points is not None:
        path.with_suffix(".json").write_text(json.dumps(points))
    return path


def plot_roc_curves(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path, *, title: str = "ROC"
) -> Path:
    """ROC curves as PNG, their points as JSON (``{"curves": [{label, fpr, tpr, auc}]}``).

    Parameters
    ----------
    curves : sequence of (label, positive, score)
        ``positive``: boolean array (N,), the true condition; ``score``: array (N,), higher means
        more likely positive. A curve whose ``positive`` holds one value only is skipped (its ROC
        is undefined).
    path : path
        The PNG to write.
    """
    from sklearn.metrics import RocCurveDisplay, auc, roc_curve

    fig, ax = new_figure()
    points: list[dict[str, Any]] = []
    for label, positive, score in curves:
        positive = np.asarray(positive, dtype=bool)
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, np.asarray(score, dtype=float))
        area = float(auc(fpr, tpr))
        RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=area, name=label).plot(
            ax=ax, plot_chance_level=not points, chance_level_kw={"lw": 0.8, "label": "chance"}
        )
        points.append({"label": label, "fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": area})
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    if points:
        ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path, {"curves": points})


def plot_calibration_curves(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    n_bins: int = 15,
    xlabel: str = "confidence",
    ylabel: str = "accuracy",
    title: str = "Reliability diagram",
) -> Path:
    """Calibration (reliability) diagram as PNG, the binned points as JSON.

    Parameters
    ----------
    series : sequence of (label, predicted, observed)
        ``predicted``: probabilities (N,) in [0, 1] (top-label confidence, or the positive-class
        probability); ``observed``: (N,) 1 where the prediction was right (or the outcome
        happened), else 0. Each series is binned into ``n_bins`` equal-width bins
        (:func:`~precisionmed.evaluation.calibration_bins`); empty bins are not drawn and are
        ``null`` in the JSON.
    path : path
        The PNG to write.
    """
    from sklearn.calibration import CalibrationDisplay

    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    points = []
    for label, predicted, observed in series:
        bins = calibration_bins(predicted, observed, n_bins)
        keep = bins["count"] > 0
        CalibrationDisplay(
            prob_true=bins["accuracy"][keep],
            prob_pred=bins["confidence"][keep],
            y_prob=np.asarray(predicted, dtype=float),
            estimator_name=label,
        ).plot(ax=ax, ref_line=False, marker="o")
        points.append(
            {
                "label": label,
                "mean_predicted": _nan_to_none(bins["confidence"]),
                "observed": _nan_to_none(bins["accuracy"]),
                "count": bins["count"].astype(int).tolist(),
            }
        )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path, {"n_bins": n_bins, "series": points})


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]
