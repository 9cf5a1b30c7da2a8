"""``precisionmed chem``: property and drug-target affinity models; predict for new molecules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.state import console, console_err, parse_key_values, print_json

app = typer.Typer(
    help="Drug discovery: molecular property and drug-target affinity models.", no_args_is_help=True
)


def _molecules(
    dataset: str | None,
    csv: Path | None,
    smiles_column: str | None,
    target_columns: str | None,
    task: str,
    units: str,
) -> Any:
    from precisionmed.errors import ConfigError

    if (dataset is None) == (csv is None):
        raise ConfigError("Give either --dataset (a catalog set, e.g. esol) or --csv (your file).")
    if csv is None:
        if smiles_column or target_columns:
            raise ConfigError(
                "--smiles-column and --target-columns describe a --csv file; a --dataset has "
                "its own columns."
            )
        from precisionmed.data import get_dataset, load_dataset

        if get_dataset(str(dataset)).modality != "molecule" or dataset == "davis":
            raise ConfigError(
                f"--dataset {dataset}: not a molecular property set; run 'precisionmed data "
                "list' (modality molecule)."
            )
        return load_dataset(str(dataset))
    from precisionmed.chem.own_data import load_molecule_csv

    columns = [c.strip() for c in target_columns.split(",")] if target_columns else None
    return load_molecule_csv(
        csv, smiles_column=smiles_column, target_columns=columns, task=task, units=units
    )


@app.command("train-property")
def train_property(
    dataset: str = typer.Option(None, help="A molecule set of the catalog (bbbp, tox21, esol...)."),
    csv: Path = typer.Option(None, help="Your own CSV: a header row, one molecule per line."),
    smiles_column: str = typer.Option(None, help="--csv: the SMILES column (default: the first)."),
    target_columns: str = typer.Option(
        None, help="--csv: comma-separated target columns (default: every other column)."
    ),
    task: str = typer.Option(
        "auto", help="--csv: classification, regression, or auto (0/1 targets: classification)."
    ),
    units: str = typer.Option("", help="--csv: units of regression targets (for plots)."),
    model: str = typer.Option(
        "mlp", help="mlp (ECFP deep ensemble), mpnn (D-MPNN on graphs), rf or gbm (on ECFP)."
    ),
    split: str = typer.Option(
        None, help="random, stratified or scaffold (default: the dataset's MoleculeNet split)."
    ),
    out: Path = typer.Option(..., help="Model directory to write."),
    seed: int = typer.Option(0, min=0, help="Seed of the split and the model."),
    ensemble: int = typer.Option(5, min=1, help="mlp, mpnn: number of ensemble members."),
    descriptors: bool = typer.Option(
        False, "--descriptors", help="Append RDKit's 2D descriptors (scaled) to the ECFP."
    ),
    param: list[str] = typer.Option(
        None, "--param", help="Model hyper-parameter KEY=VALUE (repeatable)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train a property model, evaluate it on held-out molecules, save it."""
    from precisionmed.chem.training import train_property_model
    from precisionmed.errors import require_extra

    require_extra("rdkit", "chem")
    data = _molecules(dataset, csv, smiles_column, target_columns, task, units)
    metrics = train_property_model(
        data,
        model,
        out,
        split=split,
        seed=seed,
        n_members=ensemble,
        descriptors=descriptors,
        params=parse_key_values(param),
        overwrite=overwrite,
        progress=not as_json,
    )
    if as_json:
        print_json({"model_dir": str(out), **metrics})
        return
    for row in metrics["rows"]:
        if row["status"] in ("invalid", "unlabelled"):
            console_err.print(
                f"[yellow]row {row['index']}:[/] {row['status']}: {'; '.join(row['reasons'])}",
                highlight=False,
            )
    console.print(
        f"[bold]{model}[/] on [bold]{data.name}[/] ({metrics['split']} split, "
        f"{metrics['sizes']}): rows {metrics['rows_summary']}",
        highlight=False,
    )
    table = Table("test metric (mean over tasks)", "value")
    for key, value in metrics["test"]["mean"].items():
        table.add_row(key, f"{value:.3f}")
    console.print(table)
    console.print(f"saved to {out}", highlight=False)


