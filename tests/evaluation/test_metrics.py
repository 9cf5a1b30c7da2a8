"""The metric registry: directions, per-label names, registration rules."""

from __future__ import annotations

import pytest

from precisionmed.errors import ConfigError
from precisionmed.evaluation import METRICS, find_metric, metric_direction, register_metric


def test_known_directions() -> None:
    assert metric_direction("val_loss") == "min"
    assert metric_direction("auc") == "max"
    assert metric_direction("test_c_index_harrell") == "max"
    assert metric_direction("val_brier") == "min"
    assert find_metric("val_dice_left_hippocampus").name == "dice"
    assert find_metric("val_unheard_of") is None


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"'val_kappa' has no registered direction.*loss.*"):
        metric_direction("val_kappa")


def test_register_a_metric_once_and_refuse_a_conflicting_direction() -> None:
    name = "test_only_sensitivity"
    try:
        spec = register_metric(name, higher_is_better=True, description="true positive rate")
        assert (
            register_metric(name, higher_is_better=True, description="true positive rate") == spec
        )
        assert metric_direction(f"val_{name}") == "max"
        with pytest.raises(ConfigError, match="already registered"):
            register_metric(name, higher_is_better=False)
    finally:
        METRICS._entries.pop(name, None)
