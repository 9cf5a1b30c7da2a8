"""Splits: disjoint, covering, stratified, reproducible; bad arguments fail at once."""

from __future__ import annotations

import numpy as np
import pytest

from precisionmed.data import kfold_indices, train_val_test_indices
from precisionmed.errors import ConfigError

# 30 % positives, like a typical imbalanced diagnostic label.
LABELS = np.array([1] * 300 + [0] * 700)


def test_parts_are_disjoint_sorted_and_cover_everything() -> None:
    tr, va, te = train_val_test_indices(1000, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert (len(tr), len(va), len(te)) == (700, 100, 200)
    both = np.concatenate([tr, va, te])
    assert np.array_equal(np.sort(both), np.arange(1000))
    for part in (tr, va, te):
        assert np.array_equal(part, np.sort(part))


def test_stratified_parts_keep_the_class_proportions() -> None:
    tr, va, te = train_val_test_indices(1000, stratify=LABELS, seed=0)
    for part in (tr, va, te):
        assert LABELS[part].mean() == pytest.approx(0.3, abs=0.005)


def test_unstratified_parts_drift_from_the_proportions_for_some_seed() -> None:
    # Guards the stratified test above: without labels the proportions are not kept exactly.
    drift = [abs(LABELS[train_val_test_indices(1000, seed=s)[1]].mean() - 0.3) for s in range(10)]
    assert max(drift) > 0.02


def test_same_seed_same_split_other_seed_other_split() -> None:
    a = train_val_test_indices(500, seed=7)
    b = train_val_test_indices(500, seed=7)
    c = train_val_test_indices(500, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])


def test_zero_fractions() -> None:
    tr, va, te = train_val_test_indices(10, val_fraction=0.0, test_fraction=0.0)
    assert np.array_equal(tr, np.arange(10))
    assert len(va) == len(te) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_fraction": 1.2}, "'val_fraction' parameter must be a float in \\[0, 1\\)"),
        ({"test_fraction": -0.1}, "'test_fraction' parameter"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be below 1"),
        ({"stratify": np.zeros(9)}, "one label per sample \\(10\\). Got 9"),
        ({"stratify": np.array([0] * 9 + [1])}, "Cannot split 10 samples"),
    ],
)
def test_bad_split_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train_val_test_indices(10, **kwargs)


def test_kfold_test_parts_partition_the_samples() -> None:
    folds = list(kfold_indices(103, 5, seed=1))
    assert len(folds) == 5
    tests = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(103))
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0
        assert len(tr) + len(te) == 103


def test_stratified_kfold_keeps_proportions_and_is_seeded() -> None:
    folds = list(kfold_indices(1000, 5, stratify=LABELS, seed=0))
    for _, te in folds:
        assert LABELS[te].mean() == pytest.approx(0.3)
    again = list(kfold_indices(1000, 5, stratify=LABELS, seed=0))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


@pytest.mark.parametrize("k", [1, 11, 2.5])
def test_bad_k_fails_before_iterating(k: object) -> None:
    with pytest.raises(ConfigError, match="'k' parameter must be an int in \\[2, n=10\\]"):
        kfold_indices(10, k)  # type: ignore[arg-type]
