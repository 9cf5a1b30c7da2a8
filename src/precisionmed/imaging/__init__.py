"""Imaging: CNN classification with calibrated confidence, Grad-CAM explanations, segmentation.

Importing this package registers its predictors (``image-classifier`` and, where present, the
segmentation predictor) so that :func:`precisionmed.load` can open their model directories.
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

try:  # the segmentation predictor registers itself on import
    import precisionmed.imaging.segmenter  # noqa: F401, E402
except ModuleNotFoundError as exc:
    if exc.name != "precisionmed.imaging.segmenter":
        raise

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
