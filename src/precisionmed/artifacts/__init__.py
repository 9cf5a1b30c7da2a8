"""Model artefacts: save a trained model as a directory, load it back as a predictor."""

from precisionmed.artifacts.card import ModelCard
from precisionmed.artifacts.registry import load, register_predictor
from precisionmed.artifacts.store import Artifact, read_artifact, save_artifact

__all__ = ["Artifact", "ModelCard", "load", "read_artifact", "register_predictor", "save_artifact"]
