"""Metrics of clinical models, with bootstrap 95% intervals, and their plots.

Classifiers: ROC-AUC and Brier score (scikit-learn), calibration curve and expected calibration
error (:mod:`precisionmed.evaluation`). Survival models: Harrell's and Uno's C-index, the
time-dependent (cumulative/dynamic) AUC and the integrated Brier score, all scikit-survival's
implementations, and the calibration of the predicted event probability at a horizon against
Kaplan-Meier estimates in groups of predicted risk (:func:`survival_calibration`). Every figure
comes as ``{"value", "low", "high", "n_boot"}`` from :func:`precisionmed.evaluation.bootstrap_ci`
(percentile bootstrap over the evaluated patients; for Uno's C, the time-dependent AUC and the IBS
the censoring distribution is estimated once, from the training outcomes, and kept fixed).

Survival outcomes are scikit-survival's structured arrays: a boolean event field and a float time
field, whatever their names (``("cens", "time")``, ``("fstat", "lenfol")``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import DataFormatError
from precisionmed.evaluation import (
    bootstrap_ci,
    calibration_bins,
    expected_calibration_error,
)
from precisionmed.evaluation.plots import (
    new_figure,
    plot_calibration_curves,
    plot_roc_curves,
    save_figure,
)

__all__ = [
    "censoring_reference",
    "classification_metrics",
    "event_time",
    "evaluation_times",
    "plot_calibration",
    "plot_roc",
    "plot_survival_calibration",
    "plot_survival_curves",
    "survival_calibration",
    "survival_metrics",
]


def event_time(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a structured survival array into ``(event bool (N,), time float (N,))``."""
    names = y.dtype.names
    if names is None or len(names) != 2:
        raise DataFormatError(
            f"survival outcome: expected a structured array with (event, time) fields; "
            f"got dtype {y.dtype}."
        )
    first, second = names
    if y.dtype[first] == np.bool_:
        return y[first].astype(bool), y[second].astype(float)
    if y.dtype[second] == np.bool_:
        return y[second].astype(bool), y[first].astype(float)
    raise DataFormatError(
        f"survival outcome: one field must be boolean (the event indicator); got dtype {y.dtype}."
    )


