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

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ArtifactError

if TYPE_CHECKING:
    from precisionmed.artifacts import Artifact
    from precisionmed.io.image import Image
    from precisionmed.predict import ImageInputSpec

#: The reference's file in a model directory.
REFERENCE_FILE = "ood_reference.safetensors"
#: Percentile of the validation scores used as the threshold.
DEFAULT_PERCENTILE = 99.0
#: At most this many training images enter the reference (a seeded sample of larger sets).
MAX_REFERENCE_IMAGES = 20000
METHOD = "mahalanobis"


#: Feature-map stages read per classifier (by class name): each stage's channel means and
#: standard deviations, and whether the input of the last linear layer is read too (a ResNet's is
#: the mean of ``layer4``, already read). Other networks (DenseNet-121, whose blocks hold
#: thousands of channels) give the last linear layer's input alone.
STAGES: dict[str, tuple[tuple[str, ...], bool]] = {
    "ResNet": (("conv1", "layer1", "layer2", "layer3", "layer4"), False),
    "ReferenceCNN": (("features.1", "features.4"), True),
}


def feature_modules(net: nn.Module) -> list[tuple[nn.Module, str]]:
    """The modules whose features the guard reads, in forward order, each with how it is read.

    ``"map"``: the channel means and standard deviations of the module's output feature map;
    ``"linear"``: the input of a :class:`torch.nn.Linear` (the pooled penultimate features). A
    classifier (each member of a :class:`~precisionmed.imaging.networks.MeanEnsemble`): the
    stages of :data:`STAGES` and its last linear layer. A MONAI U-Net: the submodule of its
    deepest skip connection (the bottleneck).
    """
    from monai.networks.layers import SkipConnection

    from precisionmed.imaging.networks import MeanEnsemble

    skips = [(n, m) for n, m in net.named_modules() if isinstance(m, SkipConnection)]
    if skips:
        return [(max(skips, key=lambda item: item[0].count("."))[1].submodule, "map")]
    members = list(net.members) if isinstance(net, MeanEnsemble) else [net]
    found: list[tuple[nn.Module, str]] = []
    for member in members:
        stages, with_linear = STAGES.get(type(member).__name__, ((), True))
        found += [(member.get_submodule(name), "map") for name in stages]
        linears = [m for m in member.modules() if isinstance(m, nn.Linear)]
        if with_linear and not linears:
            raise ArtifactError(
                f"{type(member).__name__}: expected a network ending in a linear layer (its "
                "input is the feature vector the out-of-distribution guard reads); got none."
            )
        found += [(linears[-1], "linear")] if with_linear else []
    return found


@contextmanager
def capture_features(net: nn.Module) -> Iterator[list[list[torch.Tensor]]]:
    """Collect the features of every forward pass of ``net`` while the block runs.

    Yields a list with one list of per-batch tensors per feature module
    (:func:`feature_modules`); read them with :func:`stack_features` after the block. A linear
    layer gives its input ``(B, F)``; a feature map its channel means and standard deviations
    ``(B, 2C)``.
    """
    modules = feature_modules(net)
    store: list[list[torch.Tensor]] = [[] for _ in modules]
    handles = []
    for i, (module, how) in enumerate(modules):
        if how == "linear":

            def pre(_m: nn.Module, args: tuple, i: int = i) -> None:
                store[i].append(args[0].detach().flatten(1).float().cpu())

            handles.append(module.register_forward_pre_hook(pre))
        else:

            def post(_m: nn.Module, _args: tuple, out: torch.Tensor, i: int = i) -> None:
                flat = out.detach().float().flatten(2)
                store[i].append(torch.cat([flat.mean(2), flat.std(2)], dim=1).cpu())

            handles.append(module.register_forward_hook(post))
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def stack_features(store: Sequence[Sequence[torch.Tensor]]) -> list[np.ndarray]:
    """The captured features: one array (N, F_b) per feature module, batches stacked."""
    return [torch.cat(list(batches)).double().numpy() for batches in store if batches]


