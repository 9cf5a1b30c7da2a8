"""Retrain a saved image classifier with its own recipe on its training split plus extra images.

What a feedback loop (``precisionmed retrain``) needs from a production model, reached through
the predictor that :func:`precisionmed.load` returns (:meth:`ImageClassifier.test_arrays`,
:meth:`ImageClassifier.retrain`), so that the service never rebuilds a recipe from this pillar's
``config.json`` itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from precisionmed.imaging.datasets import ClassificationData, load_classification_data

if TYPE_CHECKING:
    from precisionmed.imaging.classifier import ImageClassifier


def training_data(model: ImageClassifier) -> ClassificationData:
    """The catalog dataset (and subset) the classifier was trained on, from its config."""
    dataset = model.config["dataset"]
    return load_classification_data(dataset["name"], subset=dataset.get("subset"))


def retrain_with_extra(
    model: ImageClassifier,
    x_extra: np.ndarray,
    labels_extra: np.ndarray,
    out_dir: Path,
    *,
    max_epochs: int | None = None,
    n_boot: int = 1000,
    progress: bool = True,
) -> None:
    """Train a new model directory ``out_dir`` with ``model``'s recipe (architecture, training
    configuration, augmentation, ensemble size) on its training split plus extra examples.

    Parameters
    ----------
    x_extra : ndarray of shape (N, C, *size)
        Images in [0, 1], as :meth:`ImageClassifier.load_frames` gives them.
    labels_extra : ndarray of shape (N,)
        Class indices into ``model.labels``.
    max_epochs : int, optional
        Override the recipe's epochs (the rest of the recipe is kept).
    """
    from precisionmed.imaging.classification import train_image_classifier
    from precisionmed.train import TrainConfig

    cfg = model.config
    data = training_data(model)
    x_train, y_train = data.arrays["train"]
    y_extra = np.asarray(labels_extra, dtype=y_train.dtype)
    y_extra = y_extra.reshape(len(x_extra), *y_train.shape[1:])  # shaped like the dataset's
    arrays = dict(data.arrays)
    arrays["train"] = (
        np.concatenate([x_train, np.asarray(x_extra, dtype=x_train.dtype)]),
        np.concatenate([y_train, y_extra]),
    )
    recipe = dict(cfg.get("train_config") or {})
    if max_epochs is not None:
        recipe["max_epochs"] = max_epochs
    recipe["progress"] = progress
    train_image_classifier(
        dataclasses.replace(data, arrays=arrays),
        cfg["architecture"],
        out_dir=out_dir,
        config=TrainConfig(**recipe),
        augment=cfg.get("augmentation", "light"),
        subset=cfg["dataset"].get("subset"),
        n_boot=n_boot,
        network_kwargs=cfg.get("network_kwargs") or {},
        n_members=int(cfg.get("n_members", 1)),
    )
