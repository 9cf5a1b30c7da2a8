"""``precisionmed genomics train-phaser`` and ``genomics phase``: haplotype phasing commands."""

from __future__ import annotations

from pathlib import Path

import typer

from precisionmed.cli.state import console, print_json


def _train_phaser(
    out: Path = typer.Option(..., help="The model directory to write."),
    simulate: str = typer.Option(
        None,
        help="Simulate the panel under this stdpopsim HomSap model (OutOfAfrica_3G09...) "
        "or 'constant'.",
    ),
    population: str = typer.Option(None, help="--simulate: the population (default: the first)."),
    samples: int = typer.Option(200, min=4, help="--simulate: diploid individuals."),
    length: int = typer.Option(1_000_000, min=1000, help="--simulate: span in bp."),
    contig: str = typer.Option(
        None, help="--simulate: a HomSap chromosome (chr20) to take positions from."
    ),
    left: int = typer.Option(None, min=0, help="--simulate: 0-based start on --contig."),
    recombination_map: Path = typer.Option(
        None, help="--simulate: a HapMap-format recombination map (default uniform)."
    ),
    panel: Path = typer.Option(None, help="Or your phased reference panel VCF (a|b calls)."),
    region: str = typer.Option(None, help="--panel: only this region (chr:start-end)."),
    min_maf: float = typer.Option(0.01, min=0.0, max=0.5, help="Leave out rarer panel sites."),
    window: int = typer.Option(64, min=2, help="Sites per network window."),
    overlap: int = typer.Option(24, min=1, help="Sites shared by consecutive windows."),
    epochs: int = typer.Option(8, min=1, help="Maximum training epochs."),
    train_windows: int = typer.Option(20_000, min=100, help="Training windows per epoch."),
    seed: int = typer.Option(0, help="Seeds the simulation, the windows and the network."),
    overwrite: bool = typer.Option(False, help="Replace a model already at --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train the phasing network on a simulated or given reference panel."""
    from precisionmed.errors import ConfigError
    from precisionmed.genomics.phasing.phaser import train_phaser
    from precisionmed.genomics.phasing.simulate import read_panel_vcf, simulate_panel

    if (simulate is None) == (panel is None):
        raise ConfigError("Give exactly one of --simulate POP_MODEL or --panel panel.vcf.gz.")
    if simulate is not None:
        ref_panel = simulate_panel(simulate, population, n_samples=samples, length=length,
                                   seed=seed, contig=contig, left=left,
                                   recombination_map=recombination_map)  # fmt: skip
    else:
        ref_panel = read_panel_vcf(panel, region=region)
    training = {"window": window, "overlap": overlap, "max_epochs": epochs,
                "n_train": train_windows}  # fmt: skip
    metrics = train_phaser(ref_panel, out, seed=seed, min_maf=min_maf, training=training,
                           overwrite=overwrite, progress=not as_json)  # fmt: skip
    if as_json:
        print_json({"out": str(out), **metrics})
        return
    val, sizes = metrics["val"], metrics["sizes"]
    console.print(
        f"{sizes['sites']} sites, {sizes['panel_individuals']} panel individuals; switch error "
        f"rate on {sizes['val_individuals']} held-out panel individuals "
        f"{val['switch_error_rate']:.4f}; written to {out}",
        highlight=False,
    )


def _phase(
    model_dir: Path = typer.Argument(..., help="A model directory written by 'train-phaser'."),
    vcf: Path = typer.Option(..., "--vcf", help="The unphased VCF/BCF (every sample is phased)."),
    out: Path = typer.Option(..., help="The phased VCF to write (.vcf.gz, tabix-indexed)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Phase the unphased heterozygous calls of a VCF: GT a|b with PM_PHASE_P beside it."""
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.genomics.phasing.phaser import load_phaser
    from precisionmed.genomics.phasing.vcf_phasing import phase_vcf
    from precisionmed.genomics.vcf import check_vcf_output

    check_vcf_output(out)
    check_outside_model_dir(out, model_dir)
    report = phase_vcf(load_phaser(model_dir), vcf, out, progress=not as_json)
    if as_json:
        print_json(report.to_dict())
        return
    c = report.counts
    console.print(
        f"{c['phased']} heterozygous calls phased ({report.samples} samples, "
        f"{report.matched_sites} panel sites in the VCF); left unphased: {c['not_in_panel']} not "
        f"in the panel, {c['multiallelic']} multi-allelic; {c['already_phased']} already phased; "
        f"written to {report.out}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``train-phaser`` and ``phase`` to the ``genomics`` group."""
    app.command("train-phaser")(_train_phaser)
    app.command("phase")(_phase)
