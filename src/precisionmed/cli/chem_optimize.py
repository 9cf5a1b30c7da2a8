"""``precisionmed chem evaluate`` (MOSES metrics) and ``chem optimize`` (REINVENT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from precisionmed.cli.state import console, print_json


def _reference(value: str, option: str) -> Any:
    """``moses`` -> "moses", ``none`` -> None, else the SMILES of a .smi file."""
    from precisionmed.chem.molecules import read_smiles_file
    from precisionmed.errors import ConfigError

    if value.lower() in ("moses", "none"):
        return None if value.lower() == "none" else "moses"
    path = Path(value)
    if not path.is_file():
        raise ConfigError(
            f"{option} {value}: expected 'moses', 'none' or a .smi file; no such file."
        )
    return [s for s in read_smiles_file(path)[0] if s]


def evaluate_command(
    mols: Path = typer.Argument(..., help="A .smi file of generated molecules (one per line)."),
    test: str = typer.Option("moses", help="Test set: 'moses' (its statistics), a .smi, 'none'."),
    test_scaffolds: str = typer.Option("moses", help="TestSF: 'moses', a .smi file or 'none'."),
    train: str = typer.Option("moses", help="Train set for novelty: 'moses', a .smi, 'none'."),
    k: list[int] = typer.Option([1000, 10000], "--k", help="unique@k sizes (repeatable)."),
    properties: bool = typer.Option(
        True, "--properties/--no-properties", help="logP/SA/QED/weight distances."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The MOSES metrics of generated molecules (validity, uniqueness, novelty, FCD, ...).

    Every line counts: blank or invalid lines lower validity and are then left out.
    """
    from rich.table import Table

    from precisionmed.chem.molecules import read_smiles_file
    from precisionmed.chem.moses_metrics import compute_moses_metrics
    from precisionmed.errors import DataFormatError, require_extra

    require_extra("rdkit", "chem")
    if not mols.is_file():
        raise DataFormatError(f"{mols}: no such file (expected a .smi file of generated SMILES).")
    smiles = read_smiles_file(mols)[0]
    metrics = compute_moses_metrics(
        smiles,
        test=_reference(test, "--test"),
        test_scaffolds=_reference(test_scaffolds, "--test-scaffolds"),
        train=_reference(train, "--train"),
        k=k,
        properties=properties,
    )
    if as_json:
        print_json({"file": str(mols), "n": len(smiles), "metrics": metrics})
        return
    table = Table("metric", "value", title=f"MOSES metrics of {mols} ({len(smiles)} SMILES)")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)


def optimize_command(
    model_dir: Path = typer.Argument(..., help="A CharRNN generator directory (the prior)."),
    objective: Path = typer.Option(..., help="The objective YAML file (see the docs)."),
    steps: int = typer.Option(100, min=1, help="Agent updates at most."),
    out: Path = typer.Option(..., help="The CSV of scored molecules to write."),
    batch_size: int = typer.Option(128, min=1, help="Molecules sampled per step."),
    max_calls: int = typer.Option(
        None, min=1, help="Scoring calls at most (default steps x batch)."
    ),
    sigma: float = typer.Option(120.0, min=0, help="Score weight of the augmented likelihood."),
    lr: float = typer.Option(1e-4, help="Agent learning rate."),
    seed: int = typer.Option(0, min=0, help="Seed of the sampling and the replay."),
    top: int = typer.Option(12, min=1, help="Molecules in the PNG grid and the summary."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Fine-tune a CharRNN toward an objective with REINVENT; CSV, grid PNG and score PNG.

    Writes OUT (every distinct valid molecule scored, best first), OUT's name with
    ``_top.png`` (the best molecules with their scores) and ``_steps.png`` (score over steps).
    """
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.chem.generative import load_generator
    from precisionmed.chem.optimize.objective import load_objective
    from precisionmed.chem.optimize.outputs import plot_score_history, write_molecules_csv
    from precisionmed.chem.optimize.reinvent import ReinventConfig, run_reinvent
    from precisionmed.cli.chem_generate import write_grid
    from precisionmed.errors import ConfigError, require_extra

    require_extra("rdkit", "chem")
    check_outside_model_dir(out, model_dir)
    if out.suffix.lower() != ".csv":
        raise ConfigError(f"--out {out}: expected a .csv file; the PNGs go beside it.")
    scoring = load_objective(objective)
    generator = load_generator(model_dir)
    if generator.name != "charrnn":
        raise ConfigError(
            f"{model_dir}: REINVENT fine-tunes a charrnn prior; got a {generator.name}."
        )
    config = ReinventConfig(
        steps=steps,
        batch_size=batch_size,
        sigma=sigma,
        learning_rate=lr,
        max_calls=max_calls,
        seed=seed,
    )
    result = run_reinvent(generator.model, scoring, config, progress=not as_json)
    write_molecules_csv(result, out)
    grid = out.with_name(out.stem + "_top.png")
    best = result.top(top)
    if best:
        write_grid(
            [r["smiles"] for r in best],
            grid,
            legends=[f"{r['score']:.3f}  {r['smiles'][:30]}" for r in best],
        )
    curve = plot_score_history(
        result, out.with_name(out.stem + "_steps.png"), title=f"REINVENT on {objective.name}"
    )
    summary = {
        "out": str(out),
        "grid": str(grid) if best else None,
        "score_plot": str(curve),
        "calls": result.calls,
        "steps": len(result.history),
        "molecules": len(result.molecules),
        "cpu_seconds": round(result.seconds, 1),
        "top": best,
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{result.calls} scoring calls in {len(result.history)} steps: {len(result.molecules)} "
        f"distinct valid molecules, best {best[0]['score'] if best else float('nan'):.3f}; "
        f"written to {out}, {grid.name}, {curve.name}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``optimize`` to the ``chem`` group."""
    app.command("evaluate")(evaluate_command)
    app.command("optimize")(optimize_command)


__all__ = ["register"]
