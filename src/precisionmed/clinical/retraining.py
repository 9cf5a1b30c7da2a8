"""Retrain a saved clinical classifier with its own recipe on its training patients plus extra ones.

What a feedback loop (``precisionmed retrain``) needs from a production clinical model, reached
through the predictor :func:`precisionmed.load` returns (:meth:`ClinicalPredictor.test_arrays`,
:meth:`ClinicalPredictor.retrain`, :meth:`ClinicalPredictor.predict_labels`), so that the service
never rebuilds a pipeline from this pillar's ``config.json`` itself.

The recipe is the production pipeline itself, cloned (:func:`sklearn.base.clone`: the same
preprocessing, representation and hyper-parameters, unfitted), refitted on the training split of
the catalog cohort the model was trained on plus the extra patients; the held-out split is the
one the model was tested on (same seed and test fraction), so both models meet the same test
patients. Survival models are not retrained from feedback: a clinician's label is a class, not
an observed (time, event) pair.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precisionmed.errors import ConfigError

if TYPE_CHECKING:
    from precisionmed.clinical.predictor import ClinicalPredictor


def training_data(model: ClinicalPredictor) -> Any:
    """The catalog cohort the model was trained on (``config.json``'s ``dataset``).

    Raises
    ------
    ConfigError
        The model is not a classifier, or was trained on a cohort that is not in the catalog
        (a user's CSV file), which a retrain cannot reload.
    """
    from precisionmed.data import load_dataset
    from precisionmed.data.catalog import list_datasets

    if model.task != "classification":
        raise ConfigError(
            f"retrain: the clinical model is a {model.task} model; only classifiers learn from "
            "a clinician's label (a survival model needs an observed time and event)"
        )
    name = str(model.config.get("dataset", ""))
    if name not in {spec.name for spec in list_datasets()}:
        raise ConfigError(
            f"retrain: the clinical model was trained on {name!r}, which is not a catalog "
            "dataset; expected one of the catalog's cohorts (precisionmed data list)"
        )
    return load_dataset(name)


def split_indices(model: ClinicalPredictor, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)`` of ``data`` as the model was trained and tested."""
    from precisionmed.clinical.training import holdout_split

    split = model.config.get("split") or {}
    return holdout_split(
        data,
        seed=int(model.config.get("seed", 0)),
        test_fraction=float(split.get("test_fraction", 0.2)),
    )


def test_table(model: ClinicalPredictor) -> tuple[pd.DataFrame, np.ndarray]:
    """The held-out patients (table, 0/1 classes) the model was tested on."""
    data = training_data(model)
    _, te = split_indices(model, data)
    return data.X.iloc[te].reset_index(drop=True), np.asarray(data.y[te], dtype=np.int64)


def retrain_with_extra(
    model: ClinicalPredictor,
    x_extra: pd.DataFrame,
    labels_extra: np.ndarray,
    out_dir: Path,
    *,
    max_epochs: int | None = None,
    n_boot: int = 1000,
) -> None:
    """Write a new model directory ``out_dir``: the model's pipeline refitted on its training
    patients plus extra ones, tested on the same held-out patients.

    Parameters
    ----------
    model : ClinicalPredictor
        A classifier trained on a catalog cohort.
    x_extra : DataFrame of shape (N, *)
        Extra patients with (at least) the model's input columns.
    labels_extra : ndarray of shape (N,)
        Their classes (0/1, indices into ``model.labels``).
    out_dir : Path
        The new model directory (written whole or not at all).
    max_epochs : int, optional
        Networks (``dnn``): override the epochs; ignored by models without epochs.
    n_boot : int
        Bootstrap resamples of the held-out metrics' intervals.
    """
    from sklearn.base import clone

    from precisionmed.artifacts import write_model_dir

    data = training_data(model)
    labels = np.asarray(labels_extra, dtype=np.int64).reshape(-1)
    if len(labels) != len(x_extra) or not np.isin(labels, (0, 1)).all():
        raise ConfigError(
            f"retrain: expected one 0/1 class per extra patient ({len(x_extra)}); got "
            f"{labels.tolist()[:10]}"
        )
    tr, te = split_indices(model, data)
    columns = list(data.X.columns)
    missing = sorted(set(columns) - set(x_extra.columns))
    if missing:
        raise ConfigError(f"retrain: the extra patients lack the input columns {missing}")
    extra = x_extra[columns].astype(data.X.dtypes.to_dict())
    X = pd.concat([data.X, extra], ignore_index=True)
    y = np.concatenate([np.asarray(data.y, dtype=np.int64), labels])
    train_idx = np.concatenate([tr, np.arange(len(data.X), len(X))])
    augmented = dataclasses.replace(data, X=X, y=y, splits={"train": train_idx, "test": te})
    pipeline = clone(model.pipeline)
    if max_epochs is not None and "max_epochs" in pipeline[-1].get_params():
        pipeline[-1].set_params(max_epochs=max_epochs)

    def run(out: Path) -> tuple[Any, dict[str, Any]]:
        return _refit_and_report(
            out, model, pipeline, augmented, train_idx, te, n_boot=n_boot, n_extra=len(labels)
        )

    write_model_dir(out_dir, run)


def _refit_and_report(
    out: Path,
    model: ClinicalPredictor,
    pipeline: Any,
    data: Any,
    tr: np.ndarray,
    te: np.ndarray,
    *,
    n_boot: int,
    n_extra: int,
) -> tuple[Any, dict[str, Any]]:
    """Fit and test as :func:`~precisionmed.clinical.training.train_clinical_model` does, with the
    production model's configuration carried over (and the extra patients counted)."""
    from precisionmed.clinical.contents import clinical_model_contents
    from precisionmed.clinical.schema import infer_schema
    from precisionmed.clinical.training import (
        _clinical_card,
        _fit_and_test,
        bootstrap_refits,
    )

    seed = int(model.config.get("seed", 0))
    metrics = _fit_and_test(
        pipeline, data, tr, te, cv=None, seed=seed, n_boot=n_boot, explain=False, out_dir=out
    )
    X_tr, y_tr = data.X.iloc[tr].reset_index(drop=True), data.y[tr]
    n_refits = len(model.interval_pipelines)  # as many bootstrap refits as production has
    refits = bootstrap_refits(pipeline, X_tr, y_tr, n=n_refits, seed=seed)
    config = {
        **{k: v for k, v in model.config.items() if k not in _DERIVED},
        "split": {
            **dict(model.config.get("split") or {}),
            "n_train": len(tr),
            "n_test": len(te),
        },
        "retrained_from": {"version": model.model_version, "n_extra": n_extra},
    }
    card = _clinical_card(data, config, metrics, n_refits=n_refits)
    contents = clinical_model_contents(
        pipeline=pipeline,
        schema=infer_schema(X_tr, data.feature_types),
        task="classification",
        config=config,
        metrics=metrics,
        card=card,
        interval_pipelines=refits,
    )
    return contents, metrics


#: ``config.json`` fields :func:`clinical_model_contents` writes itself.
_DERIVED = ("task", "input_schema", "input_spec", "interval", "survival_times")


def input_statistics(pipeline: Any) -> dict[str, dict[str, float]]:
    """Training mean and standard deviation of each numeric input column of a fitted pipeline
    of :func:`~precisionmed.clinical.make_pipeline`, read from its standard scaler (what the
    service compares recent inputs with, for drift). Empty where the numeric columns are
    quantile-scaled (that scaler sees ranks, not values) or there is no preprocessing step.
    """
    steps = getattr(pipeline, "named_steps", {})
    preprocess = steps.get("preprocess") if hasattr(steps, "get") else None
    out: dict[str, dict[str, float]] = {}
    for name, transformer, columns in getattr(preprocess, "transformers_", []):
        inner = getattr(transformer, "named_steps", {})
        scaler = inner.get("scale") if name == "numeric" else None
        if scaler is None or "quantile" in inner or not hasattr(scaler, "mean_"):
            continue
        for column, mean, scale in zip(columns, scaler.mean_, scaler.scale_, strict=True):
            out[str(column)] = {"mean": float(mean), "std": float(scale)}
    return out
