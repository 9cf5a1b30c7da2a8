"""Clinical prediction: disease-risk classifiers and survival models with the scikit-learn API.

Models are chosen by registered name (:func:`make_pipeline`, ``precisionmed clinical train
--model``): ``svm``, ``rf``, ``gbm``, ``dnn`` (classification) and ``coxph``, ``rsf``,
``deepsurv``, ``deephit`` and their seed ensembles ``deepsurv-ensemble``, ``deephit-ensemble``
(survival), each a full pipeline with preprocessing. A trained model
directory loads back with ``precisionmed.load`` as a :class:`ClinicalPredictor`.
"""

from __future__ import annotations

from typing import Any

# Loaded on first access (PEP 562): the estimators import torch and the training engine, the
# predictor pandas and the artefact store, the metrics scikit-learn; ``precisionmed clinical
# models`` needs none of them.
_LAZY = {
    "classification_metrics": "precisionmed.clinical.metrics",
    "survival_metrics": "precisionmed.clinical.metrics",
    "ModelSpec": "precisionmed.clinical.models",
    "get_model": "precisionmed.clinical.models",
    "list_models": "precisionmed.clinical.models",
    "make_pipeline": "precisionmed.clinical.models",
    "ClinicalPrediction": "precisionmed.clinical.predictor",
    "ClinicalPredictor": "precisionmed.clinical.predictor",
    "clinical_model_contents": "precisionmed.clinical.contents",
    "InputSchema": "precisionmed.clinical.schema",
    "infer_schema": "precisionmed.clinical.schema",
    "validate_patients": "precisionmed.clinical.schema",
    "DNNClassifier": "precisionmed.clinical.dnn",
    "DeepSurv": "precisionmed.clinical.deepsurv",
    "DeepHit": "precisionmed.clinical.deephit",
    "DenoisingAutoencoder": "precisionmed.clinical.autoencoder",
    "SurvivalEnsemble": "precisionmed.clinical.ensemble",
    "make_preprocessor": "precisionmed.clinical.preprocess",
}


#: Modules that register predictors, imported by ``precisionmed.load`` (this package is lazy).
PREDICTOR_MODULES = ("precisionmed.clinical.predictor",)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.clinical' has no attribute {name!r}")


__all__ = [
    "ClinicalPrediction",
    "ClinicalPredictor",
    "DNNClassifier",
    "DeepHit",
    "DeepSurv",
    "DenoisingAutoencoder",
    "InputSchema",
    "ModelSpec",
    "SurvivalEnsemble",
    "classification_metrics",
    "get_model",
    "infer_schema",
    "list_models",
    "make_pipeline",
    "make_preprocessor",
    "clinical_model_contents",
    "survival_metrics",
    "validate_patients",
]
