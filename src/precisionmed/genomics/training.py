"""Train, evaluate and save a DNA sequence classifier (``precisionmed genomics train``).

1. one-hot encode each split (:mod:`~precisionmed.genomics.encoding`), padded to the longest
   training sequence;
2. fit the network on the training engine (:func:`precisionmed.train.fit`: Adam, early stopping
   on the validation loss, the best epoch restored), each training item on a random strand;
3. predict the test split on both strands (averaged), MCC / AUC / accuracy with bootstrap
   intervals, the ROC curve (``roc.png``) beside the engine's ``training_curve.png``;
4. save the model directory (:func:`precisionmed.artifacts.write_model_dir`), which
   :func:`precisionmed.load` opens as a :class:`~precisionmed.genomics.predictor.SequencePredictor`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.data.sources.genomics import SequenceData
from precisionmed.errors import ConfigError
from precisionmed.genomics.models import (
    engine_metrics,
    loss_for,
    model_params,
    n_outputs,
    predict_probabilities,
    sequence_metrics,
)
from precisionmed.predict import SequenceInputSpec

KIND = "dna-sequence-classifier"
N_HANDLING = "IUPAC ambiguity codes as the uniform distribution over their bases (N = 0.25 each)"


def _targets(y: np.ndarray, task: str) -> Any:
    import torch

    return torch.as_tensor(y, dtype=torch.long if task == "multi-class" else torch.float32)


def plot_roc(y: np.ndarray, prob: np.ndarray, task: str, names: list[str], path: Path) -> Path:
    """``roc.png`` (and its points as JSON): one curve per class / label, one for binary."""
    from precisionmed.evaluation import plot_roc_curves

    if task == "binary":
        curves = [(names[1], y == 1, prob[:, 0])]
    elif task == "multi-class":
        curves = [(n, y == k, prob[:, k]) for k, n in enumerate(names)]
    else:
        curves = [(n, y[:, k] == 1, prob[:, k]) for k, n in enumerate(names)]
    return plot_roc_curves(curves, path, title="ROC (test, both strands)")


def train_sequence_model(
    data: SequenceData,
    model: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a sequence model on ``data``'s train split, evaluate it on test, save it.

    Parameters
    ----------
    data : SequenceData
        A catalog set (:func:`precisionmed.data.load_dataset`) or the user's
        (:func:`~precisionmed.data.sources.genomics.read_sequence_dir` / ``read_sequence_csv``).
    model : {"cnn", "bilstm", "danq"}
    out_dir : path
        The model directory to write.
    seed : int
        Seeds the network, the data order and the strand draws.
    params : mapping, optional
        Hyper-parameters (see :data:`precisionmed.genomics.models.DEFAULTS`).
    n_boot : int
        Bootstrap resamples of the test metrics' intervals.
    overwrite : bool
        Replace a model already at ``out_dir``.
    progress : bool
        Show the engine's progress bar.

    Returns
    -------
    dict
        The contents of ``metrics.json``: ``test`` and ``val`` metrics (MCC, AUC, ACC with
        intervals), ``sizes``, ``training``.
    """
    import torch
    from torch.utils.data import TensorDataset

    from precisionmed.artifacts import ModelCard, ModelContents, write_model_dir
    from precisionmed.genomics.encoding import StrandAugmented, encode_sequences
    from precisionmed.genomics.nets import build_sequence_net
    from precisionmed.train import TrainConfig, fit

    params_ = model_params(model, params)
    for part in ("train", "val", "test"):
        if len(data.sequences.get(part, [])) == 0:
            raise ConfigError(f"{data.name}: the {part} split is empty; every split needs rows.")
    length = max(len(s) for s in data.sequences["train"])
    start = time.perf_counter()

    def train_and_report(staging: Path) -> tuple[ModelContents, dict[str, Any]]:
        x = {k: encode_sequences(v, length=length) for k, v in data.sequences.items()}
        y = data.labels
        k_out = n_outputs(data.task, len(data.class_names))
        config = TrainConfig.build(
            max_epochs=params_["max_epochs"], batch_size=params_["batch_size"],
            lr=params_["lr"], weight_decay=params_["weight_decay"],
            patience=params_["patience"], seed=seed, progress=progress,
        )  # fmt: skip
        torch.manual_seed(seed)
        net = build_sequence_net(model, k_out, params_)
        train = StrandAugmented(torch.from_numpy(x["train"]), _targets(y["train"], data.task))
        val = TensorDataset(torch.from_numpy(x["val"]), _targets(y["val"], data.task))
        result = fit(
            net, train, val, loss_fn=loss_for(data.task),
            metrics_fn=engine_metrics(data.task), config=config, out_dir=staging,
        )  # fmt: skip
        probs = {k: predict_probabilities(result.net, x[k], data.task) for k in ("val", "test")}
        test = sequence_metrics(y["test"], probs["test"], data.task, n_boot=n_boot, seed=seed)
        val_m = sequence_metrics(y["val"], probs["val"], data.task, n_boot=0)
        plot_roc(y["test"], probs["test"], data.task, data.class_names, staging / "roc.png")
        sizes = {k: len(v) for k, v in data.sequences.items()}
        metrics = {
            "dataset": data.name, "model": model, "task": data.task, "seed": seed,
            "sizes": sizes, "test": test, "val": val_m,
            "prediction": "both strands averaged",
            "training": {
                "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                "fit_seconds": result.fit_seconds,
                "total_wall_seconds": time.perf_counter() - start,
            },
        }  # fmt: skip
        spec = SequenceInputSpec(
            alphabet="ACGT", length=length, ambiguity=N_HANDLING, padding="zeros, right",
            task=data.task, class_names=tuple(data.class_names),
            both_strands=True, n_training_sequences=sizes["train"],
        )  # fmt: skip
        config_json = {
            "model": model, "architecture": model, "dataset": data.name,
            "dataset_source": data.source, "task": data.task,
            "class_names": list(data.class_names), "n_outputs": k_out, "length": length,
            "seed": seed, "params": params_, "input_spec": spec.to_dict(),
        }  # fmt: skip
        card = ModelCard(
            title=f"{model} on {data.name}",
            intended_use="Research: classifying DNA sequences (binding, promoters, splice "
            "sites) and scoring sequence edits. Not validated for decisions about people.",
            training_data=f"{data.name} ({data.source}): {sizes['train']} training, "
            f"{sizes['val']} validation and {sizes['test']} test sequences of up to {length} "
            f"bp; classes {', '.join(data.class_names)}.",
            limitations=[
                f"Sequences longer than {length} bp are cut to their centre; shorter ones are "
                "zero-padded.",
                "Trained from scratch on one set; cell type and species are those of the set.",
            ],
            details={"model": model, "task": data.task, **params_},
        )
        contents = ModelContents(
            kind=KIND, pillar="genomics", config=config_json, metrics=metrics, card=card,
            state_dict=result.net.state_dict(),
        )  # fmt: skip
        return contents, metrics

    _, metrics = write_model_dir(out_dir, train_and_report, overwrite=overwrite)
    return metrics


__all__ = ["KIND", "N_HANDLING", "plot_roc", "train_sequence_model"]
