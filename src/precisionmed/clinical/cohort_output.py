"""What ``precisionmed clinical predict --out`` writes for a cohort of patients.

A cohort of any size gives files a person can open and figures a person can read:

- ``predictions.csv``: one row per patient: ``row``, ``id`` (with an identifier column),
  ``abstained``, the headline figures (risk, median survival time, or probability) with their
  interval bounds, and the warnings of the row (joined by `` | ``);
- survival models, ``survival_curves.csv``: the predicted survival curves as one table on the
  model's shared time grid: one row per patient (``row``, ``id``), one column per grid time (the
  header is the time, in the model's unit), probabilities rounded to 4 decimals; an abstained
  patient's cells are empty. The pointwise bootstrap band, with the curves and the grid, is in
  ``survival_curves.npz`` (NumPy: ``times``, ``survival``, ``survival_low``, ``survival_high``,
  ``row``; float32, NaN for abstained patients);
- ``survival_by_risk_group.png``: the patients split into tertiles of predicted risk, the mean
  predicted survival curve of each group, and where the input holds the observed outcome
  (``time``/``event`` columns named), the Kaplan-Meier curve of each group beside it
  (:func:`plot_risk_groups`);
- ``survival_curves.png``: per-patient curves with their band, only for a few patients: the
  first :data:`PER_PATIENT_CURVES`, or those asked for by identifier (:func:`select_patients`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from precisionmed.errors import ConfigError

if TYPE_CHECKING:
    from precisionmed.clinical.predictor import ClinicalPrediction, ClinicalPredictor

#: Patients drawn one by one in ``survival_curves.png`` when none are named.
PER_PATIENT_CURVES = 10

_FIGURES = (
    "risk", "risk_low", "risk_high", "median_survival_time", "median_survival_low",
    "median_survival_high", "probability", "low", "high",
)  # fmt: skip


def prediction_table(prediction: ClinicalPrediction) -> pd.DataFrame:
    """One row per patient: row, id, abstained, the figures and their bounds, the warnings."""
    table = pd.DataFrame(prediction.patients)
    columns = ["row", "id", "abstained", *_FIGURES]
    table = table[[c for c in columns if c in table.columns]].copy()
    table["warnings"] = [" | ".join(w) for w in prediction.row_warnings()]
    return table


def select_patients(prediction: ClinicalPrediction, ids: Sequence[str] | None = None) -> list[int]:
    """0-based positions of the patients to draw one by one.

    Parameters
    ----------
    prediction : ClinicalPrediction
    ids : sequence of str, optional
        Identifiers (the values of the identifier column) or, without one, row numbers
        (``"3"`` is the third patient). Default: the first :data:`PER_PATIENT_CURVES`.

    Raises
    ------
    ConfigError
        An identifier that is not in the input (the first one named).
    """
    if not ids:
        return list(range(min(PER_PATIENT_CURVES, len(prediction.patients))))
    keyed = {str(p.get("id", p["row"])): i for i, p in enumerate(prediction.patients)}
    absent = [i for i in ids if i not in keyed]
    if absent:
        what = "identifier column" if "id" in prediction.patients[0] else "row numbers"
        raise ConfigError(
            f"--ids: {absent[0]!r} is not among the input's {what}; expected one of its "
            f"{len(keyed)} patients."
        )
    return [keyed[i] for i in ids]


def plot_risk_groups(
    times: np.ndarray,
    curves: np.ndarray,
    risk: np.ndarray,
    path: str | Path,
    *,
    time_unit: str = "",
    observed: np.ndarray | None = None,
) -> Path:
    """Mean predicted survival of each tertile of predicted risk, beside its Kaplan-Meier curve.

    Parameters
    ----------
    times : array of shape (T,)
        The curves' time grid.
    curves : array of shape (N, T)
        Predicted survival of each patient (rows of NaN, abstained patients, are left out).
    risk : array of shape (N,)
        Predicted risk scores (higher = earlier event); the groups are its tertiles.
    path : str or Path
        The PNG to write (its curves as JSON beside it).
    time_unit : str
    observed : structured array of shape (N,), optional
        ``("event", bool), ("time", float)``: each group's Kaplan-Meier curve is drawn dashed
        (scikit-survival's estimator).
    """
    from sksurv.nonparametric import kaplan_meier_estimator

    from precisionmed.clinical.metrics import plot_survival_curves

    ok = np.isfinite(risk)
    groups = np.full(len(risk), -1)
    groups[ok] = np.digitize(risk[ok], np.quantile(risk[ok], [1 / 3, 2 / 3]))
    names, lines, colors, styles = [], [], [], []
    for g, (label, colour) in enumerate(
        zip(("low", "medium", "high"), ("C0", "C1", "C3"), strict=True)
    ):
        sel = groups == g
        if not sel.any():
            continue
        names.append(f"{label} risk (n={int(sel.sum())}): mean predicted")
        lines.append(curves[sel].mean(axis=0))
        colors.append(colour)
        styles.append("-")
        if observed is not None and sel.sum() >= 2:
            t, s = kaplan_meier_estimator(observed["event"][sel], observed["time"][sel])
            km = np.ones_like(times, dtype=float)
            idx = np.searchsorted(t, times, side="right") - 1
            km[idx >= 0] = s[idx[idx >= 0]]
            names.append(f"{label} risk: Kaplan-Meier")
            lines.append(km)
            colors.append(colour)
            styles.append("--")
    title = "Survival by tertile of predicted risk"
    if observed is not None:
        title += "\n(solid: mean predicted; dashed: observed, Kaplan-Meier)"
    return plot_survival_curves(
        times, np.array(lines), path, labels=names, colors=colors, linestyles=styles,
        time_unit=time_unit, title=title,
    )  # fmt: skip


def write_survival_curves(prediction: ClinicalPrediction, out_dir: Path) -> list[Path]:
    """``survival_curves.csv`` (the curves on the shared grid) and ``survival_curves.npz``."""
    times, curves = np.asarray(prediction.times), np.asarray(prediction.curves)
    keys = ["row", "id"] if "id" in prediction.patients[0] else ["row"]
    ids = pd.DataFrame(prediction.patients)[keys]
    # rounded, then written as Python prints them: half the time of a float_format
    grid = pd.DataFrame(curves.round(4), columns=[f"{t:g}" for t in times])
    csv = out_dir / "survival_curves.csv"
    pd.concat([ids, grid], axis=1).to_csv(csv, index=False)
    npz = out_dir / "survival_curves.npz"
    arrays = {"times": times, "row": ids["row"].to_numpy()}
    for name, values in (
        ("survival", curves),
        ("survival_low", prediction.curves_low),
        ("survival_high", prediction.curves_high),
    ):
        if values is not None:
            arrays[name] = np.asarray(values, dtype=np.float32)
    np.savez_compressed(npz, **arrays)
    return [csv, npz]


def write_cohort_outputs(
    predictor: ClinicalPredictor,
    prediction: ClinicalPrediction,
    out_dir: str | Path,
    *,
    ids: Sequence[str] | None = None,
    observed: np.ndarray | None = None,
) -> list[Path]:
    """Write the cohort files of the module docstring into ``out_dir`` (created).

    Parameters
    ----------
    predictor : ClinicalPredictor
        The model that made ``prediction`` (it draws the per-patient curves).
    prediction : ClinicalPrediction
    out_dir : str or Path
    ids : sequence of str, optional
        Patients whose curves are drawn (see :func:`select_patients`).
    observed : structured array of shape (N,), optional
        The observed outcome of the same patients, for the Kaplan-Meier curves.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = select_patients(prediction, ids)
    table = out / "predictions.csv"
    prediction_table(prediction).to_csv(table, index=False)
    written: list[Path] = [table]
    if prediction.task != "survival" or prediction.curves is None:
        return written
    written += write_survival_curves(prediction, out)
    risk = np.array([np.nan if p["risk"] is None else p["risk"] for p in prediction.patients])
    if np.isfinite(risk).any():
        written.append(
            plot_risk_groups(
                np.asarray(prediction.times),
                prediction.curves,
                risk,
                out / "survival_by_risk_group.png",
                time_unit=prediction.time_unit,
                observed=observed,
            )  # fmt: skip
        )
        written.append(predictor.plot(prediction, out / "survival_curves.png", rows=chosen))
    return written


__all__ = [
    "PER_PATIENT_CURVES",
    "plot_risk_groups",
    "prediction_table",
    "select_patients",
    "write_cohort_outputs",
    "write_survival_curves",
]
