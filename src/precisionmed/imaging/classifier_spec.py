"""The image classifier's kind and input specification (shared by training and the predictor)."""

from __future__ import annotations

from collections.abc import Sequence

from precisionmed.errors import PrecisionMedError
from precisionmed.imaging.letterbox import default_resize
from precisionmed.imaging.transforms import NORMALISATION
from precisionmed.predict import ImageInputSpec, dicom_modalities

KIND = "image-classifier"

#: Value range of the catalog's training images as stored (MedMNIST: 8-bit).
TRAINING_SOURCE_RANGE = (0.0, 255.0)


def classifier_input_spec(
    dataset: str | None,
    *,
    n_channels: int,
    spatial_dims: int,
    size: Sequence[int],
    source_range: tuple[float, float] | None = TRAINING_SOURCE_RANGE,
    resize: str | None = None,
) -> ImageInputSpec:
    """The :class:`~precisionmed.predict.ImageInputSpec` of a classifier trained on ``dataset``.

    Parameters
    ----------
    dataset : str or None
        Catalog name; its modality (``"x-ray"``...) is recorded. None or a name outside the
        catalog: modality unknown, no modality check.
    n_channels, spatial_dims : int
    size : sequence of int
        The network's spatial input shape.
    source_range : (float, float) or None
        Range of the training images as stored (MedMNIST: 0-255).
    resize : {"stretch", "letterbox"}, optional
        How other shapes are fitted to ``size``; default
        :func:`~precisionmed.imaging.letterbox.default_resize` (letterbox in 2D).
    """
    modality = None
    if dataset:
        from precisionmed.data import get_dataset

        try:
            modality = get_dataset(dataset).modality
        except PrecisionMedError:
            modality = None
    return ImageInputSpec(
        modality=modality,
        dicom_modalities=dicom_modalities(modality),
        photometric="RGB" if n_channels == 3 else "MONOCHROME2",
        channels=int(n_channels),
        spatial_dims=int(spatial_dims),
        size=tuple(int(s) for s in size),
        source_range=source_range,
        intensity_range=(0.0, 1.0),
        scaling=NORMALISATION,
        resize=resize or default_resize(spatial_dims),
    )
