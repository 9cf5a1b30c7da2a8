"""k-fold cross-validation of an image classifier with :func:`precisionmed.train.cross_validate`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.imaging.classification import loss_for_task, metrics_for_task
from precisionmed.imaging.datasets import (
    ArrayImageDataset,
    ClassificationData,
    load_classification_data,
)
from precisionmed.imaging.networks import build_network
from precisionmed.train import TrainConfig, cross_validate


def cross_validate_classifier(
    dataset: str | ClassificationData,
    model: str = "reference-cnn",
    *,
    n_splits: int = 5,
    config: TrainConfig | None = None,
    subset: int | None = None,
    out_dir: str | Path | None = None,
    network_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Stratified k-fold cross-validation on the pooled train + validation splits.

    The official test split is left untouched. Each fold trains a fresh network (early stopping
    on a validation part of the training folds) and is scored on its held-out fold. No
    augmentation: the engine's folds share one dataset object, and held-out images must not be
    augmented.

    Parameters
    ----------
    dataset : str or ClassificationData
        Catalog name, or loaded data (e.g. :func:`precisionmed.imaging.folder.load_image_folder`).
    model : str
        Registered network name.
    n_splits : int
        Number of folds (k >= 2).
    config : TrainConfig, optional
    subset : int, optional
        Only the first ``subset`` images of each split.
    out_dir : path, optional
        Where ``cv_metrics.json`` and each fold's training curve go.
    network_kwargs : mapping, optional
        Extra arguments of the network builder (e.g. ``{"widen_factor": 0.25}``).

    Returns
    -------
    dict
        ``folds`` (held-out metrics per fold), ``summary`` (metric -> mean, std) and ``file``.
    """
    config = config or TrainConfig.build()
    data = (
        dataset
        if isinstance(dataset, ClassificationData)
        else load_classification_data(dataset, subset=subset)
    )
    x = np.concatenate([data.arrays["train"][0], data.arrays["val"][0]])
    y = np.concatenate([data.arrays["train"][1], data.arrays["val"][1]])

    def build() -> Any:
        return build_network(
            model,
            spatial_dims=data.spatial_dims,
            in_channels=data.n_channels,
            out_channels=data.n_outputs,
            size=data.size,
            **dict(network_kwargs or {}),
        )

    result = cross_validate(
        build,
        ArrayImageDataset(x, y),
        n_splits=n_splits,
        stratify=None if data.multi_label else y,
        loss_fn=loss_for_task(data.task),
        metrics_fn=metrics_for_task(data.task),
        config=config,
        out_dir=out_dir,
    )
    record: dict[str, Any] = {
        "dataset": data.name,
        "model": model,
        "n_splits": n_splits,
        "folds": [f.test_metrics for f in result.folds],
        "summary": result.summary(),
        "file": None,
    }
    if out_dir is not None:
        path = Path(out_dir) / "cv_metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record["file"] = str(path)
        path.write_text(json.dumps(record, indent=2))
    return record
