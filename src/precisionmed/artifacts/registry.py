"""Predictors by registered name, and :func:`load` for any model directory.

A pillar registers its predictor class with :func:`register_predictor`; ``config.json`` names
the pillar and the predictor kind, so :func:`load` imports only that pillar and never an
arbitrary import path from the file. A pillar whose package imports its modules lazily lists
the modules that register predictors in ``PREDICTOR_MODULES`` (a tuple of module names in the
pillar's ``__init__``); :func:`load` imports them before looking the kind up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from precisionmed.artifacts.store import read_artifact
from precisionmed.errors import ArtifactError
from precisionmed.predict import Predictor
from precisionmed.registry import Registry

PILLARS = ("imaging", "genomics", "chem", "clinical", "treatment")

#: Predictor classes (subclasses of :class:`precisionmed.predict.Predictor`) by model kind.
PREDICTORS: Registry[type] = Registry("predictor kind", error=ArtifactError)
T = TypeVar("T", bound=type)


def register_predictor(kind: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the predictor for model directories of ``kind``."""

    def deco(cls: T) -> T:
        PREDICTORS.add(kind, cls)
        if issubclass(cls, Predictor):
            cls.kind = kind
        return cls

    return deco


def load(path: str | Path) -> Any:
    """Load a trained model directory as a predictor.

    Every file is checked first (:func:`~precisionmed.artifacts.read_artifact`). The predictor
    gets ``model_version``: the model's version (sha256 of its ``manifest.json``, hex).

    Raises
    ------
    ArtifactError
        Missing or tampered files, or an unknown pillar / predictor kind.
    """
    artifact = read_artifact(path)
    pillar = artifact.config["pillar"]
    if pillar not in PILLARS:
        raise ArtifactError(
            f"{artifact.path}: field 'pillar' is {pillar!r}; expected one of {PILLARS}."
        )
    try:
        package = importlib.import_module(f"precisionmed.{pillar}")
        for module in getattr(package, "PREDICTOR_MODULES", ()):
            importlib.import_module(module)
    except ImportError as exc:
        raise ArtifactError(
            f"{artifact.path}: the model needs the '{pillar}' pillar, which cannot be imported "
            f"({exc}); pip install 'precisionmed[{pillar}]'."
        ) from exc
    try:
        cls = PREDICTORS.get(artifact.kind)
    except ArtifactError as exc:
        raise ArtifactError(f"{artifact.path}: {exc}") from exc
    return cls.from_artifact(artifact)  # type: ignore[attr-defined]
