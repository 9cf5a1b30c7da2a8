"""What a clinical model directory holds, apart from the predictor that reads it.

In its own module so that training and retraining (which write model directories) need not
import the predictor module, which reaches them back for :meth:`ClinicalPredictor.retrain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from precisionmed.artifacts import ModelCard, ModelContents
from precisionmed.clinical.schema import InputSchema
from precisionmed.predict import TableInputSpec

KIND = "clinical-model"


def interval_level(n_refits: int) -> float:
    """Level of the bootstrap-ensemble interval over ``n_refits`` refits.

    0.95 from :data:`REFITS_FOR_95` refits on (the 2.5-97.5 percentiles); below that the interval
    is the refits' range, whose level is (n-1)/(n+1): the probability that a further refit's
    prediction falls inside the range of ``n`` exchangeable ones. 0 for fewer than 2 refits.
    """
    return 0.0 if n_refits < 2 else min(0.95, (n_refits - 1) / (n_refits + 1))


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
