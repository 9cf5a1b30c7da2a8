"""Input drift of what the models are asked about, over every worker, on ``/metrics`` and the admin
page.

Each input is summarised by features: an image by the mean and the standard deviation of its
model input (``intensity_mean``, ``intensity_std``: the frame the predictor sees, in [0, 1]); a
patient record by its numeric input columns. Per model version and feature, the drift statistic
compares the mean of the recent inputs with a reference:

* the training statistics, when the model has them: ``config.json``'s ``input_statistics``
  (``{"image_mean": {"mean", "std"}}`` for ``intensity_mean``), or the predictor's
  ``input_statistics()`` (a table model's ``{column: {"mean", "std"}}``);
* otherwise the first ``window`` inputs each worker received (the running baseline).

``precisionmed_input_drift_z`` is ``(m_recent - m_ref) / (s_ref / sqrt(n_recent))``, beyond about
3 when recent inputs differ from the reference more than sampling explains; ``m_recent`` is the
mean over the last ``window`` inputs of each worker.

Several workers (``precisionmed serve --workers N``): each keeps sums and counts (its recent
window, its baseline) as Prometheus gauges, which ``prometheus_client``'s multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``serve``) writes to per-process files; the statistic is
computed at scrape time from the sums over all workers (:meth:`DriftMonitor.snapshot`), never
averaged from per-worker z-scores. Without that directory the one process's gauges are read.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LABELS = ["model", "version", "feature"]
#: The raw gauges: name -> (help, multiprocess mode). A recent window is summed over the live
#: workers; a baseline and a reference stay after a worker exits.
_RAW = {
    "precisionmed_input_recent_count": ("Inputs in each worker's recent window.", "livesum"),
    "precisionmed_input_recent_sum": ("Sum of a feature over the recent windows.", "livesum"),
    "precisionmed_input_baseline_count": ("Inputs in the first-inputs baselines.", "sum"),
    "precisionmed_input_baseline_sum": ("Sum of a feature over the baselines.", "sum"),
    "precisionmed_input_baseline_sum_squares": ("Sum of squares over the baselines.", "sum"),
    "precisionmed_input_training_mean": ("Training mean of a feature.", "max"),
    "precisionmed_input_training_std": ("Training standard deviation of a feature.", "max"),
}


def multiprocess_dir() -> Path | None:
    """The metrics folder shared by the workers, when this process writes its metrics there."""
    from prometheus_client import values

    path = os.environ.get(MULTIPROC_ENV)
    if not path or values.ValueClass.__name__ != "MmapedValue":
        return None
    return Path(path)


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` for the workers ``serve`` starts: the variable's folder,
    else ``data_dir/metrics``, emptied of the last run's files (which would count again)."""
    folder = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "metrics")
    if folder.is_dir():
        for stale in folder.glob("*.db"):
            stale.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


@dataclass
class _Track:
    reference: dict[str, tuple[float, float]]
    baseline: dict[str, int] = field(default_factory=dict)
    recent: dict[str, deque[float]] = field(default_factory=dict)


class DriftMonitor:
    """Per model version and input feature: recent inputs against a reference, over all workers.

    Parameters
    ----------
    registry : prometheus_client.CollectorRegistry
        Where the gauges (and the collector of the computed statistics) are registered.
    window : int
        Recent inputs each worker keeps (and the size of its running baseline).
    """

    def __init__(self, registry: Any, window: int = 50) -> None:
        from prometheus_client import Gauge

        self.window = window
        self.registry = registry
        self._dir = multiprocess_dir()
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._statistics: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self._raw = {
            name: Gauge(name, doc, LABELS, registry=registry, multiprocess_mode=mode)  # type: ignore[arg-type]
            for name, (doc, mode) in _RAW.items()
        }
        registry.register(_Statistics(self))
        if self._dir is not None:
            from prometheus_client import multiprocess

            # the recent windows of an exited worker leave the sums (livesum)
            atexit.register(multiprocess.mark_process_dead, os.getpid(), str(self._dir))

    def observe(
        self,
        model: str,
        version: str,
        features: Mapping[str, float],
        reference: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """Add one input's features.

        Parameters
        ----------
        model, version : str
            The model's name and version.
        features : mapping of str to float
            The input's features (non-finite values are left out).
        reference : mapping of str to (mean, std), optional
            Training statistics of the features (the others get a first-inputs baseline).
        """
        key = (model, version[:12])
        with self._lock:
            track = self._tracks.get(key)
            if track is None:
                track = _Track(dict(reference or {}))
                self._tracks[key] = track
                for feature, (mean, std) in track.reference.items():
                    self._raw["precisionmed_input_training_mean"].labels(*key, feature).set(mean)
                    self._raw["precisionmed_input_training_std"].labels(*key, feature).set(std)
            for feature, value in features.items():
                if math.isfinite(value):
                    self._add(track, key, feature, float(value))

    def _add(self, track: _Track, key: tuple[str, str], feature: str, value: float) -> None:
        labels = (*key, feature)
        if feature not in track.reference and track.baseline.get(feature, 0) < self.window:
            track.baseline[feature] = track.baseline.get(feature, 0) + 1
            self._raw["precisionmed_input_baseline_count"].labels(*labels).inc()
            self._raw["precisionmed_input_baseline_sum"].labels(*labels).inc(value)
            self._raw["precisionmed_input_baseline_sum_squares"].labels(*labels).inc(value**2)
            return
        recent = track.recent.setdefault(feature, deque(maxlen=self.window))
        recent.append(value)
        self._raw["precisionmed_input_recent_count"].labels(*labels).set(len(recent))
        self._raw["precisionmed_input_recent_sum"].labels(*labels).set(math.fsum(recent))

    def observe_inputs(self, name: str, version: str, predictor: Any, inputs: Any) -> None:
        """Add what a model was asked: image files (read by the predictor's ``load_frames``, as
        the network saw them) or a table of patient records (its numeric input columns)."""
        import pandas as pd

        if isinstance(inputs, pd.DataFrame):
            reference = self._table_reference(name, version, predictor)
            numeric = [c.name for c in predictor.input_spec.columns if c.kind == "numeric"]
            for _, row in inputs.iterrows():
                self.observe(name, version, _numbers(row, numeric), reference)
        elif isinstance(inputs, list) and callable(getattr(predictor, "load_frames", None)):
            reference = image_reference(getattr(predictor, "config", None))
            for path in inputs:
                x = predictor.load_frames(path)[0].x.numpy()
                features = {"intensity_mean": float(np.mean(x)), "intensity_std": float(np.std(x))}
                self.observe(name, version, features, reference)

    def _table_reference(
        self, name: str, version: str, predictor: Any
    ) -> dict[str, tuple[float, float]]:
        key = (name, version)
        if key not in self._statistics:
            stats = predictor.input_statistics() if hasattr(predictor, "input_statistics") else {}
            self._statistics[key] = {c: (s["mean"], s["std"]) for c, s in stats.items()}
        return self._statistics[key]

    def snapshot(self) -> list[dict[str, Any]]:
        """The drift of every model version and feature, over all workers.

        Returns
        -------
        list of dict
            ``model``, ``version`` (12 digits), ``feature``, ``reference`` (``source``:
            ``training`` or ``first-inputs``, ``mean``, ``std``, ``n`` of a baseline),
            ``recent`` (``n``, ``mean``) and ``z`` (None while there is no reference or no
            recent input), by model, version and feature.
        """
        sums: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        for family in self._raw_families():
            for sample in family.samples:
                if sample.name in _RAW:
                    key = tuple(sample.labels[k] for k in LABELS)
                    sums[key][sample.name] = sums[key].get(sample.name, 0.0) + sample.value
        return [_drift(key, values) for key, values in sorted(sums.items())]

    def _raw_families(self) -> Iterator[Any]:
        if self._dir is None:
            for gauge in self._raw.values():
                yield from gauge.collect()
            return
        from prometheus_client.multiprocess import MultiProcessCollector

        yield from MultiProcessCollector(None, str(self._dir)).collect()

    def exposition_registry(self) -> Any:
        """The registry ``/metrics`` writes out: this process's, or with several workers a
        registry merging every worker's metrics (and this monitor's statistics over them)."""
        if self._dir is None:
            return self.registry
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged, str(self._dir))
        merged.register(_Statistics(self))
        return merged


