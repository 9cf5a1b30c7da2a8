"""Train an image classifier: the engine, calibration, test evaluation and a model directory.

:func:`train_image_classifier` trains a registered network (or a deep ensemble of seeds) on a
catalog dataset through the one training engine (:func:`precisionmed.train.fit`), keeps a
temperature fitted on the validation set only where it lowers the out-of-fold validation NLL
(:func:`~precisionmed.imaging.evaluation.choose_temperature`), evaluates on the test set and saves
an ``image-classifier`` model directory, which
:class:`precisionmed.imaging.classifier.ImageClassifier` opens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir
from precisionmed.imaging.classifier_spec import KIND, classifier_input_spec
from precisionmed.imaging.datasets import ClassificationData, load_classification_data
from precisionmed.imaging.evaluation import (
    choose_temperature,
    classification_report,
    medmnist_acc,
    medmnist_auc,
    plot_reliability,
    plot_roc,
    probabilities,
)
from precisionmed.imaging.letterbox import default_resize
from precisionmed.imaging.networks import MeanEnsemble, build_network
from precisionmed.imaging.ood import card_sentence, fit_classifier_reference, save_reference
from precisionmed.imaging.transforms import NORMALISATION, augmentation
from precisionmed.train import TrainConfig, predict_outputs
from precisionmed.train.steps import MemberFits, check_n_members, fit_members


def loss_for_task(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy over the softmax, or binary cross-entropy per label for multi-label tasks."""
    if task == "multi-label":
        bce = nn.BCEWithLogitsLoss()
        return lambda out, y: bce(out, y.float())
    ce = nn.CrossEntropyLoss()
    return lambda out, y: ce(out, y.long())


def metrics_for_task(task: str) -> Callable[[torch.Tensor, torch.Tensor], dict[str, float]]:
    """Epoch metrics for the engine: MedMNIST ``auc`` and ``acc`` over the whole set.

    ``auc`` is NaN when the set holds a single class (AUC is undefined there).
    """

    def metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        probs = probabilities(outputs.float().numpy(), task)
        y = targets.numpy()
        try:
            auc = medmnist_auc(probs, y, task)
        except ValueError:
            auc = float("nan")
        return {"auc": auc, "acc": medmnist_acc(probs, y, task)}

    return metrics


@dataclass
class TrainedClassifier:
    """What :func:`train_image_classifier` returns.

    Attributes
    ----------
    path : Path
        The model directory.
    metrics : dict
        ``{"val": report, "test": report, ...}`` as written to ``metrics.json``.
    cpu_seconds : float
        CPU time of training (all threads of this process), in seconds.
    """

    path: Path
    metrics: dict[str, Any]
    cpu_seconds: float
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def train_image_classifier(
    dataset: str | ClassificationData,
    model: str = "reference-cnn",
    *,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    augment: str = "light",
    subset: int | None = None,
    n_boot: int = 1000,
    network_kwargs: Mapping[str, Any] | None = None,
    n_members: int = 1,
    overwrite: bool = False,
) -> TrainedClassifier:
    """Train ``model`` on ``dataset``, calibrate it, test it and save a model directory.

    Parameters
    ----------
    dataset : str or ClassificationData
        A catalog name (``"pneumoniamnist"``) or already loaded data.
    model : str
        A registered network (:func:`precisionmed.imaging.networks.list_networks`).
    out_dir : path
        The model directory to write: ``model.safetensors``, ``config.json``, ``metrics.json``,
        ``model_card.md``, ``metrics.csv``, ``training_curve.png``, ``roc.png`` and
        ``reliability.png``.
    config : TrainConfig, optional
        Training parameters (early stopping on ``config.monitor``; model selection uses the
        validation split only).
    augment : {"none", "light", "strong"}
        MONAI random augmentation of the training images.
    subset : int, optional
        Use only the first ``subset`` images of each split (smoke tests).
    n_boot : int
        Bootstrap resamples for the 95% intervals.
    network_kwargs : mapping, optional
        Extra arguments of the network builder (e.g. ``{"dropout": 0.3}``).
    n_members : int
        Train a deep ensemble: ``n_members`` networks with seeds ``config.seed + i`` (initial
        weights, augmentation and batch order differ), each with its own early stopping on the
        validation split; the saved model averages their logits
        (:class:`~precisionmed.imaging.networks.MeanEnsemble`). Member ``i``'s training curve goes
        to ``out_dir/member-i/``.
    overwrite : bool
        Replace a model already in ``out_dir`` (refused otherwise, before training). The
        directory is checked and locked before training and written whole or not at all
        (:class:`~precisionmed.artifacts.ModelWriter`).
    """
    check_n_members(n_members)
    config = config or TrainConfig.build()
    data = (
        dataset
        if isinstance(dataset, ClassificationData)
        else load_classification_data(dataset, subset=subset)
    )
    run = partial(
        _train_and_report,
        data=data,
        model=model,
        config=config,
        augment=augment,
        subset=subset,
        n_boot=n_boot,
        network_kwargs=dict(network_kwargs or {}),
        n_members=n_members,
    )
    # --out is checked and locked before training; the directory is written whole or not at all.
    path, (metrics, fits) = write_model_dir(out_dir, run, overwrite=overwrite)
    first = fits.first
    return TrainedClassifier(path, metrics, fits.cpu_seconds, first.best_epoch, first.history)


