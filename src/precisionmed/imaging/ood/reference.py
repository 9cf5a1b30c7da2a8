"""The out-of-distribution guard's reference (:mod:`precisionmed.imaging.ood`): class means and
shrunk precision per feature block from the training images, the threshold from validation,
saved in the model directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ArtifactError
from precisionmed.imaging.ood.features import mahalanobis_scores, network_features, volume_features

if TYPE_CHECKING:
    from precisionmed.artifacts import Artifact

#: The reference's file in a model directory.
REFERENCE_FILE = "ood_reference.safetensors"
#: Percentile of the validation scores used as the threshold.
DEFAULT_PERCENTILE = 99.0
#: At most this many training images enter the reference (a seeded sample of larger sets).
MAX_REFERENCE_IMAGES = 20000
METHOD = "mahalanobis"


@dataclass(frozen=True)
class OODReference:
    """The training set's feature reference and the threshold calibrated on validation.

    The score of an input sums, over the feature blocks (one per module of
    :func:`feature_modules`), its Mahalanobis score in that block divided by the block's median
    validation score, so that each stage weighs alike whatever its width (Lee et al. weigh the
    layers with a regression fitted on out-of-distribution examples, which a user does not have).

    Attributes
    ----------
    means : list of ndarray of shape (K, F_b)
        Per block: class means of the training features (one row for multi-label tasks and
        segmenters).
    precisions : list of ndarray of shape (F_b, F_b)
        Per block: inverse of the shared (Ledoit-Wolf shrunk) within-class covariance.
    scales : ndarray of shape (B,)
        Per block: the median validation score.
    threshold : float
        Scores above it are out of distribution.
    percentile : float
        The percentile of the validation scores that ``threshold`` is.
    summary : dict
        Method, feature description, sizes and validation-score quantiles (``config.json``).
    """

    means: list[np.ndarray]
    precisions: list[np.ndarray]
    scales: np.ndarray
    threshold: float
    percentile: float
    summary: dict[str, Any] = field(default_factory=dict)

    def score(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Scores (N,) of feature blocks, each (N, F_b) (:func:`stack_features`)."""
        if len(features) != len(self.means):
            raise ArtifactError(
                f"out-of-distribution reference: expected {len(self.means)} feature blocks; got "
                f"{len(features)} (the network does not match the reference)."
            )
        blocks = zip(features, self.means, self.precisions, self.scales, strict=True)
        return sum(mahalanobis_scores(np.asarray(f, np.float64), m, p) / s for f, m, p, s in blocks)

    def tensors(self) -> dict[str, torch.Tensor]:
        """What :data:`REFERENCE_FILE` holds (safetensors: no code runs on load)."""
        out = {"scales": torch.as_tensor(self.scales, dtype=torch.float64)}
        for b, (m, p) in enumerate(zip(self.means, self.precisions, strict=True)):
            out[f"means.{b}"] = torch.as_tensor(m, dtype=torch.float64)
            out[f"precision.{b}"] = torch.as_tensor(p, dtype=torch.float64)
        return out

    def config(self) -> dict[str, Any]:
        """The ``ood_guard`` entry of ``config.json``."""
        return {
            "file": REFERENCE_FILE,
            "method": METHOD,
            "threshold": self.threshold,
            "percentile": self.percentile,
            **self.summary,
        }


