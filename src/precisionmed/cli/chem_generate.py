"""``precisionmed chem train-generator`` and ``chem generate``: molecule generators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from precisionmed.cli.state import console, console_err, parse_key_values, print_json

#: Learning rate and batch size per model when not given (MOSES's settings; CharRNN's batch
#: doubled from 64 for CPU throughput).
DEFAULTS: dict[str, dict[str, Any]] = {
    "charrnn": {"lr": 1e-3, "batch_size": 128, "gradient_clip": None},
    "vae": {"lr": 3e-4, "batch_size": 512, "gradient_clip": 50.0},
    "latentgan": {"lr": 3e-4, "batch_size": 512, "gradient_clip": 50.0},  # its VAE, if trained
}
GRID_MOLECULES = 12


def write_grid(smiles: list[str], path: Path, *, legends: list[str] | None = None) -> Path:
    """A PNG grid of the first :data:`GRID_MOLECULES` molecules of ``smiles`` (valid ones).

    Parameters
    ----------
    smiles : list of str
        Valid SMILES.
    path : Path
        The PNG to write.
    legends : list of str, optional
        One caption per molecule (default: its SMILES).
    """
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols = [Chem.MolFromSmiles(s) for s in smiles[:GRID_MOLECULES]]
    captions = legends[:GRID_MOLECULES] if legends else [s[:40] for s in smiles[:GRID_MOLECULES]]
    image = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(260, 220), legends=captions)
    image.save(str(path))
    return path


def train_generator_command(
    model: str = typer.Option(..., help="charrnn, vae or latentgan."),
    dataset: str = typer.Option(None, help="A catalog set to train on: moses."),
    smiles: Path = typer.Option(
        None, help="Your own .smi file (SMILES [name] per line); bad rows are reported."
    ),
    out: Path = typer.Option(..., help="Model directory to write."),
    max_molecules: int = typer.Option(
        None, min=1, help="Train on a seeded random subset of this many molecules."
    ),
    max_epochs: int = typer.Option(10, min=1, help="Epochs (early stopping may end sooner)."),
    batch_size: int = typer.Option(None, min=1, help="Default: 128 charrnn, 512 vae."),
    lr: float = typer.Option(None, help="Learning rate (default: 1e-3 charrnn, 3e-4 vae)."),
    representation: str = typer.Option("smiles", help="Tokens: smiles or selfies."),
    vae: Path = typer.Option(
        None, help="latentgan: a saved VAE to work in (default: train one first)."
    ),
    gan_epochs: int = typer.Option(None, min=1, help="latentgan: epochs of the GAN loop."),
    seed: int = typer.Option(0, min=0, help="Seed of the subset, the weights and the data order."),
    precision: str = typer.Option(
        "32-true",
        help="32-true, or bf16-mixed: bfloat16 autocast (about 1.7x faster on CPUs with "
        "AVX-512 BF16 or AMX, and on GPUs).",
    ),
    param: list[str] = typer.Option(
        None,
        "--param",
        help="Network hyper-parameter KEY=VALUE (repeatable), e.g. hidden_size=512.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train a molecule generator on MOSES or your SMILES file and save it."""
    from precisionmed.chem.generative.generator import MODELS
    from precisionmed.chem.generative.training import (
        file_training_smiles,
        moses_training_smiles,
        train_generator,
    )
    from precisionmed.errors import ConfigError, require_extra
    from precisionmed.train import TrainConfig

    require_extra("rdkit", "chem")
    if model not in MODELS:
        raise ConfigError(f"--model must be one of {list(MODELS)}. Got {model!r}.")
    if (dataset is None) == (smiles is None):
        raise ConfigError("Give either --dataset moses or --smiles FILE (your molecules).")
    if dataset is not None and dataset.lower() != "moses":
        raise ConfigError(f"--dataset: generators train on 'moses' (or --smiles). Got {dataset!r}.")
    if vae is not None and model != "latentgan":
        raise ConfigError(f"--vae is for --model latentgan; got --model {model}.")
    if representation not in ("smiles", "selfies"):
        raise ConfigError(f"--representation must be smiles or selfies. Got {representation!r}.")
    defaults = DEFAULTS[model]
    config = TrainConfig.build(
        max_epochs=max_epochs,
        batch_size=batch_size or defaults["batch_size"],
        lr=lr or defaults["lr"],
        gradient_clip=defaults["gradient_clip"],
        seed=seed,
        progress=not as_json,
        precision=precision,
    )
    if smiles is not None:
        data = file_training_smiles(smiles, max_molecules, seed)
    else:
        data = moses_training_smiles(max_molecules, seed)
    for problem in data.problems:
        console_err.print(
            f"[yellow]{smiles}: line {problem['line']}:[/] left out: {problem['reason']}",
            highlight=False,
            soft_wrap=True,  # one line per bad row, whatever the terminal's width
        )
    gan_config = TrainConfig(
        max_epochs=gan_epochs or max_epochs, batch_size=64, lr=2e-4, seed=seed, progress=not as_json
    )
    generator = train_generator(
        model,
        data,
        out,
        hparams=parse_key_values(param),
        config=config,
        representation=representation,  # type: ignore[arg-type]
        vae_dir=vae,
        gan_config=gan_config,
        overwrite=overwrite,
    )
    summary = {"model_dir": str(generator.path), "model": model, **generator.training}
    if as_json:
        print_json(summary)
        return
    info = generator.training["data"]
    console.print(
        f"[bold]{model}[/] trained on {info['n_used']} molecules of {info['source']} "
        f"({info['n_invalid']} invalid rows left out, {info['n_too_long']} too long) in "
        f"{generator.training['cpu_seconds']:.0f} CPU s; saved to {generator.path}",
        highlight=False,
    )


