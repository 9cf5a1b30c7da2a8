"""Model artefacts: save a trained model as a directory, load it back as a predictor."""

from precisionmed.artifacts.card import ModelCard
from precisionmed.artifacts.contents import ModelContents, write_model_dir
from precisionmed.artifacts.registry import load, register_predictor
from precisionmed.artifacts.skops_types import SKOPS_TRUSTED_TYPES
from precisionmed.artifacts.store import Artifact, read_artifact, save_artifact
from precisionmed.artifacts.writer import ModelWriter, check_outside_model_dir

__all__ = [
    "SKOPS_TRUSTED_TYPES",
    "Artifact",
    "ModelCard",
    "ModelContents",
    "ModelWriter",
    "check_outside_model_dir",
    "load",
    "read_artifact",
    "register_predictor",
    "save_artifact",
    "write_model_dir",
]
