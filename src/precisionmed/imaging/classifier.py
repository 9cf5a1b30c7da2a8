"""Use a trained image classifier: calibrated predictions on files and arrays, evaluation.

:class:`ImageClassifier` is the predictor :func:`precisionmed.load` returns for an
``image-classifier`` model directory (written by
:func:`precisionmed.imaging.classification.train_image_classifier`);
:func:`evaluate_image_classifier` scores a saved model on a split of a catalog dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.errors import ArtifactError, ConfigError, DataFormatError, PrecisionMedError
from precisionmed.imaging.datasets import ClassificationData, load_classification_data
from precisionmed.imaging.evaluation import (
    classification_report,
    plot_reliability,
    plot_roc,
    probabilities,
)
from precisionmed.imaging.networks import MeanEnsemble, build_network
from precisionmed.imaging.transforms import to_model_input
from precisionmed.train import predict_outputs

KIND = "image-classifier"


def read_input_image(path: str | Path) -> Any:
    """Read a DICOM, NIfTI, PNG/JPEG or npz file with :mod:`precisionmed.io`.

    Any failure becomes a one-line :class:`DataFormatError` naming the file.
    """
    from precisionmed.io import read_medical_image

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return read_medical_image(path)
    except PrecisionMedError:
        raise
    except Exception as exc:
        raise DataFormatError(
            f"{path}: expected a DICOM, NIfTI, PNG/JPEG or npz image; could not read it "
            f"({type(exc).__name__}: {exc})"
        ) from exc


@register_predictor(KIND)
class ImageClassifier:
    """A trained image classifier with calibrated probabilities.

    Build it with :func:`precisionmed.load` (``ImageClassifier.from_artifact``).

    Attributes
    ----------
    net : nn.Module
        The network (eval mode, CPU).
    labels : list of str
    task : str
    temperature : float
        Fitted on validation; :meth:`predict_proba` divides logits by it.
    spatial_dims, n_channels : int
    input_size : tuple of int
    model_version : str
        sha256 of the model directory's manifest (set by :func:`precisionmed.load`).
    """

    model_version: str = ""

    def __init__(self, net: nn.Module, config: Mapping[str, Any], path: Path | None = None) -> None:
        self.net = net.eval()
        self.config = dict(config)
        self.path = path
        self.labels: list[str] = list(config["labels"])
        self.task: str = config["task"]
        self.temperature = float(config.get("temperature", 1.0))
        self.spatial_dims = int(config["spatial_dims"])
        self.n_channels = int(config["n_channels"])
        self.input_size = tuple(int(s) for s in config["input_size"])
        self.architecture: str = config["architecture"]

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> ImageClassifier:
        """Rebuild the network from ``config.json`` and load its safetensors weights."""
        cfg = artifact.config
        try:
            members = [
                build_network(
                    cfg["architecture"],
                    spatial_dims=cfg["spatial_dims"],
                    in_channels=cfg["n_channels"],
                    out_channels=len(cfg["labels"]),
                    size=cfg["input_size"],
                    **cfg.get("network_kwargs", {}),
                )
                for _ in range(int(cfg.get("n_members", 1)))
            ]
            net = members[0] if len(members) == 1 else MeanEnsemble(members)
            net.load_state_dict(artifact.state_dict())
        except (KeyError, RuntimeError, ConfigError) as exc:
            raise ArtifactError(f"{artifact.path}: cannot rebuild the classifier ({exc})") from exc
        return cls(net, cfg, artifact.path)

    def _as_batch(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        want = (self.n_channels, *self.input_size)
        if x.ndim == len(want):
            x = x[None]
        if tuple(x.shape[1:]) != want:
            raise DataFormatError(
                f"images: expected shape (N, {', '.join(map(str, want))}), got {tuple(x.shape)}"
            )
        return x

    @torch.no_grad()
    def predict_logits(
        self, images: np.ndarray | torch.Tensor, batch_size: int = 256
    ) -> np.ndarray:
        """Raw network outputs, shape (N, K), for images of shape (N, C, *input_size) in [0, 1]."""
        x = self._as_batch(images)
        return predict_outputs(self.net, TensorDataset(x), batch_size=batch_size).numpy()

    def predict_proba(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Calibrated probabilities, shape (N, K): softmax (sigmoid per label for multi-label)
        of the logits divided by the fitted temperature."""
        return probabilities(self.predict_logits(images), self.task, self.temperature)

    def predict(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class indices (N,), or 0/1 labels (N, K) for multi-label tasks."""
        p = self.predict_proba(images)
        return (p > 0.5).astype(int) if self.task == "multi-label" else p.argmax(axis=1)

    def load_file(self, path: str | Path) -> torch.Tensor:
        """Read a DICOM / NIfTI / PNG / JPEG / npz file as one model input (C, *input_size).

        Raises
        ------
        DataFormatError
            Not an image, corrupt, or the wrong dimensionality for this model.
        """
        image = read_input_image(path)
        return to_model_input(
            image, spatial_dims=self.spatial_dims, n_channels=self.n_channels, size=self.input_size
        )

    def predict_file(self, path: str | Path) -> dict[str, Any]:
        """Calibrated class probabilities for one image file.

        Returns
        -------
        dict
            ``file``, ``prediction`` (the most probable class, or the labels above 0.5 for
            multi-label tasks), ``probabilities`` (label -> probability), ``task``,
            ``temperature``.
        """
        x = self.load_file(path)
        p = self.predict_proba(x[None])[0]
        if self.task == "multi-label":
            prediction: Any = [lab for lab, v in zip(self.labels, p, strict=True) if v > 0.5]
        else:
            prediction = self.labels[int(p.argmax())]
        return {
            "file": str(path),
            "prediction": prediction,
            "probabilities": {lab: float(v) for lab, v in zip(self.labels, p, strict=True)},
            "task": self.task,
            "temperature": self.temperature,
        }


def evaluate_image_classifier(
    model_dir: str | Path,
    dataset: str,
    *,
    split: str = "test",
    out_dir: str | Path | None = None,
    n_boot: int = 1000,
    subset: int | None = None,
) -> dict[str, Any]:
    """Evaluate a saved classifier on a split of a catalog dataset.

    Parameters
    ----------
    model_dir : path
        An ``image-classifier`` model directory.
    dataset : str
        Catalog name; its images must match the model (channels, dimensions, size, classes).
    split : {"train", "val", "test"}
    out_dir : path, optional
        Where ``metrics.json``, ``roc.png`` and ``reliability.png`` go; default
        ``MODEL_DIR-evaluation/<dataset>-<split>/`` beside the model directory (a model
        directory holds only the files it was saved with).
    subset : int, optional
        Only the first ``subset`` images.

    Returns
    -------
    dict
        :func:`~precisionmed.imaging.evaluation.classification_report` plus ``dataset``,
        ``split``, ``model_dir``, ``model_version`` and ``files``.
    """
    import json

    from precisionmed import load

    clf = load(model_dir)
    if not isinstance(clf, ImageClassifier):
        raise ArtifactError(f"{model_dir}: not an {KIND} model directory.")
    data = load_classification_data(dataset, subset=subset)
    _check_compatible(clf, data, model_dir)
    ds = data.split(split)
    logits = clf.predict_logits(ds.images)
    targets = data.arrays[split][1]
    report = classification_report(
        logits,
        targets,
        task=clf.task,
        labels=clf.labels,
        temperature=clf.temperature,
        n_boot=n_boot,
    )
    model_path = Path(model_dir)
    default_out = model_path.parent / f"{model_path.name}-evaluation" / f"{data.name}-{split}"
    out = Path(out_dir) if out_dir else default_out
    out.mkdir(parents=True, exist_ok=True)
    probs = probabilities(logits, clf.task, clf.temperature)
    files = [
        plot_roc(probs, targets, task=clf.task, labels=clf.labels, path=out / "roc.png"),
        plot_reliability(
            logits,
            targets,
            task=clf.task,
            temperature=clf.temperature,
            path=out / "reliability.png",
        ),
    ]
    report = {"model_dir": str(model_dir), "model_version": clf.model_version,
              "dataset": data.name, "split": split, **report}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    report["files"] = [str(f) for f in [*files, out / "metrics.json"]]
    return report


def _check_compatible(clf: ImageClassifier, data: ClassificationData, model_dir: Any) -> None:
    problems = []
    if data.spatial_dims != clf.spatial_dims:
        problems.append(f"{data.spatial_dims}D images for a {clf.spatial_dims}D model")
    if data.n_channels != clf.n_channels:
        problems.append(f"{data.n_channels} channel(s) for a {clf.n_channels}-channel model")
    if tuple(data.size) != clf.input_size:
        problems.append(f"images of {data.size} for a model of input size {clf.input_size}")
    if data.n_outputs != len(clf.labels):
        problems.append(f"{data.n_outputs} classes for a model of {len(clf.labels)}")
    if problems:
        raise DataFormatError(
            f"dataset {data.name!r} does not fit the model in {model_dir}: " + "; ".join(problems)
        )