def generate_command(
    model_dir: Path = typer.Argument(..., help="A generator's model directory."),
    n: int = typer.Option(10000, "-n", "--n", min=1, help="Number of molecules to sample."),
    out: Path = typer.Option(..., help="The .smi file to write (one sample per line)."),
    temperature: float = typer.Option(1.0, help="Sampling temperature (> 0)."),
    seed: int = typer.Option(None, min=0, help="Seed: the same seed gives the same molecules."),
    batch_size: int = typer.Option(512, min=1, help="Molecules per sampling batch."),
    max_length: int = typer.Option(100, min=1, help="Tokens per molecule at most."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Sample molecules from a trained generator; a PNG grid of a few beside the .smi file.

    Every sample is written, invalid ones included (as decoded, so that validity can be
    measured); the summary counts them.
    """
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.chem.generative.generator import load_generator
    from precisionmed.errors import ConfigError

    check_outside_model_dir(out, model_dir)
    grid = out.with_suffix(".png")
    if out.suffix.lower() == ".png":
        raise ConfigError(f"--out {out}: expected a .smi file; the grid goes beside it as .png.")
    generator = load_generator(model_dir)
    result = generator.sample(
        n,
        temperature=temperature,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        progress=not as_json,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{s}\n" for s in result.smiles))
    valid = result.valid_smiles()
    if valid:
        write_grid(valid, grid)
    summary = {
        "out": str(out),
        "grid": str(grid) if valid else None,
        "model": generator.name,
        "model_version": generator.version,
        "n": n,
        "n_valid": len(valid),
        "n_invalid": result.n_invalid,
        "validity": result.validity,
        "unique_valid": len(set(valid)),
        "temperature": temperature,
        "seed": seed,
        "seconds": round(result.seconds, 2),
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{n} samples from {generator.name} ({generator.version}): {len(valid)} valid, "
        f"{result.n_invalid} invalid, {len(set(valid))} unique valid; written to {out}"
        + (f", grid {grid}" if valid else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``train-generator`` and ``generate`` to the ``chem`` group."""
    app.command("train-generator")(train_generator_command)
    app.command("generate")(generate_command)


__all__ = ["register", "write_grid"]
