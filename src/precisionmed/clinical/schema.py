"""The input schema a clinical model was trained on, and validation of new patients against it.

A model directory records, for every input column, its kind (numeric or categorical), its
training dtype, the categories seen in training and the training range of numeric columns.
:func:`validate_patients` checks a table of new patients against that record:

- a missing column, text in a numeric column, a number that is not finite (``inf``, ``-inf``, a
  value that overflows such as ``1e999``) or of a magnitude above :data:`MAX_MAGNITUDE` (``1e308``)
  or a category never seen in training raises
  :class:`~precisionmed.errors.SchemaError` naming the row and the column;
- a numeric value outside the training range is kept but reported as a warning (the model
  extrapolates there), and so is a missing value (the pipeline imputes it).

Rows are numbered from 1 in the order of the table (row 1 is the first patient, the line after
the CSV header). No patient identifier is ever put into a message.

:func:`read_patients_csv` refuses a CSV whose header names a column twice (pandas would rename the
second one ``x.1`` and use the first silently), and :func:`check_finite_outputs` turns a
non-finite model output (a finite but huge input such as ``1e308`` overflows in the scaling or the
model) into an error naming the row, so that a prediction never holds NaN or infinity.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from precisionmed.errors import DataFormatError, SchemaError

Kind = Literal["numeric", "categorical"]


@dataclass
class ColumnSchema:
    """One input column as seen in training.

    Attributes
    ----------
    name : str
    kind : {"numeric", "categorical"}
    dtype : str
        The pandas dtype in training (``"float64"``, ``"category"``, ...).
    categories : list, optional
        Categorical columns: the values seen in training (as stored, e.g. ``"yes"`` or ``1``).
    min, max : float, optional
        Numeric columns: the training range (missing values ignored).
    """

    name: str
    kind: Kind
    dtype: str
    categories: list[Any] | None = None
    min: float | None = None
    max: float | None = None


@dataclass
class InputSchema:
    """The ordered input columns of a model (see :func:`infer_schema`)."""

    columns: list[ColumnSchema] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in the artefact's ``config.json`` under ``input_schema``."""
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(columns=[ColumnSchema(**c) for c in data["columns"]])

    def feature_types(self) -> dict[str, str]:
        """``column -> "numeric" | "categorical"``."""
        return {c.name: c.kind for c in self.columns}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def infer_schema(X: pd.DataFrame, feature_types: Mapping[str, str]) -> InputSchema:
    """Record the schema of the training features.

    Parameters
    ----------
    X : DataFrame of shape (N, F)
        Training features, as given to the pipeline.
    feature_types : mapping
        ``column -> "numeric" | "categorical"`` for every column of ``X``.
    """
    columns = []
    for name in X.columns:
        kind = feature_types.get(name)
        if kind not in ("numeric", "categorical"):
            raise SchemaError(
                f"feature_types: column {name!r} must be 'numeric' or 'categorical'; got {kind!r}."
            )
        col = X[name]
        if kind == "numeric":
            values = pd.to_numeric(col, errors="coerce")
            columns.append(
                ColumnSchema(
                    name=str(name),
                    kind="numeric",
                    dtype=str(col.dtype),
                    min=float(np.nanmin(values)) if values.notna().any() else None,
                    max=float(np.nanmax(values)) if values.notna().any() else None,
                )
            )
        else:
            seen = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else None
            cats = sorted(
                {_plain(v) for v in (seen if seen is not None else col.dropna().unique())},
                key=str,
            )
            columns.append(
                ColumnSchema(
                    name=str(name), kind="categorical", dtype=str(col.dtype), categories=cats
                )
            )
    return InputSchema(columns=columns)


MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none"})


