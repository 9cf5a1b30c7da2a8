"""3D segmentation: MONAI U-Net trained through the one engine, Dice and HD95 evaluation.

:func:`train_segmenter` loads a segmentation dataset of the catalog (``msd-hippocampus``), trains
a MONAI 3D U-Net with :func:`precisionmed.train.fit` (DiceCE loss, mean validation Dice from
MONAI's metrics for early stopping), evaluates the best network on the held-out test cases with
sliding-window inference at their original size (Dice per label and HD95 in mm, each with a
bootstrap 95% interval over cases), and saves an ``image-segmenter`` artefact that
:func:`precisionmed.load` turns into a :class:`~precisionmed.imaging.segmenter.ImageSegmenter`.

Volumes follow :mod:`precisionmed.io`'s convention: ``(D, H, W)`` arrays with an index -> RAS+
affine. Preprocessing is MONAI's: z-score intensity normalisation per volume, reorientation to
the training orientation, and pad/crop to a fixed ``patch_size``: 40 x 56 x 40 by default, the
patch nnU-Net plans for the hippocampus (crops are 31-47 x 40-59 x 24-43 voxels, mean
36 x 50 x 35); inference slides that window over the whole volume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.volumes import NORMALISATION, SegmentationDataset, axcodes, read_volume
from precisionmed.train import TrainConfig

log = logging.getLogger(__name__)

#: Registered segmentation networks: name -> default MONAI UNet arguments.
SEGMENTATION_MODELS: dict[str, dict[str, Any]] = {
    "unet": {"channels": (16, 32, 64, 128), "strides": (2, 2, 2), "num_res_units": 1},
    "unet-small": {"channels": (8, 16, 32), "strides": (2, 2), "num_res_units": 1},
}
DEFAULT_PATCH = (40, 56, 40)


def build_segmentation_net(
    model: str, *, n_labels: int, in_channels: int = 1, **overrides: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """A MONAI 3D U-Net by registered name, and the architecture dict that rebuilds it.

    Parameters
    ----------
    model : {"unet", "unet-small"}
        Registered name (see :data:`SEGMENTATION_MODELS`).
    n_labels : int
        Output channels, background included (3 for the hippocampus).
    in_channels : int
        Image channels.
    **overrides
        ``channels``, ``strides``, ``num_res_units``, ``dropout`` (MONAI ``UNet`` arguments).
    """
    from monai.networks.nets import UNet

    if model not in SEGMENTATION_MODELS:
        raise ConfigError(
            f"The 'model' parameter must be one of {sorted(SEGMENTATION_MODELS)}. "
            f"Got {model!r} instead."
        )
    args: dict[str, Any] = {**SEGMENTATION_MODELS[model], "dropout": 0.0, **overrides}
    unknown = set(args) - {"channels", "strides", "num_res_units", "dropout"}
    if unknown:
        raise ConfigError(f"Unknown U-Net option(s) {sorted(unknown)} for model {model!r}.")
    arch = {
        "name": model,
        "spatial_dims": 3,
        "in_channels": in_channels,
        "out_channels": n_labels,
        "channels": [int(c) for c in args["channels"]],
        "strides": [int(s) for s in args["strides"]],
        "num_res_units": int(args["num_res_units"]),
        "dropout": float(args["dropout"]),
        "norm": "instance",
    }
    net = UNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=n_labels,
        channels=[int(c) for c in args["channels"]],
        strides=[int(s) for s in args["strides"]],
        num_res_units=int(args["num_res_units"]),
        dropout=float(args["dropout"]),
        norm="instance",
    )
    return net, arch


def net_from_architecture(arch: Mapping[str, Any]) -> nn.Module:
    """Rebuild the network an artefact's ``architecture`` entry describes."""
    overrides = {k: arch[k] for k in ("channels", "strides", "num_res_units", "dropout")}
    net, _ = build_segmentation_net(
        str(arch["name"]),
        n_labels=int(arch["out_channels"]),
        in_channels=int(arch["in_channels"]),
        **overrides,
    )
    return net


def dice_loss() -> nn.Module:
    """MONAI DiceCE loss on logits (B, K, D, H, W) and integer targets (B, 1, D, H, W)."""
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True)


