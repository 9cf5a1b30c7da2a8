"""The ``image-segmenter`` predictor: sliding-window 3D segmentation, masks and measurements.

:class:`ImageSegmenter` is what :func:`precisionmed.load` returns for a model directory written by
:func:`~precisionmed.imaging.segmentation.train_segmenter`. :func:`segment_file` is the
``precisionmed imaging segment`` command's library call: read a NIfTI file, a DICOM file or a
DICOM series folder, segment it, write the mask as NIfTI (and as DICOM SEG when the input was
DICOM), and list every connected structure with its location and volume.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.errors import ConfigError
from precisionmed.imaging.lesions import find_lesions
from precisionmed.imaging.ood import assess_volume, load_reference
from precisionmed.imaging.transforms import replace_non_finite
from precisionmed.imaging.unet import dice_per_label, net_from_architecture
from precisionmed.imaging.volumes import NORMALISATION, read_volume, reorient, undo_reorient
from precisionmed.io.image import Image, check_spatial_dims
from precisionmed.predict import (
    ImageInputSpec,
    PredictionRecord,
    Predictor,
    dicom_modalities,
    modality_warning,
)

#: Components listed per label by :meth:`ImageSegmenter.segment` (largest first).
MAX_LESIONS_PER_LABEL = 50

__all__ = ["ImageSegmenter", "evaluate_segmenter", "segment_file", "segmenter_input_spec"]

#: Relative difference between input and training voxel size reported as a warning.
SPACING_TOLERANCE = 0.25


def segmenter_input_spec(modality: str | None, preprocessing: Mapping[str, Any]) -> ImageInputSpec:
    """The :class:`~precisionmed.predict.ImageInputSpec` of a 3D segmenter.

    Parameters
    ----------
    modality : str or None
        The training data's catalog modality (``"mri"``).
    preprocessing : mapping
        The artefact's ``preprocessing``: ``spacing`` (mm), ``orientation``, ``normalisation``.
    """
    spacing = preprocessing.get("spacing")
    return ImageInputSpec(
        modality=modality,
        dicom_modalities=dicom_modalities(modality),
        photometric="MONOCHROME2",
        channels=1,
        spatial_dims=3,
        size=None,  # sliding-window inference takes any size
        source_range=None,
        intensity_range=None,  # z-score per volume
        scaling=str(preprocessing.get("normalisation", NORMALISATION)),
        spacing_mm=None if spacing is None else tuple(float(v) for v in spacing),
        orientation=preprocessing.get("orientation"),
    )


@register_predictor("image-segmenter")
class ImageSegmenter(Predictor):
    """A trained 3D segmentation network with its preprocessing.

    :meth:`predict` returns one :class:`~precisionmed.predict.PredictionRecord` per volume file
    (segmented volume and structure count per label, warnings); :meth:`predict_mask` gives the
    label map of a read volume.

    Parameters
    ----------
    net : nn.Module
        Maps (B, 1, D, H, W) images to (B, K, D, H, W) logits.
    architecture : dict
        How to rebuild ``net`` (from the artefact's ``config.json``).
    preprocessing : dict
        ``patch_size`` (sliding-window size), ``orientation`` (axis codes of the training
        volumes), ``spacing`` (training voxel size, mm), ``normalisation``.
    labels : mapping of int to str
        Label value -> name, background (0) included.
    overlap : float
        Sliding-window overlap fraction.
    sw_batch_size : int
        Windows evaluated per forward pass.
    config : mapping, optional
        The artefact's ``config.json`` (model name, recorded input spec).
    artifact : Artifact, optional
        The model directory it was loaded from (gives :attr:`model_version`).
    """

    def __init__(
        self,
        net: nn.Module,
        architecture: Mapping[str, Any],
        preprocessing: Mapping[str, Any],
        labels: Mapping[int, str],
        *,
        overlap: float = 0.25,
        sw_batch_size: int = 4,
        config: Mapping[str, Any] | None = None,
        artifact: Artifact | None = None,
    ) -> None:
        self.artifact = artifact
        self.config = dict(config or {})
        self.net = net.eval()
        self.architecture = dict(architecture)
        self.preprocessing = dict(preprocessing)
        self.labels = {int(k): str(v) for k, v in labels.items()}
        self.overlap = overlap
        self.sw_batch_size = sw_batch_size
        #: The out-of-distribution guard's reference (None: saved without one, or in memory).
        self.ood_reference = load_reference(artifact) if artifact is not None else None

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> ImageSegmenter:
        """Build from a checked model directory."""
        cfg = artifact.config
        net = net_from_architecture(cfg["architecture"])
        net.load_state_dict(artifact.state_dict())
        inference = cfg.get("inference", {})
        return cls(
            net,
            cfg["architecture"],
            cfg["preprocessing"],
            {int(k): v for k, v in cfg["labels"].items()},
            overlap=float(inference.get("overlap", 0.25)),
            sw_batch_size=int(inference.get("sw_batch_size", 4)),
            config=cfg,
            artifact=artifact,
        )

    @property
    def input_spec(self) -> ImageInputSpec:
        """What the model was trained on: ``config.json``'s ``input_spec``, or one derived from
        its ``input`` and ``preprocessing`` for models saved before it was recorded."""
        if "input_spec" in self.config:
            return ImageInputSpec.from_dict(self.config["input_spec"])
        modality = self.config.get("input", {}).get("modality")
        return segmenter_input_spec(modality, self.preprocessing)

    @property
    def model_name(self) -> str:
        """``"<architecture> on <dataset>"``."""
        dataset = self.config.get("data", {}).get("dataset")
        name = str(self.architecture.get("name", self.kind))
        return f"{name} on {dataset}" if dataset else name

    @property
    def inference(self) -> dict[str, Any]:
        """How inference runs (recorded in the artefact)."""
        return {
            "method": "monai.inferers.sliding_window_inference",
            "roi_size": list(self.preprocessing["patch_size"]),
            "overlap": self.overlap,
            "mode": "gaussian",
            "sw_batch_size": self.sw_batch_size,
        }

    @torch.no_grad()
    def predict_array(self, array: np.ndarray, affine: np.ndarray | None = None) -> np.ndarray:
        """Label map of one volume.

        Parameters
        ----------
        array : ndarray of shape (D, H, W)
            Intensities.
        affine : ndarray of shape (4, 4), optional
            Index -> RAS+ world; the volume is reoriented to the training orientation for the
            network and the mask back to this one. Without it the array is taken as is.

        Returns
        -------
        ndarray of uint8, shape (D, H, W)
            Label values (0 background).
        """
        from monai.inferers import sliding_window_inference
        from monai.transforms import NormalizeIntensity

        volume = reorient(np.asarray(array, np.float32), affine, self.preprocessing["orientation"])
        x = torch.as_tensor(NormalizeIntensity()(volume[None]), dtype=torch.float32)[None]
        self.net.eval()
        logits = sliding_window_inference(
            x,
            roi_size=tuple(self.preprocessing["patch_size"]),
            sw_batch_size=self.sw_batch_size,
            predictor=self.net,
            overlap=self.overlap,
            mode="gaussian",
        )
        pred = torch.as_tensor(logits).argmax(dim=1)[0].numpy().astype(np.uint8)
        return undo_reorient(pred, affine, self.preprocessing["orientation"])

    def mask_and_warnings(self, image: Image) -> tuple[np.ndarray, list[str]]:
        """Label map (D, H, W) of a volume read by :mod:`precisionmed.io`, and warnings.

        Warnings: a DICOM modality other than the training one, a voxel size more than
        :data:`SPACING_TOLERANCE` away from the training spacing (nothing is resampled: the
        network saw only that voxel size), NaN/inf voxels (replaced by the lowest finite value).

        Raises
        ------
        DataFormatError
            Not a 3D volume, or no finite voxel at all.
        """
        check_spatial_dims(image, 3)
        spec = self.input_spec
        other_modality = modality_warning(image.modality, spec, "volume")
        warns: list[str] = [other_modality] if other_modality else []
        trained = spec.spacing_mm
        if trained and image.affine is not None:
            ratio = np.asarray(image.spacing, float) / np.asarray(trained, float)
            if np.any(np.abs(ratio - 1) > SPACING_TOLERANCE):
                got = ", ".join(f"{float(v):.3g}" for v in image.spacing)
                want = ", ".join(f"{float(v):.3g}" for v in trained)
                warns.append(
                    f"The voxel size ({got} mm) differs from the training voxel size ({want} "
                    "mm) and is not resampled; the segmentation may be unreliable."
                )
        array, notes = replace_non_finite(image.array, where=str(image.path or "volume"))
        return self.predict_array(array, image.affine), warns + notes

    def predict_mask(self, image: Image) -> np.ndarray:
        """Label map (D, H, W) of a volume read by :mod:`precisionmed.io`
        (:meth:`mask_and_warnings` without the warnings)."""
        return self.mask_and_warnings(image)[0]

    def segment(
        self, image: Image, *, max_per_label: int | None = MAX_LESIONS_PER_LABEL
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Label map and the measured structures (see :func:`find_lesions`) of ``image``.

        Only the ``max_per_label`` largest components of each label are listed.
        """
        mask, _ = self.mask_and_warnings(image)
        return mask, self._lesions(mask, image, max_per_label)

    def _lesions(
        self, mask: np.ndarray, image: Image, max_per_label: int | None
    ) -> list[dict[str, Any]]:
        lesions = find_lesions(
            mask,
            spacing=image.spacing,
            affine=image.affine,
            label_names=self.labels,
            max_per_label=max_per_label,
        )
        return [lesion.to_dict() for lesion in lesions]

    def volumes_mm3(self, mask: np.ndarray, image: Image) -> dict[str, float]:
        """Segmented volume (mm^3) per label name, over the whole mask."""
        voxel_mm3 = float(np.prod(image.spacing))
        return {name: float((mask == k).sum()) * voxel_mm3 for k, name in self.labels.items() if k}

    def predict(self, inputs: str | Path | Sequence[str | Path]) -> list[PredictionRecord]:
        """One record per volume: segmented volume and number of structures per label.

        Parameters
        ----------
        inputs : path or sequence of paths
            NIfTI files, DICOM files or DICOM series folders.

        Returns
        -------
        list of PredictionRecord
            ``values``: ``volume_mm3_<label>`` and ``structures_<label>`` for each label;
            ``prediction``: the labels found; ``details``: the largest structures (location,
            volume; :data:`MAX_LESIONS_PER_LABEL` per label), shape and spacing; ``warnings``
            as :meth:`mask_and_warnings`. The mask itself: :func:`segment_file`.

        Raises
        ------
        DataFormatError
            Unreadable, not 3D, or all-NaN volumes.
        """
        paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
        records = []
        for path in paths:
            image = read_volume(path)
            mask, warns = self.mask_and_warnings(image)
            ood = assess_volume(self, image)
            lesions = self._lesions(mask, image, MAX_LESIONS_PER_LABEL)
            volumes = self.volumes_mm3(mask, image)
            values: dict[str, float | None] = {}
            for k, name in sorted(self.labels.items()):
                if k:
                    values[f"volume_mm3_{name}"] = volumes[name]
                    values[f"structures_{name}"] = float(sum(le["label"] == k for le in lesions))
            found = [name for k, name in sorted(self.labels.items()) if k and (mask == k).any()]
            records.append(
                self.record(
                    str(path),
                    found,
                    values,
                    warnings=(*warns, *([ood.warning] if ood.warning else [])),
                    details={
                        "shape": list(mask.shape),
                        "spacing_mm": [float(v) for v in image.spacing],
                        "lesions": lesions,
                        "ood": ood.details,
                    },
                    in_distribution=ood.in_distribution,
                    ood_score=ood.score,
                )
            )
        return records


def _hd95(pred: np.ndarray, target: np.ndarray, n_labels: int, spacing: Sequence[float]) -> Any:
    from monai.metrics import compute_hausdorff_distance
    from monai.networks.utils import one_hot

    p = one_hot(torch.as_tensor(pred[None, None]).long(), n_labels)
    t = one_hot(torch.as_tensor(target[None, None]).long(), n_labels)
    with warnings.catch_warnings():
        # MONAI warns (and returns inf/nan) when a label is empty in prediction or target.
        warnings.simplefilter("ignore")
        hd = compute_hausdorff_distance(
            p, t, include_background=False, percentile=95, spacing=list(spacing)
        )
    return hd[0].numpy()


def evaluate_segmenter(
    segmenter: ImageSegmenter,
    pairs: Sequence[tuple[Path, Path]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Dice per label and HD95 (mm) on labelled volumes at their original size.

    Parameters
    ----------
    segmenter : ImageSegmenter
    pairs : sequence of (image path, label path)
    n_boot : int
        Bootstrap resamples (over cases) for the 95% intervals.

    Returns
    -------
    dict
        ``"cases"``: one row per case (``dice_<label>``, ``hd95_<label>``); ``"summary"``:
        ``mean_dice``, ``dice_<label>``, ``hd95_<label>`` as ``{value, low, high, n_boot}``
        (means over cases; HD95 over cases where it is finite) and ``n_cases``.
    """
    from rich.progress import track

    from precisionmed.evaluation import bootstrap_ci

    names = [segmenter.labels[k].lower() for k in sorted(segmenter.labels) if k]
    n_labels = len(segmenter.labels)
    rows = []
    for image_path, label_path in track(
        pairs, description="evaluate", disable=not progress, transient=True
    ):
        image, label = read_volume(image_path), read_volume(label_path)
        pred = segmenter.predict_mask(image)
        truth = np.rint(label.array).astype(np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dice = dice_per_label(
                torch.as_tensor(pred[None, None]).long(),
                torch.as_tensor(truth[None, None]),
                n_labels,
            )[0].numpy()
        hd = _hd95(pred, truth, n_labels, image.spacing)
        row: dict[str, Any] = {"case": Path(image_path).name}
        for i, name in enumerate(names):
            row[f"dice_{name}"] = float(dice[i])
            row[f"hd95_{name}"] = float(hd[i]) if np.isfinite(hd[i]) else None
        rows.append(row)

    def mean(values: np.ndarray) -> float:
        return float(np.nanmean(values))

    summary: dict[str, Any] = {"n_cases": len(rows)}
    dice_matrix = np.array([[r[f"dice_{n}"] for n in names] for r in rows], dtype=float)
    summary["mean_dice"] = bootstrap_ci(
        mean, np.nanmean(dice_matrix, axis=1), n_boot=n_boot, seed=seed
    )
    for i, name in enumerate(names):
        summary[f"dice_{name}"] = bootstrap_ci(mean, dice_matrix[:, i], n_boot=n_boot, seed=seed)
        hd_values = np.array(
            [r[f"hd95_{name}"] for r in rows if r[f"hd95_{name}"] is not None], dtype=float
        )
        summary[f"hd95_{name}_mm"] = (
            bootstrap_ci(mean, hd_values, n_boot=n_boot, seed=seed)
            if len(hd_values)
            else {"value": float("nan"), "low": float("nan"), "high": float("nan"), "n_boot": 0}
        )
        summary[f"hd95_{name}_undefined"] = len(rows) - len(hd_values)
    return {"cases": rows, "summary": summary}


def _write_nifti(mask: np.ndarray, image: Image, out: Path) -> Path:
    from precisionmed.io.nifti import write_nifti_mask

    return Path(write_nifti_mask(mask, image.affine, out, spacing=tuple(image.spacing)))


def segment_file(
    model_dir: str | Path, file: str | Path, out: str | Path, *, as_json: bool = False
) -> dict[str, Any]:
    """Segment one volume file with a trained model; write the mask; measure each structure.

    Parameters
    ----------
    model_dir : path
        An ``image-segmenter`` model directory.
    file : path
        NIfTI (``.nii``/``.nii.gz``), a DICOM file, or a folder holding one DICOM series.
    out : path
        The mask file. ``.nii.gz`` / ``.nii``: NIfTI there, and for a DICOM series input also a
        DICOM SEG beside it (``<stem>.seg.dcm``). ``.dcm`` (DICOM series input only): the DICOM
        SEG there and the NIfTI beside it (``<stem>.nii.gz``).
    as_json : bool
        Return only JSON types (lists, strings) so the result can be dumped as is.

    Returns
    -------
    dict
        ``mask`` (NIfTI path), ``dicom_seg`` (path or None), ``labels`` ({value: name}),
        ``shape``, ``spacing_mm``, ``lesions`` (one dict per connected component, at most
        :data:`MAX_LESIONS_PER_LABEL` per label, largest first: label, voxels, ``volume_mm3``,
        ``bbox_voxel``, ``bbox_world_mm``, ``centroid_world_mm``...) and ``volume_mm3`` (total
        segmented volume per label name, over the whole mask).

    Raises
    ------
    DataFormatError
        The file is not a 3D volume (e.g. a 2D PNG) or cannot be read.
    """
    from precisionmed.artifacts import load

    out = Path(out)
    name = out.name.lower()
    if not name.endswith((".nii", ".nii.gz", ".dcm")):
        raise ConfigError(
            f"The mask output must end in .nii.gz (NIfTI) or .dcm (DICOM SEG). Got {out} instead."
        )
    predictor = load(model_dir)
    if not isinstance(predictor, ImageSegmenter):
        raise ConfigError(f"{model_dir}: not an image-segmenter model (got {type(predictor)}).")
    image = check_spatial_dims(read_volume(file), 3)
    source = Path(image.path) if image.path is not None else None
    is_series = image.modality is not None and source is not None and source.is_dir()
    if name.endswith(".dcm") and not is_series:
        raise ConfigError(
            f"{file}: a DICOM SEG output ({out.name}) needs a DICOM series folder as input; "
            "write the mask as .nii.gz instead."
        )
    mask, warns = predictor.mask_and_warnings(image)
    ood = assess_volume(predictor, image)
    lesions = predictor._lesions(mask, image, MAX_LESIONS_PER_LABEL)
    stem = out.name[: -len(".dcm")] if name.endswith(".dcm") else out.name.split(".nii")[0]
    nifti_path = out if not name.endswith(".dcm") else out.with_name(stem + ".nii.gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    mask_path = _write_nifti(mask, image, nifti_path)
    seg_path = None
    if is_series and source is not None:
        # The mask's slices are in read_dicom_series order, as write_dicom_seg expects for a
        # folder source.
        from precisionmed.io.dicom_seg import write_dicom_seg

        seg_path = out if name.endswith(".dcm") else out.with_name(stem + ".seg.dcm")
        fg = {k: v for k, v in predictor.labels.items() if k}
        write_dicom_seg(mask, source, seg_path, labels=fg)
    # Totals from the whole mask (the lesion list holds only the largest components per label).
    volumes = predictor.volumes_mm3(mask, image)
    result = {
        "input": str(file),
        "mask": mask_path,
        "dicom_seg": seg_path,
        "labels": {str(k): v for k, v in sorted(predictor.labels.items())},
        "shape": list(mask.shape),
        "spacing_mm": [float(s) for s in image.spacing],
        "world_frame": "RAS+ (mm); DICOM LPS is x and y negated",
        "lesions": lesions,
        "volume_mm3": volumes,
        "model": predictor.model_name,
        "model_version": predictor.model_version,
        "warnings": [*warns, *([ood.warning] if ood.warning else [])],
        "in_distribution": ood.in_distribution,
        "ood_score": ood.score,
    }
    if as_json:
        return json.loads(json.dumps(result, default=str))
    return result
