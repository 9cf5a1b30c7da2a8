"""A clinical classifier retrained through its predictor (what ``precisionmed retrain`` calls):
its own pipeline refitted on its training patients plus extra ones, tested on the same held-out
patients; its training statistics for the service's drift monitor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from precisionmed.errors import ConfigError
from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def wisconsin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """The Wisconsin cohort and a 10-tree random forest trained on it (loaded back)."""
    import precisionmed
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    data = load_dataset("breast-cancer-wisconsin")
    out = tmp_path_factory.mktemp("rf") / "model"
    train_clinical_model(
        data, "rf", out, interval_models=2, n_boot=10, explain=False, params={"n_estimators": 10}
    )
    return data, precisionmed.load(out)


def test_the_test_set_and_the_training_statistics_are_the_models_own(wisconsin: Any) -> None:
    from precisionmed.clinical.training import holdout_split

    data, model = wisconsin
    train, test = holdout_split(data, seed=0)
    x_test, y_test = model.test_arrays()
    assert x_test.equals(data.X.iloc[test].reset_index(drop=True))
    assert np.array_equal(y_test, data.y[test])
    assert model.labels == ["benign", "malignant"]
    stats = model.input_statistics()
    radius = data.X["mean radius"].to_numpy()[train]
    assert stats["mean radius"]["mean"] == pytest.approx(radius.mean())
    assert stats["mean radius"]["std"] == pytest.approx(radius.std())
    assert set(stats) == set(data.X.columns)


def test_retrain_adds_the_extra_patients_and_keeps_the_test_patients(
    wisconsin: Any, tmp_path: Path
) -> None:
    import precisionmed
    from precisionmed.clinical.training import holdout_split

    data, model = wisconsin
    train, test = holdout_split(data, seed=0)
    rows = np.repeat(train[:7], 3)  # three copies each, labels flipped: they outvote the original
    extra = data.X.iloc[rows].reset_index(drop=True)
    labels = 1 - data.y[rows]
    model.retrain(extra, labels, tmp_path / "candidate", n_boot=10)
    candidate = precisionmed.load(tmp_path / "candidate")
    assert candidate.config["split"]["n_train"] == len(train) + 21
    assert candidate.config["retrained_from"] == {"version": model.model_version, "n_extra": 21}
    assert candidate.config["model"] == "rf"
    assert candidate.pipeline[-1].get_params()["n_estimators"] == 10  # the same recipe
    assert len(candidate.interval_pipelines) == 2
    assert candidate.artifact.metrics["test"]["n"] == len(test)
    x_test, _ = candidate.test_arrays()
    assert x_test.equals(model.test_arrays()[0])
    # the refit learnt the extra rows: the flipped labels are now predicted for most of them
    assert np.mean(candidate.predict_labels(extra) == labels) > 0.5
    assert np.mean(model.predict_labels(extra) == labels) < 0.5


def test_bad_extra_labels_and_survival_models_are_refused(
    wisconsin: Any, cox_model: Any, tmp_path: Path
) -> None:
    data, model = wisconsin
    with pytest.raises(ConfigError, match="expected one 0/1 class per extra patient"):
        model.retrain(data.X.iloc[:2], np.array([0, 2]), tmp_path / "bad", n_boot=10)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ConfigError, match="only classifiers learn from a clinician's label"):
        cox_model.test_arrays()
    assert cox_model.labels == []


@pytest.fixture(scope="module")
def cox_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Cox model on GBSG2, loaded back."""
    import precisionmed
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    require_dataset("gbsg2")
    out = tmp_path_factory.mktemp("cox") / "model"
    train_clinical_model(
        load_dataset("gbsg2"), "coxph", out, interval_models=0, n_boot=10, explain=False
    )
    return precisionmed.load(out)
