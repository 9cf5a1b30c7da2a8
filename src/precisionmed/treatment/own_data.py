"""Fit a treatment recommender on any study table: ``precisionmed treatment fit --csv``.

:func:`read_study_csv` checks the table (every error names the file, the column and, where
there is one, the row); :func:`fit_treatment_model` fits the effect model and the overlap model
and writes a model directory (``precisionmed.load`` gives a
:class:`~precisionmed.treatment.predictor.TreatmentPredictor`) with its model card.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir
from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.predict import ColumnSpec, TableInputSpec
from precisionmed.treatment.decision import DIRECTIONS
from precisionmed.treatment.models import EFFECT_MODELS, make_effect_model
from precisionmed.treatment.overlap import OverlapModel
from precisionmed.treatment.predictor import KIND

_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


@dataclass
class StudyTable:
    """A checked study table.

    Attributes
    ----------
    X : ndarray of shape (n, p)
    t : ndarray of shape (n,)
        1 treated, 0 control.
    y : ndarray of shape (n,)
        The outcome; for survival data an ``(event, time)`` structured array.
    covariates : list of str
    treatment_names : list of str
        ``[control, treated]`` as written in the file.
    """

    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    covariates: list[str]
    treatment_names: list[str]


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(float)))
    if bad.size:
        row = int(bad[0])
        raise DataFormatError(
            f"{path}: row {row + 2} (line {row + 2} with the header), column {col!r}: expected a "
            f"number; got {frame[col].iloc[row]!r} ({bad.size} such rows)."
        )
    return values.to_numpy(dtype=np.float64)


def _treatment(
    frame: pd.DataFrame, col: str, path: Path, treated_value: str | None
) -> tuple[np.ndarray, list[str]]:
    """The treatment column as 0/1 and the arms' names ``[control, treated]``."""
    raw = frame[col]
    if raw.isna().any():
        row = int(np.flatnonzero(raw.isna().to_numpy())[0])
        raise DataFormatError(f"{path}: row {row + 2}, column {col!r}: the treatment is missing.")
    text = raw.astype(str).str.strip()
    levels = sorted(set(text))
    if len(levels) != 2:
        raise DataFormatError(
            f"{path}: column {col!r} must hold exactly two treatments (binary); got "
            f"{len(levels)} distinct values {levels[:6]}."
        )
    if treated_value is not None:
        if str(treated_value) not in levels:
            raise DataFormatError(
                f"{path}: column {col!r} has no value {treated_value!r}; it has {levels}."
            )
        treated = str(treated_value)
    elif {levels[0].lower(), levels[1].lower()} <= _TRUE | _FALSE:
        treated = next(v for v in levels if v.lower() in _TRUE)
    else:
        raise DataFormatError(
            f"{path}: column {col!r} holds {levels}; say which one is the treated "
            "arm with --treated-value."
        )
    control = next(v for v in levels if v != treated)
    t = (text == treated).to_numpy(dtype=np.float64)
    for arm, name in ((1.0, treated), (0.0, control)):
        if (t == arm).sum() < 10:
            raise DataFormatError(
                f"{path}: column {col!r}: only {(t == arm).sum()} rows are "
                f"{name!r}; expected at least 10 per arm."
            )
    return t, [control, treated]


def _survival_y(frame: pd.DataFrame, time_col: str, event_col: str, path: Path) -> np.ndarray:
    """The ``(event, time)`` outcome of a survival table, checked."""
    from precisionmed.treatment.survival import survival_outcome

    y = _numeric(frame, time_col, path)
    event = _numeric(frame, event_col, path)
    bad = np.flatnonzero(~np.isin(event, (0.0, 1.0)))
    if bad.size:
        raise DataFormatError(
            f"{path}: row {int(bad[0]) + 2}, column {event_col!r}: expected 1 (event) or 0 "
            f"(censored); got {frame[event_col].iloc[int(bad[0])]!r}."
        )
    if (y <= 0).any():
        row = int(np.flatnonzero(y <= 0)[0])
        raise DataFormatError(
            f"{path}: row {row + 2}, column {time_col!r}: a follow-up time must be > 0; got "
            f"{y[row]}."
        )
    return survival_outcome(event, y)


