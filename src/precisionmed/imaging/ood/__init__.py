"""Out-of-distribution guard of the imaging predictors: is this input like the training images?

Two kinds of evidence decide a prediction's ``in_distribution`` flag:

- **metadata**: a DICOM modality other than the training one, or a colour image for a grey model
  (and the reverse), read from the file against the model's
  :class:`~precisionmed.predict.ImageInputSpec` (:func:`metadata_mismatches`);
- **features**: the Mahalanobis distance of the network's features to the training set (Lee et
  al. 2018, "A simple unified framework for detecting out-of-distribution samples": class means
  with one shared covariance, the score is the squared distance to the closest class mean). The
  features are the channel means and standard deviations of each stage of the network, one
  distance per stage, summed after scaling each by its median on the validation images (a
  ResNet's stem and four layers; the reference CNN's two convolutions, with its dense
  penultimate layer), the input of the last linear layer for other networks, every member's
  stages for an ensemble; for a U-Net, the channel means and standard deviations of its deepest
  (bottleneck) block on the central patch.

The reference (class means and the precision matrix, Ledoit-Wolf shrunk) is computed at training
from the training images and saved in the model directory as ``ood_reference.safetensors``,
covered by its manifest like every other file; the threshold is a percentile of the scores of the
validation images (held out from the fit), recorded with that percentile in ``config.json``
under ``ood_guard``. A score above it, or a metadata mismatch, makes ``in_distribution`` false
and adds a plain warning. A model directory saved before the guard existed has no reference: its
flag is null (false where the metadata already disagree) with a note.

Why these choices (``benchmarks/imaging_ood.py``'s quick narrow ResNet-18s, seed 0, AUROC of the
other modalities pooled against each model's own test images, X-ray / ultrasound model): the
energy score (``-logsumexp`` of the logits, Liu et al. 2020) is weak or worse than chance (0.76 /
0.41: a confident binary classifier is as confident on a CT slice); Mahalanobis on the
penultimate features alone reached 0.975 / 0.912 and let a third of the ultrasound images and
most CT slices through at the threshold; one distance over every stage's statistics side by
side, 0.996 / 0.956 (the deep stages dominate it: the ultrasound model flagged 42% of the other
images); the sum of per-stage distances, each scaled by its validation median, 0.995 / 0.991,
flagging 100% / 97% of the other modalities at a 3% false-alarm rate on the own test images.
"""

from precisionmed.imaging.ood.assess import (
    NO_REFERENCE_NOTE,
    OODAssessment,
    assess,
    assess_volume,
    metadata_mismatches,
    trained_on,
)
from precisionmed.imaging.ood.features import (
    STAGES,
    NetworkOutputs,
    capture_features,
    energy_scores,
    feature_modules,
    mahalanobis_scores,
    network_features,
    patch_features,
    segmenter_patch,
    stack_features,
    volume_features,
)
from precisionmed.imaging.ood.reference import (
    DEFAULT_PERCENTILE,
    MAX_REFERENCE_IMAGES,
    METHOD,
    REFERENCE_FILE,
    OODReference,
    card_sentence,
    fit_classifier_reference,
    fit_reference,
    fit_segmenter_reference,
    load_reference,
    save_reference,
)

__all__ = [
    "DEFAULT_PERCENTILE",
    "MAX_REFERENCE_IMAGES",
    "METHOD",
    "NO_REFERENCE_NOTE",
    "NetworkOutputs",
    "OODAssessment",
    "OODReference",
    "REFERENCE_FILE",
    "STAGES",
    "assess",
    "assess_volume",
    "capture_features",
    "card_sentence",
    "energy_scores",
    "feature_modules",
    "fit_classifier_reference",
    "fit_reference",
    "fit_segmenter_reference",
    "load_reference",
    "mahalanobis_scores",
    "metadata_mismatches",
    "network_features",
    "patch_features",
    "save_reference",
    "segmenter_patch",
    "stack_features",
    "trained_on",
    "volume_features",
]
