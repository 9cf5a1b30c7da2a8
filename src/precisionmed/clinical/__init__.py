"""Clinical prediction: disease-risk classifiers and survival models with the scikit-learn API.

Models are chosen by registered name (:func:`make_pipeline`, ``precisionmed clinical train
--model``): ``svm``, ``rf``, ``gbm``, ``dnn`` (classification) and ``coxph``, ``rsf``,
``deepsurv``, ``deephit`` and their seed ensembles ``deepsurv-ensemble``, ``deephit-ensemble``
(survival), each a full pipeline with preprocessing. A trained model
directory loads back with ``precisionmed.load`` as a :class:`ClinicalPredictor`.
"""

from __future__ import annotations

from typing import Any

from precisionmed.clinical.metrics import classification_metrics, survival_metrics
from precisionmed.clinical.models import ModelSpec, get_model, list_models, make_pipeline
from precisionmed.clinical.predictor import (
    ClinicalPrediction,
    ClinicalPredictor,
    save_clinical_model,
)
from precisionmed.clinical.schema import InputSchema, infer_schema, validate_patients

# The estimators import torch and the training engine: loaded on first access.
_LAZY = {
    "DNNClassifier": "precisionmed.clinical.dnn",
    "DeepSurv": "precisionmed.clinical.deepsurv",
    "DeepHit": "precisionmed.clinical.deephit",
    "DenoisingAutoencoder": "precisionmed.clinical.autoencoder",
    "SurvivalEnsemble": "precisionmed.clinical.ensemble",
    "make_preprocessor": "precisionmed.clinical.preprocess",
}


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
    "save_clinical_model",
    "survival_metrics",
    "validate_patients",
]
