"""Train, evaluate and save a clinical model: what ``precisionmed clinical train/evaluate`` run.

:func:`train_clinical_model` splits a cohort (its published train/test split where it has one,
else a seeded stratified 80/20 split), optionally cross-validates on the training part, fits the
pipeline, evaluates it on the held-out patients with bootstrap intervals, writes plots and
explanations, fits bootstrap refits for prediction intervals and saves a model directory.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from precisionmed.artifacts import (
    ModelCard,
    ModelContents,
    check_outside_model_dir,
    write_model_dir,
)
from precisionmed.clinical.contents import clinical_model_contents, interval_level
from precisionmed.clinical.curves import survival_on_grid
from precisionmed.clinical.metrics import (
    classification_metrics,
    evaluation_times,
    plot_calibration,
    plot_roc,
    plot_survival_calibration,
    survival_metrics,
)
from precisionmed.clinical.models import get_model, make_pipeline
from precisionmed.clinical.schema import infer_schema
from precisionmed.errors import ConfigError
from precisionmed.jsonable import json_default

if TYPE_CHECKING:
    from precisionmed.clinical.predictor import ClinicalPredictor

log = logging.getLogger(__name__)


def task_of(data: Any) -> str:
    """``"survival"`` or ``"classification"`` for a loaded :class:`ClinicalData`."""
    return "survival" if data.task == "survival" else "classification"


def holdout_split(data: Any, *, seed: int = 0, test_fraction: float = 0.2) -> tuple:
    """``(train_idx, test_idx)``: the published split if any, else seeded and stratified
    (by class, or by event for survival)."""
    from precisionmed.data import train_val_test_indices

    if "train" in data.splits and "test" in data.splits:
        return np.asarray(data.splits["train"]), np.asarray(data.splits["test"])
    strata = data.y["event"].astype(int) if task_of(data) == "survival" else data.y
    tr, _, te = train_val_test_indices(
        len(data.X), val_fraction=0.0, test_fraction=test_fraction, stratify=strata, seed=seed
    )
    return np.asarray(tr), np.asarray(te)


def survival_grid(y_train: np.ndarray, n: int = 100) -> np.ndarray:
    """Time grid of predicted curves: 0 to the 90th percentile of the training follow-up."""
    t = y_train["time"]
    return np.linspace(0.0, float(np.quantile(t, 0.9)), n)


def evaluate_pipeline(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    y_train: np.ndarray | None = None,
    out_dir: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    time_unit: str = "",
) -> dict[str, Any]:
    """Metrics with bootstrap intervals of a fitted pipeline on ``(X, y)``; plots into ``out_dir``.

    Writes ``roc.png`` and ``calibration.png`` (classification) or ``survival_by_risk.png``
    (survival: mean predicted curve of each risk tertile beside its Kaplan-Meier curve) and
    ``calibration_at_horizon.png`` (predicted vs observed event probability by the middle
    evaluation time, in risk quintiles), each with its JSON figure.
    """
    out = Path(out_dir) if out_dir is not None else None
    if task == "classification":
        proba = pipeline.predict_proba(X)[:, 1]
        metrics = classification_metrics(y, proba, n_boot=n_boot, seed=seed)
        if out is not None:
            plot_roc(y, proba, out / "roc.png")
            plot_calibration(y, proba, out / "calibration.png")
        return metrics
    y_ref = y if y_train is None else y_train
    times = evaluation_times(y_ref, y)
    risk = np.asarray(pipeline.predict(X), dtype=float)
    surv = survival_on_grid(pipeline, X, times)
    metrics = survival_metrics(y_ref, y, risk, surv, times, n_boot=n_boot, seed=seed)
    if out is not None:
        _plot_risk_groups(pipeline, X, y, risk, out / "survival_by_risk.png", time_unit)
        plot_survival_calibration(
            metrics["calibration"], out / "calibration_at_horizon.png", time_unit=time_unit
        )
    return metrics


def _plot_risk_groups(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, risk: np.ndarray, path: Path, unit: str
) -> None:
    from precisionmed.clinical.cohort_output import plot_risk_groups

    grid = np.linspace(0, float(y["time"].max()), 100)
    curves = survival_on_grid(pipeline, X, grid)
    plot_risk_groups(grid, curves, risk, path, time_unit=unit, observed=y)


def cross_validated_scores(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, *, task: str, cv: int, seed: int = 0
) -> dict[str, Any]:
    """k-fold scores of ``pipeline`` (AUC for classifiers, Harrell's C for survival)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    strata = y["event"] if task == "survival" else y
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(X, strata))
    scoring = "roc_auc" if task == "classification" else None
    scores = cross_val_score(clone(pipeline), X, y, cv=folds, scoring=scoring)
    name = "roc_auc" if task == "classification" else "c_index_harrell"
    return {
        "metric": name,
        "folds": scores.tolist(),
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores, ddof=1)),
    }


