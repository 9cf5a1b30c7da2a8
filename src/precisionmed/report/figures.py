"""The report's figures: each a PNG with a caption naming its model, version, calibration and
interval (:func:`caption`), drawn from a :class:`~precisionmed.predict.PredictionRecord` only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precisionmed.predict import PredictionRecord


@dataclass(frozen=True)
class Figure:
    """A PNG of the report and what it shows."""

    title: str
    png: Path
    caption: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the PNG's path relative to nothing: as written)."""
        return {"title": self.title, "png": str(self.png), "caption": self.caption}


def describe_calibration(calibration: dict[str, Any] | None) -> str:
    """``"temperature scaling (test ECE 0.041)"``, or that the record states none."""
    if not calibration:
        return "calibration: not stated by the model"
    figures = [
        f"{k.removeprefix('test_').replace('_', ' ')} {v:.3g}"
        for k, v in calibration.items()
        if k.startswith("test_") and isinstance(v, int | float)
    ]
    method = calibration.get("method", "?")
    return f"calibration: {method}" + (f" (test {', '.join(figures)})" if figures else "")


def describe_interval(record: PredictionRecord) -> str:
    """``"95% interval (bootstrap-ensemble ...)"`` or that the model gives no interval."""
    if not record.interval or not record.interval_level:
        return "interval: none given by this model"
    method = record.details.get("interval_method") or record.details.get("interval") or ""
    return f"interval: {record.interval_level:.0%}" + (f" ({method})" if method else "")


def caption(record: PredictionRecord) -> str:
    """Which model and version made a figure, its calibration and its interval."""
    version = (record.model_version or "not saved")[:12]
    return (
        f"Model {record.model} (version {version}); {describe_calibration(record.calibration)}; "
        f"{describe_interval(record)}."
    )


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def values_figure(record: PredictionRecord, path: Path) -> Figure:
    """Horizontal bars of a record's values (probabilities, expected outcomes) with intervals."""
    plt = _pyplot()
    items = [(k, v) for k, v in record.values.items() if isinstance(v, int | float)]
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(len(items), 1)), dpi=90)
    names = [k for k, _ in items]
    vals = [float(v) for _, v in items]
    ax.barh(names, vals, color="#4c78a8")
    for i, (k, v) in enumerate(items):
        band = (record.interval or {}).get(k)
        if band and None not in band:
            ax.plot(band, [i, i], color="black", lw=2)
        ax.text(float(v), i, f" {v:.3g}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("value (line: interval)" if record.interval else "value")
    ax.set_title(f"{record.model}: {record.prediction}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return Figure(f"{record.model}: values for {Path(record.input).name}", path, caption(record))


def survival_figure(record: PredictionRecord, path: Path) -> Figure:
    """The patient's survival curve with its pointwise band."""
    plt = _pyplot()
    d = record.details
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    ax.step(d["times"], d["survival"], where="post", color="#4c78a8", label="survival")
    if d.get("survival_low") and d.get("survival_high"):
        ax.fill_between(
            d["times"],
            d["survival_low"],
            d["survival_high"],
            step="post",
            alpha=0.3,
            color="#4c78a8",
            label="interval",
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"time ({d.get('time_unit') or 'unit not stated'})")
    ax.set_ylabel("survival probability")
    ax.set_title(record.model, fontsize=9)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return Figure(f"{record.model}: survival curve", path, caption(record))


__all__ = [
    "Figure",
    "caption",
    "describe_calibration",
    "describe_interval",
    "survival_figure",
    "values_figure",
]
