"""The clinical predictor: a fitted pipeline plus its schema, saved and loaded as a model directory.

``precisionmed.load(model_dir)`` returns a :class:`ClinicalPredictor` whose :meth:`predict` takes a
table of new patients (or a CSV path), validates it against the recorded input schema and returns
one :class:`~precisionmed.predict.PredictionRecord` per patient (:meth:`predict_table` gives the
same as one :class:`ClinicalPrediction` with the curves as arrays):

- classifiers: the probability of the positive class with a 95% interval;
- survival models: a risk score with a 95% interval, the median survival time (with interval,
  None where the curve does not fall to 0.5 within the follow-up) and the survival curve on a
  fixed time grid, with a pointwise band.

Intervals are *bootstrap-ensemble* intervals: at training time the same pipeline is refitted on
``n`` bootstrap resamples of the training patients, and the interval spans those refits'
predictions for the patient. It expresses the model's uncertainty from the finite training set
(not the patient's outcome uncertainty). Its level is what ``n`` refits can support
(:func:`interval_level`): with 39 or more refits the 2.5-97.5 percentiles (95%); with fewer, the
range of the refits, which holds a further refit's prediction with probability (n-1)/(n+1) (67%
for 5 refits), and is labelled so. The point prediction is the full-data model's; where it lies
outside the interval, the model's prediction for that patient is unstable under resampling (often
an input outside the training range). With ``interval_models=0`` no interval is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precisionmed.artifacts import Artifact, ModelCard, ModelContents, register_predictor
from precisionmed.clinical.models import REFITS_FOR_95
from precisionmed.clinical.schema import (
    InputSchema,
    check_finite_outputs,
    read_patients_csv,
    validate_patients,
)
from precisionmed.errors import ArtifactError, SchemaError
from precisionmed.predict import PredictionRecord, Predictor, TableInputSpec

KIND = "clinical-model"


def survival_on_grid(pipeline: Any, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Survival probabilities of each patient at ``times``: array of shape (N, T).

    Times before a curve's first step have probability 1 (well, the curve's left value); times
    past its last step take its last value (the curve is flat beyond the follow-up it knows).
    """
    import sksurv  # noqa: F401  (adds predict_survival_function to sklearn's Pipeline)

    fns = pipeline.predict_survival_function(X)
    out = np.empty((len(fns), len(times)))
    for i, fn in enumerate(fns):
        lo, hi = fn.domain
        out[i] = fn(np.clip(times, lo, hi))
    return np.clip(out, 0.0, 1.0)


