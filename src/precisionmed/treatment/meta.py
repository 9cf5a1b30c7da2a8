"""Meta-learners of the treatment effect over any scikit-learn regressor (Künzel et al. 2019).

- :class:`SLearner`: one model of ``y`` on ``(x, t)``; ``mu_t(x) = m(x, t)``.
- :class:`TLearner`: one model per arm; ``mu_t(x) = m_t(x)``.
- :class:`XLearner`: the T-learner's arm models impute each patient's effect (``y1 - m0(x)``
  for the treated, ``m1(x) - y0`` for controls), a model per arm is fitted to the imputed
  effects, and the two are mixed with the propensity ``e(x)``:
  ``tau(x) = e(x) tau0(x) + (1 - e(x)) tau1(x)``.

Intervals are nonparametric bootstrap ones: ``n_bootstrap`` refits on patients resampled
with replacement within each arm; the interval is the ``alpha/2``, ``1 - alpha/2`` percentiles
of the refits' predictions (widened to contain the point estimate fitted on all patients).
EconML and causalml provide the same learners; they are written here (a few lines each) so that
every estimator shares the potential-outcome API the recommender needs, and EconML runs beside
them as the peer in ``benchmarks/treatment_ihdp.py``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from precisionmed.errors import ConfigError
from precisionmed.treatment.base import CATEEstimator, check_fit_inputs, check_predict_inputs


def _default_regressor() -> RegressorMixin:
    return GradientBoostingRegressor(random_state=0)


class _MetaLearner(CATEEstimator):
    """Shared parameters, validation and bootstrap of the meta-learners."""

    interval_method = "percentile"

    def __init__(
        self, *, model: Any = None, n_bootstrap: int = 20, random_state: int | None = 0
    ) -> None:
        self.model = model
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _check_params(self) -> None:
        model = self.model if self.model is not None else _default_regressor()
        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            raise ConfigError(
                f"The 'model' parameter of {type(self).__name__} must be a scikit-learn "
                f"regressor (with fit and predict). Got {self.model!r} instead."
            )
        if (
            not isinstance(self.n_bootstrap, int)
            or isinstance(self.n_bootstrap, bool)
            or (self.n_bootstrap < 0 or self.n_bootstrap == 1)
        ):
            raise ConfigError(
                f"The 'n_bootstrap' parameter of {type(self).__name__} must be 0 (no intervals) "
                f"or an int >= 2. Got {self.n_bootstrap!r} instead."
            )

    def _regressor(self, seed: int) -> Any:
        model = clone(self.model if self.model is not None else _default_regressor())
        if "random_state" in model.get_params():
            model.set_params(random_state=seed)
        return model

    def fit(self, X: Any, t: Any, y: Any) -> _MetaLearner:
        """Fit on covariates ``X`` (n, p), binary treatment ``t`` (n,) and outcome ``y`` (n,),
        then ``n_bootstrap`` refits for the intervals."""
        self._check_params()
        X, t, y = check_fit_inputs(X, t, y)
        self.n_features_in_ = X.shape[1]
        rng = np.random.default_rng(self.random_state)
        self.fitted_ = self._fit_once(X, t, y, seed=0)
        arms = [np.flatnonzero(t == a) for a in (0, 1)]
        self.bootstrap_fits_ = []
        for b in range(self.n_bootstrap):
            idx = np.concatenate([rng.choice(a, size=a.size, replace=True) for a in arms])
            self.bootstrap_fits_.append(self._fit_once(X[idx], t[idx], y[idx], seed=b + 1))
        return self

    def potential_outcomes(self, X: Any) -> np.ndarray:
        X = check_predict_inputs(self, X)
        return self._predict_once(self.fitted_, X)

    def _outcome_samples(self, X: np.ndarray) -> np.ndarray:
        if not self.bootstrap_fits_:
            raise ConfigError(
                f"{type(self).__name__} was fitted with n_bootstrap=0: no intervals; refit with "
                "n_bootstrap >= 2."
            )
        return np.stack([self._predict_once(f, X) for f in self.bootstrap_fits_])

    @abstractmethod
    def _fit_once(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        """Fit the learner's regressors once (one bootstrap draw or the full fit)."""

    @abstractmethod
    def _predict_once(self, fitted: list[Any], X: np.ndarray) -> np.ndarray:
        """``(mu0, mu1)`` of each row from one fit, shape (n_patients, 2)."""


class SLearner(_MetaLearner):
    """One regressor of ``y`` on ``[x, t]`` (Künzel et al. 2019).

    Parameters
    ----------
    model : scikit-learn regressor, optional
        Cloned for every fit; default ``GradientBoostingRegressor``.
    n_bootstrap : int
        Bootstrap refits for the intervals (0: none).
    random_state : int or None
        Seeds the bootstrap resampling (and ``model``'s ``random_state`` where it has one).
    """

    def _fit_once(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        return [self._regressor(seed).fit(np.column_stack([X, t]), y)]

    def _predict_once(self, fitted: list[Any], X: np.ndarray) -> np.ndarray:
        n = len(X)
        return np.column_stack(
            [fitted[0].predict(np.column_stack([X, np.full(n, float(a))])) for a in (0, 1)]
        )


class TLearner(_MetaLearner):
    """One regressor per arm (Künzel et al. 2019); parameters as :class:`SLearner`."""

    def _fit_once(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        return [self._regressor(seed).fit(X[t == a], y[t == a]) for a in (0, 1)]

    def _predict_once(self, fitted: list[Any], X: np.ndarray) -> np.ndarray:
        return np.column_stack([m.predict(X) for m in fitted])


class XLearner(_MetaLearner):
    """The X-learner (Künzel et al. 2019); parameters as :class:`SLearner`.

    The propensity ``e(x)`` that mixes the two effect models is a logistic regression on the
    standardised covariates. Potential outcomes: the T-learner's mean ``(m0 + m1) / 2`` plus or
    minus half the X-learner's effect, so that ``mu1 - mu0`` is exactly ``tau(x)``.
    """

    def _fit_once(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        c, tr = t == 0, t == 1
        m0 = self._regressor(seed).fit(X[c], y[c])
        m1 = self._regressor(seed).fit(X[tr], y[tr])
        tau1 = self._regressor(seed).fit(X[tr], y[tr] - m0.predict(X[tr]))
        tau0 = self._regressor(seed).fit(X[c], m1.predict(X[c]) - y[c])
        prop = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, t)
        return [m0, m1, tau0, tau1, prop]

    def _predict_once(self, fitted: list[Any], X: np.ndarray) -> np.ndarray:
        m0, m1, tau0, tau1, prop = fitted
        e = prop.predict_proba(X)[:, 1]
        tau = e * tau0.predict(X) + (1 - e) * tau1.predict(X)
        mid = (m0.predict(X) + m1.predict(X)) / 2
        return np.column_stack([mid - tau / 2, mid + tau / 2])


__all__ = ["SLearner", "TLearner", "XLearner"]
