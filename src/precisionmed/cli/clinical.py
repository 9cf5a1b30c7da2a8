"""``precisionmed clinical``: train, evaluate and apply disease-risk and survival models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.state import console, parse_key_values, print_json

app = typer.Typer(
    help="Clinical prediction: risk classifiers and survival models.", no_args_is_help=True
)

MODEL_HELP = "svm, rf, gbm, dnn (classification); coxph, rsf, deepsurv, deephit (survival)."


def _ci(m: dict[str, Any]) -> str:
    return f"{m['value']:.3f} (95% CI {m['low']:.3f} to {m['high']:.3f})"


def _print_metrics(metrics: dict[str, Any]) -> None:
    table = Table("metric", "value")
    for key, value in metrics.items():
        if isinstance(value, dict) and {"value", "low", "high"} <= set(value):
            table.add_row(key, _ci(value))
    console.print(table)


@app.command("models")
def models_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the registered clinical models."""
    from precisionmed.clinical.models import list_models

    rows = [{"name": s.name, "task": s.task, "description": s.description} for s in list_models()]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "task", "description")
    for r in rows:
        table.add_row(r["name"], r["task"], r["description"])
    console.print(table)


# Where the patients come from: a catalog cohort or the user's own CSV (train and evaluate).
DATASET = typer.Option(None, help="A clinical dataset of the catalog, e.g. gbsg2 (or give --csv).")
CSV = typer.Option(
    None,
    help="Your own cohort: a CSV with a header row, one patient per line (or give --dataset); "
    "name its outcome with --time-column and --event-column, or --target-column.",
)
TIME_COLUMN = typer.Option(None, help="--csv survival: follow-up time column (> 0).")
EVENT_COLUMN = typer.Option(
    None, help="--csv survival: event column (1/true = event observed, 0/false = censored)."
)
TARGET_COLUMN = typer.Option(
    None, help="--csv classification: binary outcome column (1/true = positive class)."
)
ID_COLUMN = typer.Option(None, help="--csv: patient identifier column (not a feature).")
CATEGORICAL_COLUMN = typer.Option(
    None,
    "--categorical-column",
    help="--csv: treat this column as categories even if its values are numbers (repeatable).",
)
TIME_UNIT = typer.Option("days", help="--csv survival: unit of the times.")


def _cohort(dataset: str | None, csv: Path | None, **columns: Any) -> Any:
    """The catalog cohort ``dataset`` or the user's ``csv`` (exactly one) as ClinicalData."""
    from precisionmed.errors import ConfigError

    if (dataset is None) == (csv is None):
        raise ConfigError("Give either --dataset (a catalog cohort) or --csv (your own file).")
    if csv is None:
        if any(v for k, v in columns.items() if k != "time_unit"):
            raise ConfigError(
                "--time-column, --event-column, --target-column, --id-column and "
                "--categorical-column describe a --csv file; a --dataset has its own outcome."
            )
        from precisionmed.data import load_dataset

        return load_dataset(str(dataset))
    from precisionmed.clinical.csv_cohort import load_clinical_csv

    columns["categorical_columns"] = columns["categorical_columns"] or ()
    return load_clinical_csv(csv, **columns)


