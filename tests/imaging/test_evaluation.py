"""Known answers for the classifier metrics, temperature scaling and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from precisionmed.imaging.evaluation import (
    classification_report,
    fit_temperature,
    medmnist_acc,
    medmnist_auc,
    nll,
    plot_reliability,
    plot_roc,
    probabilities,
)


def _calibrated_logits(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true class distribution the labels are drawn from."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, k))
    p = probabilities(logits, "multi-class")
    y = np.array([rng.choice(k, p=row) for row in p])
    return logits, y


def test_temperature_recovers_known_overconfidence() -> None:
    logits, y = _calibrated_logits(4000, 3, seed=0)
    # A network 3x over-confident: its logits are the calibrated ones times 3.
    t = fit_temperature(3.0 * logits, y, "multi-class")
    assert t == pytest.approx(3.0, rel=0.1)
    before = nll(probabilities(3.0 * logits, "multi-class"), y, "multi-class")
    after = nll(probabilities(3.0 * logits, "multi-class", t), y, "multi-class")
    assert after < before - 0.1


def test_temperature_of_a_calibrated_model_is_about_one() -> None:
    logits, y = _calibrated_logits(4000, 2, seed=1)
    assert fit_temperature(logits, y, "binary-class") == pytest.approx(1.0, abs=0.1)


def test_temperature_lowers_multilabel_nll() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3000, 4))
    y = (rng.random((3000, 4)) < 1 / (1 + np.exp(-z))).astype(int)
    t = fit_temperature(0.25 * z, y, "multi-label")  # under-confident: T < 1 sharpens
    assert t == pytest.approx(0.25, rel=0.15)


def test_medmnist_definitions() -> None:
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45], [0.2, 0.8]])
    y = np.array([0, 1, 1, 1])
    assert medmnist_acc(probs, y, "binary-class") == 0.75  # 0.45 <= 0.5 -> predicted 0
    assert medmnist_auc(probs, y, "binary-class") == roc_auc_score(y, probs[:, 1])
    p3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.1, 0.4]])
    y3 = np.array([0, 1, 2, 2])
    assert medmnist_acc(p3, y3, "multi-class") == 0.75
    manual = np.mean([roc_auc_score(y3 == k, p3[:, k]) for k in range(3)])
    assert medmnist_auc(p3, y3, "ordinal-regression") == pytest.approx(manual)
    ml = np.array([[0.9, 0.2], [0.3, 0.7], [0.6, 0.4]])
    yml = np.array([[1, 0], [0, 1], [0, 1]])
    assert medmnist_acc(ml, yml, "multi-label") == pytest.approx(4 / 6)


@pytest.mark.parametrize("task", ["binary-class", "multi-class", "multi-label"])
def test_report_and_plots(task: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    k = 2 if task == "binary-class" else 4
    y = rng.integers(0, 2, size=(200, k)) if task == "multi-label" else rng.integers(0, k, 200)
    signal = y if task == "multi-label" else np.eye(k)[y]
    logits = 2.0 * signal + rng.normal(size=(200, k))
    labels = [f"c{i}" for i in range(k)]
    rep = classification_report(logits, y, task=task, labels=labels, temperature=1.5, n_boot=20)
    assert rep["n"] == 200
    for key in ("acc", "auc"):
        assert rep[key]["low"] <= rep[key]["value"] <= rep[key]["high"]
    assert 0.7 < rep["auc"]["value"] <= 1.0
    assert set(rep["per_class"]) == set(labels)
    assert sum(row["support"] for row in rep["per_class"].values()) == int(
        y.sum() if task == "multi-label" else 200
    )
    if task != "multi-label":
        assert np.asarray(rep["confusion_matrix"]).sum() == 200
    roc = plot_roc(
        probabilities(logits, task), y, task=task, labels=labels, path=tmp_path / "r.png"
    )
    rel = plot_reliability(logits, y, task=task, temperature=1.5, path=tmp_path / "c.png")
    for png in (roc, rel):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_temperature_is_kept_only_where_it_lowers_the_out_of_fold_nll() -> None:
    from precisionmed.imaging.evaluation import choose_temperature

    logits, y = _calibrated_logits(2000, 3, seed=3)
    over = choose_temperature(3.0 * logits, y, "multi-class")  # 3x over-confident
    assert over.kept
    assert over.temperature == over.fitted == pytest.approx(3.0, rel=0.1)
    assert over.nll_scaled < 0.9 * over.nll_unscaled
    calibrated = choose_temperature(logits, y, "multi-class")  # nothing to fix
    assert not calibrated.kept
    assert calibrated.temperature == 1.0
    assert calibrated.fitted != 1.0  # a fit on the validation set alone always moves a little
    assert calibrated.nll_scaled > (1 - calibrated.margin) * calibrated.nll_unscaled


def test_temperature_choice_works_for_small_and_multilabel_sets() -> None:
    from precisionmed.imaging.evaluation import choose_temperature

    rng = np.random.default_rng(4)
    z = rng.normal(size=(400, 3))
    y = (rng.random((400, 3)) < 1 / (1 + np.exp(-z))).astype(int)
    assert choose_temperature(0.25 * z, y, "multi-label").kept  # under-confident
    tiny = choose_temperature(z[:3, :2], y[:3, 0], "binary-class")  # 3 samples: 3 folds
    assert tiny.temperature in (1.0, tiny.fitted)
