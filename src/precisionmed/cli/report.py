"""``precisionmed report CASE --models MODELS_DIR --out DIR``: one patient's report.

A top-level command: ``cli/main.py`` calls :func:`register`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from precisionmed.cli.state import console, print_json


def register(app: typer.Typer) -> None:
    """Add ``report`` to the top-level ``precisionmed`` command."""
    app.command("report")(report)


def report(
    case: Path = typer.Argument(
        ...,
        help="A FHIR R4 Bundle (.json), a bulk FHIR export folder (NDJSON, with --patient) or a "
        "YAML/JSON case file (kind: case).",
    ),
    models: Path = typer.Option(..., "--models", help="Folder of trained model directories."),
    out: Path = typer.Option(..., "--out", help="Report folder to write."),
    patient: str = typer.Option(None, "--patient", help="Patient id in a bulk FHIR export."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json instead of a summary."),
) -> None:
    """Write a patient report: every applicable trained model run on one case (report.html,
    report.json and FHIR resources)."""
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.report import write_report
    from precisionmed.report.run import find_model_dirs

    for model_dir in find_model_dirs(models):
        check_outside_model_dir(out, model_dir)
    data = write_report(case, models, out, patient=patient)
    if as_json:
        print_json(data)
        return
    for section in data["sections"]:
        status = "[green]assessed[/]" if section["status"] == "assessed" else "not assessed"
        console.print(f"{section['title']}: {status}", highlight=False)
    console.print(f"Report: {Path(out) / 'report.html'}", highlight=False)
