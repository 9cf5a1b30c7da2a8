"""Survival outcomes: the expected restricted mean survival time under each treatment.

:class:`SurvivalTLearner` fits one scikit-survival model per arm (default: Cox's proportional
hazards model, ridge-penalised) on ``(event, time)`` outcomes and reports, as each patient's
expected outcome under an arm, the restricted mean survival time (RMST) up to ``horizon``: the
area under the arm model's survival curve from 0 to the horizon, in the time unit of the data
(higher is better). Intervals: bootstrap percentiles, as the meta-learners. The effect is
``RMST_treated - RMST_control``. The recommender uses it as any other estimator, so DeepSurv's
simulated treatment cohort (``deepsurv-sim-treatment``) or a study table with a time and an
event column gets the same explicit recommendation or abstention.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from precisionmed.errors import ConfigError, DataFormatError, require_extra
from precisionmed.treatment.base import CATEEstimator, check_fit_inputs, check_predict_inputs

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])


def survival_outcome(event: Any, time: Any) -> np.ndarray:
    """The ``(event, time)`` structured array :class:`SurvivalTLearner` takes as ``y``."""
    y = np.empty(len(event), dtype=SURVIVAL_DTYPE)
    y["event"] = np.asarray(event).astype(bool)
    y["time"] = np.asarray(time, dtype=np.float64)
    return y


class SurvivalTLearner(CATEEstimator):
    """One survival model per arm; outcome = RMST up to ``horizon``.

    Parameters
    ----------
    model : scikit-survival estimator, optional
        With ``predict_survival_function``; cloned per arm and refit. Default:
        ``CoxPHSurvivalAnalysis(alpha=0.1)``.
    horizon : float or None
        RMST horizon in the data's time unit; None: the 80th percentile of the observed times.
    n_bootstrap : int
        Bootstrap refits for the intervals (0: none).
    n_grid : int
        Time points of the RMST integral.
    random_state : int or None
    """

    interval_method = "percentile"

    def __init__(
        self,
        *,
        model: Any = None,
        horizon: float | None = None,
        n_bootstrap: int = 20,
        n_grid: int = 50,
        random_state: int | None = 0,
    ) -> None:
        self.model = model
        self.horizon = horizon
        self.n_bootstrap = n_bootstrap
        self.n_grid = n_grid
        self.random_state = random_state

    def _base(self) -> Any:
        if self.model is not None:
            return clone(self.model)
        require_extra("sksurv", "clinical")
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        return CoxPHSurvivalAnalysis(alpha=0.1)

    def fit(self, X: Any, t: Any, y: Any) -> SurvivalTLearner:
        """Fit on covariates ``X`` (n, p), binary ``t`` (n,) and ``y``, an ``(event, time)``
        structured array (:func:`survival_outcome`)."""
        y = np.asarray(y)
        if y.dtype.names is None or not {"event", "time"} <= set(y.dtype.names):
            raise DataFormatError(
                "y must be an (event, time) structured array for SurvivalTLearner; use "
                "precisionmed.treatment.survival.survival_outcome(event, time)."
            )
        if self.n_bootstrap < 0 or self.n_bootstrap == 1:
            raise ConfigError(
                "The 'n_bootstrap' parameter of SurvivalTLearner must be 0 (no intervals) or an "
                f"int >= 2. Got {self.n_bootstrap!r} instead."
            )
        X, t, time = check_fit_inputs(X, t, y["time"])
        if (time <= 0).any():
            row = int(np.flatnonzero(time <= 0)[0])
            raise DataFormatError(f"time must be > 0; row {row} has {time[row]}.")
        self.n_features_in_ = X.shape[1]
        horizon = float(np.quantile(time, 0.8)) if self.horizon is None else float(self.horizon)
        self.horizon_ = horizon
        self.grid_ = np.linspace(0.0, horizon, self.n_grid)
        self.fitted_ = self._fit_once(X, t, y)
        rng = np.random.default_rng(self.random_state)
        arms = [np.flatnonzero(t == a) for a in (0, 1)]
        self.bootstrap_fits_ = []
        for _ in range(self.n_bootstrap):
            idx = np.concatenate([rng.choice(a, size=a.size, replace=True) for a in arms])
            self.bootstrap_fits_.append(self._fit_once(X[idx], t[idx], y[idx]))
        return self

    def _fit_once(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> list[Any]:
        return [self._base().fit(X[t == a], y[t == a]) for a in (0, 1)]

    def _rmst(self, model: Any, X: np.ndarray) -> np.ndarray:
        # the step curve at the model's event times, read on the grid (1 before the first)
        times = np.asarray(model.unique_times_)
        curves = np.asarray(model.predict_survival_function(X, return_array=True))
        pos = np.searchsorted(times, self.grid_, side="right") - 1
        s = np.where(pos >= 0, curves[:, np.clip(pos, 0, None)], 1.0)
        return np.trapezoid(s, self.grid_, axis=1)

    def _predict_once(self, fitted: list[Any], X: np.ndarray) -> np.ndarray:
        return np.column_stack([self._rmst(m, X) for m in fitted])

    def potential_outcomes(self, X: Any) -> np.ndarray:
        """RMST up to ``horizon_`` under control (column 0) and treatment (column 1)."""
        X = check_predict_inputs(self, X)
        return self._predict_once(self.fitted_, X)

    def _outcome_samples(self, X: np.ndarray) -> np.ndarray:
        if not self.bootstrap_fits_:
            raise ConfigError("SurvivalTLearner was fitted with n_bootstrap=0: no intervals.")
        return np.stack([self._predict_once(f, X) for f in self.bootstrap_fits_])


__all__ = ["SURVIVAL_DTYPE", "SurvivalTLearner", "survival_outcome"]