def read_study_csv(
    path: str | Path,
    treatment_column: str,
    outcome_column: str,
    covariates: Sequence[str] | None = None,
    treated_value: str | None = None,
    event_column: str | None = None,
) -> StudyTable:
    """Read and check a study CSV: one patient per row, a binary treatment, a numeric outcome.

    Parameters
    ----------
    path : path
        CSV with a header row.
    treatment_column, outcome_column : str
    covariates : sequence of str, optional
        Default: every other column.
    treated_value : str, optional
        The treatment column's value meaning "treated" when it is not 0/1 or true/false.
    event_column : str, optional
        Survival outcomes: the event indicator (1 = event, 0 = censored); ``outcome_column`` is
        then the follow-up time (> 0).

    Raises
    ------
    DataFormatError
        A named column missing, a treatment with other than two values, a non-numeric or
        missing value (file, row and column named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a readable CSV ({exc}).") from exc
    wanted = [treatment_column, outcome_column, *([event_column] if event_column else [])]
    wanted += list(covariates or [])
    for col in wanted:
        if col not in frame.columns:
            raise DataFormatError(
                f"{path}: column {col!r} not found; the file has {list(frame.columns)}."
            )
    covs = (
        list(covariates)
        if covariates
        else [c for c in frame.columns if c not in (treatment_column, outcome_column, event_column)]
    )
    if not covs:
        raise DataFormatError(f"{path}: no covariate columns besides the treatment and outcome.")
    for name in (treatment_column, outcome_column, event_column):
        if name and name in covs:
            raise DataFormatError(f"{path}: column {name!r} cannot be a covariate as well.")
    t, names = _treatment(frame, treatment_column, path, treated_value)
    X = np.column_stack([_numeric(frame, c, path) for c in covs])
    if event_column:
        y = _survival_y(frame, outcome_column, event_column, path)
    else:
        y = _numeric(frame, outcome_column, path)
    return StudyTable(X, t, y, covs, names)


def study_table_from_dataset(name: str, **kwargs: Any) -> tuple[StudyTable, str, str]:
    """A catalog dataset (``ihdp``, ``nhefs``, ``deepsurv-sim-treatment``) as a study table.

    Returns
    -------
    (StudyTable, outcome name, better)
        Survival data (DeepSurv's cohort) come as ``(event, time)`` outcomes, its training
        split only.
    """
    from precisionmed.data import load_dataset
    from precisionmed.treatment.survival import survival_outcome

    d = load_dataset(name, **kwargs)
    X, t = d.X.to_numpy(dtype=np.float64), np.asarray(d.t, dtype=np.float64)
    if d.y is None:
        rows = d.splits.get("train", np.arange(len(t)))
        y = survival_outcome(d.event, d.time)[rows]
        X, t = X[rows], t[rows]
    else:
        y = np.asarray(d.y, dtype=np.float64)
    return StudyTable(X, t, y, list(d.X.columns), list(d.treatment_names)), d.outcome_name, d.better


def table_input_spec(X: np.ndarray, covariates: Sequence[str]) -> TableInputSpec:
    """The covariates with their training ranges, for ``config.json``'s ``input_spec``."""
    return TableInputSpec(
        tuple(
            ColumnSpec(c, "numeric", "float64", min=float(X[:, j].min()), max=float(X[:, j].max()))
            for j, c in enumerate(covariates)
        )
    )


def fit_treatment_model(
    table: StudyTable,
    *,
    model: str,
    out: str | Path,
    better: str,
    outcome_column: str = "outcome",
    treatment_column: str = "treatment",
    params: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    source: str = "",
    overwrite: bool = False,
) -> Path:
    """Fit ``model`` and the overlap model on ``table``; write the model directory ``out``.

    Parameters
    ----------
    table : StudyTable
        From :func:`read_study_csv` (or built from a catalog dataset).
    model : str
        A registered name (:data:`~precisionmed.treatment.models.EFFECT_MODELS`).
    out : path
        The model directory (refused if it holds a model, unless ``overwrite``).
    better : {"lower", "higher"}
        Which outcome values are better (recorded in the model card, used by the recommender).
    params : mapping, optional
        Estimator parameters (``n_bootstrap``, ``n_members``, ``max_epochs``...).
    alpha : float
        1 - the intervals' coverage.
    source : str
        Where the data came from (a file path, a dataset name) for the model card.

    Returns
    -------
    Path
        The model directory.
    """
    if better not in DIRECTIONS:
        raise ConfigError(f"--better must be one of {DIRECTIONS}; got {better!r}.")
    spec = EFFECT_MODELS.get(model)
    survival = table.y.dtype.names is not None
    if spec.survival != survival:
        raise ConfigError(
            f"--model {model}: {'takes' if spec.survival else 'does not take'} survival outcomes "
            f"(--event-column); the table has {'survival' if survival else 'numeric'} outcomes. "
            f"Models for {'them' if survival else 'numeric outcomes'}: "
            + ", ".join(s.name for s in EFFECT_MODELS if s.survival == survival)
            + "."
        )
    if survival and better != "higher":
        raise ConfigError(
            "--better: survival models predict the restricted mean survival time, where higher "
            f"is better; got {better!r}."
        )
    estimator = make_effect_model(model, params)

    def train(staging: Path) -> tuple[ModelContents, None]:
        start = time.perf_counter()
        estimator.fit(table.X, table.t, table.y)
        overlap = OverlapModel().fit(table.X, table.t)
        ate, low, high = estimator.ate_interval(table.X, alpha)
        names = table.treatment_names
        if survival:
            nonlocal outcome_column
            outcome_column = (
                f"restricted mean survival time to {estimator.horizon_:.4g} ({outcome_column})"
            )
        metrics = {
            "ate": {"value": ate, "low": low, "high": high},
            "n_patients": len(table.t),
            f"n_{names[1]}": int(table.t.sum()),
            f"n_{names[0]}": int((1 - table.t).sum()),
            "overlap": overlap.summary_,
            "fit_seconds": time.perf_counter() - start,
        }
        config = {
            "model": model,
            "params": {k: v for k, v in estimator.get_params().items() if _jsonable(v)},
            "covariates": table.covariates,
            "treatment_column": treatment_column,
            "treatment_names": names,
            "outcome_column": outcome_column,
            "better": better,
            "alpha": alpha,
            "interval_method": spec.interval,
            "dataset": source,
            "input_spec": table_input_spec(table.X, table.covariates).to_dict(),
        }
        card = ModelCard(
            title=f"{spec.description}: {outcome_column} under {names[1]} vs {names[0]}",
            intended_use=(
                f"Research: the expected {outcome_column} of a patient under {names[0]} and under "
                f"{names[1]}, with {1 - alpha:.0%} intervals, and a recommendation only where the "
                f"intervals do not overlap and the patient is in the common support. "
                f"{better.capitalize()} {outcome_column} is better."
            ),
            training_data=(
                f"{source or 'a study table'}: {len(table.t)} patients ({int(table.t.sum())} "
                f"{names[1]}, {int((1 - table.t).sum())} {names[0]}), covariates "
                f"{', '.join(table.covariates)}."
            ),
            limitations=[
                "Effects are causal only under no unmeasured confounding, overlap and "
                "consistency; nothing in the data can check the first.",
                f"Intervals: {spec.interval}; they reflect the model's estimation uncertainty, "
                "not the spread of individual outcomes.",
                "Binary treatments only (two candidates).",
            ],
            details={"model": model, "better": better, "outcome": outcome_column},
        )
        contents = ModelContents(
            kind=KIND,
            pillar="treatment",
            config=config,
            metrics=metrics,
            card=card,
            estimator={"effect_model": estimator, "overlap": overlap},
        )
        return contents, None

    path, _ = write_model_dir(out, train, overwrite=overwrite)
    return path


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | tuple | list)


__all__ = [
    "StudyTable",
    "fit_treatment_model",
    "read_study_csv",
    "study_table_from_dataset",
    "table_input_spec",
]
