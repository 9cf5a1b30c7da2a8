"""Overlap diagnostics: a propensity model and the common support of the two arms.

A treatment-effect estimate for a patient is only supported by the data where patients like
them were seen in both arms. :class:`OverlapModel` fits a propensity model ``e(x) = P(t=1 | x)``
(a logistic regression on standardised covariates) and takes as common support the propensity
interval in which both arms have training patients: ``[max(min e | treated, min e | control),
min(max e | treated, max e | control)]``, clipped to ``[clip, 1 - clip]`` (Dehejia and Wahba's
trimming to the overlap of the arms' propensity ranges; ``clip`` 0.01 by default, Crump et al.
use 0.1). A patient outside it, or with a covariate outside the training range, is flagged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from precisionmed.errors import ConfigError
from precisionmed.treatment.base import check_fit_inputs, check_predict_inputs


class OverlapModel(BaseEstimator):
    """Propensity model and common-support check.

    Parameters
    ----------
    clip : float
        The support never extends below ``clip`` or above ``1 - clip``.
    C : float
        Inverse L2 strength of the logistic regression.

    Attributes
    ----------
    support_ : tuple of float
        ``(low, high)`` propensity bounds of the common support.
    x_min_, x_max_ : ndarray of shape (n_covariates,)
        Training range of each covariate.
    summary_ : dict
        Share of training patients outside the support, per arm and in all, and the
        propensity range of each arm.
    """

    def __init__(self, *, clip: float = 0.01, C: float = 1.0) -> None:
        self.clip = clip
        self.C = C

    def fit(self, X: Any, t: Any) -> OverlapModel:
        """Fit the propensity model on covariates ``X`` (n, p) and treatment ``t`` (n,)."""
        if not 0.0 <= float(self.clip) < 0.5:
            raise ConfigError(
                f"The 'clip' parameter of OverlapModel must be a float in [0, 0.5). "
                f"Got {self.clip!r} instead."
            )
        X, t, _ = check_fit_inputs(X, t, np.zeros(len(np.asarray(t))))
        self.n_features_in_ = X.shape[1]
        self.propensity_model_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, max_iter=2000)
        ).fit(X, t)
        e = self.propensity_model_.predict_proba(X)[:, 1]
        e_t, e_c = e[t == 1], e[t == 0]
        low = max(float(e_t.min()), float(e_c.min()), self.clip)
        high = min(float(e_t.max()), float(e_c.max()), 1.0 - self.clip)
        self.support_ = (low, high)
        self.x_min_, self.x_max_ = X.min(axis=0), X.max(axis=0)
        outside = (e < low) | (e > high)
        self.summary_ = {
            "support": [low, high],
            "propensity_range_treated": [float(e_t.min()), float(e_t.max())],
            "propensity_range_control": [float(e_c.min()), float(e_c.max())],
            "outside_support_share": float(outside.mean()),
            "outside_support_treated": int(outside[t == 1].sum()),
            "outside_support_control": int(outside[t == 0].sum()),
        }
        return self

    def propensity(self, X: Any) -> np.ndarray:
        """Estimated ``P(t = 1 | x)`` of each patient, shape (n,)."""
        X = check_predict_inputs(self, X)
        return self.propensity_model_.predict_proba(X)[:, 1]

    def in_support(self, X: Any) -> np.ndarray:
        """Whether each patient's propensity lies in the common support, shape (n,) bool."""
        e = self.propensity(X)
        return (e >= self.support_[0]) & (e <= self.support_[1])

    def out_of_range(self, X: Any) -> list[list[int]]:
        """For each patient, the indices of covariates outside their training range."""
        X = check_predict_inputs(self, X)
        slack = 1e-9 * np.maximum(self.x_max_ - self.x_min_, 1.0)  # float round-trips
        bad = np.less(X, self.x_min_ - slack) | np.greater(X, self.x_max_ + slack)
        return [np.flatnonzero(row).tolist() for row in bad]


__all__ = ["OverlapModel"]
