"""The input schema a clinical model was trained on, and validation of new patients against it.

A model directory records, for every input column, its kind (numeric or categorical), its
training dtype, the categories seen in training and the training range of numeric columns.
:func:`validate_patients` checks a table of new patients against that record:

- a missing column, text in a numeric column or a category never seen in training raises
  :class:`~precisionmed.errors.SchemaError` naming the row and the column;
- a numeric value outside the training range is kept but reported as a warning (the model
  extrapolates there), and so is a missing value (the pipeline imputes it).

Rows are numbered from 1 in the order of the table (row 1 is the first patient, the line after
the CSV header). No patient identifier is ever put into a message.
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


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


def _numeric_column(
    raw: pd.Series, spec: ColumnSchema, source: str, warnings: list[str]
) -> pd.Series:
    out = np.full(len(raw), np.nan)
    for i, value in enumerate(raw.tolist()):
        if _is_missing(value):
            warnings.append(f"row {i + 1}, column {spec.name!r}: missing; the model imputes it.")
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"{source}: row {i + 1}, column {spec.name!r}: expected a number; got {value!r}."
            ) from None
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
        if _is_missing(value):
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

    Raises
    ------
    DataFormatError
        The file is empty or not a CSV table.
    """
    path = Path(path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path}: not a readable CSV table with a header row ({exc})."
        ) from exc
