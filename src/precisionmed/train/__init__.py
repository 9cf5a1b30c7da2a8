"""The one training engine (Lightning): config, fit, cross-validation, prediction."""

from precisionmed.train.config import TrainConfig
from precisionmed.train.engine import (
    CVResult,
    FitResult,
    cross_validate,
    fit,
    make_loader,
    predict_outputs,
)
from precisionmed.train.evaluation import bootstrap_ci, calibration_bins, expected_calibration_error
from precisionmed.train.module import EngineModule

__all__ = [
    "CVResult",
    "EngineModule",
    "FitResult",
    "TrainConfig",
    "bootstrap_ci",
    "calibration_bins",
    "cross_validate",
    "expected_calibration_error",
    "fit",
    "make_loader",
    "predict_outputs",
]
