"""Model cards (Mitchell et al., 2019): what a model is for, what it saw, how well it does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelCard:
    """The human part of a model card; metrics are added from ``metrics.json``.

    Attributes
    ----------
    title : str
        e.g. ``"reference-cnn on pneumoniamnist"``.
    intended_use : str
        Who should use it for what, and what it is not for.
    training_data : str
        Dataset, version/checksum, split sizes.
    limitations : list of str
        Known limits (population, resolution, calibration, ...).
    details : dict
        Architecture and training details, shown as a table.
    """

    title: str
    intended_use: str
    training_data: str
    limitations: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, Mapping) and {"value", "low", "high"} <= set(value):
        return f"{value['value']:.4f} (95% CI {value['low']:.4f}-{value['high']:.4f})"
    return str(value)


def _metric_rows(metrics: Mapping[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not ({"value", "low", "high"} <= set(value)):
            rows += _metric_rows(value, prefix=f"{name}.")
        elif isinstance(value, (int, float, Mapping)) and not isinstance(value, bool):
            rows.append(f"| {name} | {_fmt(value)} |")
    return rows


def write_model_card(path: Path, card: ModelCard, metrics: Mapping[str, Any]) -> Path:
    """Write ``model_card.md``."""
    lines = [f"# Model card: {card.title}", "", "## Intended use", card.intended_use, ""]
    lines += ["## Training data", card.training_data, ""]
    if card.details:
        lines += ["## Model details", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in card.details.items()]
        lines.append("")
    rows = _metric_rows(metrics)
    if rows:
        lines += ["## Metrics", "| metric | value |", "|---|---|", *rows, ""]
    lines += ["## Limitations"]
    lines += [f"- {item}" for item in card.limitations] or ["- None recorded."]
    lines += [
        "- Research software: not a medical device; predictions must be reviewed by a clinician.",
        "",
    ]
    path.write_text("\n".join(lines))
    return path