def image_reference(config: Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    """An image model's training reference from its ``config.json`` (``input_statistics``)."""
    stats = ((config or {}).get("input_statistics") or {}).get("image_mean")
    if isinstance(stats, Mapping) and {"mean", "std"} <= set(stats):
        return {"intensity_mean": (float(stats["mean"]), float(stats["std"]))}
    return {}


def _numbers(row: Any, columns: list[str]) -> dict[str, float]:
    out = {}
    for column in columns:
        try:
            out[column] = float(row[column])
        except (KeyError, TypeError, ValueError):
            continue  # a missing or non-numeric cell is the model's to warn about
    return out


def _drift(key: tuple[str, ...], values: dict[str, float]) -> dict[str, Any]:
    """One feature's reference, recent mean and z-score from the summed gauges."""
    model, version, feature = key
    n_recent = values.get("precisionmed_input_recent_count", 0.0)
    recent_mean = values.get("precisionmed_input_recent_sum", 0.0) / n_recent if n_recent else None
    reference: dict[str, Any]
    if "precisionmed_input_training_mean" in values:
        reference = {
            "source": "training",
            "mean": values["precisionmed_input_training_mean"],
            "std": values.get("precisionmed_input_training_std", 0.0),
            "n": None,
        }
    else:
        n = values.get("precisionmed_input_baseline_count", 0.0)
        s = values.get("precisionmed_input_baseline_sum", 0.0)
        ss = values.get("precisionmed_input_baseline_sum_squares", 0.0)
        ready = n >= 2
        reference = {
            "source": "first-inputs",
            "mean": s / n if n else None,
            "std": math.sqrt(max(ss - s * s / n, 0.0) / (n - 1)) if ready else None,
            "n": int(n),
        }
    z = None
    if recent_mean is not None and reference["std"] is not None:
        z = (recent_mean - reference["mean"]) / (max(reference["std"], 1e-6) / math.sqrt(n_recent))
    return {
        "model": model,
        "version": version,
        "feature": feature,
        "reference": reference,
        "recent": {"n": int(n_recent), "mean": recent_mean},
        "z": z,
    }


class _Statistics:
    """A Prometheus collector of the statistics computed from the summed gauges at scrape time."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor

    def describe(self) -> list[Any]:
        return []  # computed at each scrape; nothing to check for name clashes up front

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        mean = GaugeMetricFamily(
            "precisionmed_input_feature_mean",
            "Mean of an input feature over the recent inputs of all workers.",
            labels=LABELS,
        )
        z = GaugeMetricFamily(
            "precisionmed_input_drift_z",
            "z-score of the recent inputs' mean of a feature against the reference (training "
            "statistics, else the first inputs), over all workers.",
            labels=[*LABELS, "reference"],
        )
        for row in self.monitor.snapshot():
            labels = [row["model"], row["version"], row["feature"]]
            if row["recent"]["mean"] is not None:
                mean.add_metric(labels, row["recent"]["mean"])
            if row["z"] is not None:
                z.add_metric([*labels, row["reference"]["source"]], row["z"])
        yield mean
        yield z