def _train_and_report(
    staging: Path,
    *,
    data: ClassificationData,
    model: str,
    config: TrainConfig,
    augment: str,
    subset: int | None,
    n_boot: int,
    network_kwargs: dict[str, Any],
    n_members: int,
) -> tuple[ModelContents | None, tuple[dict[str, Any], MemberFits]]:
    """Train the members, calibrate and test the model, and say what to save (the save step)."""
    fits = fit_members(
        partial(_build_member, data, model, network_kwargs, augment),
        data.split("val"),
        loss_fn=loss_for_task(data.task),
        metrics_fn=metrics_for_task(data.task),
        config=config,
        n_members=n_members,
        out_dir=staging,
    )
    if not fits.is_global_zero:
        return None, ({}, fits)
    net = fits.first.net if n_members == 1 else MeanEnsemble(fits.nets)
    metrics, temperature = _calibrate_and_test(net, data, n_boot=n_boot, out_dir=staging)
    metrics.update(fits.summary(config.monitor))
    ood = fit_classifier_reference(  # the out-of-distribution guard's reference (imaging.ood)
        net, data.arrays["train"], data.arrays["val"][0], multi_label=data.multi_label
    )
    save_reference(ood, staging)
    model_config = {
        **_architecture_config(model, network_kwargs, n_members, data),
        "labels": data.labels,
        "task": data.task,
        "temperature": temperature,
        "augmentation": augment,
        "dataset": {
            "name": data.name,
            "checksum": data.checksum,
            "subset": subset,
            "sizes": {k: len(v[1]) for k, v in data.arrays.items()},
        },
        "train_config": config.model_dump(),
        "ood_guard": ood.config(),
    }
    card = _classifier_card(model, data, metrics, augment=augment)
    card.limitations.append(card_sentence(ood))
    contents = ModelContents(
        kind=KIND,
        pillar="imaging",
        config=model_config,
        metrics=metrics,
        card=card,
        state_dict=net.state_dict(),
    )
    return contents, (metrics, fits)


def _build_member(
    data: ClassificationData,
    model: str,
    network_kwargs: Mapping[str, Any],
    augment: str,
    seed: int,
) -> tuple[nn.Module, Any]:
    """One member: the network (after seeding) and its seeded, augmented training split."""
    net = build_network(
        model,
        spatial_dims=data.spatial_dims,
        in_channels=data.n_channels,
        out_channels=data.n_outputs,
        size=data.size,
        **network_kwargs,
    )
    return net, data.split("train", augmentation(data.spatial_dims, augment, seed))


