"""Use a trained image classifier: calibrated predictions on files and arrays, evaluation.

:class:`ImageClassifier` is the predictor :func:`precisionmed.load` returns for an
``image-classifier`` model directory (written by
:func:`precisionmed.imaging.classification.train_image_classifier`);
:func:`evaluate_image_classifier` scores a saved model on a split of a catalog dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.errors import ArtifactError, ConfigError, DataFormatError, PrecisionMedError

# The kind and input spec live in classifier_spec so that the training module
# (imaging.classification) need not import this predictor module; importable from here too.
from precisionmed.imaging.classifier_spec import KIND, classifier_input_spec
from precisionmed.imaging.datasets import ClassificationData, load_classification_data
from precisionmed.imaging.evaluation import (
    classification_report,
    plot_reliability,
    plot_roc,
    probabilities,
)
from precisionmed.imaging.frames import FrameInput, Frames, load_frames
from precisionmed.imaging.networks import MeanEnsemble, build_network
from precisionmed.imaging.ood import (
    NetworkOutputs,
    OODAssessment,
    assess,
    load_reference,
    metadata_mismatches,
    network_features,
)
from precisionmed.predict import ImageInputSpec, PredictionRecord, Predictor
from precisionmed.train import predict_outputs


def read_input_image(path: str | Path) -> Any:
    """Read a DICOM, NIfTI, PNG/JPEG or npz file with :mod:`precisionmed.io`.

    A DICOM file with a VOI window or LUT is read through it (scaled to [0, 1]); without one its
    values stay in modality units with the Bits Stored range declared
    (:attr:`~precisionmed.io.Image.value_range`). Any failure becomes a one-line
    :class:`DataFormatError` naming the file.
    """
    from precisionmed.io import read_medical_image
    from precisionmed.io.medical import detect_format

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        fmt = detect_format(path)
        if fmt == "dicom":
            from precisionmed.io.dicom import dcmread, declares_voi

            voi = declares_voi(dcmread(path, stop_before_pixels=True))
            return read_medical_image(path, apply_voi=voi)
        image = read_medical_image(path)
        windowed = image.metadata.get("window_center") is not None
        if fmt == "dicom-series" and windowed and image.metadata.get("window_width"):
            return read_medical_image(path, apply_voi=True)
        return image
    except PrecisionMedError:
        raise
    except Exception as exc:
        raise DataFormatError(
            f"{path}: expected a DICOM, NIfTI, PNG/JPEG or npz image; could not read it "
            f"({type(exc).__name__}: {exc})"
        ) from exc


@register_predictor(KIND)
class ImageClassifier(Predictor):
    """A trained image classifier with calibrated probabilities.

    Build it with :func:`precisionmed.load` (``ImageClassifier.from_artifact``).
    :meth:`predict` returns one :class:`~precisionmed.predict.PredictionRecord` per image file
    (class probabilities, the temperature that calibrates them, warnings for inputs unlike the
    training images); :meth:`predict_proba` works on arrays already scaled to [0, 1].

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
    artifact : Artifact or None
        The model directory it was loaded from (gives :attr:`model_version`).
    ood_reference : OODReference or None
        The out-of-distribution guard's reference (:mod:`precisionmed.imaging.ood`).
    runtime : callable or None
        Replaces :attr:`net` in :meth:`predict` when set: images (N, C, *input_size) float32
        -> (feature blocks [(N, F_b)], logits (N, K)), as from :meth:`exportable_network`
        run elsewhere (the service sets an ONNX Runtime session here). None: torch.
    """

    def __init__(
        self,
        net: nn.Module,
        config: Mapping[str, Any],
        path: Path | None = None,
        artifact: Artifact | None = None,
    ) -> None:
        self.artifact = artifact
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
        self.metrics: dict[str, Any] = dict(artifact.metrics) if artifact is not None else {}
        #: The out-of-distribution guard's reference (None: saved without one, or in memory).
        self.ood_reference = load_reference(artifact) if artifact is not None else None
        self.runtime: Callable[[np.ndarray], tuple[list[np.ndarray], np.ndarray]] | None = None

    def exportable_network(self) -> nn.Module:
        """:attr:`net` returning ``(logits, *feature blocks)`` in one forward pass
        (:class:`~precisionmed.imaging.ood.NetworkOutputs`), for export to ONNX."""
        return NetworkOutputs(self.net).eval()

    @property
    def input_spec(self) -> ImageInputSpec:
        """What the model was trained on: ``config.json``'s ``input_spec``, or for a model saved
        before it was recorded, one derived from the dataset, channels and size in the config."""
        if "input_spec" in self.config:
            return ImageInputSpec.from_dict(self.config["input_spec"])
        dataset = self.config.get("dataset")
        return classifier_input_spec(
            dataset.get("name") if isinstance(dataset, Mapping) else dataset,
            n_channels=self.n_channels,
            spatial_dims=self.spatial_dims,
            size=self.input_size,
            resize="stretch",  # as such models were always used
        )

    @property
    def calibration(self) -> dict[str, Any]:
        """Temperature scaling (kept only where it lowered the out-of-fold validation NLL; older
        models always kept it), with the test calibration error if known."""
        choice = self.metrics.get("temperature_scaling", {"kept": True})
        method = "temperature scaling" if choice.get("kept", True) else "none (not kept: no gain)"
        out: dict[str, Any] = {"method": method, "temperature": self.temperature}
        test = self.metrics.get("test", {})
        for key in ("ece", "ece_calibrated"):
            if isinstance(test.get(key), int | float):
                out[f"test_{key}"] = float(test[key])
        return out

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
        return cls(net, cfg, artifact.path, artifact)

    def _as_batch(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        want = (self.n_channels, *self.input_size)
        if x.ndim == len(want):
            x = x[None]
        if tuple(x.shape[1:]) != want:
            raise DataFormatError(
                f"images: expected shape (N, {', '.join(map(str, want))}), got {tuple(x.shape)}"
            )
        if x.numel() and not bool(torch.isfinite(x).all()):
            n_bad = int((~torch.isfinite(x)).sum())
            raise DataFormatError(
                f"images: expected finite intensities; got {n_bad} NaN or infinite values "
                "(predict files with predict(), which replaces them with a warning)"
            )
        lo, hi = self.input_spec.intensity_range or (0.0, 1.0)
        if x.numel() and (float(x.min()) < lo - 1e-4 or float(x.max()) > hi + 1e-4):
            raise DataFormatError(
                f"images: expected intensities in [{lo:g}, {hi:g}] (the network's input range); "
                f"got values in [{float(x.min()):g}, {float(x.max()):g}]. Scale them first, e.g. "
                "8-bit images / 255, or predict their files with predict()."
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

    def predict_labels(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class indices (N,), or 0/1 labels (N, K) for multi-label tasks."""
        p = self.predict_proba(images)
        return (p > 0.5).astype(int) if self.task == "multi-label" else p.argmax(axis=1)

    def predict(
        self,
        inputs: str | Path | Sequence[str | Path] | np.ndarray | torch.Tensor,
        *,
        frames: Frames = None,
    ) -> list[PredictionRecord]:
        """One record per image (per frame with ``frames``): class probabilities and warnings.

        Parameters
        ----------
        inputs : path, sequence of paths, or array of shape (N, C, *input_size)
            Image files (DICOM, NIfTI, PNG/JPEG, npz), or images already scaled to [0, 1]
            (named ``image 1``, ``image 2``... in the records).
        frames : "all", int or sequence of int, optional
            2D models: score these frames (0-based) of a multi-frame file or slices of a
            volume, one record each, named ``FILE#frame=K`` with ``details["frame"] = K``
            (:func:`~precisionmed.imaging.frames.split_frames`). Without it such a file is
            refused.

        Returns
        -------
        list of PredictionRecord
            ``prediction``: the most probable class (multi-label: the labels above 0.5);
            ``values``: label -> probability; ``calibration``: temperature and test ECE;
            ``warnings``: how the image differs from the training images;
            ``in_distribution`` and ``ood_score``: the out-of-distribution guard
            (:mod:`precisionmed.imaging.ood`; details under ``details["ood"]``).

        Raises
        ------
        DataFormatError
            An unreadable file, an all-NaN image, arrays outside [0, 1].
        """
        if isinstance(inputs, np.ndarray | torch.Tensor):
            x = self._as_batch(inputs)
            names = [f"image {i + 1}" for i in range(len(x))]
            notes: list[list[str]] = [[] for _ in names]
            mismatches: list[list[str]] = [[] for _ in names]
            index: list[int | None] = [None] * len(names)
        else:
            paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
            loaded: list[FrameInput] = []
            mismatches = []
            for path in paths:
                image = read_input_image(path)
                of_file = load_frames(image, self.input_spec, frames, name=str(path))
                loaded += of_file
                mismatches += [metadata_mismatches(image, self.input_spec)] * len(of_file)
            x = torch.stack([fr.x for fr in loaded]) if loaded else torch.empty(0)
            names = [fr.name for fr in loaded]
            notes = [fr.warnings for fr in loaded]
            index = [fr.frame for fr in loaded]
        if not len(x):
            return []
        if self.runtime is not None:
            features, logits = self.runtime(x.numpy())
        else:
            features, logits = network_features(self.net, x)
        probs = probabilities(logits, self.task, self.temperature)
        guard = assess(self.ood_reference, self.input_spec, features, mismatches)
        return [
            self._record(name, p, warns, ood, frame)
            for name, p, warns, ood, frame in zip(names, probs, notes, guard, index, strict=True)
        ]

    def test_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The test split (images, targets) of the catalog dataset this model was trained on."""
        from precisionmed.imaging.retraining import training_data

        return training_data(self).arrays["test"]

    def retrain(
        self,
        x_extra: np.ndarray,
        labels_extra: np.ndarray,
        out_dir: Path,
        *,
        max_epochs: int | None = None,
        n_boot: int = 1000,
        progress: bool = True,
    ) -> None:
        """Train a new model directory with this model's recipe on its training split plus
        extra images (class indices); see :func:`precisionmed.imaging.retraining.
        retrain_with_extra`."""
        from precisionmed.imaging.retraining import retrain_with_extra

        retrain_with_extra(
            self, x_extra, labels_extra, out_dir,
            max_epochs=max_epochs, n_boot=n_boot, progress=progress,
        )  # fmt: skip

    def explain(
        self, file: str | Path, out: str | Path, *, target: str | None = None
    ) -> dict[str, Any]:
        """Grad-CAM of this model's prediction for one image file, written as a PNG at ``out``
        (:func:`~precisionmed.imaging.gradcam.explain_file`; its record is returned)."""
        from precisionmed.imaging.gradcam import explain_file

        return explain_file(self, file, out, target=target)

    def load_frames(self, path: str | Path, frames: Frames = None) -> list[FrameInput]:
        """Read a file as model inputs: one, or one per requested frame of a multi-frame file.

        See :func:`~precisionmed.imaging.frames.split_frames` for ``frames``.
        """
        return load_frames(read_input_image(path), self.input_spec, frames, name=str(path))

    def _record(
        self,
        name: str,
        p: np.ndarray,
        warnings: list[str],
        ood: OODAssessment,
        frame: int | None = None,
    ) -> PredictionRecord:
        if self.task == "multi-label":
            prediction: Any = [lab for lab, v in zip(self.labels, p, strict=True) if v > 0.5]
        else:
            prediction = self.labels[int(p.argmax())]
        return self.record(
            name,
            prediction,
            {lab: float(v) for lab, v in zip(self.labels, p, strict=True)},
            calibration=self.calibration,
            warnings=(*warnings, *([ood.warning] if ood.warning else [])),
            details={
                "task": self.task,
                "ood": ood.details,
                **({} if frame is None else {"frame": frame}),
            },
            in_distribution=ood.in_distribution,
            ood_score=ood.score,
        )

    def predict_file(self, path: str | Path) -> dict[str, Any]:
        """Calibrated class probabilities for one image file, in a compact dict.

        Returns
        -------
        dict
            ``file``, ``prediction`` (the most probable class, or the labels above 0.5 for
            multi-label tasks), ``probabilities`` (label -> probability), ``task``,
            ``temperature``, ``warnings``, ``in_distribution``; :meth:`predict` gives the full
            record.
        """
        (record,) = self.predict([path])
        return {
            "file": str(path),
            "prediction": record.prediction,
            "probabilities": record.values,
            "task": self.task,
            "temperature": self.temperature,
            "warnings": list(record.warnings),
            "in_distribution": record.in_distribution,
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
    from precisionmed.artifacts import check_outside_model_dir

    if out_dir:
        check_outside_model_dir(out_dir, model_dir)
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
