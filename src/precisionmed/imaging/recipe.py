"""The classifier recipe that ``precisionmed imaging train`` uses where the user says nothing.

Chosen by a sweep on validation data (``benchmarks/imaging_defaults.py``, figures in
``benchmarks/results/imaging_defaults.json`` and the README): a narrow MONAI ResNet-18
(``widen_factor`` 0.25: 16-32-64-128 channels) trained for at most 10 epochs with AdamW and a
cosine schedule reached a higher validation AUC than the old default (``reference-cnn``, Adam,
20 epochs) on every 2D MedMNIST set of the mirror, in a few CPU minutes; the full-width
ResNet-18 ran about 64 s an epoch on 2 cores (issue 21). ``--network-arg widen_factor=1`` gives
the full-width network; every training flag overrides its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The classifier trained when ``--model`` is not given.
DEFAULT_CLASSIFIER = "resnet18"
#: Builder arguments applied unless the user gives that key.
DEFAULT_NETWORK_KWARGS: Mapping[str, Mapping[str, Any]] = {"resnet18": {"widen_factor": 0.25}}
#: Augmentation unless ``--augment`` is given.
DEFAULT_AUGMENT = "light"
#: Training parameters of a classifier unless the user gives them (``TrainConfig`` fields).
CLASSIFIER_TRAIN: Mapping[str, Any] = {
    "max_epochs": 10,
    "batch_size": 64,
    "optimizer": "adamw",
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "scheduler": "cosine",
    "patience": 10,
}


def classifier_recipe(
    model: str | None, network_kwargs: Mapping[str, Any], train: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The model, builder arguments and training parameters with the defaults filled in.

    Parameters
    ----------
    model : str or None
        The network the user asked for (None: :data:`DEFAULT_CLASSIFIER`).
    network_kwargs : mapping
        The builder arguments the user gave; a key given wins over its default.
    train : mapping
        The training parameters the user gave (None values count as not given).

    Returns
    -------
    tuple
        ``(model, network_kwargs, train)``.
    """
    model = model or DEFAULT_CLASSIFIER
    kwargs = {**DEFAULT_NETWORK_KWARGS.get(model, {}), **network_kwargs}
    given = {k: v for k, v in train.items() if v is not None}
    # An optimizer other than the default's keeps that optimizer's own defaults (an SGD run
    # should not inherit AdamW's learning rate); the schedule and epochs still apply.
    defaults = dict(CLASSIFIER_TRAIN)
    if given.get("optimizer", defaults["optimizer"]) != defaults["optimizer"]:
        for key in ("lr", "weight_decay"):
            defaults.pop(key)
    return model, kwargs, {**defaults, **given}