def censoring_reference(y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Outcomes from which the censoring distribution (IPCW weights) is estimated.

    The training outcomes, as scikit-survival intends; but its estimator cannot weight a test time
    beyond the last training time, so when the test follow-up is longer the test outcomes are
    pooled in (as pycox does with the test set alone). Returns a ``(event, time)`` array.
    """
    ev_tr, t_tr = event_time(y_train)
    ev_te, t_te = event_time(y_test)
    dtype = np.dtype([("event", "?"), ("time", "<f8")])
    if t_te.max() <= t_tr.max():
        ref = np.empty(len(t_tr), dtype=dtype)
        ref["event"], ref["time"] = ev_tr, t_tr
        return ref
    ref = np.empty(len(t_tr) + len(t_te), dtype=dtype)
    ref["event"], ref["time"] = np.concatenate([ev_tr, ev_te]), np.concatenate([t_tr, t_te])
    return ref


def evaluation_times(
    y_train: np.ndarray, y_test: np.ndarray, n_times: int = 20, quantiles: tuple = (0.1, 0.8)
) -> np.ndarray:
    """Time grid for time-dependent AUC and the IBS: quantiles of the test event times.

    The grid stays inside the follow-up of both the training and the test patients, as
    scikit-survival requires (times in time units of the outcome, e.g. days).
    """
    ev_te, t_te = event_time(y_test)
    _, t_tr = event_time(y_train)
    source = t_te[ev_te] if ev_te.sum() >= 2 else t_te
    lo, hi = np.quantile(source, quantiles)
    hi = min(hi, t_te.max() - 1e-6, t_tr.max() - 1e-6)
    lo = max(lo, t_te.min())
    if not lo < hi:
        raise DataFormatError(
            f"survival outcome: cannot place evaluation times: follow-up range [{lo}, {hi}]."
        )
    return np.unique(np.linspace(lo, hi, n_times))


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, Any]:
    """ROC-AUC, Brier score and ECE of a binary classifier, with bootstrap 95% intervals.

    Parameters
    ----------
    y_true : array of shape (N,)
        0/1 outcomes.
    proba : array of shape (N,)
        Predicted probability of class 1.
    n_boot, seed : int
        Bootstrap resamples (stratified by outcome) and their seed.
    n_bins : int
        Equal-width bins of the calibration curve and ECE.

    Returns
    -------
    dict
        ``roc_auc``, ``brier``, ``ece`` (each ``{"value", "low", "high", "n_boot"}``),
        ``calibration`` (per-bin mean predicted probability, observed frequency, count) and ``n``.
    """
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    if p.ndim != 1 or len(p) != len(y):
        raise DataFormatError(f"proba: expected shape ({len(y)},); got {p.shape}.")

    def ece(yy: np.ndarray, pp: np.ndarray) -> float:
        return expected_calibration_error(pp, yy, n_bins=n_bins)

    boot: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "stratify": y}
    bins = calibration_bins(p, y, n_bins=n_bins)
    return {
        "n": int(len(y)),
        "roc_auc": bootstrap_ci(roc_auc_score, y, p, **boot),
        "brier": bootstrap_ci(brier_score_loss, y, p, **boot),
        "ece": bootstrap_ci(ece, y, p, **boot),
        "calibration": {
            "mean_predicted": bins["confidence"].tolist(),
            "observed_frequency": bins["accuracy"].tolist(),
            "count": bins["count"].tolist(),
        },
    }


def _km_event_probability(event: np.ndarray, time: np.ndarray, horizon: float) -> float:
    """1 - Kaplan-Meier survival at ``horizon`` (scikit-survival's estimator)."""
    from sksurv.nonparametric import kaplan_meier_estimator

    t, s = kaplan_meier_estimator(event, time)
    k = np.searchsorted(t, horizon, side="right") - 1
    return float(1.0 - s[k]) if k >= 0 else 0.0


def _risk_groups(p_event: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Patients split into ``n_groups`` equal-count groups of increasing predicted probability."""
    return [g for g in np.array_split(np.argsort(p_event, kind="stable"), n_groups) if len(g)]


def survival_calibration(
    y: np.ndarray, p_event: np.ndarray, horizon: float, *, n_groups: int = 5
) -> dict[str, Any]:
    """Calibration of predicted event probabilities by ``horizon``, in groups of predicted risk.

    The patients are split into ``n_groups`` equal-count groups by their predicted probability
    of an event by ``horizon`` (``1 - S(horizon)``); in each group the observed probability is
    1 minus the group's Kaplan-Meier survival at ``horizon`` (censoring-aware). The grouped
    calibration plot of prognostic-model validation (e.g. D'Agostino & Nam 2003; Austin et al.
    2020). Written here because scikit-survival has no calibration measure and lifelines'
    ``survival_probability_calibration`` only takes lifelines' own fitted models.

    Parameters
    ----------
    y : structured array of shape (N,)
        Outcomes (event, time).
    p_event : array of shape (N,)
        Predicted probability of an event by ``horizon``.
    horizon : float
        The time (in the outcome's unit) at which calibration is assessed.
    n_groups : int
        Number of risk groups (quintiles by default: a Kaplan-Meier estimate needs patients).

    Returns
    -------
    dict
        ``horizon``; ``mean_predicted``, ``observed``, ``count`` per group; ``ece``: the
        count-weighted mean absolute difference between predicted and observed (0 = calibrated).
    """
    ev, t = event_time(y)
    p = np.asarray(p_event, dtype=float).reshape(-1)
    if len(p) != len(ev):
        raise DataFormatError(f"p_event: expected shape ({len(ev)},); got {p.shape}.")
    groups = _risk_groups(p, n_groups)
    predicted = np.array([p[g].mean() for g in groups])
    observed = np.array([_km_event_probability(ev[g], t[g], horizon) for g in groups])
    count = np.array([len(g) for g in groups])
    return {
        "horizon": float(horizon),
        "mean_predicted": predicted.tolist(),
        "observed": observed.tolist(),
        "count": count.tolist(),
        "ece": float(np.sum(count * np.abs(predicted - observed)) / count.sum()),
    }


def survival_metrics(
    y_train: np.ndarray,
    y_test: np.ndarray,
    risk: np.ndarray,
    survival: np.ndarray | None = None,
    times: np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Harrell's and Uno's C-index, time-dependent AUC, IBS and calibration, with bootstrap 95%
    intervals.

    Parameters
    ----------
    y_train : structured array of shape (M,)
        Training outcomes (estimate the censoring distribution for Uno's C, AUC and IBS; see
        :func:`censoring_reference` for test follow-up beyond the training one).
    y_test : structured array of shape (N,)
        Outcomes of the evaluated patients.
    risk : array of shape (N,)
        Predicted risk (higher = earlier event).
    survival : array of shape (N, T), optional
        Predicted survival probabilities at ``times``; without it the IBS and the calibration
        are not computed.
    times : array of shape (T,), optional
        Evaluation times (default: :func:`evaluation_times`).

    Returns
    -------
    dict
        ``c_index_harrell``, ``c_index_uno``, ``mean_auc`` (time-dependent, averaged over
        ``times``), ``ibs``, ``calibration_error`` (each with an interval), ``auc_t`` (AUC at
        each time), ``times``, ``calibration`` (:func:`survival_calibration` at the middle time
        of ``times``; ``calibration_error`` is its ``ece``).
    """
    from sksurv.metrics import (
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )

    risk = np.asarray(risk, dtype=float).reshape(-1)
    if len(risk) != len(y_test):
        raise DataFormatError(f"risk: expected shape ({len(y_test)},); got {risk.shape}.")
    if times is None:
        times = evaluation_times(y_train, y_test)
    times = np.asarray(times, dtype=float)
    tau = float(times.max())
    ev_test, _ = event_time(y_test)
    y_cens = censoring_reference(y_train, y_test)
    boot: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "stratify": ev_test.astype(int)}

    def harrell(y: np.ndarray, r: np.ndarray) -> float:
        ev, t = event_time(y)
        return float(concordance_index_censored(ev, t, r)[0])

    def uno(y: np.ndarray, r: np.ndarray) -> float:
        return float(concordance_index_ipcw(y_cens, y, r, tau=tau)[0])

    def mean_auc(y: np.ndarray, r: np.ndarray) -> float:
        # a resample with no event before the first time gives 0/0 there: NaN, skipped by
        # bootstrap_ci (numpy's warning about it would only be noise)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(cumulative_dynamic_auc(y_cens, y, r, times)[1])

    auc_t, _ = cumulative_dynamic_auc(y_cens, y_test, risk, times)
    out: dict[str, Any] = {
        "n": int(len(risk)),
        "n_events": int(ev_test.sum()),
        "times": times.tolist(),
        "censoring_from": "train" if len(y_cens) == len(y_train) else "train+test",
        "c_index_harrell": bootstrap_ci(harrell, y_test, risk, **boot),
        "c_index_uno": bootstrap_ci(uno, y_test, risk, **boot),
        "mean_auc": bootstrap_ci(mean_auc, y_test, risk, **boot),
        "auc_t": np.asarray(auc_t).tolist(),
    }
    if survival is not None:
        surv = np.asarray(survival, dtype=float)
        if surv.shape != (len(risk), len(times)):
            raise DataFormatError(
                f"survival: expected shape ({len(risk)}, {len(times)}); got {surv.shape}."
            )

        def ibs(y: np.ndarray, s: np.ndarray) -> float:
            return float(integrated_brier_score(y_cens, y, s, times))

        out["ibs"] = bootstrap_ci(ibs, y_test, surv, **boot)
        k = len(times) // 2
        p_event = 1.0 - surv[:, k]

        def calibration_error(y: np.ndarray, p: np.ndarray) -> float:
            return survival_calibration(y, p, times[k])["ece"]

        out["calibration_error"] = bootstrap_ci(calibration_error, y_test, p_event, **boot)
        out["calibration"] = survival_calibration(y_test, p_event, times[k])
    return out


def plot_roc(y_true: np.ndarray, proba: np.ndarray, path: str | Path, title: str = "") -> Path:
    """ROC curve PNG, its points as JSON beside it (``{"curves": [{label, fpr, tpr, auc}]}``)."""
    positive = np.asarray(y_true).astype(bool)
    return plot_roc_curves([("model", positive, proba)], path, title=title or "ROC")


def plot_calibration(
    y_true: np.ndarray, proba: np.ndarray, path: str | Path, n_bins: int = 10, title: str = ""
) -> Path:
    """Calibration curve PNG (observed frequency vs mean predicted probability), points as JSON."""
    proba = np.asarray(proba, float)
    ece = expected_calibration_error(proba, np.asarray(y_true), n_bins=n_bins)
    return plot_calibration_curves(
        [(f"model (ECE {ece:.3f})", proba, np.asarray(y_true, float))],
        path,
        n_bins=n_bins,
        xlabel="Mean predicted probability",
        ylabel="Observed frequency",
        title=title or "Calibration",
    )


def plot_survival_calibration(
    calibration: dict[str, Any], path: str | Path, *, time_unit: str = "", title: str = ""
) -> Path:
    """PNG of :func:`survival_calibration`'s groups (observed vs predicted event probability by
    the horizon, with the diagonal); the figure's points as JSON beside it."""
    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    ax.plot(
        calibration["mean_predicted"],
        calibration["observed"],
        "o-",
        label=f"risk groups (ECE {calibration['ece']:.3f})",
    )
    unit = f" {time_unit}" if time_unit else ""
    horizon = f"{calibration['horizon']:.0f}{unit}"
    ax.set(
        xlabel=f"Predicted probability of an event by {horizon}",
        ylabel="Observed (1 - Kaplan-Meier)",
        title=title or f"Calibration at {horizon}",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path, dict(calibration))


def plot_survival_curves(
    times: np.ndarray,
    curves: np.ndarray,
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    colors: Sequence[str] | None = None,
    linestyles: Sequence[str] | None = None,
    time_unit: str = "",
    title: str = "",
) -> Path:
    """Step plot of survival curves PNG, with optional bands, and the curves as JSON.

    Parameters
    ----------
    times : array of shape (T,)
    curves : array of shape (K, T)
        Survival probabilities in [0, 1].
    low, high : arrays of shape (K, T), optional
        Pointwise interval of each curve (shaded).
    colors, linestyles : sequences of length K, optional
        Matplotlib colour / line style of each curve.
    """
    curves = np.atleast_2d(np.asarray(curves, float))
    labels = (
        list(labels) if labels is not None else [f"patient {i + 1}" for i in range(len(curves))]
    )
    fig, ax = new_figure()
    for k, curve in enumerate(curves):
        style = {"color": colors[k]} if colors is not None else {}
        if linestyles is not None:
            style["linestyle"] = linestyles[k]
        (line,) = ax.step(times, curve, where="post", label=labels[k], **style)
        if low is not None and high is not None:
            ax.fill_between(
                times, low[k], high[k], step="post", alpha=0.2, color=line.get_color(), lw=0
            )
    ax.set(
        xlabel=f"Time ({time_unit})" if time_unit else "Time",
        ylabel="Survival probability",
        ylim=(0, 1.02),
        title=title or "Predicted survival",
    )
    if len(curves) <= 10:
        ax.legend(loc="lower left", fontsize="small")
    figure = {"times": np.asarray(times).tolist(), "labels": labels, "curves": curves.tolist()}
    if low is not None and high is not None:
        figure |= {"low": np.asarray(low).tolist(), "high": np.asarray(high).tolist()}
    return save_figure(fig, path, figure)