def _write_outputs(records: list[Any], names: list[str], out: Path, batch: Any) -> None:
    import csv

    from rdkit.Chem import Draw

    from precisionmed.predict import write_records

    write_records(records, out)
    with (out / "predictions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        header = ["row", "input", "smiles", "status", *names]
        header += [f"{n}_{b}" for n in names for b in ("low", "high")]
        writer.writerow([*header, "nearest_similarity", "in_domain", "warnings"])
        for r in records:
            ad = r.details.get("applicability") or {}
            bounds = [(r.interval or {}).get(n, [None, None]) for n in names]
            writer.writerow(
                [r.details["row"], r.input, r.details["smiles"], r.details["status"]]
                + [r.values.get(n) for n in names]
                + [b for pair in bounds for b in pair]
                + [ad.get("nearest_similarity"), ad.get("in_domain"), " | ".join(r.warnings)]
            )
    shown = [(m, r) for m, r in zip(batch.mols, records, strict=True) if m is not None][:48]
    if shown:
        legends = [
            f"{r.details['name'] or r.details['row']}: "
            + ", ".join(f"{n} {r.values[n]:.2f}" for n in names[:2])
            for _, r in shown
        ]
        image = Draw.MolsToGridImage(
            [m for m, _ in shown], molsPerRow=4, subImgSize=(250, 200), legends=legends
        )
        image.save(out / "molecules.png")


@app.command()
def predict(
    model_dir: Path = typer.Argument(
        ..., help="A model directory written by 'chem train-property'."
    ),
    molecules: Path = typer.Argument(..., help="A .smi file: one 'SMILES [name]' per line."),
    out: Path = typer.Option(
        None,
        help="Also write predictions.csv, predictions.json and molecules.png (a grid of the "
        "molecules with their predicted values) here (outside MODEL_DIR).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Predict properties of every molecule of a file (value, interval, applicability)."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.chem.molecules import read_molecules

    if out is not None:
        check_outside_model_dir(out, model_dir)
    predictor = precisionmed.load(model_dir)
    batch = read_molecules(molecules)
    records = predictor.records(batch, predictor.predict_batch(batch))
    names = predictor.target_names
    if out is not None:
        _write_outputs(records, names, out, batch)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    for r in records:
        for w in r.warnings:
            console_err.print(f"[yellow]warning:[/] {w}", highlight=False)
    table = Table("row", "smiles", *names[:4], "similarity", "in domain")
    for r in records:
        ad = r.details.get("applicability") or {}

        def cell(n: str, r: Any = r) -> str:
            if n not in r.values:
                return "-"
            bounds = (r.interval or {}).get(n)
            value = f"{r.values[n]:.3f}"
            return value if bounds is None else f"{value} [{bounds[0]:.2f}, {bounds[1]:.2f}]"

        table.add_row(
            str(r.details["row"]),
            r.details["smiles"] or r.input or "(empty)",
            *[cell(n) for n in names[:4]],
            "-" if not ad else f"{ad['nearest_similarity']:.2f}",
            "-" if not ad else ("yes" if ad["in_domain"] else "NO"),
        )
    console.print(table)
    if out is not None:
        console.print(f"predictions and molecules.png: {out}", highlight=False)


@app.command("train-dta")
def train_dta(
    dataset: str = typer.Option(None, help="An affinity set of the catalog (davis)."),
    data_dir: Path = typer.Option(
        None, help="A folder laid out as DeepDTA's (ligands_can.txt, proteins.txt, Y, folds/)."
    ),
    affinity: str = typer.Option(
        "kd-nm",
        help="kd-nm: Y holds Kd in nM, modelled as pKd = -log10(Kd/1e9) (Davis); as-is: Y is "
        "modelled unchanged (KIBA scores).",
    ),
    model: str = typer.Option("deepdta", help="deepdta (1-D CNNs) or gin (GraphDTA's GIN)."),
    out: Path = typer.Option(..., help="Model directory to write."),
    val_fold: int = typer.Option(
        0, min=0, help="The training fold that validates (DeepDTA setting 1 has 5)."
    ),
    max_epochs: int = typer.Option(None, min=1, help="Default: the paper's (100 / 1000)."),
    batch_size: int = typer.Option(None, min=1, help="Default: the paper's (256 / 512)."),
    lr: float = typer.Option(None, min=0.0, help="Default: the paper's (1e-3 / 5e-4)."),
    seed: int = typer.Option(0, min=0, help="Seed of the subset and the networks."),
    ensemble: int = typer.Option(1, min=1, help="Networks of a deep ensemble (spread > 1)."),
    subset: int = typer.Option(
        None, min=2, help="Keep at most N random pairs of each of train, validation and test."
    ),
    param: list[str] = typer.Option(
        None,
        "--param",
        help="Model hyper-parameter KEY=VALUE (repeatable), e.g. smiles_max_len=100 for KIBA.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train a drug-target affinity model (DeepDTA setting 1), test it (CI, MSE), save it."""
    from precisionmed.chem.affinity_training import train_affinity_model
    from precisionmed.errors import ConfigError, require_extra

    require_extra("rdkit", "chem")
    if (dataset is None) == (data_dir is None):
        raise ConfigError("Give either --dataset (davis) or --data-dir (a DeepDTA-style folder).")
    if dataset is not None:
        from precisionmed.data import get_dataset, load_dataset

        if get_dataset(dataset).task != "drug-target-affinity":
            raise ConfigError(f"--dataset {dataset}: not a drug-target affinity set; use davis.")
        data, source = load_dataset(dataset), f"catalog:{dataset}"
    else:
        from precisionmed.chem.affinity_data import read_affinity_dir

        data, source = read_affinity_dir(data_dir), str(data_dir)
    epochs = {"max_epochs": max_epochs, "batch_size": batch_size, "lr": lr}
    params = parse_key_values(param) | epochs
    metrics = train_affinity_model(
        data, model, out, affinity=affinity, val_fold=val_fold, subset=subset, seed=seed,
        n_members=ensemble, params=params, overwrite=overwrite, progress=not as_json,
        source=source,
    )  # fmt: skip
    if as_json:
        print_json({"model_dir": str(out), **metrics})
        return
    for row in metrics["rows"]:
        console_err.print(
            f"[yellow]drug {row['drug']}:[/] invalid, its pairs left out: "
            f"{'; '.join(row['reasons'])}",
            highlight=False,
        )
    test = metrics["test"]
    table = Table("test fold", "value", "95% bootstrap interval")
    for key in ("ci", "mse"):
        ci = test.get(f"{key}_interval")
        bounds = "-" if not ci else f"[{ci['low']:.3f}, {ci['high']:.3f}]"
        table.add_row(key.upper(), "-" if test[key] is None else f"{test[key]:.3f}", bounds)
    console.print(
        f"[bold]{model}[/] on [bold]{data.name}[/] ({metrics['split']}; pairs {metrics['sizes']})",
        highlight=False,
    )
    console.print(table)
    console.print(f"saved to {out}", highlight=False)


@app.command("predict-affinity")
def predict_affinity(
    model_dir: Path = typer.Argument(..., help="A model directory written by 'chem train-dta'."),
    smiles: list[str] = typer.Option(..., "--smiles", help="A drug's SMILES (repeatable)."),
    protein: str = typer.Option(..., help="The target: a FASTA file (one record) or a sequence."),
    out: Path = typer.Option(
        None, help="Also write predictions.json and predictions.csv here (outside MODEL_DIR)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Predict the binding affinity of each drug to the protein (value and interval)."""
    import precisionmed
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.errors import ConfigError

    if out is not None:
        check_outside_model_dir(out, model_dir)
    predictor = precisionmed.load(model_dir)
    if not hasattr(predictor, "predict_batch") or getattr(predictor, "units", None) is None:
        raise ConfigError(f"{model_dir}: not a drug-target affinity model (train-dta writes one).")
    records = predictor.predict(list(smiles), protein=protein)
    units = predictor.units
    if out is not None:
        import csv

        from precisionmed.predict import write_records

        write_records(records, out)
        with (out / "predictions.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "input", "smiles", units, "low", "high", "in_domain",
                             "warnings"])  # fmt: skip
            for r in records:
                low, high = (r.interval or {}).get(units, [None, None])
                domain = (r.details.get("applicability") or {}).get("in_domain")
                row = [r.details["row"], r.input, r.details["smiles"], r.prediction, low, high]
                writer.writerow([*row, domain, " | ".join(r.warnings)])
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    for r in records:
        for w in r.warnings:
            console_err.print(f"[yellow]warning:[/] {w}", highlight=False)
    level = predictor.config.get("interval_level")
    table = Table("row", "smiles", units, f"{level:.0%} interval" if level else "interval")
    for r in records:
        bounds = (r.interval or {}).get(units)
        table.add_row(
            str(r.details["row"]),
            r.details["smiles"] or r.input or "(empty)",
            "-" if r.prediction is None else f"{r.prediction:.3f}",
            "-" if not bounds else f"[{bounds[0]:.2f}, {bounds[1]:.2f}]",
        )
    console.print(table)


from precisionmed.cli.chem_generate import register as _register_generate  # noqa: E402

_register_generate(app)
from precisionmed.cli.chem_optimize import register as _register_optimize  # noqa: E402

_register_optimize(app)