def bootstrap_refits(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, *, n: int, seed: int = 0
) -> list[Any]:
    """``n`` clones of ``pipeline`` fitted on bootstrap resamples of ``(X, y)``."""
    from rich.progress import track

    rng = np.random.default_rng(seed)
    fits = []
    for _ in track(range(n), description="bootstrap refits", disable=n == 0, transient=True):
        idx = rng.choice(len(X), size=len(X), replace=True)
        fits.append(clone(pipeline).fit(X.iloc[idx].reset_index(drop=True), y[idx]))
    return fits


def risk_offsets(pipeline: Any, refits: list[Any], X: pd.DataFrame) -> list[float]:
    """Shift of each refit's risk scale from the main model's: mean risk difference over ``X``.

    Risk scores of survival models are defined up to an additive constant (a Cox linear
    predictor depends on the centring of the features); subtracting these offsets puts the
    refits on the main model's scale before their spread is used as an interval.
    """
    base = float(np.mean(pipeline.predict(X)))
    return [float(np.mean(m.predict(X))) - base for m in refits]


def train_clinical_model(
    data: Any,
    model: str,
    out_dir: str | Path,
    *,
    cv: int | None = None,
    seed: int = 0,
    representation: str = "none",
    params: dict[str, Any] | None = None,
    representation_params: dict[str, Any] | None = None,
    interval_models: int | None = None,
    n_boot: int = 1000,
    explain: bool = True,
    test_fraction: float = 0.2,
    scaling: str = "standard",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit model ``model`` on ``data`` and write a model directory.

    Parameters
    ----------
    data : ClinicalData
        A loaded cohort (``precisionmed.data.load_dataset(name)``).
    model : str
        A registered model name whose task matches the cohort's.
    out_dir : path
        The model directory to write; checked (and locked) before training, written whole
        or not at all (:class:`~precisionmed.artifacts.ModelWriter`).
    cv : int, optional
        Also report ``cv``-fold scores on the training part.
    representation : {"none", "autoencoder"}
        Learned representation between preprocessing and model.
    params, representation_params : dict, optional
        Hyper-parameters of the model / of the autoencoder (override registry defaults).
    interval_models : int, optional
        Bootstrap refits stored for prediction intervals (0: none, else at least 2; default:
        the model's ``ModelSpec.interval_models``). Their number sets the intervals' level
        (:func:`precisionmed.clinical.predictor.interval_level`): 39 or more for 95%.
    n_boot : int
        Bootstrap resamples of the held-out metrics' intervals.
    explain : bool
        Write permutation importance and SHAP plots of the held-out patients.
    scaling : {"standard", "quantile"}
        Scaling of the numeric columns (see :func:`~precisionmed.clinical.make_pipeline`).
    overwrite : bool
        Replace a model already in ``out_dir`` (refused otherwise, before training).

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    spec = get_model(model)
    task = task_of(data)
    if interval_models is not None and (interval_models == 1 or interval_models < 0):
        raise ConfigError(
            f"interval_models must be 0 (no prediction intervals) or at least 2 bootstrap "
            f"refits (their range is the interval; 39 or more give a 95% one); got "
            f"{interval_models}."
        )
    if spec.task != task:
        raise ConfigError(
            f"Model {model!r} is a {spec.task} model but dataset {data.name!r} is a {task} task; "
            f"use one of the {task} models."
        )
    run = partial(
        _train_and_report,
        data=data,
        model=model,
        pipeline_options={
            "representation": representation,
            "representation_params": representation_params,
            "scaling": scaling,
            "params": params,
        },
        cv=cv,
        seed=seed,
        n_refits=spec.interval_models if interval_models is None else interval_models,
        n_boot=n_boot,
        explain=explain,
        test_fraction=test_fraction,
    )
    # --out is checked and locked before training; the directory is written whole or not at all.
    _, metrics = write_model_dir(out_dir, run, overwrite=overwrite)
    return metrics


def _train_and_report(
    out: Path,
    *,
    data: Any,
    model: str,
    pipeline_options: dict[str, Any],
    cv: int | None,
    seed: int,
    n_refits: int,
    n_boot: int,
    explain: bool,
    test_fraction: float,
) -> tuple[ModelContents, dict[str, Any]]:
    """Split, fit, test, explain and refit; say what to save (the save step)."""
    task = task_of(data)
    tr, te = holdout_split(data, seed=seed, test_fraction=test_fraction)
    X_tr, y_tr = data.X.iloc[tr].reset_index(drop=True), data.y[tr]
    opts = pipeline_options
    pipeline = make_pipeline(
        model, data.feature_types, representation=opts["representation"], random_state=seed,
        representation_params=opts["representation_params"], scaling=opts["scaling"],
        **(opts["params"] or {}),
    )  # fmt: skip
    metrics = _fit_and_test(pipeline, data, tr, te, cv=cv, seed=seed, n_boot=n_boot,
                            explain=explain, out_dir=out)  # fmt: skip
    refits = bootstrap_refits(pipeline, X_tr, y_tr, n=n_refits, seed=seed)
    offsets = risk_offsets(pipeline, refits, X_tr) if task == "survival" else None
    schema = infer_schema(X_tr, data.feature_types)
    config = {
        "model": model,
        "dataset": data.name,
        "representation": opts["representation"],
        "scaling": opts["scaling"],
        "representation_params": {
            k: repr(v) for k, v in (opts["representation_params"] or {}).items()
        },
        "params": {k: repr(v) for k, v in pipeline[-1].get_params(deep=False).items()},
        "seed": seed,
        "time_unit": data.time_unit,
        "split": {
            "method": "published" if "train" in data.splits else "stratified-holdout",
            "test_fraction": test_fraction,
            "n_train": len(tr),
            "n_test": len(te),
        },
        "target_names": list(getattr(data, "target_names", []) or []),
    }
    contents = clinical_model_contents(
        pipeline=pipeline, schema=schema, task=task, config=config, metrics=metrics,
        card=_clinical_card(data, config, metrics, n_refits=n_refits),
        interval_pipelines=refits, times=survival_grid(y_tr) if task == "survival" else None,
        risk_offsets=offsets,
    )  # fmt: skip
    return contents, metrics


def _fit_and_test(
    pipeline: Any,
    data: Any,
    tr: np.ndarray,
    te: np.ndarray,
    *,
    cv: int | None,
    seed: int,
    n_boot: int,
    explain: bool,
    out_dir: Path,
) -> dict[str, Any]:
    """Cross-validate (optional), fit on ``tr``, test on ``te`` with plots, explain (optional).

    Returns the ``cv`` / ``test`` / ``permutation_importance`` parts of ``metrics.json``.
    """
    task = task_of(data)
    X_tr, y_tr = data.X.iloc[tr].reset_index(drop=True), data.y[tr]
    X_te, y_te = data.X.iloc[te].reset_index(drop=True), data.y[te]
    metrics: dict[str, Any] = {}
    if cv:
        metrics["cv"] = cross_validated_scores(pipeline, X_tr, y_tr, task=task, cv=cv, seed=seed)
    pipeline.fit(X_tr, y_tr)
    metrics["test"] = evaluate_pipeline(
        pipeline, X_te, y_te, task=task, y_train=y_tr, out_dir=out_dir, n_boot=n_boot,
        seed=seed, time_unit=data.time_unit or "",
    )  # fmt: skip
    if explain:
        from precisionmed.clinical.explain import explain_to_dir

        metrics["permutation_importance"] = explain_to_dir(
            pipeline, X_tr, X_te, y_te, task=task, out_dir=out_dir, seed=seed
        )
    return metrics


def _clinical_card(
    data: Any, config: dict[str, Any], metrics: dict[str, Any], *, n_refits: int
) -> ModelCard:
    """The model card's text: what the model estimates, for whom, and its intervals' limits."""
    task = task_of(data)
    headline = "roc_auc" if task == "classification" else "c_index_harrell"
    split = config["split"]
    estimate = (
        "the probability of the positive class"
        if task == "classification"
        else "a patient's risk and survival curve"
    )
    return ModelCard(
        title=f"{config['model']} on {data.name}",
        intended_use=(
            f"Research estimate of {estimate} for patients like those of {data.name}; "
            "not for clinical decisions alone."
        ),
        training_data=(
            f"{data.name}: {data.description} Train {split['n_train']} / held-out test "
            f"{split['n_test']} ({split['method']}, seed {config['seed']})."
        ),
        limitations=[
            "Inputs outside the training range are flagged, and the model extrapolates there.",
            f"Intervals on predictions are bootstrap-ensemble intervals over {n_refits} refits "
            f"(level {interval_level(n_refits):.0%}; model uncertainty only).",
        ],
        details={
            "model": get_model(config["model"]).description,
            "representation": config["representation"],
            f"held-out {headline}": metrics["test"][headline],
        },
    )


def evaluate_saved_model(
    predictor: ClinicalPredictor,
    data: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate a loaded model on a cohort.

    On the cohort it was trained on, only its held-out patients are used (same split and seed as
    at training); on any other cohort, every patient (external validation). With ``out_dir``,
    the figures (``metrics.json`` and the plots of a training run's evaluation: ROC or
    calibration, risk groups, calibration at the horizon) are written there too.
    """
    from precisionmed.clinical.schema import validate_patients

    cfg = predictor.config
    if task_of(data) != predictor.task:
        raise ConfigError(
            f"Model is a {predictor.task} model; dataset {data.name!r} is a {task_of(data)} task."
        )
    if data.name == cfg.get("dataset"):
        split = cfg.get("split", {})
        tr, te = holdout_split(
            data, seed=int(cfg.get("seed", 0)), test_fraction=float(split.get("test_fraction", 0.2))
        )
        which = "held-out test split"
    else:
        tr = te = np.arange(len(data.X))
        which = "all patients (external)"
    X, issues = validate_patients(data.X.iloc[te], predictor.schema, source=data.name)
    if out_dir is not None:
        if predictor.artifact is not None:
            check_outside_model_dir(out_dir, predictor.artifact.path)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    metrics = evaluate_pipeline(
        predictor.pipeline, X, data.y[te], task=predictor.task, y_train=data.y[tr],
        n_boot=n_boot, seed=seed, out_dir=out_dir, time_unit=str(cfg.get("time_unit") or ""),
    )  # fmt: skip
    result = {
        "model_version": predictor.model_version,
        "dataset": data.name,
        "patients": which,
        "n_warnings": len(issues),
        **metrics,
    }
    if out_dir is not None:
        (Path(out_dir) / "metrics.json").write_text(
            json.dumps(result, indent=2, allow_nan=False, default=json_default)
        )
    return result
