"""``precisionmed genomics prs-model``: a PGS Catalog scoring file as a model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from precisionmed.cli.state import console, print_json


def _prs_model(
    score: Path = typer.Option(
        ..., "--score", help="A PGS Catalog scoring file (PGSxxxxxx.txt or .txt.gz)."
    ),
    out: Path = typer.Option(..., "--out", help="The model directory to write."),
    genome_build: str = typer.Option(
        None, help="The build of the score's positions where the file says NR (GRCh37, GRCh38)."
    ),
    ambiguous_max_maf: float = typer.Option(
        None,
        help="Keep a strand-ambiguous A/T or C/G SNP when its minor-allele frequency is below "
        "this in both files (default: report and skip them).",
    ),
    reference_mean: float = typer.Option(None, help="Mean of the score in a reference population."),
    reference_sd: float = typer.Option(None, help="Its standard deviation (gives a z-score)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already at --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A polygenic-score model directory for 'precisionmed report' and 'precisionmed.load'."""
    from precisionmed import load
    from precisionmed.genomics.prs_predictor import save_prs_model

    path = save_prs_model(score, out, genome_build=genome_build,
                          ambiguous_max_maf=ambiguous_max_maf, reference_mean=reference_mean,
                          reference_sd=reference_sd, overwrite=overwrite)  # fmt: skip
    pred = load(path)
    record = {"out": str(path), "model": pred.model_name, "model_version": pred.model_version,
              "pgs_id": pred.config["pgs_id"], "trait": pred.config["trait"],
              "genome_build": pred.config["genome_build"],
              "n_variants": len(pred.scoring.variants)}  # fmt: skip
    if as_json:
        print_json(record)
        return
    build = record["genome_build"] or "build NR"
    console.print(f"{record['model']} ({record['n_variants']} variants, {build}) saved to {path}")


def register(app: typer.Typer) -> None:
    """Add ``prs-model`` to the ``genomics`` group."""
    app.command("prs-model")(_prs_model)
