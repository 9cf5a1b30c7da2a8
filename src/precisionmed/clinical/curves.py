"""Survival curves of a fitted model on a fixed time grid, and the median survival time.

Every clinical survival model predicts its curves as scikit-survival does (per-patient
``StepFunction`` objects, or an array at the model's own time points); the predictor, the
evaluation and the batch outputs all want them as one array on one grid, which
:func:`survival_on_grid` gives, fast enough for 10,000 patients and 39 bootstrap refits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def survival_on_grid(pipeline: Any, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Survival probabilities of each patient at ``times``: array of shape (N, T).

    Times before a curve's first step have probability 1 (well, the curve's left value); times
    past its last step take its last value (the curve is flat beyond the follow-up it knows).
    """
    import sksurv  # noqa: F401  (adds predict_survival_function to sklearn's Pipeline)

    model = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    baseline = _breslow_baseline(model)
    if baseline is not None:
        # Breslow models (CoxPH, DeepSurv): S(t | x) = S0(t) ** exp(f(x)), which is what
        # scikit-survival's per-patient StepFunctions hold; evaluated here on the grid for all
        # patients at once, because building and calling 10,000 StepFunction objects per
        # bootstrap refit was most of a batch prediction's time (``return_array`` builds them
        # too). The lookup is StepFunction.__call__'s: the last point at or before the time,
        # the time clipped to the function's domain and to its first point.
        s0 = baseline.baseline_survival_
        lo, hi = s0.domain
        t = np.maximum(np.clip(times, lo, hi), s0.x[0])
        at_grid = np.asarray(s0.y, dtype=float)[np.searchsorted(s0.x, t, side="right") - 1]
        Xt = pipeline[:-1].transform(X) if hasattr(pipeline, "steps") else X
        scale = np.exp(np.asarray(model.predict(Xt), dtype=float))
        return np.clip(at_grid[None, :] ** scale[:, None], 0.0, 1.0)
    fns = pipeline.predict_survival_function(X)
    out = np.empty((len(fns), len(times)))
    for i, fn in enumerate(fns):
        lo, hi = fn.domain
        out[i] = fn(np.clip(times, lo, hi))
    return np.clip(out, 0.0, 1.0)


def _breslow_baseline(model: Any) -> Any:
    """The Breslow baseline of a model whose curves are ``S0(t) ** exp(predict(x))``, or None.

    scikit-survival's Cox models keep it as ``_baseline_model``, our DeepSurv as ``baseline_``;
    both predict their survival functions through scikit-survival's ``SurvivalAnalysisMixin``.
    """
    from sksurv.base import SurvivalAnalysisMixin
    from sksurv.linear_model.coxph import BreslowEstimator

    if not isinstance(model, SurvivalAnalysisMixin):
        return None
    for name in ("_baseline_model", "baseline_"):
        baseline = getattr(model, name, None)
        if isinstance(baseline, BreslowEstimator):
            return baseline
    return None


def median_survival(times: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """First time each curve reaches 0.5 or below; ``inf`` where it does not. Shape (N,)."""
    below = curves <= 0.5
    first = below.argmax(axis=1)
    return np.where(below.any(axis=1), np.asarray(times)[first], np.inf)
