"""Ensembles of survival models (deep ensembles, Lakshminarayanan et al. 2017).

A deep survival network's C-index varies by about 0.01 between random initialisations and
early-stopping splits on cohorts of a few hundred patients; averaging several members trained with
different seeds removes most of that variance. :class:`SurvivalEnsemble` fits ``n_members``
clones of any survival estimator with the scikit-survival API (``random_state`` = seed + k) and
averages their risks and survival functions. Members may also be of different kinds (a list of
estimators, e.g. DeepSurv and DeepHit, used in turn); their risks, on different scales, are then
averaged as percentiles of each member's training risks (``risk="percentile"``). With
``select="val_cindex"`` the list holds candidate configurations and only the members of the
candidate whose members scored the best mean C-index on their own validation carve-outs are kept:
a choice made inside the training data, with no refit. Registered as ``deepsurv-ensemble``,
``deephit-ensemble`` and ``deepsurv-select`` in :mod:`precisionmed.clinical.models`; a DeepSurv +
DeepHit mix is ``SurvivalEnsemble(estimator=[DeepSurv(), DeepHit()], risk="percentile")``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted
from sksurv.base import SurvivalAnalysisMixin
from sksurv.functions import StepFunction

from precisionmed.errors import ConfigError

RISKS = ("mean", "percentile")
SELECTS = ("none", "val_cindex")


class SurvivalEnsemble(SurvivalAnalysisMixin, BaseEstimator):
    """Average of ``n_members`` survival estimators trained with different seeds.

    Parameters
    ----------
    estimator : estimator or list of estimators
        A survival model with ``random_state``, ``predict`` (risk) and
        ``predict_survival_function`` (e.g. :class:`~precisionmed.clinical.deepsurv.DeepSurv`),
        or a list of them: member ``k`` is a clone of ``estimator[k % len(estimator)]``.
    n_members : int
        Number of members.
    random_state : int
        Member ``k`` is fitted with ``random_state + k``.
    risk : {"mean", "percentile"}
        How members' risks are combined: their plain mean (members of one kind, whose risks
        share a scale), or the mean of each member's risk expressed as the fraction of that
        member's training patients with a lower risk (members of different kinds: a Cox
        log-hazard and a DeepHit cumulative incidence are on different scales). Both keep a
        patient's score independent of the other patients predicted with it.
    select : {"none", "val_cindex"}
        ``"val_cindex"``: ``estimator`` is a list of candidates; keep the members of the
        candidate with the highest mean validation C-index (``val_metrics_["val_cindex"]`` of
        each member: Harrell's C on the patients its early stopping held out). Needs members
        with ``val_metrics_`` (the pillar's deep estimators) and ``n_members >= len(estimator)``.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    train_risks_ : list of ndarray
        Each member's sorted risks on its training data (``risk="percentile"`` only).
    candidate_scores_ : ndarray of shape (n_candidates,)
        Mean validation C-index of each candidate's members (``select="val_cindex"`` only).
    selected_ : int
        Index of the kept candidate (``select="val_cindex"`` only).
    unique_times_ : ndarray of shape (n_times,)
        Union of the members' time grids; survival functions step there.
    """

    estimators_: list[Any]
    unique_times_: np.ndarray

    def __init__(
        self,
        estimator: Any = None,
        *,
        n_members: int = 5,
        random_state: int = 0,
        risk: str = "mean",
        select: str = "none",
    ):
        self.estimator = estimator
        self.n_members = n_members
        self.random_state = random_state
        self.risk = risk
        self.select = select

    def _bases(self) -> list[Any]:
        bases = (
            list(self.estimator) if isinstance(self.estimator, (list, tuple)) else [self.estimator]
        )
        if not bases or any(
            b is None or not hasattr(b, "predict_survival_function") for b in bases
        ):
            raise ConfigError(
                "The 'estimator' parameter of SurvivalEnsemble must be a survival model with "
                f"predict_survival_function, or a list of them. Got {self.estimator!r} instead."
            )
        return bases

    def fit(self, X: Any, y: np.ndarray) -> SurvivalEnsemble:
        """Fit every member on ``(X, y)``; ``y`` a structured (event, time) array."""
        if not isinstance(self.n_members, numbers.Integral) or self.n_members < 1:
            raise ConfigError(
                "The 'n_members' parameter of SurvivalEnsemble must be an int >= 1. "
                f"Got {self.n_members!r} instead."
            )
        if self.risk not in RISKS:
            raise ConfigError(
                f"The 'risk' parameter of SurvivalEnsemble must be one of {RISKS}. "
                f"Got {self.risk!r} instead."
            )
        if self.select not in SELECTS:
            raise ConfigError(
                f"The 'select' parameter of SurvivalEnsemble must be one of {SELECTS}. "
                f"Got {self.select!r} instead."
            )
        bases = self._bases()
        if self.select != "none" and self.n_members < len(bases):
            raise ConfigError(
                "The 'n_members' parameter of SurvivalEnsemble must be at least the number of "
                f"candidates ({len(bases)}) with select={self.select!r}. "
                f"Got {self.n_members!r} instead."
            )
        seed = int(self.random_state or 0)
        members = [
            clone(bases[k % len(bases)]).set_params(random_state=seed + k).fit(X, y)
            for k in range(self.n_members)
        ]
        if self.select == "val_cindex":
            scores = [
                np.mean([m.val_metrics_["val_cindex"] for m in members[c :: len(bases)]])
                for c in range(len(bases))
            ]
            self.candidate_scores_ = np.asarray(scores, dtype=float)
            self.selected_ = int(np.argmax(self.candidate_scores_))
            members = members[self.selected_ :: len(bases)]
        self.estimators_ = members
        if self.risk == "percentile":
            self.train_risks_: list[np.ndarray] = [
                np.sort(np.asarray(m.predict(X), float)) for m in self.estimators_
            ]
        self.unique_times_ = np.unique(
            np.concatenate([np.asarray(m.unique_times_, dtype=float) for m in self.estimators_])
        )
        first = self.estimators_[0]
        if hasattr(first, "n_features_in_"):
            self.n_features_in_ = first.n_features_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Mean of the members' risk scores (or of their training percentiles), shape
        (n_samples,); higher = worse."""
        check_is_fitted(self, "estimators_")
        risks = [np.asarray(m.predict(X), float) for m in self.estimators_]
        if self.risk == "percentile":
            # mid-rank percentile among the member's training risks, in [0, 1]
            risks = [
                (np.searchsorted(ref, r, side="left") + np.searchsorted(ref, r, side="right"))
                / (2.0 * len(ref))
                for ref, r in zip(self.train_risks_, risks, strict=True)
            ]
        return np.mean(risks, axis=0)

    def predict_survival_function(self, X: Any, return_array: bool = False) -> np.ndarray:
        """Mean of the members' survival functions on :attr:`unique_times_`.

        Returns an array of :class:`~sksurv.functions.StepFunction` of shape (n_samples,), or,
        with ``return_array``, probabilities of shape (n_samples, n_times).
        """
        check_is_fitted(self, "estimators_")
        grid = self.unique_times_
        total = np.zeros((0, len(grid)))
        for member in self.estimators_:
            fns = member.predict_survival_function(X)
            curves = np.vstack([fn(np.clip(grid, *fn.domain)) for fn in fns])
            total = curves if total.size == 0 else total + curves
        mean = total / len(self.estimators_)
        if return_array:
            return mean
        return np.array([StepFunction(grid, row) for row in mean])