def median_survival(times: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """First time each curve reaches 0.5 or below; ``inf`` where it does not. Shape (N,)."""
    below = curves <= 0.5
    first = below.argmax(axis=1)
    return np.where(below.any(axis=1), np.asarray(times)[first], np.inf)


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def interval_level(n_refits: int) -> float:
    """Level of the bootstrap-ensemble interval over ``n_refits`` refits.

    0.95 from :data:`REFITS_FOR_95` refits on (the 2.5-97.5 percentiles); below that the interval
    is the refits' range, whose level is (n-1)/(n+1): the probability that a further refit's
    prediction falls inside the range of ``n`` exchangeable ones. 0 for fewer than 2 refits.
    """
    return 0.0 if n_refits < 2 else min(0.95, (n_refits - 1) / (n_refits + 1))


def interval_bounds(values: np.ndarray, *, method: str = "linear") -> np.ndarray:
    """Lower and upper bound over the refits (axis 0 of ``values``) at :func:`interval_level`."""
    q = 2.5 if len(values) >= REFITS_FOR_95 else 0.0
    return np.percentile(values, [q, 100 - q], axis=0, method=method)


@dataclass
class ClinicalPrediction:
    """Predictions for a table of patients.

    Attributes
    ----------
    task : {"classification", "survival"}
    patients : list of dict
        One record per input row (``row`` numbered from 1), see the module docstring.
    warnings : list of str
        Out-of-range / missing values found by schema validation.
    times : array of shape (T,), optional
        Survival: the time grid of the curves (in ``time_unit``).
    curves, curves_low, curves_high : arrays of shape (N, T), optional
        Survival curves and their pointwise bootstrap band.
    interval : str
        How the intervals were obtained.
    interval_level : float
        Their level (:func:`interval_level`; 0 without intervals).
    """

    task: str
    patients: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    times: np.ndarray | None = None
    curves: np.ndarray | None = None
    curves_low: np.ndarray | None = None
    curves_high: np.ndarray | None = None
    time_unit: str = ""
    interval: str = ""
    interval_level: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (curves included per patient)."""
        out: dict[str, Any] = {
            "task": self.task,
            "interval": self.interval,
            "interval_level": self.interval_level,
            "warnings": self.warnings,
            "patients": self.patients,
        }
        if self.times is not None:
            out["time_unit"] = self.time_unit
            out["times"] = self.times.tolist()
        return out


@register_predictor(KIND)
class ClinicalPredictor(Predictor):
    """A fitted clinical pipeline with its schema and bootstrap refits.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted pipeline (preprocessing, optional representation, model).
    schema : InputSchema
        Training input schema.
    task : {"classification", "survival"}
    interval_pipelines : list of Pipeline
        Bootstrap refits used for intervals (may be empty).
    times : array of shape (T,), optional
        Survival: the time grid of predicted curves.
    config : dict
        The artefact's config (model name, dataset, time unit, ...).
    artifact : Artifact, optional
        The model directory it was loaded from (gives :attr:`model_version`).
    """

    def __init__(
        self,
        pipeline: Any,
        schema: InputSchema,
        task: str,
        *,
        interval_pipelines: Sequence[Any] = (),
        times: np.ndarray | None = None,
        config: Mapping[str, Any] | None = None,
        artifact: Artifact | None = None,
    ) -> None:
        self.artifact = artifact
        self.pipeline = pipeline
        self.schema = schema
        self.task = task
        self.interval_pipelines = list(interval_pipelines)
        self.times = None if times is None else np.asarray(times, dtype=float)
        self.config = dict(config or {})

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> ClinicalPredictor:
        """Build from a model directory written from :func:`clinical_model_contents`."""
        cfg = artifact.config
        for key in ("input_schema", "task"):
            if key not in cfg:
                raise ArtifactError(f"{artifact.path}/config.json: field '{key}' is missing.")
        stored = artifact.estimator()
        if not isinstance(stored, dict) or "pipeline" not in stored:
            raise ArtifactError(
                f"{artifact.path}/model.skops: expected a dict with 'pipeline'; "
                f"got {type(stored).__name__}."
            )
        return cls(
            stored["pipeline"],
            InputSchema.from_dict(cfg["input_schema"]),
            cfg["task"],
            interval_pipelines=stored.get("interval_pipelines", []),
            times=cfg.get("survival_times"),
            config=cfg,
            artifact=artifact,
        )

    @property
    def input_spec(self) -> TableInputSpec:
        """The input columns with their type and training range or categories (``config.json``'s
        ``input_spec``, or its ``input_schema`` for models saved before the spec existed)."""
        return TableInputSpec.from_dict(self.config.get("input_spec") or self.schema.to_dict())

    @property
    def calibration(self) -> dict[str, Any]:
        """How the values are calibrated: not recalibrated after fitting; test calibration
        figures (Brier score, integrated Brier score, calibration error) where recorded."""
        out: dict[str, Any] = {"method": "none (the fitted model's own output)"}
        test = (self.artifact.metrics if self.artifact is not None else {}).get("test", {})
        for key in ("brier", "ibs", "calibration_error"):
            value = test.get(key)
            value = value.get("value") if isinstance(value, Mapping) else value
            if isinstance(value, int | float):
                out[f"test_{key}"] = float(value)
        return out

    @property
    def interval_description(self) -> str:
        n = len(self.interval_pipelines)
        if n == 0:
            return "none (saved without bootstrap refits)"
        refits = f"{n} refits of the pipeline on bootstrap resamples of the training patients"
        if n >= REFITS_FOR_95:
            return f"95% bootstrap-ensemble interval: 2.5-97.5 percentile over {refits}"
        return (
            f"{interval_level(n):.0%} bootstrap-ensemble interval: the range of {refits} (a "
            f"further refit's prediction falls inside it with probability {n - 1}/{n + 1}); "
            f"{REFITS_FOR_95} or more refits give the central 95% (clinical train "
            "--interval-models)"
        )

    def predict(
        self, inputs: pd.DataFrame | str | Path, *, id_column: str | None = None
    ) -> list[PredictionRecord]:
        """One :class:`~precisionmed.predict.PredictionRecord` per patient.

        Parameters
        ----------
        inputs : DataFrame or path
            A table of patients, or a CSV file of them (header row, one patient per line).
        id_column : str, optional
            A column identifying each patient: each record's ``input`` (else ``"row N"``).

        Returns
        -------
        list of PredictionRecord
            See :meth:`records`.

        Raises
        ------
        SchemaError
            As :meth:`predict_table`.
        """
        if isinstance(inputs, pd.DataFrame):
            prediction = self.predict_table(inputs, id_column=id_column)
        else:
            prediction = self.predict_csv(inputs, id_column=id_column)
        return self.records(prediction)

    def records(self, prediction: ClinicalPrediction) -> list[PredictionRecord]:
        """The records of a :meth:`predict_table` result, one per patient.

        Classification: ``prediction`` and ``values["probability"]`` the probability of the
        positive class. Survival: ``prediction`` and ``values["risk"]`` the risk score (higher =
        earlier event), ``values["median_survival_time"]`` (None where not reached), and in
        ``details`` the survival curve (``times``, ``survival``, its band). ``interval`` holds
        the bootstrap-ensemble intervals at ``interval_level``; ``warnings`` the schema
        warnings about this patient's row (values outside the training range, missing values).
        """
        level = prediction.interval_level if prediction.interval_level > 0 else None
        records = []
        for i, row in enumerate(prediction.patients):
            tag = f"row {row['row']},"
            warns = tuple(w for w in prediction.warnings if w.startswith(tag))
            details: dict[str, Any] = {"task": prediction.task, "row": row["row"]}
            details["interval_method"] = prediction.interval
            if prediction.task == "survival":
                values = {"risk": row["risk"], "median_survival_time": row["median_survival_time"]}
                interval = (
                    {
                        "risk": [row["risk_low"], row["risk_high"]],
                        "median_survival_time": [
                            row["median_survival_low"],
                            row["median_survival_high"],
                        ],
                    }
                    if "risk_low" in row
                    else None
                )
                details |= {"time_unit": prediction.time_unit, "survival": row["survival"]}
                if prediction.times is not None:
                    details["times"] = prediction.times.tolist()
                for name, band in (
                    ("survival_low", prediction.curves_low),
                    ("survival_high", prediction.curves_high),
                ):
                    if band is not None:
                        details[name] = band[i].round(5).tolist()
                headline = row["risk"]
            else:
                values = {"probability": row["probability"]}
                interval = {"probability": [row["low"], row["high"]]} if "low" in row else None
                headline = row["probability"]
            records.append(
                self.record(
                    str(row.get("id", f"row {row['row']}")),
                    headline,
                    values,
                    interval=interval,
                    interval_level=level if interval else None,
                    calibration=self.calibration,
                    warnings=warns,
                    details=details,
                )
            )
        return records

    def predict_table(
        self, patients: pd.DataFrame, *, source: str = "input", id_column: str | None = None
    ) -> ClinicalPrediction:
        """Validate ``patients`` against the schema and predict each one.

        Parameters
        ----------
        patients : DataFrame of shape (N, *)
            One row per patient, with (at least) the schema's columns; strings are converted.
        source : str
            Name used in error messages (e.g. the CSV path).
        id_column : str, optional
            A column identifying each patient (e.g. a record number): its value is returned as
            each prediction's ``id`` and labels the survival curves. It may be a model input too.

        Raises
        ------
        SchemaError
            Missing column (the identifier's included), text in a numeric column, unknown
            category (row and column named).
        """
        ids = None
        if id_column is not None:
            if id_column not in patients.columns:
                raise SchemaError(
                    f"{source}: no identifier column {id_column!r}; the input has "
                    f"{[str(c) for c in patients.columns]}."
                )
            ids = patients[id_column].astype(str).tolist()
        X, warnings = validate_patients(patients, self.schema, source=source)
        # An overflow (a huge but finite input) is not warned about here: every output is
        # checked to be finite, and a non-finite one is an error naming the patient's row.
        with np.errstate(over="ignore", invalid="ignore"):
            if self.task == "survival":
                prediction = self._predict_survival(X, warnings, source)
            else:
                prediction = self._predict_proba(X, warnings, source)
        if ids is not None:
            records = zip(prediction.patients, ids, strict=True)
            prediction.patients = [{"row": r["row"], "id": i, **r} for r, i in records]
        return prediction

    def predict_csv(self, path: str | Path, *, id_column: str | None = None) -> ClinicalPrediction:
        """:meth:`predict_table` on a CSV file of patients (header row, one patient per line)."""
        return self.predict_table(read_patients_csv(path), source=str(path), id_column=id_column)

    def _predict_proba(
        self, X: pd.DataFrame, warnings: list[str], source: str = "input"
    ) -> ClinicalPrediction:
        p = self.pipeline.predict_proba(X)[:, 1]
        boot = np.array([m.predict_proba(X)[:, 1] for m in self.interval_pipelines])
        for values in (p, boot.T):
            check_finite_outputs(values, what="probability", source=source, warnings=warnings)
        rows = []
        for i in range(len(X)):
            rec: dict[str, Any] = {"row": i + 1, "probability": float(p[i])}
            if len(boot):
                lo, hi = interval_bounds(boot[:, i])
                rec |= {"low": float(lo), "high": float(hi)}
            rows.append(rec)
        return ClinicalPrediction(
            "classification",
            rows,
            warnings,
            interval=self.interval_description,
            interval_level=interval_level(len(boot)),
        )

    def _predict_survival(
        self, X: pd.DataFrame, warnings: list[str], source: str = "input"
    ) -> ClinicalPrediction:
        if self.times is None:
            raise ArtifactError("survival model saved without 'survival_times'.")
        times = self.times
        risk = np.asarray(self.pipeline.predict(X), dtype=float)
        curves = survival_on_grid(self.pipeline, X, times)
        for what, values in (("risk score", risk), ("survival curve", curves)):
            check_finite_outputs(values, what=what, source=source, warnings=warnings)
        med = median_survival(times, curves)
        low = high = None
        if self.interval_pipelines:
            b_risk = np.array([m.predict(X) for m in self.interval_pipelines], dtype=float)
            offsets = self.config.get("interval", {}).get("risk_offsets") or []
            if len(offsets) == len(b_risk):  # align each refit's risk scale with the model's
                b_risk -= np.asarray(offsets, dtype=float)[:, None]
            b_curves = np.stack([survival_on_grid(m, X, times) for m in self.interval_pipelines])
            for what, values in (("risk", b_risk.T), ("curve", np.moveaxis(b_curves, 1, 0))):
                check_finite_outputs(
                    values, what=f"bootstrap refits' {what}", source=source, warnings=warnings
                )
            b_med = np.stack([median_survival(times, c) for c in b_curves])
            low, high = interval_bounds(b_curves)
        rows = []
        for i in range(len(X)):
            rec: dict[str, Any] = {
                "row": i + 1,
                "risk": float(risk[i]),
                "median_survival_time": _finite_or_none(med[i]),
            }
            if low is not None:
                r_lo, r_hi = interval_bounds(b_risk[:, i])
                # "nearest": no interpolation, so "not reached" (inf) refits stay inf
                m_lo, m_hi = interval_bounds(b_med[:, i], method="nearest")
                rec |= {
                    "risk_low": float(r_lo),
                    "risk_high": float(r_hi),
                    "median_survival_low": _finite_or_none(m_lo),
                    "median_survival_high": _finite_or_none(m_hi),
                }
            rec["survival"] = curves[i].round(5).tolist()
            rows.append(rec)
        return ClinicalPrediction(
            "survival",
            rows,
            warnings,
            times=times,
            curves=curves,
            curves_low=low,
            curves_high=high,
            time_unit=str(self.config.get("time_unit") or ""),
            interval=self.interval_description,
            interval_level=interval_level(len(self.interval_pipelines)),
        )

    def plot(self, prediction: ClinicalPrediction, path: str | Path) -> Path:
        """Survival-curve PNG (with bands) of a survival prediction; JSON of the curves beside."""
        from precisionmed.clinical.metrics import plot_survival_curves

        if prediction.task != "survival" or prediction.curves is None:
            raise ArtifactError("plot(): only survival predictions have curves.")
        return plot_survival_curves(
            prediction.times,  # type: ignore[arg-type]
            prediction.curves,
            path,
            labels=[r.get("id", f"row {r['row']}") for r in prediction.patients],
            low=prediction.curves_low,
            high=prediction.curves_high,
            time_unit=prediction.time_unit,
        )


def clinical_model_contents(
    *,
    pipeline: Any,
    schema: InputSchema,
    task: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    card: ModelCard,
    interval_pipelines: Sequence[Any] = (),
    times: np.ndarray | None = None,
    risk_offsets: Sequence[float] | None = None,
) -> ModelContents:
    """What a clinical model directory holds, for :func:`precisionmed.artifacts.write_model_dir`.

    The pipeline and its bootstrap refits are stored with skops (``model.skops``); the schema,
    task, survival time grid and the refits' risk offsets (see
    :func:`precisionmed.clinical.training.risk_offsets`) go into ``config.json``.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted preprocessing + model pipeline.
    schema : InputSchema
        The training columns, their types and ranges.
    task : {"classification", "survival"}
    config, metrics : mapping
        The training description and the evaluation figures.
    card : ModelCard
    interval_pipelines : sequence of Pipeline
        Bootstrap refits for prediction intervals.
    times : array of shape (T,), optional
        Time grid of the predicted survival curves (survival models), in the cohort's unit.
    risk_offsets : sequence of float, optional
        Each refit's risk offset from the main model's scale (survival models).
    """
    full = {
        **dict(config),
        "task": task,
        "input_schema": schema.to_dict(),
        "input_spec": TableInputSpec.from_dict(schema.to_dict()).to_dict(),
        "interval": {
            "method": "bootstrap-ensemble",
            "n_models": len(interval_pipelines),
            "risk_offsets": list(risk_offsets or []),
        },
    }
    if times is not None:
        full["survival_times"] = np.asarray(times, dtype=float).tolist()
    return ModelContents(
        kind=KIND,
        pillar="clinical",
        config=full,
        metrics=metrics,
        card=card,
        estimator={"pipeline": pipeline, "interval_pipelines": list(interval_pipelines)},
    )
