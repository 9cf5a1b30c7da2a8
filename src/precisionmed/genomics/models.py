"""Sequence models: registered names and defaults, heads, losses, both-strand prediction, metrics.

Heads: ``binary`` (one logit, sigmoid), ``multi-class`` (one logit per class, softmax) and
``multi-label`` (one logit per label, independent sigmoids). Metrics are those GUE reports:
Matthews correlation (its headline), ROC AUC and accuracy (macro over classes / labels where
there are several), each with a stratified percentile bootstrap interval
(:func:`precisionmed.evaluation.bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from precisionmed.errors import ConfigError
from precisionmed.evaluation.metrics import register_metric
from precisionmed.genomics.encoding import reverse_complement_one_hot
from precisionmed.registry import Registry, params_with_defaults

register_metric("mcc", higher_is_better=True, description="Matthews correlation coefficient")

_TRAINING = {"lr": 1e-3, "weight_decay": 1e-6, "batch_size": 64, "max_epochs": 30, "patience": 5}
#: Default hyper-parameters of each model (overridden by ``--param KEY=VALUE``).
DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"channels": 128, "kernel_sizes": [19, 11, 7], "pool": 3, "hidden": 128,
            "dropout": 0.3, **_TRAINING},
    "bilstm": {"hidden": 64, "layers": 1, "dropout": 0.2, **_TRAINING},
    "danq": {"channels": 128, "kernel_size": 26, "pool": 13, "hidden": 64, "dense": 128,
             "dropout": 0.2, **_TRAINING},
}  # fmt: skip
MODELS: Registry[dict[str, Any]] = Registry("sequence model", error=ConfigError)
for _name, _params in DEFAULTS.items():
    MODELS.add(_name, _params)
TASKS = ("binary", "multi-class", "multi-label")


def model_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults of model ``name`` updated with ``params`` (a one-line ConfigError for an
    unknown model or parameter)."""
    return params_with_defaults(MODELS, name, params)


def n_outputs(task: str, n_classes: int) -> int:
    """Logits of the head: 1 for ``binary``, else one per class or label."""
    if task not in TASKS:
        raise ConfigError(f"Unknown task {task!r}; expected one of {TASKS}.")
    return 1 if task == "binary" else n_classes


def loss_for(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Binary cross-entropy on logits (``binary``, ``multi-label``) or cross-entropy."""
    if task == "multi-class":
        return lambda out, y: F.cross_entropy(out, y.long())
    if task == "binary":
        return lambda out, y: F.binary_cross_entropy_with_logits(out[:, 0], y.float())
    return lambda out, y: F.binary_cross_entropy_with_logits(out, y.float())


def probabilities(logits: np.ndarray | torch.Tensor, task: str) -> np.ndarray:
    """Logits ``(N, K)`` -> probabilities ``(N, K)``: sigmoid, or softmax for multi-class."""
    t = torch.as_tensor(logits, dtype=torch.float32)
    p = torch.softmax(t, dim=-1) if task == "multi-class" else torch.sigmoid(t)
    return p.numpy()


def predict_probabilities(
    net: nn.Module, x: np.ndarray, task: str, *, both_strands: bool = True, batch_size: int = 512
) -> np.ndarray:
    """Probabilities of encoded sequences, averaged over the two strands.

    Parameters
    ----------
    net : nn.Module
        A trained sequence network (set to eval mode here).
    x : ndarray of shape (N, 4, L)
        :func:`~precisionmed.genomics.encoding.encode_sequences`.
    task : {"binary", "multi-class", "multi-label"}
    both_strands : bool
        Average the probabilities of each sequence and of its reverse complement.

    Returns
    -------
    ndarray of shape (N, K)
        ``binary``: K = 1, P(class 1); otherwise one column per class or label.
    """
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
            p = probabilities(net(xb), task)
            if both_strands:
                p = (p + probabilities(net(reverse_complement_one_hot(xb)), task)) / 2
            out.append(p)
    return np.concatenate(out) if out else np.empty((0, 1), dtype=np.float32)


def _decide(prob: np.ndarray, task: str) -> np.ndarray:
    if task == "multi-class":
        return prob.argmax(axis=1)
    return (prob >= 0.5).astype(int)[:, 0] if task == "binary" else (prob >= 0.5).astype(int)


def _mcc(y: np.ndarray, prob: np.ndarray, task: str) -> float:
    from sklearn.metrics import matthews_corrcoef

    pred = _decide(prob, task)
    if task == "multi-label":
        return float(np.mean([matthews_corrcoef(y[:, k], pred[:, k]) for k in range(y.shape[1])]))
    return float(matthews_corrcoef(y, pred))


def _auc(y: np.ndarray, prob: np.ndarray, task: str) -> float:
    from sklearn.metrics import roc_auc_score

    if task == "binary":
        return float(roc_auc_score(y, prob[:, 0]))
    if task == "multi-class":
        return float(roc_auc_score(y, prob, multi_class="ovr", labels=range(prob.shape[1])))
    return float(roc_auc_score(y, prob, average="macro"))


def _acc(y: np.ndarray, prob: np.ndarray, task: str) -> float:
    return float(np.mean(_decide(prob, task) == y))


METRIC_FUNCTIONS = {"mcc": _mcc, "auc": _auc, "acc": _acc}


def sequence_metrics(
    y: np.ndarray, prob: np.ndarray, task: str, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """MCC, AUC and accuracy with 95% bootstrap intervals.

    Parameters
    ----------
    y : ndarray
        Class indices (N,) or a 0/1 matrix (N, K) for multi-label.
    prob : ndarray of shape (N, K)
        :func:`predict_probabilities`.
    task : {"binary", "multi-class", "multi-label"}
    n_boot : int
        Bootstrap resamples (0: no intervals).

    Returns
    -------
    dict
        ``{"mcc": {"value", "low", "high", "n_boot"}, "auc": ..., "acc": ...}``; ``mcc`` and
        ``auc`` are absent where ``y`` holds one class only.
    """
    from precisionmed.evaluation import bootstrap_ci

    out: dict[str, dict[str, float]] = {}
    stratify = None if task == "multi-label" else y
    one_class = task != "multi-label" and len(np.unique(y)) < 2
    for name, fn in METRIC_FUNCTIONS.items():
        if one_class and name != "acc":  # MCC and AUC need both classes present
            continue
        try:
            if n_boot:
                out[name] = bootstrap_ci(
                    lambda yy, pp, fn=fn: fn(yy, pp, task), y, prob,
                    n_boot=n_boot, seed=seed, stratify=stratify,
                )  # fmt: skip
            else:
                out[name] = {"value": fn(y, prob, task)}
        except ValueError:  # an AUC with a single class present
            continue
    return out


def engine_metrics(task: str) -> Callable[[torch.Tensor, torch.Tensor], dict[str, float]]:
    """``metrics_fn`` for the training engine: MCC, AUC, ACC of one strand, no intervals."""

    def metrics(outputs: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        prob = probabilities(outputs.detach().float(), task)
        y = target.detach().cpu().numpy()
        y = y.astype(int) if task != "multi-label" else y
        return {k: v["value"] for k, v in sequence_metrics(y, prob, task, n_boot=0).items()}

    return metrics


__all__ = [
    "DEFAULTS",
    "METRIC_FUNCTIONS",
    "MODELS",
    "TASKS",
    "engine_metrics",
    "loss_for",
    "model_params",
    "n_outputs",
    "predict_probabilities",
    "probabilities",
    "sequence_metrics",
]
