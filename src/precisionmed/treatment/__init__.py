"""Treatment effects and recommendation: which treatment, for this patient, with what certainty.

Estimators with the scikit-learn API (``fit(X, t, y)``, ``effect(X)``,
``effect_interval(X, alpha)``, ``potential_outcomes(X)``, ``outcome_interval(X, alpha)``):
the meta-learners :class:`SLearner`, :class:`TLearner`, :class:`XLearner` over any scikit-learn
regressor (bootstrap intervals) and the networks :class:`TARNet`, :class:`CFR` (Wasserstein or
MMD balancing) and :class:`DragonNet` (seed-ensemble intervals) trained in the engine; for
survival outcomes :class:`SurvivalTLearner` (restricted mean survival time per arm).
:class:`OverlapModel` gives the propensity and flags patients outside the common support.
:func:`fit_treatment_model` writes a model directory that ``precisionmed.load`` opens as a
:class:`TreatmentPredictor`: the expected outcome under each candidate treatment with
intervals, and a recommendation or an explicit "no confident recommendation".
:func:`select_by_validation` chooses among candidate models by the nearest-neighbour PEHE
(:func:`pehe_nn`) on a validation split, as Shalit et al. (2017) did.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "CATEEstimator": "precisionmed.treatment.base",
    "SLearner": "precisionmed.treatment.meta",
    "TLearner": "precisionmed.treatment.meta",
    "XLearner": "precisionmed.treatment.meta",
    "TARNet": "precisionmed.treatment.nets",
    "CFR": "precisionmed.treatment.nets",
    "DragonNet": "precisionmed.treatment.nets",
    "OverlapModel": "precisionmed.treatment.overlap",
    "SurvivalTLearner": "precisionmed.treatment.survival",
    "survival_outcome": "precisionmed.treatment.survival",
    "EFFECT_MODELS": "precisionmed.treatment.models",
    "make_effect_model": "precisionmed.treatment.models",
    "NO_RECOMMENDATION": "precisionmed.treatment.decision",
    "Recommendation": "precisionmed.treatment.decision",
    "recommend": "precisionmed.treatment.decision",
    "TreatmentPredictor": "precisionmed.treatment.predictor",
    "read_patients": "precisionmed.treatment.predictor",
    "StudyTable": "precisionmed.treatment.own_data",
    "fit_treatment_model": "precisionmed.treatment.own_data",
    "read_study_csv": "precisionmed.treatment.own_data",
    "Selection": "precisionmed.treatment.selection",
    "nn_imputed_effect": "precisionmed.treatment.selection",
    "pehe_nn": "precisionmed.treatment.selection",
    "select_by_validation": "precisionmed.treatment.selection",
}

#: Modules that register predictors, imported by ``precisionmed.load`` (this package is lazy).
PREDICTOR_MODULES = ("precisionmed.treatment.predictor",)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.treatment' has no attribute {name!r}")


__all__ = sorted(_LAZY)