def is_missing(value: Any) -> bool:
    """True for None, NaN and the missing-value spellings of :data:`MISSING_TOKENS` (any case)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


#: The largest magnitude a numeric input may have. Above 2**53 (about 9e15) a double no longer
#: holds every integer, no clinical measurement in any unit comes near it, and a value such as
#: ``1e308`` is finite but overflows in the scaling and the models (or gives an absurd, finite
#: risk): such a value is a unit or typing error, refused rather than extrapolated from.
MAX_MAGNITUDE = 1e15


def check_number(number: float, text: object, *, source: str, row: int, column: str) -> None:
    """Refuse a number that is not finite or whose magnitude exceeds :data:`MAX_MAGNITUDE`.

    Parameters
    ----------
    number : float
        The parsed value.
    text : object
        The value as written (quoted in the message).
    source : str
        The file (or table) name for the message.
    row : int
        1-based row (the first patient is row 1).
    column : str
        The column name.

    Raises
    ------
    SchemaError
        One line naming the source, row and column, what was expected and what was got.
    """
    if not np.isfinite(number) or abs(number) > MAX_MAGNITUDE:
        raise SchemaError(
            f"{source}: row {row}, column {column!r}: expected a finite number of magnitude at "
            f"most {MAX_MAGNITUDE:g}; got {text!r}."
        )


def _numeric_column(
    raw: pd.Series, spec: ColumnSchema, source: str, warnings: list[str]
) -> pd.Series:
    out = np.full(len(raw), np.nan)
    for i, value in enumerate(raw.tolist()):
        if is_missing(value):
            warnings.append(f"row {i + 1}, column {spec.name!r}: missing; the model imputes it.")
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"{source}: row {i + 1}, column {spec.name!r}: expected a number; got {value!r}."
            ) from None
        check_number(out[i], value, source=source, row=i + 1, column=spec.name)
        if spec.min is not None and spec.max is not None and not spec.min <= out[i] <= spec.max:
            warnings.append(
                f"row {i + 1}, column {spec.name!r}: {out[i]:g} is outside the training range "
                f"[{spec.min:g}, {spec.max:g}]; the prediction extrapolates."
            )
    return pd.Series(out, index=raw.index, name=spec.name)


def _categorical_column(
    raw: pd.Series, spec: ColumnSchema, source: str, warnings: list[str]
) -> pd.Series:
    categories = spec.categories or []
    by_text = {str(c): c for c in categories}
    # numeric codes written as 1.0 in a spreadsheet still mean category 1
    by_text.update({f"{float(c):g}": c for c in categories if isinstance(c, (int, float))})
    out: list[Any] = []
    for i, value in enumerate(raw.tolist()):
        if is_missing(value):
            warnings.append(f"row {i + 1}, column {spec.name!r}: missing; the model imputes it.")
            out.append(np.nan)
            continue
        text = str(value).strip()
        if text not in by_text:
            with contextlib.suppress(ValueError):
                text = f"{float(text):g}"
        if text not in by_text:
            raise SchemaError(
                f"{source}: row {i + 1}, column {spec.name!r}: unknown category {value!r}; "
                f"expected one of {categories}."
            )
        out.append(by_text[text])
    series = pd.Series(out, index=raw.index, name=spec.name)
    if spec.dtype == "category":
        return series.astype(pd.CategoricalDtype(categories=categories))
    return series


def validate_patients(
    data: pd.DataFrame, schema: InputSchema, *, source: str = "input"
) -> tuple[pd.DataFrame, list[str]]:
    """Check new patients against a model's schema and convert them to its dtypes.

    Parameters
    ----------
    data : DataFrame of shape (N, *)
        One row per patient; extra columns (e.g. an identifier) are ignored. Values may be
        strings as read from a CSV file.
    schema : InputSchema
        The model's recorded schema.
    source : str
        Name used in messages (e.g. the CSV path).

    Returns
    -------
    X : DataFrame of shape (N, F)
        The schema's columns in order, with the training dtypes.
    warnings : list of str
        Out-of-range and missing values, ``"row R, column 'C': ..."``.

    Raises
    ------
    SchemaError
        A column is missing, a numeric column holds text, or a category is unknown.
    """
    missing = [name for name in schema.names if name not in data.columns]
    if missing:
        raise SchemaError(
            f"{source}: missing column(s) {missing}; the model needs {schema.names} "
            f"and the input has {[str(c) for c in data.columns]}."
        )
    if len(data) == 0:
        raise SchemaError(f"{source}: no rows; expected at least one patient.")
    warnings: list[str] = []
    columns = {}
    for spec in schema.columns:
        raw = data[spec.name].reset_index(drop=True)
        if spec.kind == "numeric":
            columns[spec.name] = _numeric_column(raw, spec, source, warnings)
        else:
            columns[spec.name] = _categorical_column(raw, spec, source, warnings)
    warnings.sort(key=lambda w: int(w.split(",")[0].removeprefix("row ")))  # by row, stable
    return pd.DataFrame(columns), warnings


def read_patients_csv(path: str | Path) -> pd.DataFrame:
    """Read a patients CSV with every value as text (types are checked by the schema).

    Parameters
    ----------
    path : str or Path
        A CSV file with a header row and one patient per line.

    Returns
    -------
    DataFrame of shape (N, F)
        Every cell as a string (missing fields as NaN), columns named as in the header.

    Raises
    ------
    DataFormatError
        The file cannot be opened, is empty, is not a CSV table, or its header names a column
        twice (both positions named).
    """
    path = Path(path)
    try:
        # header=None: pandas would rename a repeated column name to "x.1" without a word;
        # the header row is read as data and checked here instead.
        raw = pd.read_csv(
            path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read the CSV file ({exc.strerror or exc}).") from exc
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path}: not a readable CSV table with a header row ({exc})."
        ) from exc
    header = [str(name).strip() for name in raw.iloc[0]]
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise DataFormatError(
                f"{path}: the header names column {name!r} twice (columns {seen[name]} and "
                f"{position}); expected unique column names."
            )
        seen[name] = position
    data = raw.iloc[1:].reset_index(drop=True)
    data.columns = header
    return data


def check_finite_outputs(
    values: Any, *, what: str, source: str = "input", warnings: list[str] | None = None
) -> None:
    """Refuse a model output that is NaN or infinite, naming the first patient's row.

    Parameters
    ----------
    values : array-like of shape (N,) or (N, ...)
        One output (or one row of outputs) per patient, in input order.
    what : str
        What the values are, for the message (``"risk score"``, ``"probability"``).
    source : str
        Name used in the message (e.g. the CSV path).
    warnings : list of str, optional
        The validation warnings of the same patients: the offending row's are quoted (they say
        which input is outside the training range).

    Raises
    ------
    DataFormatError
        Some value is not finite.
    """
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1) if arr.size else np.array([])
    if not bad.any():
        return
    rows = (np.flatnonzero(bad) + 1).tolist()
    prefix = f"row {rows[0]},"
    why = [w for w in warnings or [] if w.startswith(prefix)]
    more = f" (and {len(rows) - 1} more row(s): {rows[1:6]})" if len(rows) > 1 else ""
    raise DataFormatError(
        f"{source}: row {rows[0]}: the model's {what} is not a finite number{more}; expected "
        "inputs of the size seen in training"
        + (f" ({'; '.join(w.rstrip('.') for w in why)})" if why else "")
        + "."
    )
