"""Imaging: CNN classification with calibrated confidence, Grad-CAM explanations, segmentation.

:func:`precisionmed.load` imports the modules of ``PREDICTOR_MODULES``, which register the
predictors (``image-classifier``, ``image-segmenter``), before it opens a model directory.
"""

from precisionmed.errors import require_extra

require_extra("monai", "imaging")

from precisionmed.imaging.classification import (  # noqa: E402
    TrainedClassifier,
    train_image_classifier,
)
from precisionmed.imaging.classifier import (  # noqa: E402
    ImageClassifier,
    evaluate_image_classifier,
)
from precisionmed.imaging.datasets import (  # noqa: E402
    ClassificationData,
    load_classification_data,
)
from precisionmed.imaging.networks import build_network, list_networks  # noqa: E402

#: Modules that register predictors, imported by ``precisionmed.load``.
PREDICTOR_MODULES = ("precisionmed.imaging.classifier", "precisionmed.imaging.segmenter")

__all__ = [
    "ClassificationData",
    "ImageClassifier",
    "TrainedClassifier",
    "build_network",
    "evaluate_image_classifier",
    "list_networks",
    "load_classification_data",
    "train_image_classifier",
]
