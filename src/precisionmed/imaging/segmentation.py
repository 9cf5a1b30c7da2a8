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
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.imaging.unet import (
    build_segmentation_net,
    dice_loss,
    dice_per_label,
    segmentation_architecture,
)
from precisionmed.imaging.volumes import NORMALISATION, SegmentationDataset, axcodes, read_volume
from precisionmed.train import TrainConfig

log = logging.getLogger(__name__)

DEFAULT_PATCH = (40, 56, 40)


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
    dataset: Any,
    model: str,
    config: TrainConfig,
    out_dir: Path,
    *,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Train, evaluate and save a 3D segmentation model; return the artefact directory.

    Parameters
    ----------
    dataset : str or SegmentationFolder
        Catalog name of a segmentation dataset (``"msd-hippocampus"``), or a folder loaded with
        :func:`precisionmed.imaging.folder.load_segmentation_folder`.
    model : str
        Registered network name (``"unet"``, ``"unet-small"``).
    config : TrainConfig
        Engine configuration. Fields left unset get segmentation defaults: ``batch_size`` 2
        (the engine's default of 128 volumes does not fit a CPU), ``monitor="val_dice"`` with
        ``mode="max"``.
    out_dir : path
        Artefact directory to write.
    overwrite : bool
        Replace a model already in ``out_dir`` (refused otherwise, before any data are read).
    **options
        ``val_fraction`` (0.1: part of the training cases used for early stopping),
        ``patch_size`` ((40, 56, 40)), ``max_train_cases`` / ``max_test_cases`` (limit the
        cases, for smoke runs), ``n_boot`` (1000), ``channels`` / ``strides`` /
        ``num_res_units`` / ``dropout`` (U-Net).
    """
    from precisionmed.artifacts import write_model_dir

    defaults = {"batch_size": 2, "monitor": "val_dice", "mode": "max"}
    unset = {k: v for k, v in defaults.items() if k not in config.model_fields_set}
    if "monitor" in config.model_fields_set and "mode" in unset:
        unset.pop("mode")  # a monitor chosen by the caller keeps the caller's mode
    config = config.model_copy(update=unset)
    known = {"val_fraction", "patch_size", "max_train_cases", "max_test_cases", "n_boot"}
    net_opts = {k: options.pop(k) for k in list(options) if k not in known}
    run = partial(
        _train_and_report,
        dataset=dataset,
        model=model,
        config=config,
        options=options,
        net_opts=net_opts,
    )
    # --out is checked and locked before the data are read; the directory is written whole
    # or not at all (precisionmed.artifacts.write_model_dir).
    path, _ = write_model_dir(out_dir, run, overwrite=overwrite)
    return path


def _train_and_report(
    staging: Path,
    *,
    dataset: Any,
    model: str,
    config: TrainConfig,
    options: Mapping[str, Any],
    net_opts: Mapping[str, Any],
) -> tuple[Any, None]:
    """Train the U-Net, test it case by case, and say what to save (the save step)."""
    from precisionmed.artifacts import ModelContents
    from precisionmed.imaging.ood import fit_segmenter_reference, save_reference
    from precisionmed.imaging.segmenter import ImageSegmenter, evaluate_segmenter
    from precisionmed.train.steps import fit_members

    data, name, source = _load_segmentation_data(dataset, config.seed)
    train_cases, val_cases, test_pairs = _split_cases(data, options, config.seed)
    patch = tuple(int(p) for p in options.get("patch_size", DEFAULT_PATCH))
    first = read_volume(train_cases[0][0])
    if first.affine is None:
        raise DataFormatError(f"{train_cases[0][0]}: training volumes need a geometry (affine).")
    orientation = axcodes(first.affine)
    arch = segmentation_architecture(model, n_labels=len(data.labels), **net_opts)
    _check_patch(patch, arch["strides"])

    def build_member(seed: int) -> tuple[torch.nn.Module, SegmentationDataset]:
        net, _ = build_segmentation_net(model, n_labels=len(data.labels), **net_opts)
        return net, SegmentationDataset(train_cases, patch, orientation, train=True, seed=seed)

    fits = fit_members(
        build_member,
        SegmentationDataset(val_cases, patch, orientation, train=False),
        loss_fn=dice_loss(),
        metrics_fn=make_metrics_fn(data.labels),
        config=config,
        out_dir=staging,
    )
    result = fits.first
    preprocessing = {
        "patch_size": list(patch),
        "normalisation": NORMALISATION,
        "orientation": orientation,
        "spacing": list(first.spacing),
    }
    segmenter = ImageSegmenter(result.net, arch, preprocessing, data.labels)
    ood = fit_segmenter_reference(  # the out-of-distribution guard's reference (imaging.ood)
        result.net,
        [p[0] for p in train_cases],
        [p[0] for p in val_cases],
        orientation=orientation,
        patch_size=patch,
    )
    save_reference(ood, staging)
    evaluation = evaluate_segmenter(segmenter, test_pairs, n_boot=int(options.get("n_boot", 1000)))
    metrics = {
        "val": result.val_metrics,
        "test": evaluation["summary"],
        "best_epoch": result.best_epoch,
        "fit_seconds": result.fit_seconds,
    }
    (staging / "test_cases.json").write_text(json.dumps(evaluation["cases"], indent=2))
    _plot_case_dice(evaluation["cases"], staging / "test_dice.png")
    split = {
        "seed": config.seed,
        "train": len(train_cases),
        "val": len(val_cases),
        "test": len(test_pairs),
        "test_cases": [Path(p[0]).name for p in test_pairs],
    }
    contents = ModelContents(
        kind="image-segmenter",
        pillar="imaging",
        config={
            **_segmenter_config(segmenter, data.labels, name, source, split, config),
            "ood_guard": ood.config(),
        },
        metrics=metrics,
        card=_segmenter_card(model, data.labels, name, source, segmenter, split, ood),
        state_dict=result.net.state_dict(),
    )
    return contents, None


def _load_segmentation_data(dataset: Any, seed: int) -> tuple[Any, str, dict[str, Any]]:
    """``(data, name, source)``: a catalog dataset or a user's folder, and its provenance."""
    from precisionmed.data import get_dataset, load_dataset

    if not isinstance(dataset, str):  # a user's folder (imaging.folder.SegmentationFolder)
        source = {"modality": dataset.modality, "description": dataset.description,
                  "files": 2 * len(dataset.cases), "sha256": dataset.checksum}  # fmt: skip
        return dataset, dataset.name, source
    spec = get_dataset(dataset)
    if spec.task != "segmentation":
        raise ConfigError(
            f"Dataset {dataset!r} has task {spec.task!r}; train_segmenter needs a "
            "'segmentation' dataset (e.g. 'msd-hippocampus')."
        )
    data = load_dataset(dataset, seed=seed)
    # One digest over the catalog checksums of every file the model saw.
    digest = hashlib.sha256("\n".join(sorted(f.checksum for f in spec.files)).encode())
    source = {"modality": spec.modality, "description": spec.description,
              "files": len(spec.files), "catalog_sha256": digest.hexdigest()}  # fmt: skip
    return data, dataset, source


def _split_cases(data: Any, options: Mapping[str, Any], seed: int) -> tuple[list, list, list]:
    """``(train, val, test)`` (image, mask) pairs: the dataset's test split, and a seeded
    validation part of its training split; ``max_*_cases`` options cut them for smoke runs."""
    from precisionmed.data import train_val_test_indices

    train_pairs, test_pairs = data.split("train"), data.split("test")
    if options.get("max_train_cases"):
        train_pairs = train_pairs[: int(options["max_train_cases"])]
    if options.get("max_test_cases"):
        test_pairs = test_pairs[: int(options["max_test_cases"])]
    tr, va, _ = train_val_test_indices(
        len(train_pairs),
        val_fraction=float(options.get("val_fraction", 0.1)),
        test_fraction=0.0,
        seed=seed,
    )
    return [train_pairs[i] for i in tr], [train_pairs[i] for i in va], list(test_pairs)


def _segmenter_config(
    segmenter: Any,
    labels: Mapping[int, str],
    name: str,
    source: Mapping[str, Any],
    split: Mapping[str, Any],
    config: TrainConfig,
) -> dict[str, Any]:
    """``config.json`` of a segmenter (versions are added when it is saved)."""
    from precisionmed.imaging.segmenter import segmenter_input_spec

    return {
        "architecture": segmenter.architecture,
        "labels": {str(k): v for k, v in sorted(labels.items())},
        "preprocessing": segmenter.preprocessing,
        "input": {
            "modality": source["modality"],
            "channels": 1,
            "spatial_dims": 3,
            "dtype": "float32",
            "axes": "(D, H, W) with an index -> RAS+ affine",
        },
        "inference": segmenter.inference,
        "input_spec": segmenter_input_spec(source["modality"], segmenter.preprocessing).to_dict(),
        "data": {
            "dataset": name,
            "split": dict(split),
            **{k: v for k, v in source.items() if k not in ("modality", "description")},
        },
        "train_config": config.model_dump(),
    }


def _segmenter_card(
    model: str,
    labels: Mapping[int, str],
    name: str,
    source: Mapping[str, Any],
    segmenter: Any,
    split: Mapping[str, Any],
    ood: Any,
) -> Any:
    """The model card's text: what it segments, on what data, and its limits."""
    from precisionmed.artifacts import ModelCard
    from precisionmed.imaging.ood import card_sentence

    structures = ", ".join(labels[k] for k in sorted(labels) if k)
    modality = source["modality"].upper()
    arch, patch = segmenter.architecture, tuple(segmenter.preprocessing["patch_size"])
    return ModelCard(
        title=f"{model} on {name}",
        intended_use=(
            f"Research segmentation of {structures} in {modality} volumes like those of "
            f"{name}, and measurement of each segmented structure (location, volume)."
        ),
        training_data=(
            f"{name} ({source['description']}); seeded split: {split['train']} train, "
            f"{split['val']} validation (early stopping), {split['test']} test cases."
        ),
        limitations=[
            "Trained on one public dataset from one centre; accuracy elsewhere is unknown.",
            f"Expects {modality} volumes near {segmenter.preprocessing['spacing']} mm "
            "spacing, framed like the training crops; nothing is resampled.",
            card_sentence(ood, "volume"),
        ],
        details={"architecture": arch["name"], "channels": arch["channels"], "patch": patch},
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
