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

Inputs are checked against the training schema first
(:func:`~precisionmed.clinical.schema.validate_patients`): every extra column, imputed cell and
out-of-range value is a warning on the patient's record (an error with ``strict=True``), and a
patient with a value beyond the abstention margin gets a record with ``abstained=True`` and no
values; the other patients are predicted exactly as without that one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.clinical.contents import KIND, interval_level
from precisionmed.clinical.curves import median_survival, survival_on_grid
from precisionmed.clinical.models import REFITS_FOR_95
from precisionmed.clinical.preprocess import imputation_values
from precisionmed.clinical.schema import (
    InputIssue,
    InputSchema,
    check_finite_outputs,
    read_patients_csv,
    validate_patients,
)
from precisionmed.errors import ArtifactError, SchemaError
from precisionmed.predict import PredictionRecord, Predictor, TableInputSpec


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def interval_bounds(
    values: np.ndarray, *, method: Literal["linear", "nearest"] = "linear"
) -> np.ndarray:
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
        One record per input row (``row`` numbered from 1, ``abstained`` True where an input
        lies beyond the abstention margin: its values are None), see the module docstring.
    issues : list of InputIssue
        What schema validation found: extra columns, imputed cells, values out of range.
    times : array of shape (T,), optional
        Survival: the time grid of the curves (in ``time_unit``).
    curves, curves_low, curves_high : arrays of shape (N, T), optional
        Survival curves and their pointwise bootstrap band (NaN rows for abstained patients).
    interval : str
        How the intervals were obtained.
    interval_level : float
        Their level (:func:`interval_level`; 0 without intervals).
    """

    task: str
    patients: list[dict[str, Any]]
    issues: list[InputIssue] = field(default_factory=list)
    times: np.ndarray | None = None
    curves: np.ndarray | None = None
    curves_low: np.ndarray | None = None
    curves_high: np.ndarray | None = None
    time_unit: str = ""
    interval: str = ""
    interval_level: float = 0.0

    @property
    def warnings(self) -> list[str]:
        """Every issue's sentence: those about a whole column first, then by row."""
        return [issue.message for issue in self.issues]

    def row_warnings(self) -> list[tuple[str, ...]]:
        """Per patient (input order): the column-wide warnings, then the row's own."""
        common = tuple(i.message for i in self.issues if i.row is None)
        by_row: dict[int, list[str]] = {}
        for issue in self.issues:
            if issue.row is not None:
                by_row.setdefault(issue.row, []).append(issue.message)
        return [(*common, *by_row.get(p["row"], ())) for p in self.patients]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (curves included per patient)."""
        out: dict[str, Any] = {
            "task": self.task,
            "interval": self.interval,
            "interval_level": self.interval_level,
            "warnings": self.warnings,
            "patients": self.patients,
        }
        if self.times is not None and self.curves is not None:
            out["time_unit"] = self.time_unit
            out["times"] = self.times.tolist()
            out["patients"] = [
                {**p, "survival": None if p["abstained"] else c.round(5).tolist()}
                for p, c in zip(self.patients, self.curves, strict=True)
            ]
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
        self,
        inputs: pd.DataFrame | str | Path,
        *,
        id_column: str | None = None,
        strict: bool = False,
    ) -> list[PredictionRecord]:
        """One :class:`~precisionmed.predict.PredictionRecord` per patient.

        Parameters
        ----------
        inputs : DataFrame or path
            A table of patients, or a CSV file of them (header row, one patient per line).
        id_column : str, optional
            A column identifying each patient: each record's ``input`` (else ``"row N"``).
        strict : bool
            Refuse, instead of warning about, an extra column, a missing cell or a value outside
            the training range (see :meth:`predict_table`).

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
            prediction = self.predict_table(inputs, id_column=id_column, strict=strict)
        else:
            prediction = self.predict_csv(inputs, id_column=id_column, strict=strict)
        return self.records(prediction)

    def records(
        self, prediction: ClinicalPrediction, *, curves: bool = True
    ) -> list[PredictionRecord]:
        """The records of a :meth:`predict_table` result, one per patient.

        Classification: ``prediction`` and ``values["probability"]`` the probability of the
        positive class. Survival: ``prediction`` and ``values["risk"]`` the risk score (higher =
        earlier event), ``values["median_survival_time"]`` (None where not reached), and in
        ``details`` the survival curve (``times``, ``survival``, its band; left out with
        ``curves=False``, e.g. where they are written as one table instead). ``interval`` holds
        the bootstrap-ensemble intervals at ``interval_level``; ``warnings`` the schema issues of
        this patient's row (and the input's extra columns). A patient whose input lies beyond
        the abstention margin has ``abstained=True`` and every value None.
        """
        level = prediction.interval_level if prediction.interval_level > 0 else None
        survival = prediction.task == "survival"
        times = prediction.times.tolist() if survival and prediction.times is not None else None
        calibration = self.calibration
        records = []
        for i, (row, warns) in enumerate(
            zip(prediction.patients, prediction.row_warnings(), strict=True)
        ):
            abstained = bool(row["abstained"])
            details: dict[str, Any] = {"task": prediction.task, "row": row["row"]}
            details["interval_method"] = prediction.interval
            if survival:
                values = {"risk": row["risk"], "median_survival_time": row["median_survival_time"]}
                interval = None
                if "risk_low" in row and not abstained:
                    interval = {
                        "risk": [row["risk_low"], row["risk_high"]],
                        "median_survival_time": [
                            row["median_survival_low"],
                            row["median_survival_high"],
                        ],
                    }
                details["time_unit"] = prediction.time_unit
                if curves and prediction.curves is not None:
                    details |= {"times": times, "survival": None}
                    for name, band in (
                        ("survival", prediction.curves),
                        ("survival_low", prediction.curves_low),
                        ("survival_high", prediction.curves_high),
                    ):
                        if band is not None:
                            details[name] = None if abstained else band[i].round(5).tolist()
            else:
                values = {"probability": row["probability"]}
                interval = None
                if "low" in row and not abstained:
                    interval = {"probability": [row["low"], row["high"]]}
            records.append(
                self.record(
                    str(row.get("id", f"row {row['row']}")),
                    None if abstained else values[next(iter(values))],
                    values,
                    interval=interval,
                    interval_level=level if interval else None,
                    calibration=calibration,
                    warnings=warns,
                    details=details,
                    abstained=abstained,
                )
            )
        return records

    def predict_table(
        self,
        patients: pd.DataFrame,
        *,
        source: str = "input",
        id_column: str | None = None,
        strict: bool = False,
        known_columns: Sequence[str] = (),
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
        strict : bool
            Raise a :class:`~precisionmed.errors.SchemaError` on the first extra column, missing
            cell or value outside the training range, instead of a warning on the record.
        known_columns : sequence of str
            Columns expected besides the model's inputs (e.g. an observed outcome): not
            reported as extra. The identifier column is known too.

        Raises
        ------
        SchemaError
            Missing column (the identifier's included), text in a numeric column, unknown
            category (row and column named); with ``strict``, any issue.
        """
        ids = None
        if id_column is not None:
            if id_column not in patients.columns:
                raise SchemaError(
                    f"{source}: no identifier column {id_column!r}; the input has "
                    f"{[str(c) for c in patients.columns]}."
                )
            ids = patients[id_column].astype(str).tolist()
        known = [*known_columns, *([id_column] if id_column else [])]
        X, issues = validate_patients(
            patients, self.schema, source=source, strict=strict, known_columns=known,
            fill_values=imputation_values(self.pipeline),
        )  # fmt: skip
        abstain = np.zeros(len(X), dtype=bool)
        abstain[[i.row - 1 for i in issues if i.kind == "abstain" and i.row is not None]] = True
        # An overflow (a huge but finite input) is not warned about here: every output is
        # checked to be finite, and a non-finite one is an error naming the patient's row.
        with np.errstate(over="ignore", invalid="ignore"):
            if self.task == "survival":
                prediction = self._predict_survival(X, issues, abstain, source)
            else:
                prediction = self._predict_proba(X, issues, abstain, source)
        if ids is not None:
            records = zip(prediction.patients, ids, strict=True)
            prediction.patients = [{"row": r["row"], "id": i, **r} for r, i in records]
        return prediction

    @property
    def labels(self) -> list[str]:
        """Classifiers: the names of class 0 and class 1 (the labels feedback may give);
        survival models: none."""
        if self.task != "classification":
            return []
        return [str(n) for n in self.config.get("target_names") or []] or ["0", "1"]

    def predict_labels(self, patients: pd.DataFrame) -> np.ndarray:
        """Classifiers: the class of each patient (1 where the probability of class 1 is at
        least 0.5, else 0; -1 where the model abstains, so that it never counts as right)."""
        rows = self.predict_table(patients).patients
        p = np.array([np.nan if r["probability"] is None else r["probability"] for r in rows])
        return np.where(np.isnan(p), -1, p >= 0.5).astype(np.int64)

    def test_arrays(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The held-out patients (table, 0/1 classes) this classifier was tested on; see
        :mod:`precisionmed.clinical.retraining`."""
        from precisionmed.clinical.retraining import test_table

        return test_table(self)

    def retrain(
        self,
        x_extra: pd.DataFrame,
        labels_extra: np.ndarray,
        out_dir: Path,
        *,
        max_epochs: int | None = None,
        n_boot: int = 1000,
        progress: bool = True,
    ) -> None:
        """Write a new model directory: this classifier's pipeline refitted on its training
        patients plus extra ones (0/1 classes); see :func:`precisionmed.clinical.retraining.
        retrain_with_extra`. ``progress`` is accepted as the imaging predictors take it (the
        refits' bar is shown while they run)."""
        from precisionmed.clinical.retraining import retrain_with_extra

        retrain_with_extra(
            self, x_extra, labels_extra, out_dir, max_epochs=max_epochs, n_boot=n_boot
        )

    def input_statistics(self) -> dict[str, dict[str, float]]:
        """Training mean and standard deviation of each numeric input column (see
        :func:`precisionmed.clinical.retraining.input_statistics`)."""
        from precisionmed.clinical.retraining import input_statistics

        return input_statistics(self.pipeline)

    def predict_csv(
        self,
        path: str | Path,
        *,
        id_column: str | None = None,
        strict: bool = False,
        known_columns: Sequence[str] = (),
    ) -> ClinicalPrediction:
        """:meth:`predict_table` on a CSV file of patients (header row, one patient per line)."""
        return self.predict_table(
            read_patients_csv(path), source=str(path), id_column=id_column, strict=strict,
            known_columns=known_columns,
        )  # fmt: skip

    def _predict_proba(
        self, X: pd.DataFrame, issues: list[InputIssue], abstain: np.ndarray, source: str
    ) -> ClinicalPrediction:
        keep = ~abstain
        rows = np.flatnonzero(keep) + 1
        p = np.full(len(X), np.nan)
        boot = np.full((len(self.interval_pipelines), len(X)), np.nan)
        if keep.any():
            Xk = X[keep]
            p[keep] = self.pipeline.predict_proba(Xk)[:, 1]
            for b, m in enumerate(self.interval_pipelines):
                boot[b, keep] = m.predict_proba(Xk)[:, 1]
            for values in (p[keep], boot[:, keep].T):
                check_finite_outputs(
                    values, what="probability", source=source, issues=issues, rows=rows
                )
        bounds = interval_bounds(boot) if len(boot) else None
        patients = []
        for i in range(len(X)):
            rec: dict[str, Any] = {"row": i + 1, "abstained": bool(abstain[i])}
            rec["probability"] = None if abstain[i] else float(p[i])
            if bounds is not None and not abstain[i]:
                rec |= {"low": float(bounds[0, i]), "high": float(bounds[1, i])}
            patients.append(rec)
        return ClinicalPrediction(
            "classification",
            patients,
            issues,
            interval=self.interval_description,
            interval_level=interval_level(len(boot)),
        )

    def _predict_survival(
        self, X: pd.DataFrame, issues: list[InputIssue], abstain: np.ndarray, source: str
    ) -> ClinicalPrediction:
        if self.times is None:
            raise ArtifactError("survival model saved without 'survival_times'.")
        times = self.times
        keep = ~abstain
        rows = np.flatnonzero(keep) + 1
        n, n_refits = len(X), len(self.interval_pipelines)
        # Computed for the predicted (not abstaining) patients only, then spread over all rows
        # with NaN for the abstained ones.
        risk, curves = np.full(n, np.nan), np.full((n, len(times)), np.nan)
        low = high = None
        if n_refits:
            low, high = np.full((2, n, len(times)), np.nan)
            r_lo, r_hi, m_lo, m_hi = np.full((4, n), np.nan)
        if keep.any():
            Xk = X[keep]
            risk[keep] = self.pipeline.predict(Xk)
            curves[keep] = survival_on_grid(self.pipeline, Xk, times)
            for what, values in (("risk score", risk[keep]), ("survival curve", curves[keep])):
                check_finite_outputs(values, what=what, source=source, issues=issues, rows=rows)
        if n_refits and keep.any():
            b_risk = np.array([m.predict(Xk) for m in self.interval_pipelines], dtype=float)
            b_curves = np.stack([survival_on_grid(m, Xk, times) for m in self.interval_pipelines])
            offsets = self.config.get("interval", {}).get("risk_offsets") or []
            if len(offsets) == n_refits:  # align each refit's risk scale with the model's
                b_risk -= np.asarray(offsets, dtype=float)[:, None]
            for what, values in (("risk", b_risk.T), ("curve", np.moveaxis(b_curves, 1, 0))):
                check_finite_outputs(
                    values, what=f"bootstrap refits' {what}", source=source, issues=issues,
                    rows=rows,
                )  # fmt: skip
            low[keep], high[keep] = interval_bounds(b_curves)  # type: ignore[index]
            r_lo[keep], r_hi[keep] = interval_bounds(b_risk)
            # "nearest": no interpolation, so "not reached" (inf) refits stay inf
            b_med = np.stack([median_survival(times, c) for c in b_curves])
            m_lo[keep], m_hi[keep] = interval_bounds(b_med, method="nearest")
        med = median_survival(times, curves)
        patients = []
        for i in range(n):
            rec: dict[str, Any] = {"row": i + 1, "abstained": bool(abstain[i])}
            if abstain[i]:
                rec |= {"risk": None, "median_survival_time": None}
            else:
                rec |= {"risk": float(risk[i]), "median_survival_time": _finite_or_none(med[i])}
                if n_refits:
                    rec |= {
                        "risk_low": float(r_lo[i]),
                        "risk_high": float(r_hi[i]),
                        "median_survival_low": _finite_or_none(m_lo[i]),
                        "median_survival_high": _finite_or_none(m_hi[i]),
                    }
            patients.append(rec)
        return ClinicalPrediction(
            "survival",
            patients,
            issues,
            times=times,
            curves=curves,
            curves_low=low,
            curves_high=high,
            time_unit=str(self.config.get("time_unit") or ""),
            interval=self.interval_description,
            interval_level=interval_level(n_refits),
        )

    def plot(
        self, prediction: ClinicalPrediction, path: str | Path, *, rows: Sequence[int] | None = None
    ) -> Path:
        """Survival-curve PNG (with bands) of a survival prediction; JSON of the curves beside.

        Parameters
        ----------
        prediction : ClinicalPrediction
            A survival prediction.
        path : str or Path
            The PNG to write (``.json`` of the same name beside it).
        rows : sequence of int, optional
            0-based positions of the patients to draw (default: all); abstained ones are left
            out (they have no curve).
        """
        from precisionmed.clinical.metrics import plot_survival_curves

        if prediction.task != "survival" or prediction.curves is None:
            raise ArtifactError("plot(): only survival predictions have curves.")
        chosen = [
            i
            for i in (range(len(prediction.patients)) if rows is None else rows)
            if not prediction.patients[i]["abstained"]
        ]
        low, high = prediction.curves_low, prediction.curves_high
        return plot_survival_curves(
            prediction.times,  # type: ignore[arg-type]
            prediction.curves[chosen],
            path,
            labels=[
                prediction.patients[i].get("id", f"row {prediction.patients[i]['row']}")
                for i in chosen
            ],
            low=None if low is None else low[chosen],
            high=None if high is None else high[chosen],
            time_unit=prediction.time_unit,
        )
