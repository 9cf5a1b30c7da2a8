"""Sequence networks, heads, both-strand prediction, metrics and a training run on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import precisionmed
from precisionmed.data import load_dataset
from precisionmed.data.sources.genomics import SequenceData
from precisionmed.errors import ConfigError
from precisionmed.genomics.encoding import encode_sequences, reverse_complement_one_hot
from precisionmed.genomics.models import (
    model_params,
    predict_probabilities,
    sequence_metrics,
)
from precisionmed.genomics.nets import build_sequence_net
from precisionmed.genomics.training import train_sequence_model
from tests.conftest import require_dataset

TINY = {
    "cnn": {"channels": 8, "hidden": 8},
    "bilstm": {"hidden": 8},
    "danq": {"channels": 8, "hidden": 8, "dense": 8},
}


@pytest.mark.parametrize("name", ["cnn", "bilstm", "danq"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("length", [57, 101])
def test_network_shapes_for_any_length(name: str, k: int, length: int) -> None:
    net = build_sequence_net(name, k, model_params(name, TINY[name]))
    assert net(torch.zeros(2, 4, length)).shape == (2, k)


def test_unknown_model_and_parameter_are_refused() -> None:
    with pytest.raises(ConfigError, match="no parameter 'depth'"):
        model_params("cnn", {"depth": 3})
    with pytest.raises(ConfigError, match="dropout"):
        build_sequence_net("cnn", 1, {"dropout": 1.5})


def test_both_strand_prediction_is_strand_symmetric() -> None:
    torch.manual_seed(0)
    net = build_sequence_net("cnn", 1, model_params("cnn", TINY["cnn"]))
    x = encode_sequences(["ACGTTGCAAGGCTTAA" * 4, "TTTTGGGGCCCCAAAN" * 4])
    forward = predict_probabilities(net, x, "binary")
    backward = predict_probabilities(net, reverse_complement_one_hot(x), "binary")
    np.testing.assert_allclose(forward, backward, atol=1e-6)
    one = predict_probabilities(net, x, "binary", both_strands=False)
    assert not np.allclose(one, forward)  # the second strand does change the value


def test_metrics_known_answer() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    prob = np.array([[0.1], [0.6], [0.8], [0.7], [0.4], [0.2]])
    m = sequence_metrics(y, prob, "binary", n_boot=50)
    # 2 TP, 2 TN, 1 FP, 1 FN: accuracy 4/6, MCC (4 - 1) / 9 = 1/3
    assert m["acc"]["value"] == pytest.approx(4 / 6)
    assert m["mcc"]["value"] == pytest.approx(1 / 3)
    assert m["auc"]["value"] == pytest.approx(8 / 9)  # 8 of 9 (positive, negative) pairs
    assert m["mcc"]["low"] <= m["mcc"]["value"] <= m["mcc"]["high"]


def _planted(n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    seqs, labels = [], rng.integers(0, 2, n)
    for label in labels:
        s = list(rng.choice(list("ACGT"), 40))
        if label:
            at = int(rng.integers(0, 34))
            s[at : at + 6] = "TATAAT"
        seqs.append("".join(s))
    return seqs, labels


def test_cnn_finds_a_planted_motif(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    parts = {k: _planted(n, rng) for k, n in (("train", 600), ("val", 100), ("test", 200))}
    data = SequenceData(
        "planted",
        {k: v[0] for k, v in parts.items()},
        {k: v[1] for k, v in parts.items()},
        "binary",
        ["0", "1"],
    )
    params = {"channels": 16, "kernel_sizes": [7], "hidden": 16, "max_epochs": 5, "lr": 5e-3}
    metrics = train_sequence_model(
        data, "cnn", tmp_path / "m", params=params, n_boot=20, progress=False
    )
    # ranking (threshold-free): the motif is found; chance is 0.5
    assert metrics["test"]["auc"]["value"] > 0.95


@pytest.mark.parametrize("name", ["cnn", "bilstm", "danq"])
def test_train_on_gue_tf0_saves_a_model_that_reloads(tmp_path: Path, name: str) -> None:
    require_dataset("gue-tf0")
    data = load_dataset("gue-tf0").subset(200)
    params = {**TINY[name], "max_epochs": 1}
    metrics = train_sequence_model(
        data, name, tmp_path / "m", params=params, n_boot=50, progress=False
    )
    assert set(metrics["test"]) == {"mcc", "auc", "acc"}
    assert metrics["sizes"] == {"train": 200, "val": 200, "test": 200}
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"metrics.json", "model_card.md", "roc.png", "training_curve.png"} <= files
    saved = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert saved["test"]["mcc"]["value"] == pytest.approx(metrics["test"]["mcc"]["value"])
    predictor = precisionmed.load(tmp_path / "m")
    prob = predictor.predict_sequences(data.sequences["test"])
    assert prob.shape == (200, 1)
    assert sequence_metrics(data.labels["test"], prob, "binary", n_boot=0)["acc"][
        "value"
    ] == pytest.approx(metrics["test"]["acc"]["value"])
    record = predictor.predict(data.sequences["test"][:1])[0]
    assert record.values["1"] == pytest.approx(float(prob[0, 0]), abs=1e-6)
    assert predictor.input_spec.length == 101


def test_multi_class_on_uci_splice(tmp_path: Path) -> None:
    require_dataset("uci-splice")
    data = load_dataset("uci-splice").subset(150)
    params = {**TINY["danq"], "max_epochs": 1, "pool": 4}
    metrics = train_sequence_model(data, "danq", tmp_path / "m", params=params, n_boot=20)
    assert metrics["task"] == "multi-class"
    prob = precisionmed.load(tmp_path / "m").predict_sequences(data.sequences["test"][:5])
    assert prob.shape == (5, 3)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-5)


def test_multi_label_head(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(90)]
    y = rng.integers(0, 2, (90, 2)).astype(float)
    parts = {"train": slice(0, 50), "val": slice(50, 70), "test": slice(70, 90)}
    data = SequenceData(
        "ml",
        {k: seqs[s] for k, s in parts.items()},
        {k: y[s] for k, s in parts.items()},
        "multi-label",
        ["a", "b"],
    )
    params = {**TINY["bilstm"], "max_epochs": 1}
    train_sequence_model(data, "bilstm", tmp_path / "m", params=params, n_boot=20, progress=False)
    records = precisionmed.load(tmp_path / "m").predict(seqs[:3])
    assert set(records[0].values) == {"a", "b"}
    assert isinstance(records[0].prediction, list)
