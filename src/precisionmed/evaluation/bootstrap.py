"""Percentile bootstrap intervals around any metric, shared by every pillar.

Hand-written rather than ``scipy.stats.bootstrap(..., paired=True, method="percentile")``, which
was checked (scipy 1.17) as the replacement and does not do the same job: it has no stratified
resampling (the clinical and imaging reports resample within each class so that every resample
keeps both classes for an AUC), it cannot skip the resamples on which a metric raises
``ValueError`` (a single class), and a non-finite statistic in any resample makes its whole
interval NaN instead of being left out and counted (a time-dependent AUC before the first event
of a resample). Its random stream also differs, so every published interval would move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratify: np.ndarray | None = None,
) -> dict[str, float]:
    """Percentile bootstrap interval of ``metric(*arrays)``.

    Parameters
    ----------
    metric : callable
        ``metric(*resampled_arrays) -> float``; resamples on which it raises ``ValueError``
        (e.g. a single class) or gives a non-finite value (e.g. a time-dependent AUC at a time
        before which the resample holds no event) are skipped.
    *arrays : array-like, each of length N
        Resampled together, row-wise (structured arrays are fine).
    n_boot : int
        Number of bootstrap resamples.
    alpha : float
        1 - confidence level (0.05 gives a 95% interval).
    stratify : array of shape (N,), optional
        Resample within each stratum (keeps class balance for AUC).

    Returns
    -------
    dict
        ``{"value", "low", "high", "n_boot"}``: the metric on the full data, the interval, and
        the number of resamples it is taken over (those not skipped).
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    value = float(metric(*arrays))
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if stratify is None
        else [np.flatnonzero(stratify == g) for g in np.unique(stratify)]
    )
    stats = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            stat = float(metric(*(a[idx] for a in arrays)))
        except ValueError:
            continue
        if np.isfinite(stat):
            stats.append(stat)
    if not stats:
        return {"value": value, "low": float("nan"), "high": float("nan"), "n_boot": 0}
    low, high = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"value": value, "low": float(low), "high": float(high), "n_boot": len(stats)}
