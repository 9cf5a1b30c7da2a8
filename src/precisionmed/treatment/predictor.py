"""The treatment recommender: a :class:`~precisionmed.predict.Predictor` for a fitted
treatment-effect model directory (``precisionmed.load``).

For each patient (a row of covariates) it reports the expected outcome under each candidate
treatment with its interval, the effect (treated minus control) with its interval, the
propensity and whether the patient lies in the common support, and the recommendation or the
explicit abstention of :func:`~precisionmed.treatment.decision.recommend`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.errors import ArtifactError, DataFormatError, SchemaError
from precisionmed.predict import PredictionRecord, Predictor, TableInputSpec
from precisionmed.treatment.decision import NO_RECOMMENDATION, recommend

KIND = "treatment-recommender"


def read_patients(path: str | Path) -> pd.DataFrame:
    """Patients from a ``.json`` file (one object of covariates, or a list of them) or a CSV.

    Raises
    ------
    DataFormatError
        Not valid JSON, not an object or list of objects, or an unreadable CSV (named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"{path}: not valid JSON ({exc}).") from exc
        rows = [data] if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DataFormatError(
                f"{path}: expected a JSON object of covariates (one patient) or a list of them; "
                f"got {type(data).__name__}."
            )
        return pd.DataFrame(rows)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a readable CSV ({exc}).") from exc


@register_predictor(KIND)
class TreatmentPredictor(Predictor):
    """A fitted effect model, its overlap model and the model card's decision fields.

    Parameters
    ----------
    effect_model : CATEEstimator
        Fitted; gives potential outcomes and their intervals.
    overlap : OverlapModel
        Fitted propensity model and common support.
    config : dict
        ``covariates``, ``treatment_names`` (control, treated), ``outcome_column``,
        ``better`` ("lower" / "higher"), ``alpha``, ``input_spec``.
    """

    def __init__(self, effect_model: Any, overlap: Any, config: Mapping[str, Any]) -> None:
        self.effect_model = effect_model
        self.overlap = overlap
        self.config = dict(config)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> TreatmentPredictor:
        """Build from a model directory written by :func:`fit_treatment_model`."""
        stored = artifact.estimator()
        if not isinstance(stored, dict) or not {"effect_model", "overlap"} <= set(stored):
            raise ArtifactError(
                f"{artifact.path}/model.skops: expected a dict with 'effect_model' and "
                f"'overlap'; got {type(stored).__name__}."
            )
        for key in ("covariates", "treatment_names", "better", "alpha"):
            if key not in artifact.config:
                raise ArtifactError(f"{artifact.path}/config.json: field '{key}' is missing.")
        predictor = cls(stored["effect_model"], stored["overlap"], artifact.config)
        predictor.artifact = artifact
        return predictor

    @property
    def input_spec(self) -> TableInputSpec:
        """The covariates with their training ranges."""
        return TableInputSpec.from_dict(self.config["input_spec"])

    @property
    def treatment_names(self) -> list[str]:
        """The candidate treatments: the control arm's name, then the treated arm's."""
        return [str(n) for n in self.config["treatment_names"]]

    def _covariates(self, patients: pd.DataFrame) -> np.ndarray:
        cols = list(self.config["covariates"])
        missing = [c for c in cols if c not in patients.columns]
        if missing:
            raise SchemaError(
                f"patient input: column {missing[0]!r} is missing ({len(missing)} in all); the "
                f"model needs {cols}."
            )
        out = np.empty((len(patients), len(cols)))
        for j, col in enumerate(cols):
            values = pd.to_numeric(patients[col], errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy())
            if bad.size:
                raise SchemaError(
                    f"patient input: row {int(bad[0])}, column {col!r}: expected a number; got "
                    f"{patients[col].iloc[int(bad[0])]!r}."
                )
            out[:, j] = values.to_numpy(dtype=np.float64)
        return out

    def predict(
        self, inputs: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | Path
    ) -> list[PredictionRecord]:
        """One record per patient.

        Parameters
        ----------
        inputs : DataFrame, mapping, list of mappings, or path
            Patients' covariates (other columns are ignored): a table, one patient's
            ``{covariate: value}``, a list of them, or a ``.json`` / ``.csv`` file.

        Returns
        -------
        list of PredictionRecord
            ``prediction``: the recommended treatment, or None when abstaining
            (``abstained`` True and ``details["recommendation"]`` "no confident
            recommendation" with the reasons in ``warnings``); ``values``:
            ``outcome[<treatment>]`` for each candidate, ``effect`` (treated minus control)
            and ``propensity``; ``interval`` for the outcomes and the effect.
        """
        if isinstance(inputs, str | Path):
            patients = read_patients(inputs)
        elif isinstance(inputs, Mapping):
            patients = pd.DataFrame([dict(inputs)])
        elif isinstance(inputs, pd.DataFrame):
            patients = inputs
        else:
            patients = pd.DataFrame([dict(r) for r in inputs])
        X = self._covariates(patients)
        alpha = float(self.config["alpha"])
        po = self.effect_model.potential_outcomes(X)
        po_iv = self.effect_model.outcome_interval(X, alpha)
        effect = po[:, 1] - po[:, 0]
        eff_iv = self.effect_model.effect_interval(X, alpha)
        prop = self.overlap.propensity(X)
        support = self.overlap.in_support(X)
        ranges = self.overlap.out_of_range(X)
        names, cols = self.treatment_names, list(self.config["covariates"])
        better, level = str(self.config["better"]), 1.0 - alpha
        outcome = self.config.get("outcome_column", "outcome")
        records = []
        for i in range(len(X)):
            out_cols = [cols[j] for j in ranges[i]]
            rec = recommend(
                names,
                po[i].tolist(),
                po_iv[i].tolist(),
                better=better,
                in_support=bool(support[i]),
                out_of_range=out_cols,
                level=level,
            )
            keys = [f"outcome[{n}]" for n in names]
            values = {keys[0]: po[i, 0], keys[1]: po[i, 1], "effect": effect[i]}
            values["propensity"] = prop[i]
            interval = {keys[a]: po_iv[i, a].tolist() for a in (0, 1)}
            interval["effect"] = eff_iv[i].tolist()
            details = {
                "recommendation": rec.treatment or NO_RECOMMENDATION,
                "status": rec.status,
                "reasons": list(rec.reasons),
                "better": better,
                "outcome": outcome,
                "candidates": [
                    {"treatment": n, "expected_outcome": po[i, a], "interval": po_iv[i, a]}
                    for a, n in enumerate(names)
                ],
                "effect_definition": f"outcome under {names[1]} minus outcome under {names[0]}",
                "in_common_support": bool(support[i]),
                "support": list(self.overlap.support_),
                "outside_training_range": out_cols,
                "interval_method": self.config.get("interval_method", ""),
            }
            records.append(
                self.record(
                    f"row {i}",
                    rec.treatment,
                    values,
                    interval=interval,
                    interval_level=level,
                    warnings=tuple(f"No confident recommendation: {r}." for r in rec.reasons),
                    details=details,
                    abstained=rec.treatment is None,
                    in_distribution=bool(support[i]) and not out_cols,
                )
            )
        return records


__all__ = ["KIND", "TreatmentPredictor", "read_patients"]
