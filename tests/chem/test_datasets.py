"""The molecule sets of the catalog: checksummed files from the mirror, loaded with their tasks."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.data import get_dataset, load_dataset
from tests.conftest import require_dataset

SETS = {  # name: (molecules, tasks, task)
    "bbbp": (2039, 1, "classification"),
    "bace": (1513, 1, "classification"),
    "hiv": (41127, 1, "classification"),
    "tox21": (7831, 12, "classification"),
    "toxcast": (8576, 617, "classification"),
    "sider": (1427, 27, "classification"),
    "esol": (1128, 1, "regression"),
    "freesolv": (642, 1, "regression"),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_moleculenet_set_loads_with_its_tasks(name):
    require_dataset(name)
    spec = get_dataset(name)
    assert spec.files[0].url.startswith("https://raw.githubusercontent.com/chemprop/chemprop/")
    data = load_dataset(name)
    n, tasks, task = SETS[name]
    assert (data.n_molecules, data.targets.shape[1], data.task) == (n, tasks, task)
    known = data.targets[~np.isnan(data.targets)]
    if task == "classification":
        assert set(np.unique(known)) <= {0.0, 1.0}


def test_tox21_has_missing_labels_and_esol_has_units():
    require_dataset("tox21")
    tox21 = load_dataset("tox21")
    assert 0.1 < np.isnan(tox21.targets).mean() < 0.25
    assert tox21.recommended_split == "random"
    require_dataset("esol")
    assert load_dataset("esol").units == "log10(mol/L)"


def test_davis_has_deepdta_setting1_folds():
    require_dataset("davis")
    davis = load_dataset("davis")
    assert davis.affinity.shape == (68, 442)
    rows, cols = davis.pairs
    assert len(rows) == 68 * 442
    folds = np.concatenate([*davis.train_folds, davis.test_fold])
    assert len(folds) == len(np.unique(folds)) == len(rows)  # a partition of the pairs
    assert davis.pkd.min() == pytest.approx(5.0)  # 10 uM, Davis's detection limit
