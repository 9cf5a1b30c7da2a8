"""Splits: random and stratified train/validation/test, k-fold and stratified k-fold.

Thin, seeded wrappers over scikit-learn's splitters so that every pillar splits the same way.
Indices are returned, never copies of the data.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from precisionmed.errors import ConfigError


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(
            f"The '{name}' parameter must be a float in [0, 1). Got {value!r} instead."
        )


def train_val_test_indices(
    n: int,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    stratify: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n)`` into train, validation and test indices.

    Parameters
    ----------
    n : int
        Number of samples.
    val_fraction, test_fraction : float
        Fractions of all samples for validation and test.
    stratify : array of shape (n,) or None
        Class labels to keep the class proportions in each part.
    seed : int
        Random seed.
    """
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError("val_fraction + test_fraction must be below 1.")
    idx = np.arange(n)
    test = np.array([], dtype=int)
    if test_fraction > 0:
        idx, test = train_test_split(
            idx, test_size=test_fraction, random_state=seed, stratify=stratify
        )
    val = np.array([], dtype=int)
    if val_fraction > 0:
        rest_strat = None if stratify is None else np.asarray(stratify)[idx]
        idx, val = train_test_split(
            idx,
            test_size=val_fraction / (1.0 - test_fraction),
            random_state=seed,
            stratify=rest_strat,
        )
    return np.sort(idx), np.sort(val), np.sort(test)


def kfold_indices(
    n: int, k: int = 5, *, stratify: np.ndarray | None = None, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_idx, test_idx)`` for each of ``k`` folds (stratified if labels given)."""
    if k < 2:
        raise ConfigError(f"The 'k' parameter must be an int >= 2. Got {k!r} instead.")
    splitter = (
        StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        if stratify is not None
        else KFold(n_splits=k, shuffle=True, random_state=seed)
    )
    yield from splitter.split(np.zeros(n), stratify)