def _calibrate_and_test(
    net: nn.Module, data: ClassificationData, *, n_boot: int, out_dir: Path
) -> tuple[dict[str, Any], float]:
    """Choose temperature scaling on val (kept only where it lowers the out-of-fold validation
    NLL); ``{"val", "test", "temperature_scaling"}`` reports; ``roc.png``, ``reliability.png``."""
    val_logits = predict_outputs(net, data.split("val")).numpy()
    test_logits = predict_outputs(net, data.split("test")).numpy()
    choice = choose_temperature(val_logits, data.arrays["val"][1], data.task)
    temperature = choice.temperature
    kw: dict[str, Any] = {
        "task": data.task,
        "labels": data.labels,
        "temperature": temperature,
        "n_boot": n_boot,
    }
    y_test = data.arrays["test"][1]
    metrics: dict[str, Any] = {
        "val": classification_report(val_logits, data.arrays["val"][1], **kw),
        "test": classification_report(test_logits, y_test, **kw),
        "temperature_scaling": choice.as_dict(),
    }
    probs = probabilities(test_logits, data.task, temperature)
    plot_roc(probs, y_test, task=data.task, labels=data.labels, path=out_dir / "roc.png")
    plot_reliability(
        test_logits,
        y_test,
        task=data.task,
        temperature=temperature,
        path=out_dir / "reliability.png",
    )
    return metrics, temperature


def _architecture_config(
    model: str, network_kwargs: Mapping[str, Any], n_members: int, data: ClassificationData
) -> dict[str, Any]:
    """The part of ``config.json`` that rebuilds the network and checks its input."""
    return {
        "architecture": model,
        "network_kwargs": dict(network_kwargs),
        "n_members": n_members,
        "spatial_dims": data.spatial_dims,
        "n_channels": data.n_channels,
        "input_size": list(data.size),
        "normalisation": NORMALISATION,
        "input_spec": classifier_input_spec(
            data.name, n_channels=data.n_channels, spatial_dims=data.spatial_dims, size=data.size
        ).to_dict(),
    }


def _calibration_sentence(choice: Mapping[str, Any]) -> str:
    """What the card says of temperature scaling: kept or not, and the validation evidence."""
    evidence = (
        f"out-of-fold validation NLL {choice['nll_scaled']:.4f} with a temperature vs "
        f"{choice['nll_unscaled']:.4f} without (kept when at least {choice['margin']:.0%} lower)"
    )
    if choice["kept"]:
        return (
            f"Calibrated by one temperature fitted on the validation split (T = "
            f"{choice['temperature']:.3f}; {evidence}); calibration may not transfer to other "
            "sites."
        )
    return (
        f"Not temperature-scaled: the fitted T = {choice['fitted']:.3f} did not lower the "
        f"{evidence}; probabilities are the network's own."
    )


def _classifier_card(
    model: str,
    data: ClassificationData,
    metrics: Mapping[str, Any],
    *,
    augment: str,
) -> ModelCard:
    """The model card's text: intended use, training data, calibration limits, test figures."""
    size = "x".join(map(str, data.size))
    labels = f"{', '.join(data.labels[:6])}{'...' if len(data.labels) > 6 else ''}"
    members = metrics["members"]
    return ModelCard(
        title=f"{model} on {data.name}",
        intended_use=(
            f"Research: {data.task} classification of {data.spatial_dims}D images "
            f"({labels}) like those of {data.name}. Not for diagnosis without a clinician."
        ),
        training_data=(
            f"{data.name} ({data.checksum}); train/val/test "
            f"{'/'.join(str(len(v[1])) for v in data.arrays.values())} images of "
            f"{size} px, {data.n_channels} channel(s)."
        ),
        limitations=[
            f"Trained on {size} px images; other sizes are fitted to it"
            + (
                " (scaled with the aspect ratio kept and zero-padded to a square)."
                if default_resize(data.spatial_dims) == "letterbox"
                else " (each axis resized on its own)."
            ),
            _calibration_sentence(metrics["temperature_scaling"]),
        ],
        details={
            "architecture": model,
            "test ACC": metrics["test"]["acc"],
            "test AUC": metrics["test"]["auc"],
            "best epoch": (
                metrics["best_epoch"] if len(members) == 1 else [m["best_epoch"] for m in members]
            ),
            "ensemble members": len(members),
            "augmentation": augment,
        },
    )
