"""precisionmed: deep learning for precision medicine."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load(path: Any) -> Any:
    """Load a trained model directory as a predictor (see :func:`precisionmed.artifacts.load`).

    The predictor implements :class:`precisionmed.predict.Predictor`: ``input_spec`` (what the
    model was trained on) and ``predict(inputs)`` -> list of
    :class:`~precisionmed.predict.PredictionRecord` (JSON-safe, with the model's name, version
    and warnings for inputs unlike its training data).
    """
    from precisionmed.artifacts import load as _load

    return _load(path)


__all__ = ["__version__", "load"]
