"""Invariants every survival model of the pillar must satisfy (scikit-survival's testing habit).

Used by the tests of DeepSurv, DeepHit and the scikit-survival models alike:
``assert_survival_invariants(model, X)`` on a fitted estimator with the scikit-survival API.
"""

from __future__ import annotations

import numpy as np


def assert_survival_invariants(model: object, X: object, *, s0_tol: float = 0.05) -> None:
    """Check a fitted survival model's curves on ``X``.

    * ``predict_survival_function(X, return_array=True)`` has shape (n, len(unique_times_)),
      values within [0, 1], monotonically non-increasing in time;
    * the StepFunction form agrees with the array form at ``unique_times_``;
    * at the first time point (before or at the first event) S is close to 1 for everyone
      (within ``s0_tol`` on average);
    * the cumulative hazard, when offered, is non-negative and non-decreasing;
    * ``predict`` is a risk: patients with higher risk have lower mean survival probability
      (Spearman correlation < 0).
    """
    from scipy.stats import spearmanr

    times = np.asarray(model.unique_times_)
    surv = np.asarray(model.predict_survival_function(X, return_array=True))
    n = surv.shape[0]
    assert surv.shape == (n, len(times)), f"shape {surv.shape} vs {len(times)} times"
    assert np.all(np.isfinite(surv))
    assert surv.min() >= 0.0, surv.min()
    assert surv.max() <= 1.0 + 1e-9, surv.max()
    assert np.all(np.diff(surv, axis=1) <= 1e-9), "survival functions must not increase"
    assert np.all(np.diff(times) > 0), "unique_times_ must be strictly increasing"
    assert surv[:, 0].mean() >= 1.0 - s0_tol, f"S(t0) mean {surv[:, 0].mean():.3f}, expected ~1"
    fns = model.predict_survival_function(X)
    assert len(fns) == n
    for i in range(min(n, 5)):
        np.testing.assert_allclose(fns[i](times), surv[i], atol=1e-9)
    if hasattr(model, "predict_cumulative_hazard_function"):
        chf = np.asarray(model.predict_cumulative_hazard_function(X, return_array=True))
        assert chf.shape == surv.shape
        assert chf.min() >= -1e-9
        assert np.all(np.diff(chf, axis=1) >= -1e-9), "cumulative hazard must not decrease"
    risk = np.asarray(model.predict(X), dtype=float)
    assert risk.shape == (n,)
    if np.ptp(risk) > 0:
        rho = spearmanr(risk, surv.mean(axis=1)).statistic
        assert rho < 0, f"higher risk should mean lower survival; Spearman rho={rho:.3f}"
