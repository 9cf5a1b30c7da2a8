"""Splits: random and stratified train/validation/test, k-fold and stratified k-fold.

Thin, seeded wrappers over scikit-learn's splitters so that every pillar splits the same way.
Indices are returned, never copies of the data. scikit-learn is imported inside the functions:
it takes over a second to import and the catalog (``precisionmed data list``) does not need it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from precisionmed.errors import ConfigError


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(
            f"The '{name}' parameter must be a float in [0, 1). Got {value!r} instead."
        )


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"The 'n' parameter must be an int >= 1. Got {n!r} instead.")


def _labels(stratify: np.ndarray | None, n: int) -> np.ndarray | None:
    if stratify is None:
        return None
    labels = np.asarray(stratify)
    if len(labels) != n:
        raise ConfigError(
            f"The 'stratify' parameter must hold one label per sample ({n}). "
            f"Got {len(labels)} labels instead."
        )
    return labels


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
        Fractions of all samples for validation and test, each in [0, 1), summing below 1.
        The test part is drawn first (``ceil(test_fraction * n)`` samples), then the validation
        part from the rest.
    stratify : array of shape (n,) or None
        Class labels: each part then keeps the class proportions (every class needs at least
        two samples in each split it is divided between).
    seed : int
        Random seed; the same seed gives the same split.

    Returns
    -------
    train, val, test : int arrays
        Sorted, disjoint indices that together cover ``range(n)``.

    Raises
    ------
    ConfigError
        A fraction out of range, ``stratify`` of the wrong length, or a class too small to
        stratify.
    """
    from sklearn.model_selection import train_test_split

    _check_n(n)
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            "val_fraction + test_fraction must be below 1. "
            f"Got {val_fraction} + {test_fraction} instead."
        )
    labels = _labels(stratify, n)
    idx = np.arange(n)
    test = np.array([], dtype=int)
    val = np.array([], dtype=int)
    try:
        if test_fraction > 0:
            idx, test = train_test_split(
                idx, test_size=test_fraction, random_state=seed, stratify=labels
            )
        if val_fraction > 0:
            idx, val = train_test_split(
                idx,
                test_size=val_fraction / (1.0 - test_fraction),
                random_state=seed,
                stratify=None if labels is None else labels[idx],
            )
    except ValueError as exc:  # scikit-learn's message says which class or size is the problem
        raise ConfigError(f"Cannot split {n} samples: {exc}") from exc
    return np.sort(idx), np.sort(val), np.sort(test)


def kfold_indices(
    n: int, k: int = 5, *, stratify: np.ndarray | None = None, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_idx, test_idx)`` for each of ``k`` folds (stratified if labels given).

    Parameters
    ----------
    n : int
        Number of samples.
    k : int
        Number of folds, ``2 <= k <= n``.
    stratify : array of shape (n,) or None
        Class labels: each fold then keeps the class proportions.
    seed : int
        Random seed for the shuffle; the same seed gives the same folds.

    Returns
    -------
    iterator of (train_idx, test_idx)
        The test parts are disjoint and together cover ``range(n)``.

    Raises
    ------
    ConfigError
        At once (not at the first fold) for a bad ``k`` or ``stratify``.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    _check_n(n)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= n:
        raise ConfigError(f"The 'k' parameter must be an int in [2, n={n}]. Got {k!r} instead.")
    labels = _labels(stratify, n)
    if labels is not None:
        _, counts = np.unique(labels, return_counts=True)
        if counts.max() < k:
            raise ConfigError(
                f"Cannot stratify {n} samples into {k} folds: no class has {k} members "
                f"(largest class: {counts.max()})."
            )
    splitter = (
        StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        if labels is not None
        else KFold(n_splits=k, shuffle=True, random_state=seed)
    )
    return iter(list(splitter.split(np.zeros(n), labels)))