def mahalanobis_scores(
    features: np.ndarray, means: np.ndarray, precision: np.ndarray
) -> np.ndarray:
    """Squared Mahalanobis distance of each row to its closest class mean (shared precision).

    Parameters
    ----------
    features : ndarray of shape (N, F)
    means : ndarray of shape (K, F)
    precision : ndarray of shape (F, F)

    Returns
    -------
    ndarray of shape (N,)
    """
    diff = features[:, None, :] - means[None, :, :]  # (N, K, F)
    dist = np.einsum("nkf,fg,nkg->nk", diff, precision, diff)
    return dist.min(axis=1)


def energy_scores(logits: np.ndarray) -> np.ndarray:
    """Energy score ``-logsumexp(logits)`` per row (Liu et al. 2020; higher: less familiar).

    Measured against the Mahalanobis score in ``benchmarks/imaging_ood.py``.
    """
    from scipy.special import logsumexp

    return -logsumexp(np.asarray(logits, dtype=np.float64), axis=1)


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


class NetworkOutputs(nn.Module):
    """``net`` as one module whose forward returns ``(logits, *feature blocks)`` in one pass.

    The blocks are those of :func:`capture_features` (as :func:`network_features` returns them),
    so that the network can be exported to another runtime (ONNX) with the out-of-distribution
    guard's features. Adds no parameters of its own.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits (B, K) then one (B, F_b) tensor per feature module, for images (B, C, *size)."""
        with capture_features(self.net) as store:
            logits = self.net(x)
        return (logits, *[batches[0] for batches in store if batches])


def network_features(
    net: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 256
) -> tuple[list[np.ndarray], np.ndarray]:
    """Feature blocks ([(N, F_b)], :func:`stack_features`) and logits (N, K) of images
    (N, C, *size) in one pass."""
    from torch.utils.data import TensorDataset

    from precisionmed.train import predict_outputs

    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    with capture_features(net) as store:
        logits = predict_outputs(net, TensorDataset(x), batch_size=batch_size)
    return stack_features(store), logits.numpy()


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


def segmenter_patch(volume: np.ndarray, patch_size: Sequence[int]) -> torch.Tensor:
    """The U-Net's central input patch (1, 1, *patch) of a volume already in the training
    orientation: z-scored, padded and centre-cropped as the validation patches in training."""
    from monai.transforms import CenterSpatialCrop, NormalizeIntensity, SpatialPad

    x = torch.as_tensor(NormalizeIntensity()(np.asarray(volume, np.float32)[None]))
    x = CenterSpatialCrop(patch_size)(SpatialPad(patch_size)(x))
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)[None]


@torch.no_grad()
def patch_features(net: nn.Module, patches: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Bottleneck features ([(N, 2C)]) of U-Net input patches, each (1, 1, *patch)."""
    net.eval()
    with capture_features(net) as store:
        for patch in patches:
            net(patch)
    return stack_features(store)


def volume_features(
    net: nn.Module, image: Image, orientation: str, patch: Sequence[int]
) -> list[np.ndarray]:
    """Bottleneck features ([(1, 2C)]) of a read volume (NaN replaced, reoriented, central
    patch)."""
    from precisionmed.imaging.transforms import replace_non_finite
    from precisionmed.imaging.volumes import reorient

    array, _ = replace_non_finite(image.array, where=str(image.path or "volume"))
    volume = reorient(array, image.affine, orientation)
    return patch_features(net, [segmenter_patch(volume, patch)])


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


def assess_volume(segmenter: Any, image: Image) -> OODAssessment:
    """The guard's answer for one volume given to an
    :class:`~precisionmed.imaging.segmenter.ImageSegmenter`."""
    spec, reference = segmenter.input_spec, segmenter.ood_reference
    features = None
    if reference is not None:
        pre = segmenter.preprocessing
        features = volume_features(segmenter.net, image, pre["orientation"], pre["patch_size"])
    return assess(reference, spec, features, [metadata_mismatches(image, spec)], "volume")[0]


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


__all__ = [
    "DEFAULT_PERCENTILE",
    "REFERENCE_FILE",
    "OODAssessment",
    "OODReference",
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
    "save_reference",
    "stack_features",
]
