"""``precisionmed treatment``: fit treatment-effect models and recommend a treatment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.state import console, parse_key_values, print_json

app = typer.Typer(
    help="Treatment effects: fit an effect model on a study table, recommend for patients.",
    no_args_is_help=True,
)

MODELS = "slearner, tlearner, xlearner, tarnet, cfr, cfr-mmd, dragonnet"


@app.command("models")
def models_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the registered treatment-effect models and how each makes its intervals."""
    from precisionmed.treatment.models import EFFECT_MODELS

    rows = [{"name": s.name, "description": s.description, "interval": s.interval}
            for s in EFFECT_MODELS]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    table = Table("name", "description", "interval")
    for r in rows:
        table.add_row(r["name"], r["description"], r["interval"])
    console.print(table)


@app.command("fit")
def fit(
    csv: Path = typer.Option(..., help="Study table: CSV with a header, one patient per row."),
    treatment_column: str = typer.Option(..., help="Binary treatment column (two values)."),
    outcome_column: str = typer.Option(..., help="Numeric outcome column."),
    better: str = typer.Option(..., help="Which outcome values are better: lower or higher."),
    out: Path = typer.Option(..., help="Model directory to write."),
    model: str = typer.Option("tlearner", help=MODELS),
    covariates: str | None = typer.Option(
        None, help="Comma-separated covariate columns (default: every other column)."
    ),
    treated_value: str | None = typer.Option(
        None, help="The treatment value meaning 'treated' (needed unless 0/1 or true/false)."
    ),
    alpha: float = typer.Option(0.05, help="1 - the intervals' coverage (0.05: 95%)."),
    param: list[str] | None = typer.Option(
        None, "--param", help="Estimator parameter KEY=VALUE (e.g. n_bootstrap=50), repeatable."
    ),
    overwrite: bool = typer.Option(False, help="Replace a model already at --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Fit an effect model and the overlap model on your own table; write a model directory."""
    from precisionmed.artifacts import read_artifact
    from precisionmed.treatment.own_data import fit_treatment_model, read_study_csv

    covs = [c.strip() for c in covariates.split(",") if c.strip()] if covariates else None
    params = parse_key_values(param)
    table = read_study_csv(csv, treatment_column, outcome_column, covs, treated_value)
    path = fit_treatment_model(
        table,
        model=model,
        out=out,
        better=better,
        outcome_column=outcome_column,
        treatment_column=treatment_column,
        params=params,
        alpha=alpha,
        source=str(csv),
        overwrite=overwrite,
    )
    metrics = read_artifact(path).metrics
    if as_json:
        print_json({"model_dir": str(path), "metrics": metrics})
        return
    ate = metrics["ate"]
    console.print(
        f"Saved {path}. ATE {ate['value']:.3f} ({1 - alpha:.0%} interval {ate['low']:.3f} to "
        f"{ate['high']:.3f}); {metrics['overlap']['outside_support_share']:.1%} of the patients "
        "outside the common support."
    )


@app.command("recommend")
def recommend_(
    model_dir: Path = typer.Argument(..., help="A model directory from 'treatment fit'."),
    patient: Path | None = typer.Option(
        None, help="JSON file: one patient's {covariate: value}, or a list of them."
    ),
    csv: Path | None = typer.Option(None, help="CSV of patients, one per row."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Expected outcome under each treatment with intervals, and the recommendation."""
    import precisionmed
    from precisionmed.errors import ConfigError

    if (patient is None) == (csv is None):
        raise ConfigError("give exactly one of --patient FILE.json or --csv FILE.csv.")
    predictor = precisionmed.load(model_dir)
    records = predictor.predict(patient if patient is not None else csv)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    _print_records(records)


def _print_records(records: list[Any]) -> None:
    table = Table("patient", "treatment", "expected outcome (interval)", "recommendation")
    for r in records:
        first = True
        for cand in r.details["candidates"]:
            lo, hi = cand["interval"]
            table.add_row(
                r.input if first else "",
                cand["treatment"],
                f"{cand['expected_outcome']:.3f} ({lo:.3f} to {hi:.3f})",
                r.details["recommendation"] if first else "",
            )
            first = False
    console.print(table)
    for r in records:
        for w in r.warnings:
            console.print(f"{r.input}: {w}")
