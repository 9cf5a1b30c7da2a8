"""Splits of molecules: a scaffold never spans two parts; seeded; stratified keeps classes."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.chem.molecules import standardize_smiles
from precisionmed.chem.splits import murcko_scaffold, split_molecules
from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError
from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def bbbp():
    require_dataset("bbbp")
    data = load_dataset("bbbp")
    batch = standardize_smiles(data.smiles[:800])
    return batch.valid_mols, data.targets[batch.valid_indices]


def test_scaffold_split_puts_no_scaffold_in_two_parts(bbbp):
    mols, y = bbbp
    parts = split_molecules("scaffold", mols, y, task="classification", seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(mols)))
    scaffolds = [{murcko_scaffold(mols[i]) for i in part} for part in parts]
    assert not scaffolds[0] & scaffolds[1]
    assert not scaffolds[0] & scaffolds[2]
    assert not scaffolds[1] & scaffolds[2]
    train, val, test = parts
    assert abs(len(val) - 80) <= 40
    assert abs(len(test) - 80) <= 40


def test_scaffold_split_is_seeded(bbbp):
    mols, y = bbbp
    a = split_molecules("scaffold", mols, y, task="classification", seed=1)
    b = split_molecules("scaffold", mols, y, task="classification", seed=1)
    c = split_molecules("scaffold", mols, y, task="classification", seed=2)
    assert all(np.array_equal(x, z) for x, z in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])


def test_stratified_split_keeps_the_class_proportions(bbbp):
    mols, y = bbbp
    train, val, test = split_molecules("stratified", mols, y, task="classification", seed=0)
    overall = np.nanmean(y[:, 0])
    for part in (train, val, test):
        assert abs(np.nanmean(y[part, 0]) - overall) < 0.03


def test_stratified_regression_and_unknown_splits_are_refused(bbbp):
    mols, y = bbbp
    with pytest.raises(ConfigError, match="classification"):
        split_molecules("stratified", mols, y, task="regression")
    with pytest.raises(ConfigError, match="scaffold"):
        split_molecules("cluster", mols, y, task="classification")
