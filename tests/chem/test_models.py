"""Property models: missing labels (Tox21) count in neither the loss nor the metrics; the tree
models fit each task on its labelled molecules; a trained model reloads and predicts the same."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import precisionmed
from precisionmed.chem.evaluation import property_metrics
from precisionmed.chem.features import morgan_fingerprints
from precisionmed.chem.models import fit_trees, masked_bce, masked_mse
from precisionmed.chem.molecules import standardize_smiles
from precisionmed.chem.training import train_property_model
from precisionmed.data import load_dataset
from precisionmed.predict import MoleculeInputSpec, Predictor, input_spec_from_dict
from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def tox21():
    require_dataset("tox21")
    return load_dataset("tox21")


def _row_with_missing(data) -> int:
    missing = np.isnan(data.targets)
    return int(np.flatnonzero(missing.any(axis=1) & ~missing.all(axis=1))[0])


def test_a_tox21_row_with_missing_labels_contributes_only_its_known_tasks_to_the_loss(tox21):
    i = _row_with_missing(tox21)
    target = torch.tensor(tox21.targets[i : i + 1], dtype=torch.float32)
    known = ~torch.isnan(target)
    assert 0 < known.sum() < target.shape[1]
    outputs = torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    outputs.requires_grad_(True)
    loss = masked_bce(outputs, target)
    expected = F.binary_cross_entropy_with_logits(outputs[known], target[known])
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert torch.all(outputs.grad[~known] == 0)
    assert torch.all(outputs.grad[known] != 0)
    # whatever the network says for an unlabelled task changes nothing
    moved = outputs.detach().clone()
    moved[~known] += 100.0
    assert masked_bce(moved, target).item() == pytest.approx(loss.item())
    assert masked_mse(moved, target).item() == pytest.approx(masked_mse(outputs, target).item())


def test_missing_labels_count_in_no_metric(tox21):
    Y = tox21.targets[:600]
    rng = np.random.default_rng(0)
    prob = rng.random(Y.shape)
    metrics = property_metrics("classification", Y, prob, tox21.target_names)
    for t, name in enumerate(tox21.target_names):
        assert metrics["tasks"][name]["n"] == np.sum(~np.isnan(Y[:, t]))
    changed = prob.copy()
    changed[np.isnan(Y)] = 1.0 - changed[np.isnan(Y)]
    again = property_metrics("classification", Y, changed, tox21.target_names)
    assert again["tasks"] == metrics["tasks"]


def test_tree_models_fit_each_task_on_its_labelled_molecules(tox21):
    batch = standardize_smiles(tox21.smiles[:300])
    X = morgan_fingerprints(batch.valid_mols)
    Y = tox21.targets[batch.valid_indices]
    params = {"n_estimators": 5, "subsample": 1.0, "max_depth": 2, "learning_rate": 0.1}
    estimators = fit_trees("gbm", "classification", X, Y, params, seed=0)
    for t, est in enumerate(estimators):
        labelled = int(np.sum(~np.isnan(Y[:, t])))
        if hasattr(est, "estimators_"):
            assert est.estimators_[0, 0].tree_.n_node_samples[0] == labelled
        else:  # a task with one class among these molecules: its label is predicted
            assert len(np.unique(Y[~np.isnan(Y[:, t]), t])) == 1


@pytest.mark.parametrize(("model", "descriptors"), [("mlp", True), ("rf", False)])
def test_trained_model_reloads_and_repeats_its_test_metrics(tox21, tmp_path, model, descriptors):
    from precisionmed.data.sources.molecules import MoleculeData

    small = MoleculeData(
        name="tox21-small", smiles=tox21.smiles[:400], targets=tox21.targets[:400],
        target_names=tox21.target_names, task="classification",
    )  # fmt: skip
    params = {"max_epochs": 3} if model == "mlp" else {"n_estimators": 20}
    metrics = train_property_model(
        small, model, tmp_path / "m", n_members=2, params=params, progress=False,
        descriptors=descriptors,
    )  # fmt: skip
    predictor = precisionmed.load(tmp_path / "m")
    assert isinstance(predictor, Predictor)
    spec = input_spec_from_dict(predictor.input_spec.to_dict())
    assert isinstance(spec, MoleculeInputSpec)
    assert spec.featurizer["rdkit_descriptors"] is descriptors
    split = json.loads((tmp_path / "m" / "split.json").read_text())
    test_rows = split["test"]
    records = predictor.predict([small.smiles[i] for i in test_rows])
    prob = np.array([[r.values[n] for n in small.target_names] for r in records])
    again = property_metrics("classification", small.targets[test_rows], prob, small.target_names)
    for name, task_metrics in metrics["test"]["tasks"].items():
        for key, value in task_metrics.items():
            assert again["tasks"][name][key] == pytest.approx(value, abs=1e-6), (name, key)
    assert all(isinstance(r.prediction, list) for r in records)  # multi-task: labels above 0.5
    assert 0.0 <= metrics["applicability"]["threshold"] <= 1.0
    assert (tmp_path / "m" / "roc.png").is_file()