@app.command()
def train(
    dataset: str = DATASET,
    csv: Path = CSV,
    time_column: str = TIME_COLUMN,
    event_column: str = EVENT_COLUMN,
    target_column: str = TARGET_COLUMN,
    id_column: str = ID_COLUMN,
    categorical_column: list[str] = CATEGORICAL_COLUMN,
    time_unit: str = TIME_UNIT,
    model: str = typer.Option(..., help=MODEL_HELP),
    out: Path = typer.Option(..., help="Model directory to write."),
    cv: int = typer.Option(0, help="Also report k-fold cross-validated scores (0: no CV)."),
    seed: int = typer.Option(0, min=0, help="Seed of the split, the model and the bootstraps."),
    representation: str = typer.Option(
        "none", help="'autoencoder' puts a denoising autoencoder before the model."
    ),
    param: list[str] = typer.Option(
        None, "--param", help="Model hyper-parameter KEY=VALUE (repeatable)."
    ),
    representation_param: list[str] = typer.Option(
        None, "--representation-param", help="Autoencoder hyper-parameter KEY=VALUE."
    ),
    scaling: str = typer.Option(
        "standard", help="Numeric columns: 'standard' (z-score) or 'quantile' (rank-based)."
    ),
    interval_models: int = typer.Option(
        None,
        help="Bootstrap refits stored for prediction intervals: 0 for none, else at least 2 "
        "(their range is the interval; 39 or more give a 95% one). Default: per model.",
    ),
    n_boot: int = typer.Option(1000, min=1, help="Bootstrap resamples of the metric intervals."),
    explain: bool = typer.Option(True, help="Write SHAP plots and permutation importance."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a model already in --out (refused otherwise)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train a model on a dataset (or your own CSV), evaluate it on held-out patients, save it."""
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.errors import ConfigError

    if cv == 1 or cv < 0:
        raise ConfigError(f"--cv must be 0 (off) or at least 2; got {cv}.")
    data = _cohort(
        dataset, csv, time_column=time_column, event_column=event_column,
        target_column=target_column, id_column=id_column,
        categorical_columns=categorical_column, time_unit=time_unit,
    )  # fmt: skip
    dataset = data.name
    metrics = train_clinical_model(
        data,
        model,
        out,
        cv=cv or None,
        seed=seed,
        representation=representation,
        params=parse_key_values(param),
        representation_params=parse_key_values(representation_param, "--representation-param"),
        interval_models=interval_models,
        n_boot=n_boot,
        explain=explain,
        scaling=scaling,
        overwrite=overwrite,
    )
    if as_json:
        print_json({"model_dir": str(out), "model": model, "dataset": dataset, **metrics})
        return
    console.print(f"[bold]{model}[/] on [bold]{dataset}[/]: held-out test", highlight=False)
    _print_metrics(metrics["test"])
    if "cv" in metrics:
        c = metrics["cv"]
        console.print(f"{cv}-fold CV {c['metric']}: {c['mean']:.3f} +/- {c['std']:.3f}")
    console.print(f"saved to {out}", highlight=False)


@app.command()
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory written by 'clinical train'."),
    dataset: str = DATASET,
    csv: Path = CSV,
    time_column: str = TIME_COLUMN,
    event_column: str = EVENT_COLUMN,
    target_column: str = TARGET_COLUMN,
    id_column: str = ID_COLUMN,
    categorical_column: list[str] = CATEGORICAL_COLUMN,
    time_unit: str = TIME_UNIT,
    n_boot: int = typer.Option(1000, min=1, help="Bootstrap resamples of the metric intervals."),
    seed: int = typer.Option(0, min=0, help="Seed of the bootstrap."),
    out: Path = typer.Option(
        None, help="Also write metrics.json and the evaluation plots here (outside MODEL_DIR)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Evaluate a saved model (held-out split of its own dataset, or all of another one)."""
    import precisionmed
    from precisionmed.clinical.training import evaluate_saved_model

    data = _cohort(
        dataset, csv, time_column=time_column, event_column=event_column,
        target_column=target_column, id_column=id_column,
        categorical_columns=categorical_column, time_unit=time_unit,
    )  # fmt: skip
    dataset = data.name
    predictor = precisionmed.load(model_dir)
    result = evaluate_saved_model(predictor, data, n_boot=n_boot, seed=seed, out_dir=out)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{model_dir} (version {predictor.model_version[:12]}) on [bold]{dataset}[/] "
        f"({result['patients']}, n={result['n']})",
        highlight=False,
    )
    _print_metrics(result)
    if out is not None:
        console.print(f"metrics and plots: {out}", highlight=False)


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="A model directory written by 'clinical train'."),
    patients: Path = typer.Argument(..., help="CSV with a header row, one patient per line."),
    out: Path = typer.Option(
        None,
        help="Also write here: predictions.json and predictions.csv; survival models also "
        "survival_curves.csv/.npz (one table on the model's time grid), "
        "survival_by_risk_group.png and survival_curves.png (a few patients).",
    ),
    id_column: str = typer.Option(
        None, help="Column identifying each patient: shown beside each prediction."
    ),
    ids: str = typer.Option(
        None,
        help="--out: the patients whose curves survival_curves.png draws, comma-separated "
        "(values of --id-column, else row numbers); default: the first 10.",
    ),
    time_column: str = typer.Option(
        None, help="--out: observed follow-up time column, for Kaplan-Meier curves per group."
    ),
    event_column: str = typer.Option(
        None, help="--out: observed event column (1 = event, 0 = censored), with --time-column."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Refuse (one-line error, nothing written) an unknown column, a missing cell or a "
        "value outside the training range, instead of a warning on the prediction.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Predict risk (with interval) for each patient of a CSV; survival: median time and curve.

    Unknown columns, imputed cells and values outside the training range are warnings on each
    prediction (--strict: errors); a value beyond half the training range's width outside it
    makes the patient's prediction abstain (no values)."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.clinical.schema import read_patients_csv
    from precisionmed.errors import ConfigError
    from precisionmed.predict import write_records

    if out is not None:
        check_outside_model_dir(out, model_dir)
    if (time_column is None) != (event_column is None):
        raise ConfigError("Give both --time-column and --event-column (or neither).")
    if out is None and (ids or time_column):
        raise ConfigError("--ids, --time-column and --event-column describe the --out files.")
    predictor = precisionmed.load(model_dir)
    raw = read_patients_csv(patients)
    outcome = [c for c in (time_column, event_column) if c]
    prediction = predictor.predict_table(
        raw, source=str(patients), id_column=id_column, strict=strict, known_columns=outcome
    )
    if out is not None:
        from precisionmed.clinical.cohort_output import write_cohort_outputs
        from precisionmed.clinical.csv_cohort import observed_survival

        observed = (
            observed_survival(raw, patients, time_column, event_column) if time_column else None
        )
        chosen = [i.strip() for i in ids.split(",") if i.strip()] if ids else None
        write_cohort_outputs(predictor, prediction, out, ids=chosen, observed=observed)
        write_records(predictor.records(prediction, curves=False), out)
    if as_json:
        print_json([r.to_dict() for r in predictor.records(prediction)])
        return
    _print_prediction(prediction, id_column, limit=None if out is None else TERMINAL_ROWS)
    if out is not None:
        console.print(f"all {len(prediction.patients)} predictions: {out}", highlight=False)
    console.print(f"interval: {prediction.interval}", highlight=False)
    console.print(
        f"model: {predictor.model_name} (version {str(predictor.model_version)[:12]})",
        highlight=False,
    )


#: With --out, the terminal shows this many patients (every one is in the files).
TERMINAL_ROWS = 20


def _print_prediction(prediction: Any, id_column: str | None, *, limit: int | None) -> None:
    """The prediction table, then its warnings (each column-wide one once)."""
    level = f"{prediction.interval_level:.0%} interval"
    first = "row" if id_column is None else id_column
    shown = prediction.patients if limit is None else prediction.patients[:limit]

    def who(r: dict[str, Any]) -> str:
        return str(r.get("id", r["row"]))

    if prediction.task == "classification":
        table = Table(first, "probability", level)
        for r in shown:
            if r["abstained"]:
                table.add_row(who(r), "abstained", "-")
                continue
            interval = f"{r['low']:.3f} to {r['high']:.3f}" if "low" in r else "-"
            table.add_row(who(r), f"{r['probability']:.3f}", interval)
    else:
        unit = prediction.time_unit
        table = Table(first, "risk", level, f"median survival ({unit})", level)
        for r in shown:
            if r["abstained"]:
                table.add_row(who(r), "abstained", "-", "-", "-")
                continue
            med = r["median_survival_time"]
            lo, hi = r.get("median_survival_low"), r.get("median_survival_high")
            table.add_row(
                who(r),
                f"{r['risk']:.3f}",
                f"{r['risk_low']:.3f} to {r['risk_high']:.3f}" if "risk_low" in r else "-",
                _fmt_time(med),
                "-" if "risk_low" not in r else f"{_fmt_time(lo)} to {_fmt_time(hi)}",
            )
    console.print(table)
    if limit is not None and len(prediction.patients) > limit:
        console.print(f"(first {limit} of {len(prediction.patients)} patients)", highlight=False)
    warnings = prediction.warnings
    for w in warnings if limit is None else warnings[:limit]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if limit is not None and len(warnings) > limit:
        console.print(
            f"... and {len(warnings) - limit} more warning(s), in predictions.csv",
            highlight=False,
        )


def _fmt_time(t: float | None) -> str:
    return "not reached" if t is None else f"{t:.0f}"
