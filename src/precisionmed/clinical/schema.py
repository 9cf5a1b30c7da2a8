"""The input schema a clinical model was trained on, and validation of new patients against it.

A model directory records, for every input column, its kind (numeric or categorical), its
training dtype, the categories seen in training and the training range of numeric columns.
:func:`validate_patients` checks a table of new patients against that record:

- a missing column, text in a numeric column, a number that is not finite (``inf``, ``-inf``, a
  value that overflows such as ``1e999``) or of a magnitude above :data:`MAX_MAGNITUDE` (``1e308``)
  or a category never seen in training raises
  :class:`~precisionmed.errors.SchemaError` naming the row and the column;
- everything else the model was not trained on is reported as an :class:`InputIssue` (a warning
  sentence on the patient's prediction), or with ``strict=True`` raised as a one-line error: a
  column the model does not know (ignored), a missing cell (imputed, the value named), a numeric
  value outside the training range (the model extrapolates) and one beyond
  :data:`ABSTAIN_MARGIN` (no prediction: the patient's record abstains).

Rows are numbered from 1 in the order of the table (row 1 is the first patient, the line after
the CSV header). No patient identifier is ever put into a message.

:func:`read_patients_csv` refuses a CSV whose header names a column twice (pandas would rename the
second one ``x.1`` and use the first silently), and :func:`check_finite_outputs` turns a
non-finite model output (a finite but huge input such as ``1e308`` overflows in the scaling or the
model) into an error naming the row, so that a prediction never holds NaN or infinity.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
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


#: Abstention margin, in widths of the training range: a numeric value outside
#: ``[min - m * (max - min), max + m * (max - min)]`` is too far from anything the model saw for
#: its extrapolation to mean anything, and the patient gets no prediction (``abstained``).
#: With ``m = 0.5`` a model trained on ages 20-90 abstains below -15 and above 125 (an age of 150
#: abstains; 95 only warns). A column that never varied in training (``min == max``) abstains on
#: any other value: the model has learned nothing about it.
ABSTAIN_MARGIN = 0.5

IssueKind = Literal["extra_column", "imputed", "out_of_range", "abstain"]


@dataclass(frozen=True)
class InputIssue:
    """Something about one input cell (or column) unlike the training data, said out loud.

    Attributes
    ----------
    kind : {"extra_column", "imputed", "out_of_range", "abstain"}
        An unknown column (ignored); a missing cell (imputed); a numeric value outside the
        training range (the model extrapolates); one beyond :data:`ABSTAIN_MARGIN` (no
        prediction for that patient).
    row : int or None
        1-based row; None for a whole column (an extra column concerns every row).
    column : str
    expected, got : str
        What the model was trained on and what the input holds (for the strict error).
    message : str
        The warning sentence (``"row R, column 'C': ..."`` or ``"column 'C': ..."``).
    """

    kind: IssueKind
    row: int | None
    column: str
    expected: str
    got: str
    message: str

    def error(self, source: str) -> SchemaError:
        """The strict-mode error: one line naming the source, row, column, expected and got."""
        where = "header" if self.row is None else f"row {self.row}"
        return SchemaError(
            f"{source}: {where}, column {self.column!r}: expected {self.expected}; got "
            f"{self.got} (strict mode refuses what it would otherwise warn about)."
        )


def abstain_limits(spec: ColumnSchema) -> tuple[float, float] | None:
    """``(low, high)`` outside which a value of ``spec`` abstains (see :data:`ABSTAIN_MARGIN`)."""
    if spec.min is None or spec.max is None:
        return None
    margin = ABSTAIN_MARGIN * (spec.max - spec.min)
    return spec.min - margin, spec.max + margin


def _imputed(i: int, value: Any, spec: ColumnSchema, fill_values: Mapping[str, str]) -> InputIssue:
    fill = fill_values.get(spec.name, "the training data's typical value")
    return InputIssue(
        "imputed",
        i + 1,
        spec.name,
        "a value (strict mode imputes nothing)",
        "an empty cell" if value is None or str(value).strip() == "" else repr(value),
        f"row {i + 1}, column {spec.name!r}: missing; imputed with {fill}.",
    )


def _numeric_column(
    raw: pd.Series,
    spec: ColumnSchema,
    source: str,
    issues: list[InputIssue],
    fill_values: Mapping[str, str],
) -> pd.Series:
    out = np.full(len(raw), np.nan)
    limits = abstain_limits(spec)
    for i, value in enumerate(raw.tolist()):
        if is_missing(value):
            issues.append(_imputed(i, value, spec, fill_values))
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"{source}: row {i + 1}, column {spec.name!r}: expected a number; got {value!r}."
            ) from None
        check_number(out[i], value, source=source, row=i + 1, column=spec.name)
        if limits is None or spec.min <= out[i] <= spec.max:  # type: ignore[operator]
            continue
        where = f"row {i + 1}, column {spec.name!r}: {out[i]:g} is outside the training range "
        trained = f"[{spec.min:g}, {spec.max:g}]"
        if limits[0] <= out[i] <= limits[1]:
            kind: IssueKind = "out_of_range"
            message = f"{where}{trained}; the prediction extrapolates."
        else:
            kind = "abstain"
            message = (
                f"{where}{trained} by more than {ABSTAIN_MARGIN:g} of its width (limits "
                f"[{limits[0]:g}, {limits[1]:g}]); no prediction is made for this patient."
            )
        expected = f"a value in the training range {trained}"
        issues.append(InputIssue(kind, i + 1, spec.name, expected, f"{out[i]:g}", message))
    return pd.Series(out, index=raw.index, name=spec.name)


def _categorical_column(
    raw: pd.Series,
    spec: ColumnSchema,
    source: str,
    issues: list[InputIssue],
    fill_values: Mapping[str, str],
) -> pd.Series:
    categories = spec.categories or []
    by_text = {str(c): c for c in categories}
    # numeric codes written as 1.0 in a spreadsheet still mean category 1
    by_text.update({f"{float(c):g}": c for c in categories if isinstance(c, (int, float))})
    out: list[Any] = []
    for i, value in enumerate(raw.tolist()):
        if is_missing(value):
            issues.append(_imputed(i, value, spec, fill_values))
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
    data: pd.DataFrame,
    schema: InputSchema,
    *,
    source: str = "input",
    strict: bool = False,
    known_columns: Sequence[str] = (),
    fill_values: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[InputIssue]]:
    """Check new patients against a model's schema and convert them to its dtypes.

    Parameters
    ----------
    data : DataFrame of shape (N, *)
        One row per patient. Values may be strings as read from a CSV file.
    schema : InputSchema
        The model's recorded schema.
    source : str
        Name used in messages (e.g. the CSV path).
    strict : bool
        Raise on the first issue (extra column, missing cell, value outside the training range)
        instead of reporting it.
    known_columns : sequence of str
        Columns that are not model inputs but are expected (an identifier, an observed
        outcome): not reported as extra.
    fill_values : mapping of str to str, optional
        ``column -> "53 (the training median)"``: what the model imputes for a missing cell,
        quoted in the warning.

    Returns
    -------
    X : DataFrame of shape (N, F)
        The schema's columns in order, with the training dtypes.
    issues : list of InputIssue
        Extra columns first, then by row: missing cells, values outside the training range and
        values beyond the abstention margin (:data:`ABSTAIN_MARGIN`).

    Raises
    ------
    SchemaError
        A column is missing, a numeric column holds text, or a category is unknown; with
        ``strict``, any issue (the first one: file, row, column, expected, got).
    """
    missing = [name for name in schema.names if name not in data.columns]
    if missing:
        raise SchemaError(
            f"{source}: missing column(s) {missing}; the model needs {schema.names} "
            f"and the input has {[str(c) for c in data.columns]}."
        )
    if len(data) == 0:
        raise SchemaError(f"{source}: no rows; expected at least one patient.")
    issues: list[InputIssue] = []
    for name in data.columns:
        if name not in schema.names and name not in known_columns:
            issues.append(
                InputIssue(
                    "extra_column",
                    None,
                    str(name),
                    f"only the model's columns {schema.names}",
                    f"the extra column {str(name)!r}",
                    f"column {str(name)!r} is not one of the model's inputs and is ignored.",
                )  # fmt: skip
            )
    columns = {}
    for spec in schema.columns:
        raw = data[spec.name].reset_index(drop=True)
        read = _numeric_column if spec.kind == "numeric" else _categorical_column
        columns[spec.name] = read(raw, spec, source, issues, fill_values or {})
    issues.sort(key=lambda issue: -1 if issue.row is None else issue.row)  # stable
    if strict and issues:
        raise issues[0].error(source)
    return pd.DataFrame(columns), issues


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
    values: Any,
    *,
    what: str,
    source: str = "input",
    issues: Sequence[InputIssue] = (),
    rows: Sequence[int] | np.ndarray | None = None,
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
    issues : sequence of InputIssue
        The validation issues of the same patients: the offending row's are quoted (they say
        which input is outside the training range).
    rows : sequence of int, optional
        The 1-based row of each of the N values (default ``1..N``): the predicted patients when
        some abstained.

    Raises
    ------
    DataFormatError
        Some value is not finite.
    """
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1) if arr.size else np.array([])
    if not bad.any():
        return
    numbers = np.arange(1, len(arr) + 1) if rows is None else np.asarray(rows)
    bad_rows = numbers[np.flatnonzero(bad)].tolist()
    why = [i.message for i in issues if i.row == bad_rows[0]]
    more = f" (and {len(bad_rows) - 1} more row(s): {bad_rows[1:6]})" if len(bad_rows) > 1 else ""
    raise DataFormatError(
        f"{source}: row {bad_rows[0]}: the model's {what} is not a finite number{more}; expected "
        "inputs of the size seen in training"
        + (f" ({'; '.join(w.rstrip('.') for w in why)})" if why else "")
        + "."
    )
