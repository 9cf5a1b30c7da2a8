"""``precisionmed report CASE --models MODELS_DIR --out DIR``: one patient's report.

Registered as a top-level group in ``cli/main.py``; the group has no subcommands, its callback is
the command (so ``precisionmed report CASE ...`` reads as one command).
"""

from __future__ import annotations

from pathlib import Path

import typer

from precisionmed.cli.state import console, print_json

app = typer.Typer(
    help="Write a patient report: every applicable trained model run on one case.",
    context_settings={"allow_interspersed_args": True},  # CASE then options, as for a command
)


@app.callback(invoke_without_command=True)
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
    """Run every applicable model on the case; write report.html, report.json and FHIR resources."""
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
