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
from precisionmed.train.module import EngineModule

__all__ = [
    "CVResult",
    "EngineModule",
    "FitResult",
    "TrainConfig",
    "cross_validate",
    "fit",
    "make_loader",
    "predict_outputs",
]
