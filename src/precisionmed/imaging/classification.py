"""Train an image classifier: the engine, calibration, test evaluation and a model directory.

:func:`train_image_classifier` trains a registered network (or a deep ensemble of seeds) on a
catalog dataset through the one training engine (:func:`precisionmed.train.fit`), fits a
temperature on the validation set, evaluates on the test set and saves an ``image-classifier``
model directory, which :class:`precisionmed.imaging.classifier.ImageClassifier` opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from precisionmed.artifacts import ModelCard, ModelWriter, save_artifact
from precisionmed.errors import ConfigError
from precisionmed.imaging.classifier import KIND, classifier_input_spec
from precisionmed.imaging.datasets import ClassificationData, load_classification_data
from precisionmed.imaging.evaluation import (
    classification_report,
    fit_temperature,
    medmnist_acc,
    medmnist_auc,
    plot_reliability,
    plot_roc,
    probabilities,
)
from precisionmed.imaging.networks import MeanEnsemble, build_network
from precisionmed.imaging.transforms import NORMALISATION, augmentation
from precisionmed.train import TrainConfig, fit, predict_outputs, seed_everything


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
    if n_members < 1:
        raise ConfigError(f"The 'n_members' parameter must be >= 1. Got {n_members!r}.")
    config = config or TrainConfig.build()
    data = (
        dataset
        if isinstance(dataset, ClassificationData)
        else load_classification_data(dataset, subset=subset)
    )
    # Checks --out and takes its lock before training; everything is written into a staging
    # folder that replaces the old model only once complete (precisionmed.artifacts.writer).
    with ModelWriter(out_dir, overwrite=overwrite) as writer:
        out = writer.staging
        val_ds, test_ds = data.split("val"), data.split("test")
        cpu0 = time.process_time()
        members, results = [], []
        for i in range(n_members):
            member_config = config.model_copy(update={"seed": config.seed + i})
            seed_everything(
                member_config.seed
            )  # the initial weights are part of what the seed fixes
            member = build_network(
                model,
                spatial_dims=data.spatial_dims,
                in_channels=data.n_channels,
                out_channels=data.n_outputs,
                size=data.size,
                **dict(network_kwargs or {}),
            )
            train_ds = data.split(
                "train", augmentation(data.spatial_dims, augment, member_config.seed)
            )
            results.append(
                fit(
                    member,
                    train_ds,
                    val_ds,
                    loss_fn=loss_for_task(data.task),
                    metrics_fn=metrics_for_task(data.task),
                    config=member_config,
                    out_dir=out if n_members == 1 else out / f"member-{i}",
                )
            )
            members.append(member)
        cpu_seconds = time.process_time() - cpu0
        result = results[0]
        net = members[0] if n_members == 1 else MeanEnsemble(members)
        if not result.is_global_zero:
            return TrainedClassifier(
                writer.path, {}, cpu_seconds, result.best_epoch, result.history
            )

        val_logits = predict_outputs(net, val_ds).numpy()
        test_logits = predict_outputs(net, test_ds).numpy()
        temperature = fit_temperature(val_logits, data.arrays["val"][1], data.task)
        kw: dict[str, Any] = {
            "task": data.task,
            "labels": data.labels,
            "temperature": temperature,
            "n_boot": n_boot,
        }
        metrics: dict[str, Any] = {
            "val": classification_report(val_logits, data.arrays["val"][1], **kw),
            "test": classification_report(test_logits, data.arrays["test"][1], **kw),
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "monitor": config.monitor,
            "best_score": result.best_score,
            "n_members": n_members,
            "members": [
                {
                    "seed": config.seed + i,
                    "best_epoch": r.best_epoch,
                    "epochs_run": len(r.history),
                    "best_score": r.best_score,
                }
                for i, r in enumerate(results)
            ],
            "train_cpu_seconds": cpu_seconds,
            "train_wall_seconds": sum(r.fit_seconds for r in results),
        }
        y_test = data.arrays["test"][1]
        plot_roc(
            probabilities(test_logits, data.task, temperature),
            y_test,
            task=data.task,
            labels=data.labels,
            path=out / "roc.png",
        )
        plot_reliability(
            test_logits,
            y_test,
            task=data.task,
            temperature=temperature,
            path=out / "reliability.png",
        )
        model_config = {
            "architecture": model,
            "network_kwargs": dict(network_kwargs or {}),
            "n_members": n_members,
            "spatial_dims": data.spatial_dims,
            "n_channels": data.n_channels,
            "input_size": list(data.size),
            "normalisation": NORMALISATION,
            "input_spec": classifier_input_spec(
                data.name,
                n_channels=data.n_channels,
                spatial_dims=data.spatial_dims,
                size=data.size,
            ).to_dict(),
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
        }
        test = metrics["test"]
        card = ModelCard(
            title=f"{model} on {data.name}",
            intended_use=(
                f"Research: {data.task} classification of {data.spatial_dims}D images "
                f"({', '.join(data.labels[:6])}{'...' if len(data.labels) > 6 else ''}) like those "
                f"of {data.name}. Not for diagnosis without a clinician."
            ),
            training_data=(
                f"{data.name} ({data.checksum}); train/val/test "
                f"{'/'.join(str(len(v[1])) for v in data.arrays.values())} images of "
                f"{'x'.join(map(str, data.size))} px, {data.n_channels} channel(s)."
            ),
            limitations=[
                f"Trained on {'x'.join(map(str, data.size))} px images; larger inputs are resized.",
                "Calibrated by one temperature fitted on the validation split "
                f"(T = {temperature:.3f}); calibration may not transfer to other sites.",
            ],
            details={
                "architecture": model,
                "test ACC": test["acc"],
                "test AUC": test["auc"],
                "best epoch": (
                    result.best_epoch if n_members == 1 else [r.best_epoch for r in results]
                ),
                "ensemble members": n_members,
                "augmentation": augment,
            },
        )
        save_artifact(
            out,
            kind=KIND,
            pillar="imaging",
            config=model_config,
            metrics=metrics,
            card=card,
            state_dict=net.state_dict(),
        )
    return TrainedClassifier(writer.path, metrics, cpu_seconds, result.best_epoch, result.history)
