"""Column preprocessing for clinical tables: impute, standardise, one-hot encode.

The preprocessor is a plain scikit-learn :class:`~sklearn.compose.ColumnTransformer`, so it sits
in a :class:`~sklearn.pipeline.Pipeline` before any estimator of the pillar (or of scikit-learn /
scikit-survival) and is refitted inside every cross-validation fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler

from precisionmed.errors import ConfigError

FEATURE_TYPES = ("numeric", "categorical")
SCALINGS = ("standard", "quantile")


def make_preprocessor(
    feature_types: Mapping[str, str], *, scaling: str = "standard"
) -> ColumnTransformer:
    """A ColumnTransformer for a table with the given column types.

    Numeric columns: median imputation then standardisation (zero mean, unit variance), with
    ``scaling="quantile"`` after a rank-based map to [0, 1] (the training values' empirical
    distribution function, scikit-learn's :class:`~sklearn.preprocessing.QuantileTransformer`;
    Gorishniy et al. 2021 prepare the inputs of tabular MLPs this way): skewed laboratory values
    (receptor levels, node counts) no longer put a few patients far out on one input, and the map
    is monotone, so trees and rank statistics are unaffected.
    Categorical columns: most-frequent imputation then one-hot encoding; a category unseen at
    ``fit`` encodes as all zeros (``handle_unknown="ignore"``). Other columns are dropped.

    Parameters
    ----------
    feature_types : mapping
        ``column name -> "numeric" | "categorical"`` (e.g. ``ClinicalData.feature_types``).
    scaling : {"standard", "quantile"}
        How numeric columns are scaled after imputation.

    Returns
    -------
    ColumnTransformer
        Unfitted; its output is a dense float array of shape (n_samples, n_encoded_features).

    Raises
    ------
    ConfigError
        A type other than "numeric" / "categorical", an unknown ``scaling``, or no columns.
    """
    if scaling not in SCALINGS:
        raise ConfigError(f"scaling must be one of {SCALINGS}; got {scaling!r}.")
    bad = {c: t for c, t in feature_types.items() if t not in FEATURE_TYPES}
    if bad:
        col, kind = next(iter(bad.items()))
        raise ConfigError(
            f"Column {col!r} has feature type {kind!r}; expected one of {FEATURE_TYPES}."
        )
    numeric = [c for c, t in feature_types.items() if t == "numeric"]
    categorical = [c for c, t in feature_types.items() if t == "categorical"]
    if not numeric and not categorical:
        raise ConfigError("make_preprocessor needs at least one column; got none.")
    transformers = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median"))]
        if scaling == "quantile":
            # uniform, not normal, output: scikit-learn maps a column's minimum to the output's
            # lower bound, which for a normal output puts every 0 of a binary column at -5.2
            steps.append(("quantile", _QuantileScaler(output_distribution="uniform")))
        steps.append(("scale", StandardScaler()))
        numeric_steps = Pipeline(steps)
        transformers.append(("numeric", numeric_steps, numeric))
    if categorical:
        categorical_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                (
                    "onehot",
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=float),
                ),
            ]
        )
        transformers.append(("categorical", categorical_steps, categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


class _QuantileScaler(QuantileTransformer):
    """QuantileTransformer without its warning when a training set has fewer rows than
    ``n_quantiles`` (it then uses one quantile per row, as it should: a cross-validation fold of
    400 patients is an ordinary case here, not a mistake to warn about)."""

    def fit(self, X, y=None):  # noqa: D102 - QuantileTransformer.fit
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_quantiles .* is greater than")
            return super().fit(X, y)


#: What each imputer of :func:`make_preprocessor` puts into a missing cell, for the warnings.
_IMPUTED_WITH = {
    "median": "the training median",
    "most_frequent": "the most frequent training value",
}


def imputation_values(pipeline: Any) -> dict[str, str]:
    """What a fitted pipeline puts into each input column's missing cells, as text.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline of :func:`~precisionmed.clinical.make_pipeline` (its ``preprocess``
        step a fitted :func:`make_preprocessor`).

    Returns
    -------
    dict of str to str
        ``column -> "53 (the training median)"``; empty for a pipeline without that step.
    """
    steps = getattr(pipeline, "named_steps", {})
    preprocess = steps.get("preprocess") if hasattr(steps, "get") else None
    out: dict[str, str] = {}
    for _name, transformer, columns in getattr(preprocess, "transformers_", []):
        imputer = getattr(transformer, "named_steps", {}).get("impute")
        if not isinstance(imputer, SimpleImputer):
            continue
        how = _IMPUTED_WITH.get(str(imputer.strategy), f"the training {imputer.strategy}")
        for column, value in zip(columns, imputer.statistics_, strict=True):
            text = f"{value:g}" if isinstance(value, float | np.floating) else repr(value)
            out[str(column)] = f"{text} ({how})"
    return out
