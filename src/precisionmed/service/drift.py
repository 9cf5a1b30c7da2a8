"""Input drift of the images a model is asked about, exported on ``/metrics``.

Each uploaded image is summarised by the mean and standard deviation of its model input (the
frame the predictor actually sees, intensities in [0, 1]). Per model version the monitor keeps
the last ``window`` summaries and compares their mean with a reference:

* the training statistics recorded in the model directory, when ``config.json`` has
  ``input_statistics`` (``{"image_mean": {"mean", "std"}}``: the mean and standard deviation
  over training images of each image's mean intensity);
* otherwise the first ``window`` inputs the version received (the running baseline).

``precisionmed_input_drift_z`` is the z-score of the window's mean of image means against the
reference: ``(m_window - m_ref) / (s_ref / sqrt(n))``; a value beyond about 3 says that recent
inputs differ from the reference more than sampling explains. Statistics are per worker process.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Track:
    reference: tuple[float, float] | None  # (mean, std) of image means
    source: str  # "training" or "first-inputs"
    baseline: list[float] = field(default_factory=list)
    recent: deque[tuple[float, float]] = field(default_factory=deque)


class DriftMonitor:
    """Per model version: the recent inputs' intensity statistics and their drift.

    Parameters
    ----------
    registry : prometheus_client.CollectorRegistry
        Where the gauges are registered.
    window : int
        Recent inputs kept (and the size of the running baseline).
    """

    def __init__(self, registry: Any, window: int = 50) -> None:
        from prometheus_client import Gauge

        self.window = window
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._lock = threading.Lock()
        labels = ["model", "version"]
        self.mean = Gauge(
            "precisionmed_input_intensity_mean",
            "Mean intensity of the recent model inputs (image means averaged).",
            labels,
            registry=registry,
        )
        self.std = Gauge(
            "precisionmed_input_intensity_std",
            "Standard deviation within the recent model inputs (averaged over images).",
            labels,
            registry=registry,
        )
        self.z = Gauge(
            "precisionmed_input_drift_z",
            "z-score of the recent inputs' mean intensity against the reference "
            "(training statistics, else the first inputs).",
            [*labels, "reference"],
            registry=registry,
        )

    def observe(
        self, model: str, version: str, x: np.ndarray, config: dict[str, Any] | None = None
    ) -> float | None:
        """Add one model input and update the gauges; the drift z-score (None while there is no
        reference yet).

        Parameters
        ----------
        model, version : str
            The model's name and version.
        x : ndarray of shape (C, *size)
            The model input, intensities in [0, 1].
        config : dict, optional
            The model's ``config.json`` (its ``input_statistics`` are the training reference).
        """
        image_mean, image_std = float(np.mean(x)), float(np.std(x))
        key = (model, version[:12])
        with self._lock:
            track = self._tracks.get(key)
            if track is None:
                track = _Track(*_training_reference(config))
                self._tracks[key] = track
            track.recent.append((image_mean, image_std))
            while len(track.recent) > self.window:
                track.recent.popleft()
            if track.reference is None:
                track.baseline.append(image_mean)
                if len(track.baseline) >= self.window:
                    ref = np.asarray(track.baseline)
                    track.reference = (float(ref.mean()), float(ref.std(ddof=1)))
                    track.recent.clear()  # drift is measured on inputs after the baseline
            recent = np.asarray(track.recent) if track.recent else np.zeros((0, 2))
            if len(recent):
                self.mean.labels(*key).set(float(recent[:, 0].mean()))
                self.std.labels(*key).set(float(recent[:, 1].mean()))
            if track.reference is None or not len(recent):
                return None
            ref_mean, ref_std = track.reference
            z = (float(recent[:, 0].mean()) - ref_mean) / (
                max(ref_std, 1e-6) / math.sqrt(len(recent))
            )
            self.z.labels(*key, track.source).set(z)
            return z


def _training_reference(config: dict[str, Any] | None) -> tuple[tuple[float, float] | None, str]:
    stats = ((config or {}).get("input_statistics") or {}).get("image_mean")
    if isinstance(stats, dict) and {"mean", "std"} <= set(stats):
        return (float(stats["mean"]), float(stats["std"])), "training"
    return None, "first-inputs"
