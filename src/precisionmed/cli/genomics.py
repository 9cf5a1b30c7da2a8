"""``precisionmed genomics``: DNA sequence models (train, evaluate, predict), variant and
haplotype scoring, polygenic scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.state import console, parse_key_values, print_json

app = typer.Typer(help="Genomics: DNA sequence models (CNN, BiLSTM, DanQ).", no_args_is_help=True)

_DATASET = typer.Option(None, help="A DNA set of the catalog (gue-tf0, uci-splice...).")
_DATA_DIR = typer.Option(None, help="Your folder in GUE's layout: train.csv, dev.csv, test.csv.")
_CSV = typer.Option(None, help="Your one table of sequences and labels (split here, seeded).")
_SEQ_COL = typer.Option("sequence", help="--data-dir / --csv: the sequence column.")
_N_BOOT = typer.Option(1000, min=0, help="Bootstrap resamples of the metrics' 95% intervals.")
_LABEL_COL = typer.Option(
    "label", help="--data-dir / --csv: the label column (comma-separated 0/1 columns: multi-label)."
)


def _data(
    dataset: str | None,
    data_dir: Path | None,
    csv: Path | None,
    sequence_column: str,
    label_column: str,
    seed: int,
) -> Any:
    from precisionmed.errors import ConfigError

    given = [o for o, v in (("--dataset", dataset), ("--data-dir", data_dir), ("--csv", csv)) if v]
    if len(given) != 1:
        raise ConfigError(
            "Give exactly one of --dataset (a catalog set, e.g. gue-tf0), --data-dir (a folder "
            f"with train.csv, dev.csv, test.csv) or --csv (one table); got {given or 'none'}."
        )
    labels = [c.strip() for c in label_column.split(",") if c.strip()]
    if dataset:
        from precisionmed.data import get_dataset, load_dataset

        if get_dataset(dataset).modality != "dna":
            raise ConfigError(
                f"--dataset {dataset}: not a DNA sequence set; run 'precisionmed data list' "
                "(modality dna)."
            )
        return load_dataset(dataset)
    from precisionmed.data.sources.genomics import read_sequence_csv, read_sequence_dir

    if data_dir is not None:
        return read_sequence_dir(data_dir, sequence_column=sequence_column, label_columns=labels)
    return read_sequence_csv(
        csv,  # type: ignore[arg-type]
        sequence_column=sequence_column,
        label_columns=labels,
        sep="\t" if str(csv).endswith((".tsv", ".tsv.gz")) else ",",
        seed=seed,
    )


def _print_metrics(title: str, metrics: dict[str, Any]) -> None:
    table = Table(title, "value", "95% CI")
    for key, m in metrics.items():
        ci = f"{m['low']:.3f}-{m['high']:.3f}" if "low" in m else "-"
        table.add_row(key, f"{m['value']:.3f}", ci)
    console.print(table)


@app.command()
def train(
    dataset: str = _DATASET,
    data_dir: Path = _DATA_DIR,
    csv: Path = _CSV,
    sequence_column: str = _SEQ_COL,
    label_column: str = _LABEL_COL,
    model: str = typer.Option("cnn", help="cnn (Basset-style), bilstm, or danq (CNN + BiLSTM)."),
    out: Path = typer.Option(..., help="Model directory to write."),
    max_epochs: int = typer.Option(None, min=1, help="Default: the model's (30)."),
    batch_size: int = typer.Option(None, min=1, help="Default: the model's (64)."),
    lr: float = typer.Option(None, min=0.0, help="Default: the model's (1e-3)."),
    seed: int = typer.Option(0, min=0, help="Seed of the --csv split and of the network."),
    subset: int = typer.Option(
        None, min=2, help="Keep at most N random sequences of each split (a quick run)."
    ),
    param: list[str] = typer.Option(
        None, "--param", help="Model hyper-parameter KEY=VALUE (repeatable), e.g. channels=64."
    ),
    n_boot: int = _N_BOOT,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train a sequence model, evaluate it on the test split (both strands), save it."""
    from precisionmed.errors import require_extra

    require_extra("pysam", "genomics")
    from precisionmed.genomics.training import train_sequence_model

    data = _data(dataset, data_dir, csv, sequence_column, label_column, seed)
    if subset:
        data = data.subset(subset, seed=seed)
    params = parse_key_values(param)
    for key, value in (("max_epochs", max_epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            params[key] = value
    metrics = train_sequence_model(
        data, model, out, seed=seed, params=params, n_boot=n_boot, overwrite=overwrite,
        progress=not as_json,
    )  # fmt: skip
    if as_json:
        print_json({"model_dir": str(out), **metrics})
        return
    console.print(
        f"[bold]{model}[/] on [bold]{data.name}[/] ({data.task}, {metrics['sizes']})",
        highlight=False,
    )
    _print_metrics("test metric (both strands)", metrics["test"])
    console.print(f"saved to {out}", highlight=False)


@app.command()
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory written by 'genomics train'."),
    dataset: str = _DATASET,
    data_dir: Path = _DATA_DIR,
    csv: Path = _CSV,
    sequence_column: str = _SEQ_COL,
    label_column: str = _LABEL_COL,
    split: str = typer.Option("test", help="train, val or test."),
    seed: int = typer.Option(0, min=0, help="Seed of the --csv split."),
    out: Path = typer.Option(None, help="Also write metrics.json and roc.png here."),
    n_boot: int = _N_BOOT,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Evaluate a saved sequence model on a split: MCC, AUC, accuracy with intervals."""
    import json

    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.errors import ConfigError
    from precisionmed.genomics.models import sequence_metrics
    from precisionmed.genomics.training import plot_roc

    if out is not None:
        check_outside_model_dir(out, model_dir)
    predictor = precisionmed.load(model_dir)
    data = _data(dataset, data_dir, csv, sequence_column, label_column, seed)
    if split not in data.sequences:
        raise ConfigError(f"--split {split}: expected one of {sorted(data.sequences)}.")
    if list(data.class_names) != predictor.class_names:
        raise ConfigError(
            f"{data.name}: classes {data.class_names}; the model was trained on "
            f"{predictor.class_names}."
        )
    prob = predictor.predict_sequences(data.sequences[split])
    y = data.labels[split]
    metrics = {
        "dataset": data.name, "split": split, "n": len(y),
        "metrics": sequence_metrics(y, prob, predictor.task, n_boot=n_boot),
    }  # fmt: skip
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_roc(y, prob, predictor.task, predictor.class_names, out / "roc.png")
    if as_json:
        print_json(metrics)
        return
    _print_metrics(f"{split} metric (n={len(y)}, both strands)", metrics["metrics"])


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="A model directory written by 'genomics train'."),
    sequences: Path = typer.Argument(..., help="A FASTA file, or one sequence per line."),
    out: Path = typer.Option(None, help="Also write predictions.json here (outside MODEL_DIR)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Predict the class probabilities of every sequence of a file (both strands averaged)."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.predict import write_records

    if out is not None:
        check_outside_model_dir(out, model_dir)
    predictor = precisionmed.load(model_dir)
    records = predictor.predict(sequences)
    if out is not None:
        write_records(records, out)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    names = predictor.class_names
    table = Table("sequence", "prediction", *names[:6])
    for r in records:
        cells = [f"{r.values[n]:.3f}" for n in names[:6]]
        table.add_row(r.input, str(r.prediction), *cells)
    console.print(table)


_RENAME = typer.Option(
    None, help="Reconcile contig names ('20' vs 'chr20'): add-chr, strip-chr or auto."
)


def _rename(value: str | None) -> Any:
    """``--rename-contigs`` checked here, so a typo is a one-line usage error."""
    from precisionmed.errors import ConfigError

    if value not in (None, "add-chr", "strip-chr", "auto"):
        raise ConfigError(f"--rename-contigs: expected add-chr, strip-chr or auto; got {value!r}.")
    return value


@app.command()
def prs(
    vcf: Path = typer.Option(..., "--vcf", help="The patient's VCF or BCF (bgzipped or plain)."),
    score: Path = typer.Option(
        ..., "--score", help="A PGS Catalog scoring file (PGSxxxxxx.txt or .txt.gz)."
    ),
    sample: str = typer.Option(None, help="The sample to score (default: the VCF's only one)."),
    fasta: Path = typer.Option(None, help="Reference FASTA to check the VCF's REF alleles."),
    rename_contigs: str = _RENAME,
    vcf_build: str = typer.Option(
        None, help="The VCF's genome build (GRCh37, hg19, GRCh38...), checked against the score's."
    ),
    ambiguous_max_maf: float = typer.Option(
        None,
        help="Keep a strand-ambiguous A/T or C/G SNP when its minor-allele frequency is below "
        "this in both files (default: report and skip them).",
    ),
    reference_mean: float = typer.Option(None, help="Mean of the score in a reference population."),
    reference_sd: float = typer.Option(None, help="Its standard deviation (gives a z-score)."),
    out: Path = typer.Option(None, help="Also write OUT/prs.json."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Polygenic risk score of one VCF sample from a PGS Catalog scoring file."""
    from precisionmed.genomics.prs import polygenic_score

    result = polygenic_score(
        score,
        vcf,
        sample=sample,
        reference=fasta,
        rename_contigs=_rename(rename_contigs),
        vcf_genome_build=vcf_build,
        ambiguous_max_maf=ambiguous_max_maf,
        reference_mean=reference_mean,
        reference_sd=reference_sd,
    )
    record = result.to_dict()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "prs.json").write_text(json.dumps(record, indent=2))
    if as_json:
        print_json(record)
        return
    table = Table("", "value", title=f"{result.pgs_id or score.name} for sample {result.sample}")
    table.add_row("score (sum of dosage x weight)", f"{result.score:.6g}")
    if result.z_score is not None:
        table.add_row("z-score against the reference", f"{result.z_score:.3f}")
    table.add_row("variants scored", f"{result.n_matched} of {result.n_variants}")
    table.add_row(
        "coverage: variants / weight",
        f"{result.variant_coverage:.1%} / {result.weight_coverage:.1%}",
    )
    for kind, count in sorted(result.issue_counts.items()):
        table.add_row(f"not scored: {kind}", str(count))
    console.print(table)


_MODEL_DIR = typer.Argument(..., help="A model directory written by 'genomics train'.")
_FASTA = typer.Option(..., "--fasta", help="Reference FASTA (plain or bgzipped, indexed).")
_WINDOW = typer.Option(None, min=1, help="Window length in bases (default: the model's).")


@app.command("score-variants")
def score_variants(
    model_dir: Path = _MODEL_DIR,
    vcf: Path = typer.Option(..., "--vcf", help="VCF/BCF of the variants to score."),
    fasta: Path = _FASTA,
    out: Path = typer.Option(..., help="Output VCF (.vcf.gz, tabix-indexed), PM_* INFO fields."),
    tsv: Path = typer.Option(None, help="Also write one row per variant (and per unscored one)."),
    window: int = _WINDOW,
    rename_contigs: str = _RENAME,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Each variant's predicted effect: the model on its reference and alternate windows."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.genomics.variant_effect import score_variants as score
    from precisionmed.genomics.vcf import check_vcf_output

    check_vcf_output(out)  # before the scoring, not after it
    for path in (out, tsv):
        if path is not None:
            check_outside_model_dir(path, model_dir)
    predictor = precisionmed.load(model_dir)
    result = score(predictor, vcf, fasta, window=window, rename_contigs=_rename(rename_contigs),
                   progress=not as_json)  # fmt: skip
    result.write_vcf(out)
    if tsv is not None:
        result.write_tsv(tsv)
    summary = {**result.summary(), "out": str(out), "tsv": None if tsv is None else str(tsv)}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{summary['scored']} variants scored of {summary['records']} records "
        f"({summary['window']} bp windows); written to {out}",
        highlight=False,
    )
    for kind, count in sorted(summary["issues"].items()):
        console.print(f"  {kind}: {count}", highlight=False)
    table = Table("variant", *[f"diff {c}" for c in result.columns[:4]], title="largest effects")
    for row in summary["largest_effects"]:
        table.add_row(row["variant"], *[f"{d:+.4f}" for d in row["diff"][:4]])
    console.print(table)


@app.command()
def haplotypes(
    model_dir: Path = _MODEL_DIR,
    vcf: Path = typer.Option(..., "--vcf", help="The sample's (phased) VCF/BCF."),
    fasta: Path = _FASTA,
    regions: Path = typer.Option(..., "--regions", help="BED file of regions (genes...)."),
    sample: str = typer.Option(None, help="The sample (default: the VCF's only one)."),
    window: int = _WINDOW,
    rename_contigs: str = _RENAME,
    out: Path = typer.Option(None, help="Also write OUT/haplotypes.json and OUT/haplotypes.tsv."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Per region, the largest predicted disruption of each of a sample's two haplotypes."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.genomics.haplotype_effect import score_haplotypes

    if out is not None:
        check_outside_model_dir(out, model_dir)
    predictor = precisionmed.load(model_dir)
    result = score_haplotypes(
        predictor,
        vcf,
        fasta,
        regions,
        sample=sample,
        window=window,
        rename_contigs=_rename(rename_contigs),
        progress=not as_json,
    )
    if out is not None:
        result.write(out)
    if as_json:
        print_json(result.to_dict())
        return
    table = Table("region", "windows", "hap 1 |diff|", "hap 2 |diff|", "unphased", title=(
        f"sample {result.sample}, {result.window} bp windows"))  # fmt: skip
    for r in result.regions:
        h1, h2 = r["haplotypes"]
        table.add_row(r["region"], str(len(r["windows"])), f"{h1['max_abs_diff']:.4f}",
                      f"{h2['max_abs_diff']:.4f}", str(len(r["unphased"])))  # fmt: skip
    console.print(table)


@app.command()
def mutagenesis(
    model_dir: Path = _MODEL_DIR,
    sequence: str = typer.Option(..., help="The DNA sequence to mutate (e.g. the model's length)."),
    out: Path = typer.Option(..., help="The PNG to write (its values beside it as .json)."),
    output: str = typer.Option(None, help="The class / label to draw (default: the first output)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """In-silico saturation mutagenesis of one sequence: a logo of importances and a heat map."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.errors import ConfigError
    from precisionmed.genomics.mutagenesis import plot_mutagenesis, saturation_mutagenesis
    from precisionmed.genomics.variant_effect import output_columns

    check_outside_model_dir(out, model_dir)
    predictor = precisionmed.load(model_dir)
    columns = output_columns(predictor)
    if output is not None and output not in columns:
        raise ConfigError(f"--output {output}: expected one of {columns}")
    column = 0 if output is None else columns.index(output)
    result = saturation_mutagenesis(predictor, sequence, progress=not as_json)
    plot_mutagenesis(result, out, output=column)
    if as_json:
        print_json({"png": str(out), **result.to_dict(column)})
        return
    import numpy as np

    top = np.argsort(-np.abs(result.importance(column)))[:5]
    console.print(
        f"{result.columns[column]}: reference {result.reference[column]:.3f}; most important "
        f"positions {', '.join(f'{i}{result.sequence[i]}' for i in top)}; written to {out}",
        highlight=False,
    )


@app.command()
def attribute(
    model_dir: Path = _MODEL_DIR,
    sequence: str = typer.Option(None, help="The DNA sequence to explain."),
    fasta: Path = typer.Option(None, "--fasta", help="Or a FASTA (one logo per record)."),
    out: Path = typer.Option(
        ..., help="The PNG to write (several records: OUT-1.png, OUT-2.png...; values as .json)."
    ),
    output: str = typer.Option(None, help="The class / label to explain (default: the first)."),
    baseline: str = typer.Option("uniform", help="uniform (N at every base), zeros or shuffle."),
    n_steps: int = typer.Option(50, min=1, help="Integration points along the path."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (a list)."),
) -> None:
    """Integrated-gradients attributions (Captum) drawn as a sequence logo, both strands."""
    import numpy as np
    from rich.console import Console
    from rich.progress import track

    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.errors import ConfigError
    from precisionmed.genomics.attribution import integrated_gradients, plot_attribution
    from precisionmed.genomics.predictor import read_sequence_file

    if (sequence is None) == (fasta is None):
        raise ConfigError("Give exactly one of --sequence (a DNA string) or --fasta (a file).")
    check_outside_model_dir(out, model_dir)
    names, seqs = read_sequence_file(fasta) if fasta is not None else (["sequence"], [sequence])
    pngs = [out] if len(seqs) == 1 else [
        out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, len(seqs) + 1)
    ]  # fmt: skip
    predictor = precisionmed.load(model_dir)
    reports = []
    bar = track(range(len(seqs)), description="attribution", disable=as_json or len(seqs) == 1,
                transient=True, console=Console(stderr=True))  # fmt: skip
    for i in bar:
        result = integrated_gradients(predictor, seqs[i], output=output, baseline=baseline,
                                      n_steps=n_steps)  # fmt: skip
        plot_attribution(result, pngs[i])
        reports.append({"name": names[i], "png": str(pngs[i]), **result.to_dict()})
        if not as_json:
            top = np.argsort(-np.abs(result.observed()))[:5]
            console.print(
                f"{names[i]}: {result.output} {result.prediction:.3f} (baseline "
                f"{result.baseline_prediction:.3f}, delta {result.delta:+.1e}); top positions "
                f"{', '.join(f'{j}{result.sequence[j]}' for j in top)}; written to {pngs[i]}",
                highlight=False,
            )
    if as_json:
        print_json(reports)


from precisionmed.cli.genomics_phasing import register as _register_phasing  # noqa: E402

_register_phasing(app)

from precisionmed.cli.genomics_prs import register as _register_prs  # noqa: E402

_register_prs(app)
