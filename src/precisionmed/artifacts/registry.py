"""Predictors by registered name, and :func:`load` for any model directory.

A pillar registers its predictor class with :func:`register_predictor`; ``config.json`` names
the pillar and the predictor kind, so :func:`load` imports only that pillar and never an
arbitrary import path from the file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from precisionmed.artifacts.store import Artifact, read_artifact
from precisionmed.errors import ArtifactError

PILLARS = ("imaging", "genomics", "chem", "clinical", "treatment")


class Predictor(Protocol):
    """What :func:`load` returns: built from an :class:`Artifact`."""

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Any: ...


_PREDICTORS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_predictor(kind: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the predictor for model directories of ``kind``."""

    def deco(cls: T) -> T:
        _PREDICTORS[kind] = cls
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
        importlib.import_module(f"precisionmed.{pillar}")
    except ImportError as exc:
        raise ArtifactError(
            f"{artifact.path}: the model needs the '{pillar}' pillar, which cannot be imported "
            f"({exc}); pip install 'precisionmed[{pillar}]'."
        ) from exc
    cls = _PREDICTORS.get(artifact.kind)
    if cls is None:
        raise ArtifactError(
            f"{artifact.path}: no predictor registered for kind {artifact.kind!r} "
            f"(known: {sorted(_PREDICTORS)})."
        )
    predictor = cls.from_artifact(artifact)  # type: ignore[attr-defined]
    predictor.model_version = artifact.version
    return predictor
