"""Column preprocessing for clinical tables: impute, standardise, one-hot encode.

The preprocessor is a plain scikit-learn :class:`~sklearn.compose.ColumnTransformer`, so it sits
in a :class:`~sklearn.pipeline.Pipeline` before any estimator of the pillar (or of scikit-learn /
scikit-survival) and is refitted inside every cross-validation fold.
"""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from precisionmed.errors import ConfigError

FEATURE_TYPES = ("numeric", "categorical")


def make_preprocessor(feature_types: Mapping[str, str]) -> ColumnTransformer:
    """A ColumnTransformer for a table with the given column types.

    Numeric columns: median imputation then standardisation (zero mean, unit variance).
    Categorical columns: most-frequent imputation then one-hot encoding; a category unseen at
    ``fit`` encodes as all zeros (``handle_unknown="ignore"``). Other columns are dropped.

    Parameters
    ----------
    feature_types : mapping
        ``column name -> "numeric" | "categorical"`` (e.g. ``ClinicalData.feature_types``).

    Returns
    -------
    ColumnTransformer
        Unfitted; its output is a dense float array of shape (n_samples, n_encoded_features).

    Raises
    ------
    ConfigError
        A type other than "numeric" / "categorical", or no columns at all.
    """
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
        numeric_steps = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
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
