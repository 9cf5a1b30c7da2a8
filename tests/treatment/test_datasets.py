"""The causal datasets of the catalog, read through the mirror and checked by checksum."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.data import get_dataset, load_dataset
from precisionmed.errors import ConfigError
from tests.conftest import require_dataset


def test_ihdp_realisations_carry_their_true_effects() -> None:
    require_dataset("ihdp")
    spec = get_dataset("ihdp")
    assert len(spec.files) == 25
    assert all(f.url.startswith("https://raw.githubusercontent.com/") for f in spec.files)
    d = load_dataset("ihdp", realisation=1)
    assert d.X.shape == (747, 25)
    assert int(d.t.sum()) == 139  # Hill's 139 treated children
    # the factual outcome is the arm's noiseless potential outcome plus unit-variance noise
    assert np.std(d.y - np.where(d.t == 1, d.mu1, d.mu0)) == pytest.approx(1.0, abs=0.1)
    assert d.true_effect.mean() == pytest.approx(4.0, abs=0.1)
    with pytest.raises(ConfigError, match="IHDP realisation must be an int in 1-25"):
        load_dataset("ihdp", realisation=26)


def test_nhefs_is_hernan_and_robins_analysis_set() -> None:
    require_dataset("nhefs")
    d = load_dataset("nhefs")
    assert d.X.shape == (1566, 9)  # smokers with a 1982 weight, the book's nine confounders
    assert int(d.t.sum()) == 403
    assert d.better == "lower"
    # the book's crude difference in mean weight change, quitters - non-quitters: 2.5 kg
    assert d.y[d.t == 1].mean() - d.y[d.t == 0].mean() == pytest.approx(2.54, abs=0.01)


def test_deepsurv_simulated_treatment_cohort() -> None:
    require_dataset("deepsurv-sim-treatment")
    d = load_dataset("deepsurv-sim-treatment")
    assert d.X.shape == (6000, 10)
    assert set(np.unique(d.t)) == {0.0, 1.0}
    assert {k: len(v) for k, v in d.splits.items()} == {"train": 4000, "valid": 1000, "test": 1000}
    assert d.y is None
    assert d.time.min() > 0


def test_catalog_datasets_become_study_tables_with_their_outcome_direction() -> None:
    require_dataset("nhefs")
    require_dataset("deepsurv-sim-treatment")
    from precisionmed.treatment.own_data import study_table_from_dataset

    table, outcome, better = study_table_from_dataset("nhefs")
    assert (table.X.shape, outcome, better) == ((1566, 9), "wt82_71", "lower")
    assert table.treatment_names == ["kept smoking", "quit smoking"]
    table, outcome, better = study_table_from_dataset("deepsurv-sim-treatment")
    assert table.y.dtype.names == ("event", "time")
    assert len(table.y) == 4000  # the training split
    assert better == "higher"
