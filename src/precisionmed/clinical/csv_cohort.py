"""A user's own cohort from a CSV file: what ``precisionmed clinical train --csv`` trains on.

:func:`load_clinical_csv` reads a CSV with a header row and one patient per line and returns
the same :class:`~precisionmed.data.sources.clinical.ClinicalData` the catalog's clinical loaders
return, so that :func:`~precisionmed.clinical.training.train_clinical_model` trains on it
unchanged:

- survival: ``time_column`` (positive, finite) and ``event_column`` (``0``/``1`` or
  ``true``/``false``: 1 where the event was observed, 0 where the time is censored);
- classification: ``target_column`` (``0``/``1`` or ``true``/``false``; 1 is the positive class);
- every other column, except an optional ``id_column``, is a feature: numeric where every value
  is a number, categorical where the values are text (or where ``categorical_columns`` says so).
  Missing feature values (empty, ``NA``, ``NaN``, ...) are allowed; the pipeline imputes them.

Anything else is refused with one line naming the file, the row (row 1 is the first patient, the
line after the header) and the column: a missing or non-binary outcome, a non-positive time,
``inf`` or a number of magnitude above 1e15 (``1e308``), text in an otherwise numeric column, a
column named twice in the header (:func:`~precisionmed.clinical.schema.read_patients_csv`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precisionmed.clinical.schema import check_number, is_missing, read_patients_csv
from precisionmed.data.sources.clinical import ClinicalData, survival_array
from precisionmed.errors import ConfigError, SchemaError

_TRUE = frozenset({"1", "1.0", "true", "yes"})
_FALSE = frozenset({"0", "0.0", "false", "no"})
#: Share of values that must be numbers for a column to be taken as numeric with typos in it
#: (reported as errors) rather than as a categorical column.
_NUMERIC_SHARE = 0.9
#: A text column with a distinct value in each of at least this many rows is an identifier.
_MIN_ROWS_FOR_ID_CHECK = 20


def _binary(values: pd.Series, path: Path, column: str, meaning: str) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    for i, value in enumerate(values.tolist()):
        text = "" if is_missing(value) else str(value).strip().lower()
        if text in _TRUE:
            out[i] = 1
        elif text not in _FALSE:
            got = "a missing value" if not text else repr(value)
            raise SchemaError(
                f"{path}: row {i + 1}, column {column!r}: expected 0 or 1 (or true/false; "
                f"{meaning}); got {got}."
            )
    return out


def _times(values: pd.Series, path: Path, column: str) -> np.ndarray:
    out = np.empty(len(values))
    for i, value in enumerate(values.tolist()):
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            out[i] = np.nan
        if not (np.isfinite(out[i]) and out[i] > 0):
            got = "a missing value" if is_missing(value) else repr(value)
            raise SchemaError(
                f"{path}: row {i + 1}, column {column!r}: expected a positive, finite follow-up "
                f"time; got {got}."
            )
    return out


def observed_survival(
    raw: pd.DataFrame, path: str | Path, time_column: str, event_column: str
) -> np.ndarray:
    """The observed outcome of a table of patients as a survival target.

    Parameters
    ----------
    raw : DataFrame of shape (N, *)
        Patients as read by :func:`~precisionmed.clinical.schema.read_patients_csv`.
    path : str or Path
        The file, for messages.
    time_column, event_column : str
        Follow-up time (positive, finite) and event indicator (0/1 or false/true).

    Returns
    -------
    structured array of shape (N,)
        ``("event", bool), ("time", float)`` (scikit-survival's form).

    Raises
    ------
    SchemaError
        A missing or non-binary event, a non-positive or missing time, or no event at all
        (row and column named).
    """
    path = Path(path)
    event = _binary(raw[event_column], path, event_column, "1 = event observed, 0 = censored")
    if not event.any():
        raise SchemaError(
            f"{path}: column {event_column!r} holds no event (all 0); a survival model "
            "needs observed events."
        )
    return survival_array(event, _times(raw[time_column], path, time_column))


def _as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _feature(
    values: pd.Series, path: Path, column: str, categorical: bool
) -> tuple[pd.Series, str]:
    """The column as float64 (numeric) or pandas ``category`` (categorical), and its kind."""
    present = [(i, v) for i, v in enumerate(values.tolist()) if not is_missing(v)]
    if not present:
        raise SchemaError(
            f"{path}: column {column!r} has no values; expected a feature with at least one "
            "value (drop the column from the file)."
        )
    numbers = [(i, v, _as_number(v)) for i, v in present]
    n_numeric = sum(x is not None for _, _, x in numbers)
    if categorical or n_numeric < _NUMERIC_SHARE * len(present):
        texts = pd.Series(
            [np.nan if is_missing(v) else str(v).strip() for v in values.tolist()], dtype=object
        )
        categories = sorted(texts.dropna().unique().tolist())
        if not categorical and len(categories) == len(present) >= _MIN_ROWS_FOR_ID_CHECK:
            raise SchemaError(  # no value quoted: it would be a patient's identifier
                f"{path}: column {column!r} holds a different text in every row, as an "
                "identifier does; expected a feature. Give it as --id-column, or list it with "
                "--categorical-column if it really is a category."
            )
        return texts.astype(pd.CategoricalDtype(categories=categories)), "categorical"
    out = np.full(len(values), np.nan)
    for i, value, number in numbers:
        if number is None:
            raise SchemaError(
                f"{path}: row {i + 1}, column {column!r}: expected a number (the column is "
                f"otherwise numeric); got {value!r}. Fix the value, or list the column with "
                "--categorical-column."
            )
        check_number(number, value, source=str(path), row=i + 1, column=column)
        out[i] = number
    return pd.Series(out, dtype="float64"), "numeric"


def load_clinical_csv(
    path: str | Path,
    *,
    time_column: str | None = None,
    event_column: str | None = None,
    target_column: str | None = None,
    id_column: str | None = None,
    categorical_columns: Sequence[str] = (),
    time_unit: str = "days",
) -> ClinicalData:
    """Read a user's cohort from a CSV file as a :class:`ClinicalData`.

    Parameters
    ----------
    path : str or Path
        CSV with a header row and one patient per line.
    time_column, event_column : str, optional
        Survival outcome: follow-up time (in ``time_unit``) and event indicator (1 = event
        observed, 0 = censored). Give both, or ``target_column``.
    target_column : str, optional
        Binary outcome of a classification task (1 = the positive class).
    id_column : str, optional
        A patient identifier: not used as a feature.
    categorical_columns : sequence of str
        Columns to treat as categories even where their values are numbers (e.g. codes 1-3).
    time_unit : str
        Unit of the times (``"days"``, ``"months"``), recorded in the model.

    Returns
    -------
    ClinicalData
        ``name`` is the file name; ``task`` is ``"survival"`` or ``"binary-class"``; ``X`` holds
        the features (float64 or ``category``) in file order.

    Raises
    ------
    ConfigError
        Neither or both kinds of outcome, or a column given twice.
    SchemaError
        A named column is absent, or a value is invalid (file, row and column named).
    DataFormatError
        The file cannot be read, is not a CSV table, or names a column twice.
    """
    path = Path(path)
    survival = time_column is not None or event_column is not None
    if survival == (target_column is not None) or (
        survival and None in (time_column, event_column)
    ):
        raise ConfigError(
            "Give the outcome as --time-column and --event-column (survival) or as "
            f"--target-column (classification); got time={time_column!r}, "
            f"event={event_column!r}, target={target_column!r}."
        )
    roles = {"time": time_column, "event": event_column, "target": target_column, "id": id_column}
    named = {role: col for role, col in roles.items() if col is not None}
    if len(set(named.values())) != len(named):
        raise ConfigError(f"Each column can have one role only; got {named}.")
    raw = read_patients_csv(path)
    wanted = [*named.values(), *categorical_columns]
    absent = [c for c in wanted if c not in raw.columns]
    if absent:
        raise SchemaError(
            f"{path}: no column(s) {absent}; the file has {[str(c) for c in raw.columns]}."
        )
    if len(raw) == 0:
        raise SchemaError(f"{path}: no rows; expected one patient per line after the header.")
    features = [c for c in raw.columns if c not in named.values()]
    if not features:
        raise SchemaError(f"{path}: no feature columns besides the outcome and identifier.")
    if survival:
        y = observed_survival(raw, path, str(time_column), str(event_column))
    else:
        y_col = str(target_column)
        y = _binary(raw[y_col], path, y_col, "1 = the positive class")
        if len(np.unique(y)) < 2:
            raise SchemaError(
                f"{path}: column {y_col!r} holds only the class {int(y[0])}; a classifier "
                "needs patients of both classes 0 and 1."
            )
    columns, types = {}, {}
    for column in features:
        columns[column], types[column] = _feature(
            raw[column], path, column, column in categorical_columns
        )
    X = pd.DataFrame(columns)
    outcome = f"{time_column}/{event_column}" if survival else str(target_column)
    return ClinicalData(
        name=path.name,
        X=X,
        y=y,
        feature_types=types,
        task="survival" if survival else "binary-class",
        time_unit=time_unit if survival else None,
        target_names=[] if survival else ["0", "1"],
        description=f"{len(X)} patients from {path.name}, outcome {outcome}.",
    )
