"""The shared contract of the treatment-effect estimators: input checks and intervals.

Every estimator predicts the two potential outcomes of each patient, ``mu0(x)`` (under the
control arm, ``t = 0``) and ``mu1(x)`` (under treatment, ``t = 1``), and a set of resampled
predictions of them (bootstrap refits for the meta-learners, the members of a seed ensemble for
the networks) from which the intervals are read. The conditional average treatment effect
(CATE) is ``mu1(x) - mu0(x)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from precisionmed.errors import ConfigError, DataFormatError, NotFittedError


def check_fit_inputs(X: Any, t: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, t, y)`` as float arrays, checked: 2-D finite ``X``; binary ``t``; finite ``y``.

    Raises
    ------
    DataFormatError
        Shapes disagree, a value is missing or not finite, ``t`` is not 0/1, or an arm has
        fewer than 2 patients.
    """
    X = np.asarray(X, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if X.ndim != 2:
        raise DataFormatError(f"X must be 2-D (patients x covariates); got shape {X.shape}.")
    if not len(X) == len(t) == len(y):
        raise DataFormatError(
            f"X, t and y must have one row per patient; got {len(X)}, {len(t)} and {len(y)}."
        )
    for name, arr in (("X", X), ("t", t), ("y", y)):
        bad = np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(axis=1))
        if bad.size:
            raise DataFormatError(
                f"{name} has a missing or non-finite value in row {int(bad[0])} "
                f"({bad.size} rows in all); expected finite numbers."
            )
    if not np.isin(t, (0.0, 1.0)).all():
        odd = sorted(set(np.unique(t)) - {0.0, 1.0})[:3]
        raise DataFormatError(f"t must be 0 (control) or 1 (treated); got values {odd}.")
    for arm in (0, 1):
        if (t == arm).sum() < 2:
            raise DataFormatError(
                f"t: the {'treated' if arm else 'control'} arm has {(t == arm).sum()} patients; "
                "expected at least 2 in each arm."
            )
    return X, t, y


def check_predict_inputs(est: Any, X: Any) -> np.ndarray:
    """``X`` as a float array with the fitted number of columns (the estimator fitted)."""
    try:
        check_is_fitted(est, "n_features_in_")
    except Exception as exc:  # sklearn's NotFittedError: ours names the estimator the same way
        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet; call fit(X, t, y) first."
        ) from exc
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.shape[1] != est.n_features_in_:
        raise DataFormatError(
            f"X has {X.shape[1]} covariates; {type(est).__name__} was fitted with "
            f"{est.n_features_in_}."
        )
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise DataFormatError(f"X has a missing or non-finite value in row {row}.")
    return X


def check_alpha(alpha: float) -> float:
    """``alpha`` (1 - coverage) checked to lie in (0, 1)."""
    if not 0.0 < float(alpha) < 1.0:
        raise ConfigError(f"alpha must be a float in (0, 1) (0.05: 95% intervals); got {alpha!r}.")
    return float(alpha)


class CATEEstimator(BaseEstimator, ABC):
    """Base of the estimators: ``effect``, ``effect_interval`` and the potential outcomes.

    A subclass implements ``fit(X, t, y)``, ``potential_outcomes(X)`` and
    ``_outcome_samples(X)`` (resampled potential outcomes, shape ``(n_samples, n, 2)``) and sets
    ``interval_method``: ``"percentile"`` (bootstrap: the ``alpha/2`` and ``1 - alpha/2``
    percentiles of the refits) or ``"normal"`` (a small seed ensemble: the point estimate
    plus or minus Student's t quantile times the members' standard deviation).
    """

    interval_method = "percentile"
    n_features_in_: int

    @abstractmethod
    def potential_outcomes(self, X: Any) -> np.ndarray:
        """Expected outcome of each patient under control and under treatment.

        Parameters
        ----------
        X : array-like of shape (n_patients, n_covariates)

        Returns
        -------
        ndarray of shape (n_patients, 2)
            Column 0: ``mu0(x)``, column 1: ``mu1(x)``, in the outcome's units.
        """

    @abstractmethod
    def _outcome_samples(self, X: np.ndarray) -> np.ndarray:
        """Draws of ``(mu0, mu1)`` behind the intervals, shape (n_draws, n_patients, 2)."""

    def effect(self, X: Any) -> np.ndarray:
        """CATE ``mu1(x) - mu0(x)`` of each patient, shape (n_patients,)."""
        po = self.potential_outcomes(X)
        return po[:, 1] - po[:, 0]

    def _interval(self, point: np.ndarray, samples: np.ndarray, alpha: float) -> np.ndarray:
        alpha = check_alpha(alpha)
        if self.interval_method == "percentile":
            lo = np.quantile(samples, alpha / 2, axis=0)
            hi = np.quantile(samples, 1 - alpha / 2, axis=0)
            # a percentile interval can miss a point estimate fitted on all rows: widen to it
            return np.stack([np.minimum(lo, point), np.maximum(hi, point)], axis=-1)
        k = len(samples)
        sd = samples.std(axis=0, ddof=1)
        half = stats.t.ppf(1 - alpha / 2, df=k - 1) * sd * np.sqrt(1 + 1 / k)
        return np.stack([point - half, point + half], axis=-1)

    def outcome_interval(self, X: Any, alpha: float = 0.05) -> np.ndarray:
        """Intervals of the potential outcomes, shape (n_patients, 2 arms, 2 [low, high])."""
        X = check_predict_inputs(self, X)
        return self._interval(self.potential_outcomes(X), self._outcome_samples(X), alpha)

    def effect_interval(self, X: Any, alpha: float = 0.05) -> np.ndarray:
        """``1 - alpha`` intervals of the CATE, shape (n_patients, 2): low, high.

        How: see the class's ``interval_method`` (bootstrap percentiles for the
        meta-learners, a seed ensemble's spread for the networks).
        """
        X = check_predict_inputs(self, X)
        samples = self._outcome_samples(X)
        return self._interval(self.effect(X), samples[..., 1] - samples[..., 0], alpha)

    def ate_interval(self, X: Any, alpha: float = 0.05) -> tuple[float, float, float]:
        """Average treatment effect over the patients ``X`` with its ``1 - alpha`` interval.

        Returns
        -------
        (ate, low, high) : tuple of float
        """
        X = check_predict_inputs(self, X)
        samples = self._outcome_samples(X)
        ate = np.asarray(self.effect(X).mean())
        low, high = self._interval(ate, (samples[..., 1] - samples[..., 0]).mean(axis=1), alpha)
        return float(ate), float(low), float(high)


__all__ = ["CATEEstimator", "check_alpha", "check_fit_inputs", "check_predict_inputs"]