def dice_per_label(pred: torch.Tensor, target: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Dice of each foreground label per case (MONAI ``compute_dice``).

    Parameters
    ----------
    pred, target : Tensor of int, shape (B, 1, D, H, W)
        Label maps.
    n_labels : int
        Number of labels, background included.

    Returns
    -------
    Tensor of shape (B, n_labels - 1)
        NaN where the label is absent from both prediction and target.
    """
    from monai.metrics import compute_dice
    from monai.networks.utils import one_hot

    return compute_dice(
        one_hot(pred, n_labels), one_hot(target, n_labels), include_background=False
    )


def make_metrics_fn(label_names: Mapping[int, str]) -> Any:
    """``metrics_fn(logits, target) -> {"dice": mean, "dice_<label>": ...}`` for the engine."""
    n_labels = len(label_names)

    def metrics_fn(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        pred = outputs.argmax(dim=1, keepdim=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = dice_per_label(pred, targets.long(), n_labels)
        per_label = torch.nanmean(scores, dim=0)
        out = {"dice": float(torch.nanmean(per_label))}
        for k in range(1, n_labels):
            out[f"dice_{label_names[k].lower()}"] = float(per_label[k - 1])
        return out

    return metrics_fn


def train_segmenter(
    dataset: str, model: str, config: TrainConfig, out_dir: Path, **options: Any
) -> Path:
    """Train, evaluate and save a 3D segmentation model; return the artefact directory.

    Parameters
    ----------
    dataset : str
        Catalog name of a segmentation dataset (``"msd-hippocampus"``).
    model : str
        Registered network name (``"unet"``, ``"unet-small"``).
    config : TrainConfig
        Engine configuration. Fields left unset get segmentation defaults: ``batch_size`` 2
        (the engine's default of 128 volumes does not fit a CPU), ``monitor="val_dice"`` with
        ``mode="max"``.
    out_dir : path
        Artefact directory to write.
    **options
        ``val_fraction`` (0.1: part of the training cases used for early stopping),
        ``patch_size`` ((40, 56, 40)), ``max_train_cases`` / ``max_test_cases`` (limit the
        cases, for smoke runs), ``n_boot`` (1000), ``channels`` / ``strides`` /
        ``num_res_units`` / ``dropout`` (U-Net).
    """
    from precisionmed.artifacts import ModelCard, save_artifact
    from precisionmed.data import get_dataset, load_dataset, train_val_test_indices
    from precisionmed.imaging.segmenter import ImageSegmenter, evaluate_segmenter
    from precisionmed.train import fit, seed_everything

    defaults = {"batch_size": 2, "monitor": "val_dice", "mode": "max"}
    unset = {k: v for k, v in defaults.items() if k not in config.model_fields_set}
    if "monitor" in config.model_fields_set and "mode" in unset:
        unset.pop("mode")  # a monitor chosen by the caller keeps the caller's mode
    config = config.model_copy(update=unset)
    known = {"val_fraction", "patch_size", "max_train_cases", "max_test_cases", "n_boot"}
    net_opts = {k: options.pop(k) for k in list(options) if k not in known}
    spec = get_dataset(dataset)
    if spec.task != "segmentation":
        raise ConfigError(
            f"Dataset {dataset!r} has task {spec.task!r}; train_segmenter needs a "
            "'segmentation' dataset (e.g. 'msd-hippocampus')."
        )
    data = load_dataset(dataset, seed=config.seed)
    train_pairs, test_pairs = data.split("train"), data.split("test")
    if options.get("max_train_cases"):
        train_pairs = train_pairs[: int(options["max_train_cases"])]
    if options.get("max_test_cases"):
        test_pairs = test_pairs[: int(options["max_test_cases"])]
    tr, va, _ = train_val_test_indices(
        len(train_pairs),
        val_fraction=float(options.get("val_fraction", 0.1)),
        test_fraction=0.0,
        seed=config.seed,
    )
    patch = tuple(int(p) for p in options.get("patch_size", DEFAULT_PATCH))
    first = read_volume(train_pairs[0][0])
    if first.affine is None:
        raise DataFormatError(f"{train_pairs[0][0]}: training volumes need a geometry (affine).")
    orientation = axcodes(first.affine)
    seed_everything(config.seed)  # the initial weights are part of what the seed fixes
    net, arch = build_segmentation_net(model, n_labels=len(data.labels), **net_opts)
    _check_patch(patch, arch["strides"])
    train_ds = SegmentationDataset(
        [train_pairs[i] for i in tr], patch, orientation, train=True, seed=config.seed
    )
    val_ds = SegmentationDataset([train_pairs[i] for i in va], patch, orientation, train=False)
    out = Path(out_dir)
    result = fit(
        net,
        train_ds,
        val_ds,
        loss_fn=dice_loss(),
        metrics_fn=make_metrics_fn(data.labels),
        config=config,
        out_dir=out,
    )
    preprocessing = {
        "patch_size": list(patch),
        "normalisation": NORMALISATION,
        "orientation": orientation,
        "spacing": list(first.spacing),
    }
    split = {
        "seed": config.seed,
        "train": len(tr),
        "val": len(va),
        "test": len(test_pairs),
        "test_cases": [Path(p[0]).name for p in test_pairs],
    }
    segmenter = ImageSegmenter(result.net, arch, preprocessing, data.labels)
    evaluation = evaluate_segmenter(segmenter, test_pairs, n_boot=int(options.get("n_boot", 1000)))
    metrics = {
        "val": result.val_metrics,
        "test": evaluation["summary"],
        "best_epoch": result.best_epoch,
        "fit_seconds": result.fit_seconds,
    }
    (out / "test_cases.json").write_text(json.dumps(evaluation["cases"], indent=2))
    _plot_case_dice(evaluation["cases"], out / "test_dice.png")
    labels = ", ".join(data.labels[k] for k in sorted(data.labels) if k)
    card = ModelCard(
        title=f"{model} on {dataset}",
        intended_use=(
            f"Research segmentation of {labels} in {spec.modality.upper()} volumes like those of "
            f"{dataset}, and measurement of each segmented structure (location, volume)."
        ),
        training_data=(
            f"{dataset} ({spec.description}); seeded split: {len(tr)} train, {len(va)} "
            f"validation (early stopping), {len(test_pairs)} test cases."
        ),
        limitations=[
            "Trained on one public dataset from one centre; accuracy elsewhere is unknown.",
            f"Expects {spec.modality.upper()} volumes near {preprocessing['spacing']} mm "
            "spacing, framed like the training crops; nothing is resampled.",
        ],
        details={"architecture": arch["name"], "channels": arch["channels"], "patch": patch},
    )
    config_out = {
        "architecture": arch,
        "labels": {str(k): v for k, v in sorted(data.labels.items())},
        "preprocessing": preprocessing,
        "input": {
            "modality": spec.modality,
            "channels": 1,
            "spatial_dims": 3,
            "dtype": "float32",
            "axes": "(D, H, W) with an index -> RAS+ affine",
        },
        "inference": segmenter.inference,
        "data": {
            "dataset": dataset,
            "split": split,
            "files": len(spec.files),
            # One digest over the catalog checksums of every file the model saw.
            "catalog_sha256": hashlib.sha256(
                "\n".join(sorted(f.checksum for f in spec.files)).encode()
            ).hexdigest(),
        },
        "train_config": config.model_dump(),
    }
    return save_artifact(
        out,
        kind="image-segmenter",
        pillar="imaging",
        config=config_out,
        metrics=metrics,
        card=card,
        state_dict=result.net.state_dict(),
    )


def _plot_case_dice(cases: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Box plot of the per-case test Dice of each label (the figures are in test_cases.json)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k.removeprefix("dice_") for k in cases[0] if k.startswith("dice_")] if cases else []
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.boxplot([[c[f"dice_{n}"] for c in cases] for n in names])
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("Dice per test case")
    ax.set_ylim(0, 1)
    ax.set_title(f"Test Dice ({len(cases)} cases)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _check_patch(patch: tuple[int, ...], strides: Sequence[int]) -> None:
    factor = int(np.prod(strides))
    if len(patch) != 3 or any(p % factor for p in patch):
        raise ConfigError(
            f"The 'patch_size' option must be 3 sizes divisible by {factor} (the U-Net's total "
            f"stride). Got {patch} instead."
        )
