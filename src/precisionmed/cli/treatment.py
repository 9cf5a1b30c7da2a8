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

MODELS = "slearner, tlearner, xlearner, tarnet, cfr, cfr-mmd, dragonnet; cox-tlearner (survival)"


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
    out: Path = typer.Option(..., help="Model directory to write."),
    csv: Path | None = typer.Option(
        None, help="Study table: CSV with a header, one patient per row (or give --dataset)."
    ),
    dataset: str | None = typer.Option(
        None, help="A causal dataset of the catalog instead: ihdp, nhefs, deepsurv-sim-treatment."
    ),
    realisation: int = typer.Option(1, help="--dataset ihdp: which realisation (1-25)."),
    treatment_column: str | None = typer.Option(
        None, help="--csv: binary treatment column (two values)."
    ),
    outcome_column: str | None = typer.Option(
        None, help="--csv: numeric outcome column (with --event-column: the follow-up time)."
    ),
    better: str | None = typer.Option(
        None, help="--csv: which outcome values are better, lower or higher (datasets know)."
    ),
    model: str = typer.Option("tlearner", help=MODELS),
    covariates: str | None = typer.Option(
        None, help="Comma-separated covariate columns (default: every other column)."
    ),
    treated_value: str | None = typer.Option(
        None, help="The treatment value meaning 'treated' (needed unless 0/1 or true/false)."
    ),
    event_column: str | None = typer.Option(
        None,
        help="Survival outcomes: event column (1 event, 0 censored); use --model cox-tlearner.",
    ),
    arm_names: str | None = typer.Option(
        None,
        help="Names of the control and treated arms for reports, comma-separated "
        "(default: the treatment column's values).",
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
    from precisionmed.errors import ConfigError
    from precisionmed.treatment.own_data import (
        fit_treatment_model,
        read_study_csv,
        study_table_from_dataset,
    )

    if (csv is None) == (dataset is None):
        raise ConfigError("give exactly one of --csv FILE or --dataset NAME.")
    if csv is not None:
        if not treatment_column or not outcome_column or not better:
            raise ConfigError(
                "--csv needs --treatment-column, --outcome-column and --better (lower or higher)."
            )
        covs = [c.strip() for c in covariates.split(",") if c.strip()] if covariates else None
        table = read_study_csv(
            csv, treatment_column, outcome_column, covs, treated_value, event_column
        )
        source = str(csv)
    else:
        kwargs = {"realisation": realisation} if str(dataset).lower() == "ihdp" else {}
        table, outcome_column, known = study_table_from_dataset(str(dataset), **kwargs)
        better = better or known
        treatment_column = "treatment"
        source = f"{dataset}" + (f" realisation {realisation}" if kwargs else "")
    params = parse_key_values(param)
    if arm_names:
        names = [n.strip() for n in arm_names.split(",")]
        if len(names) != 2 or not all(names):
            raise ConfigError(
                f"--arm-names: expected two names 'control,treated'; got {arm_names!r}."
            )
        table.treatment_names = names
    path = fit_treatment_model(
        table,
        model=model,
        out=out,
        better=better,
        outcome_column=outcome_column,
        treatment_column=treatment_column,
        params=params,
        alpha=alpha,
        source=source,
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
