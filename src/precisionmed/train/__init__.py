"""The one training engine (Lightning): config, seeding, fit, evaluate, cross-validation,
prediction.

``TrainConfig`` is light to import; the rest loads Lightning and torch on first access
(PEP 562), so ``from precisionmed.train import TrainConfig`` stays instant.
"""

from __future__ import annotations

from typing import Any

from precisionmed.train.config import TrainConfig

_LAZY = {
    "CVResult": "precisionmed.train.engine",
    "FitResult": "precisionmed.train.engine",
    "MemberFits": "precisionmed.train.steps",
    "cross_validate": "precisionmed.train.engine",
    "evaluate": "precisionmed.train.inference",
    "fit": "precisionmed.train.engine",
    "fit_members": "precisionmed.train.steps",
    "make_loader": "precisionmed.train.loaders",
    "predict_outputs": "precisionmed.train.inference",
    "EngineModule": "precisionmed.train.module",
    "seed_everything": "precisionmed.train.seeding",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CVResult",
    "EngineModule",
    "FitResult",
    "MemberFits",
    "TrainConfig",
    "cross_validate",
    "evaluate",
    "fit",
    "fit_members",
    "make_loader",
    "predict_outputs",
    "seed_everything",
]
