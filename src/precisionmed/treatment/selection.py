"""Model selection without counterfactuals: the nearest-neighbour PEHE of Shalit et al. (2017).

The true effect of a patient is never observed, so the error of an effect model (PEHE) cannot be
measured on real data. Shalit et al. (ICML 2017, Sec. 5) select hyper-parameters with an
approximation of it, ``PEHE_nn``: each patient's missing potential outcome is imputed by the
factual outcome of the nearest patient (Euclidean distance on the covariates) in the other arm,
giving an imputed effect ``tau_nn_i = (2 t_i - 1) (y_i - y_nn(i))``, and

    PEHE_nn = mean_i (tau_hat(x_i) - tau_nn_i)^2        (this module returns its square root)

over a validation set. :func:`select_by_validation` fits each candidate on the training part of a
stratified split of the data a user gives, scores it with :func:`pehe_nn` on the held-out part,
and refits the best candidate on all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.treatment.base import check_fit_inputs


def nn_imputed_effect(
    X: Any,
    t: Any,
    y: Any,
    *,
    X_pool: Any = None,
    t_pool: Any = None,
    y_pool: Any = None,
) -> np.ndarray:
    """Each patient's effect with the missing outcome imputed from its nearest neighbour.

    Parameters
    ----------
    X : array-like of shape (n, p)
        Covariates of the patients to score.
    t : array-like of shape (n,)
        Their treatment, 0 or 1.
    y : array-like of shape (n,)
        Their factual outcome.
    X_pool, t_pool, y_pool : array-like, optional
        Where the neighbours are searched (default: ``X, t, y`` themselves); e.g. all the
        training patients, so that a small validation set is matched more closely. Must hold no
        patient whose outcome the score is meant not to see.

    Returns
    -------
    numpy.ndarray of shape (n,)
        ``(2 t_i - 1) * (y_i - y_pool[nn(i)])``, ``nn(i)`` the nearest pool patient (Euclidean on
        the covariates as given) in the other arm.

    Raises
    ------
    DataFormatError
        Inputs malformed (see :func:`~precisionmed.treatment.base.check_fit_inputs`), or the pool
        and ``X`` have different numbers of covariates.
    """
    X, t, y = check_fit_inputs(X, t, y)
    given = [v is not None for v in (X_pool, t_pool, y_pool)]
    if any(given) and not all(given):
        raise ConfigError("X_pool, t_pool and y_pool must be given together or not at all.")
    if all(given):
        Xp, tp, yp = check_fit_inputs(X_pool, t_pool, y_pool)
    else:
        Xp, tp, yp = X, t, y
    if Xp.shape[1] != X.shape[1]:
        raise DataFormatError(
            f"X_pool has {Xp.shape[1]} covariates; expected {X.shape[1]}, as X has."
        )
    imputed = np.empty(len(X))
    for arm in (0.0, 1.0):
        rows, other = t == arm, np.flatnonzero(tp != arm)
        if rows.any():
            nn = NearestNeighbors(n_neighbors=1).fit(Xp[other])
            idx = nn.kneighbors(X[rows], return_distance=False)[:, 0]
            imputed[rows] = yp[other[idx]]
    return (2 * t - 1) * (y - imputed)


def pehe_nn(effect: Any, X: Any, t: Any, y: Any, **pool: Any) -> float:
    """Square root of Shalit et al.'s nearest-neighbour PEHE of predicted effects.

    Parameters
    ----------
    effect : array-like of shape (n,)
        The predicted effect ``tau_hat(x_i)`` of each patient in ``X``.
    X, t, y : array-like
        Covariates, treatment (0/1) and factual outcome of the same patients.
    **pool
        ``X_pool``, ``t_pool``, ``y_pool``, as :func:`nn_imputed_effect`.

    Returns
    -------
    float
        ``sqrt(mean((effect - tau_nn)^2))``; lower is better.
    """
    tau_nn = nn_imputed_effect(X, t, y, **pool)
    effect = np.asarray(effect, dtype=np.float64).ravel()
    if effect.shape != tau_nn.shape:
        raise DataFormatError(
            f"effect has {effect.size} values; expected one per patient ({tau_nn.size})."
        )
    return float(np.sqrt(np.mean((effect - tau_nn) ** 2)))


@dataclass
class Selection:
    """What :func:`select_by_validation` chose.

    Attributes
    ----------
    best : str
        Name of the chosen candidate.
    scores : dict of str to float
        Validation sqrt(PEHE_nn) of every candidate.
    estimator : CATEEstimator
        The chosen candidate, refitted on all the data (or the fit on the training part when
        ``refit=False``).
    """

    best: str
    scores: dict[str, float] = field(default_factory=dict)
    estimator: Any = None


def select_by_validation(
    candidates: Mapping[str, Any],
    X: Any,
    t: Any,
    y: Any,
    *,
    val_fraction: float = 0.3,
    random_state: int = 0,
    refit: bool = True,
) -> Selection:
    """Choose among effect models by sqrt(PEHE_nn) on a validation split (Shalit et al. 2017).

    Parameters
    ----------
    candidates : mapping of str to CATEEstimator
        Unfitted estimators (``fit(X, t, y)``, ``effect(X)``), e.g. one per hyper-parameter
        setting; each is cloned, never fitted in place.
    X, t, y : array-like
        Training covariates (n, p), treatment 0/1 (n,) and factual outcome (n,). Never pass
        test patients: the split is made inside these rows.
    val_fraction : float
        Share of the rows held out for scoring, stratified by arm.
    random_state : int
        Seed of the split.
    refit : bool
        Refit the chosen candidate on all the rows.

    Returns
    -------
    Selection
        The chosen name, every candidate's score and the (refitted) chosen estimator. Ties go to
        the first candidate in ``candidates``' order.

    Raises
    ------
    ConfigError
        No candidate, or ``val_fraction`` outside (0, 1).
    """
    if not candidates:
        raise ConfigError("select_by_validation: candidates is empty; expected at least one.")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be a float in (0, 1). Got {val_fraction} instead.")
    X, t, y = check_fit_inputs(X, t, y)
    fit_rows, val_rows = train_test_split(
        np.arange(len(t)), test_size=val_fraction, stratify=t, random_state=random_state
    )
    scores: dict[str, float] = {}
    fitted: dict[str, Any] = {}
    for name, candidate in candidates.items():
        est = clone(candidate).fit(X[fit_rows], t[fit_rows], y[fit_rows])
        # Neighbours come from all the rows given (the user's training data), so that the small
        # validation set is matched as closely as the data allow; no test patient is involved.
        scores[name] = pehe_nn(
            est.effect(X[val_rows]), X[val_rows], t[val_rows], y[val_rows],
            X_pool=X, t_pool=t, y_pool=y,
        )  # fmt: skip
        fitted[name] = est
    best = min(scores, key=scores.__getitem__)
    estimator = clone(candidates[best]).fit(X, t, y) if refit else fitted[best]
    return Selection(best=best, scores=scores, estimator=estimator)


__all__ = ["Selection", "nn_imputed_effect", "pehe_nn", "select_by_validation"]
