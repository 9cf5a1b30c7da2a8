"""The save step of every pillar: a model directory from what training and evaluation produced.

::

    def train_and_report(staging: Path) -> tuple[ModelContents, Result]:
        ...                            # train, evaluate, write plots into ``staging``
        return ModelContents(kind=..., pillar=..., config=..., metrics=..., card=...,
                             state_dict=net.state_dict()), result

    path, result = write_model_dir("runs/model", train_and_report, overwrite=False)

:func:`write_model_dir` checks and locks ``out_dir`` before ``train_and_report`` runs (a bad
``--out`` fails before training), and saves the returned :class:`ModelContents` into the
staging folder of a :class:`~precisionmed.artifacts.ModelWriter`: if training, the pillar's
report or the save raises, nothing of the new model is left and a model already at ``out_dir``
is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from precisionmed.artifacts.card import ModelCard
from precisionmed.artifacts.store import save_artifact
from precisionmed.artifacts.writer import ModelWriter

Result = TypeVar("Result")


@dataclass
class ModelContents:
    """What a model directory holds besides the plots already written into it.

    Attributes
    ----------
    kind : str
        Registered predictor name, e.g. ``"image-classifier"``.
    pillar : str
        The package that defines the predictor, e.g. ``"imaging"``.
    config : mapping
        Architecture, preprocessing, labels, ``input_spec``, data provenance, training config
        (the versions are added by :func:`~precisionmed.artifacts.save_artifact`).
    metrics : mapping
        Evaluation figures (``metrics.json``; also tabulated in the model card).
    card : ModelCard
        The model card's text.
    state_dict : mapping of tensors, optional
        Torch weights (``model.safetensors``).
    estimator : object, optional
        A scikit-learn style estimator (``model.skops``).
    """

    kind: str
    pillar: str
    config: Mapping[str, Any]
    metrics: Mapping[str, Any]
    card: ModelCard
    state_dict: Mapping[str, Any] | None = None
    estimator: Any | None = None

    def save(self, out_dir: str | Path) -> Path:
        """Write these contents and the manifest into ``out_dir`` (see ``save_artifact``)."""
        return save_artifact(
            out_dir,
            kind=self.kind,
            pillar=self.pillar,
            config=self.config,
            metrics=self.metrics,
            card=self.card,
            state_dict=self.state_dict,
            estimator=self.estimator,
        )


def write_model_dir(
    out_dir: str | Path,
    train_and_report: Callable[[Path], tuple[ModelContents | None, Result]],
    *,
    overwrite: bool = False,
) -> tuple[Path, Result]:
    """Run ``train_and_report`` inside a :class:`ModelWriter` and save what it returns.

    Parameters
    ----------
    out_dir : path
        The model directory to write (``--out``).
    train_and_report : callable
        ``train_and_report(staging) -> (contents, result)``: trains and evaluates, writes its
        plots and training curves into the folder ``staging``, and returns the
        :class:`ModelContents` to save with whatever the pillar hands back to its caller.
        ``contents`` is None only on a non-zero rank of a distributed run, which writes nothing.
    overwrite : bool
        Replace a model already at ``out_dir`` (refused otherwise, before training).

    Returns
    -------
    (Path, result)
        The model directory (complete) and ``train_and_report``'s ``result``.

    Raises
    ------
    ArtifactError
        ``out_dir`` is unusable, holds a model and ``overwrite`` is False, is being written by
        another process, or ``contents`` is None on the process that writes. Whatever
        ``train_and_report`` raises propagates; in every case a model already at ``out_dir``
        is left as it was and no partial directory remains.
    """
    with ModelWriter(out_dir, overwrite=overwrite) as writer:
        contents, result = train_and_report(writer.staging)
        if contents is not None:
            contents.save(writer.staging)
    return writer.path, result
