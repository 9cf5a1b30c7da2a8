"""The out-of-distribution guard's answer for an input (:mod:`precisionmed.imaging.ood`): its
feature score against the reference and its metadata against the model's input spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from precisionmed.imaging.ood.features import volume_features
from precisionmed.imaging.ood.reference import METHOD, OODReference

if TYPE_CHECKING:
    from precisionmed.io.image import Image
    from precisionmed.predict import ImageInputSpec


def metadata_mismatches(image: Image, spec: ImageInputSpec) -> list[str]:
    """Short phrases for how a read image's metadata differ from the training images.

    A DICOM modality outside ``spec.dicom_modalities`` (:func:`~precisionmed.predict.
    modality_warning`), or a colour image for a grey model and the reverse. Empty when they
    agree or the file declares nothing (PNG, npz).
    """
    from precisionmed.predict import modality_warning

    found = []
    if modality_warning(image.modality, spec) is not None:
        found.append(f"DICOM modality {image.modality}")
    if image.is_color != (spec.photometric == "RGB"):
        found.append(f"a {'colour' if image.is_color else 'grey'} image")
    return found


def trained_on(spec: ImageInputSpec) -> str:
    """``"x-ray images (CR/DX/DR/RG/RF)"``: what the model was trained on, for warnings."""
    what = f"{spec.modality} images" if spec.modality else "its training images"
    codes = "/".join(spec.dicom_modalities)
    return f"{what} ({codes})" if codes else what


NO_REFERENCE_NOTE = (
    "This model directory holds no out-of-distribution reference (saved before it was "
    "recorded); in_distribution is null unless the metadata disagree. Train it again to get "
    "the check."
)


@dataclass(frozen=True)
class OODAssessment:
    """The guard's answer for one input: flag, score and the warning to show."""

    in_distribution: bool | None
    score: float | None
    warning: str | None
    details: dict[str, Any]


def assess(
    reference: OODReference | None,
    spec: ImageInputSpec,
    features: Sequence[np.ndarray] | None,
    mismatches: Sequence[Sequence[str]],
    what: str = "image",
) -> list[OODAssessment]:
    """One :class:`OODAssessment` per input from its features and its metadata mismatches.

    Parameters
    ----------
    reference : OODReference or None
        None for a model saved without one: the flag is null unless the metadata disagree.
    spec : ImageInputSpec
        The model's input spec (named in the warning).
    features : list of ndarray of shape (N, F_b), or None
        The inputs' feature blocks (:func:`stack_features`); None when there is no reference.
    mismatches : sequence of N sequences of str
        :func:`metadata_mismatches` of each input.
    what : str
        ``"image"`` or ``"volume"``.
    """
    n = len(mismatches)
    scores: list[float | None] = [None] * n
    if reference is not None and features is not None and n:
        scores = [float(s) for s in reference.score(features)]
    out = []
    for score, found in zip(scores, mismatches, strict=True):
        # A metadata mismatch already has its own warning (prepare_image, mask_and_warnings);
        # the guard adds one for the feature score.
        details: dict[str, Any] = {"metadata_mismatch": list(found)}
        warning = None
        if reference is None:
            flag: bool | None = False if found else None
            details["note"] = NO_REFERENCE_NOTE
        else:
            details.update(
                method=METHOD, threshold=reference.threshold, percentile=reference.percentile
            )
            above = score is not None and score > reference.threshold
            if above:
                also = f"; it is also {', '.join(found)}" if found else ""
                warning = (
                    f"This {what} looks unlike the training {what}s (feature score {score:.1f} "
                    f"above the threshold {reference.threshold:.1f}, the "
                    f"{reference.percentile:g}th percentile of the validation {what}s{also}); "
                    f"the model was trained on {trained_on(spec)}, so its prediction is not "
                    "reliable."
                )
            flag = not (above or found)
        out.append(OODAssessment(flag, score, warning, details))
    return out


def assess_volume(segmenter: Any, image: Image) -> OODAssessment:
    """The guard's answer for one volume given to an
    :class:`~precisionmed.imaging.segmenter.ImageSegmenter`."""
    spec, reference = segmenter.input_spec, segmenter.ood_reference
    features = None
    if reference is not None:
        pre = segmenter.preprocessing
        features = volume_features(segmenter.net, image, pre["orientation"], pre["patch_size"])
    return assess(reference, spec, features, [metadata_mismatches(image, spec)], "volume")[0]