def _block_reference(x: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    keys = np.unique(classes)
    means = np.stack([x[classes == k].mean(axis=0) for k in keys])
    centred = x - means[np.searchsorted(keys, classes)]
    # Shrinkage keeps the precision finite when features outnumber images or are collinear
    # (ReLU features are often exactly zero).
    return means, LedoitWolf(assume_centered=True).fit(centred).precision_


def fit_reference(
    train_features: Sequence[np.ndarray],
    train_classes: np.ndarray | None,
    val_features: Sequence[np.ndarray],
    *,
    percentile: float = DEFAULT_PERCENTILE,
    feature: str = "",
) -> OODReference:
    """Class means and shared precision per block from training features; the blocks' scales
    and the threshold from validation.

    Parameters
    ----------
    train_features : list of ndarray of shape (N, F_b)
        Feature blocks of the training images (:func:`stack_features`).
    train_classes : ndarray of int, shape (N,), or None
        Class of each training image (None: one mean for all, e.g. multi-label or segmenters).
    val_features : list of ndarray of shape (M, F_b)
        Held-out in-distribution images; the threshold is their ``percentile``-th score.
    percentile : float
    feature : str
        Which features these are (recorded).
    """
    n = len(train_features[0])
    classes = np.zeros(n, int) if train_classes is None else np.asarray(train_classes, int)
    fitted = [_block_reference(np.asarray(x, np.float64), classes) for x in train_features]
    val_blocks = [
        mahalanobis_scores(np.asarray(v, np.float64), m, p)
        for v, (m, p) in zip(val_features, fitted, strict=True)
    ]
    scales = np.array([max(float(np.median(v)), 1e-12) for v in val_blocks])
    val = sum(v / s for v, s in zip(val_blocks, scales, strict=True))
    summary = {
        "feature": feature,
        "n_train": n,
        "n_val": len(val),
        "n_features": [int(np.shape(x)[1]) for x in train_features],
        "val_score_quantiles": {
            f"p{q}": float(np.percentile(val, q)) for q in (50, 90, 95, 99, 100)
        },
    }
    return OODReference(
        [m for m, _ in fitted],
        [p for _, p in fitted],
        scales,
        float(np.percentile(val, percentile)),
        float(percentile),
        summary,
    )


def fit_classifier_reference(
    net: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val_images: np.ndarray,
    *,
    multi_label: bool = False,
    percentile: float = DEFAULT_PERCENTILE,
    seed: int = 0,
) -> OODReference:
    """The reference of a trained classifier: class-conditional Mahalanobis on its features.

    Parameters
    ----------
    net : nn.Module
        The trained network (or ensemble).
    train : (ndarray (N, C, *size), ndarray (N, 1) or (N, K))
        Training images in [0, 1] (un-augmented) and targets; at most
        :data:`MAX_REFERENCE_IMAGES` of them (a seeded sample) are used.
    val_images : ndarray (M, C, *size)
        Validation images; the threshold is their ``percentile``-th score.
    multi_label : bool
        One mean for all images instead of one per class.
    """
    images, targets = train
    if len(images) > MAX_REFERENCE_IMAGES:
        keep = np.sort(
            np.random.default_rng(seed).choice(len(images), MAX_REFERENCE_IMAGES, replace=False)
        )
        images, targets = images[keep], targets[keep]
    feats, _ = network_features(net, images)
    classes = None if multi_label else np.asarray(targets).reshape(len(targets), -1)[:, 0]
    val_feats, _ = network_features(net, val_images)
    return fit_reference(
        feats,
        classes,
        val_feats,
        percentile=percentile,
        feature="channel means and standard deviations of each stage (imaging.ood.STAGES), "
        "else the input of the last linear layer",
    )


def fit_segmenter_reference(
    net: nn.Module,
    train_volumes: Sequence[Any],
    val_volumes: Sequence[Any],
    *,
    orientation: str,
    patch_size: Sequence[int],
    percentile: float = DEFAULT_PERCENTILE,
) -> OODReference:
    """The reference of a trained U-Net: one mean of its bottleneck features over the training
    volumes (paths), the threshold from the validation volumes."""
    from precisionmed.imaging.volumes import read_volume

    def feats(paths: Sequence[Any]) -> list[np.ndarray]:
        rows = [volume_features(net, read_volume(p), orientation, patch_size) for p in paths]
        return [np.concatenate(block) for block in zip(*rows, strict=True)]

    return fit_reference(
        feats(train_volumes),
        None,
        feats(val_volumes),
        percentile=percentile,
        feature="channel means and standard deviations of the U-Net bottleneck, central patch",
    )


def card_sentence(reference: OODReference, what: str = "image") -> str:
    """The model card's line on the guard."""
    return (
        f"Each {what} is checked against the training {what}s: a DICOM modality or colour unlike "
        f"theirs, or a Mahalanobis feature score above {reference.threshold:.1f} (the "
        f"{reference.percentile:g}th percentile of the validation {what}s), sets "
        "in_distribution false with a warning. The check is statistical: it can miss an "
        f"unusual {what} and flag a usual one."
    )


def save_reference(reference: OODReference, out_dir: Any) -> None:
    """Write :data:`REFERENCE_FILE` into ``out_dir`` (a model's staging folder)."""
    from pathlib import Path

    from safetensors.torch import save_file

    save_file(reference.tensors(), str(Path(out_dir) / REFERENCE_FILE))


def load_reference(artifact: Artifact) -> OODReference | None:
    """The model directory's reference, checked against its manifest; None if it has none."""
    from safetensors.torch import load

    entry = artifact.config.get("ood_guard")
    if not isinstance(entry, Mapping) or REFERENCE_FILE not in artifact.files:
        return None
    try:
        tensors = load(artifact.read_bytes(REFERENCE_FILE))
        scales = tensors["scales"].numpy()
        means = [tensors[f"means.{b}"].numpy() for b in range(len(scales))]
        precisions = [tensors[f"precision.{b}"].numpy() for b in range(len(scales))]
        threshold, percentile = float(entry["threshold"]), float(entry["percentile"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{artifact.path / REFERENCE_FILE}: expected tensors 'scales', 'means.<b>' and "
            "'precision.<b>' and config.json 'ood_guard' with 'threshold' and 'percentile'; "
            f"got an error ({exc})."
        ) from exc
    summary = {k: v for k, v in entry.items() if k not in ("threshold", "percentile")}
    return OODReference(means, precisions, scales, threshold, percentile, summary)
