"""Train a generator (``precisionmed chem train-generator``) on MOSES or a user's SMILES file.

1. The training molecules: MOSES train from the catalog (already curated and canonical), or a
   ``.smi`` file read and standardised row by row (:func:`~precisionmed.chem.molecules.
   read_molecules`): invalid rows are reported, with their line and reason, in the model's
   ``config.json`` (``training.data.problems``) and left out, never silently. A seeded random
   subset of ``max_molecules`` when asked.
2. A token vocabulary from those molecules; molecules longer than ``max_length`` tokens are
   left out (counted).
3. CharRNN and the VAE train through the engine (:func:`precisionmed.train.fit`: early stopping
   on the validation molecules, 5% of them, at most 2,000); a LatentGAN encodes the molecules
   with a trained VAE (given, or trained first) and fits its WGAN-GP on those latent codes.
4. The model directory, with the losses, the data provenance and the CPU seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from precisionmed.chem.generative.generator import MODELS, Generator, build_model, load_generator
from precisionmed.chem.generative.vocab import Representation, Vocabulary
from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.train.config import TrainConfig

#: Validation molecules: this fraction of the training set, at most :data:`MAX_VAL`.
VAL_FRACTION = 0.05
MAX_VAL = 2000
#: Invalid rows of a user's file listed in ``config.json`` (all are counted).
MAX_LISTED_PROBLEMS = 100


@dataclass
class TrainingSmiles:
    """The molecules a generator trains on, and what was left out.

    Attributes
    ----------
    smiles : list of str
        Canonical SMILES, in training order.
    source : str
        ``"catalog:moses"`` or the file's path.
    n_read : int
        Rows read before subsetting.
    problems : list of dict
        Invalid rows of a user's file (``line``, ``input``, ``reason``), the first
        :data:`MAX_LISTED_PROBLEMS`.
    n_invalid : int
        All invalid rows.
    """

    smiles: list[str]
    source: str
    n_read: int
    problems: list[dict[str, Any]] = field(default_factory=list)
    n_invalid: int = 0

    def provenance(self) -> dict[str, Any]:
        """JSON-ready description for ``config.json``."""
        return {
            "source": self.source,
            "n_read": self.n_read,
            "n_used": len(self.smiles),
            "n_invalid": self.n_invalid,
            "problems": self.problems,
        }


def _subset(smiles: list[str], max_molecules: int | None, seed: int) -> list[str]:
    if max_molecules is None or max_molecules >= len(smiles):
        return smiles
    if max_molecules < 1:
        raise ConfigError(f"max_molecules must be >= 1. Got {max_molecules}.")
    rows = np.random.default_rng(seed).choice(len(smiles), size=max_molecules, replace=False)
    return [smiles[i] for i in np.sort(rows)]


def moses_training_smiles(max_molecules: int | None = None, seed: int = 0) -> TrainingSmiles:
    """MOSES train (1,584,663 molecules) from the catalog, or a seeded subset of it."""
    from precisionmed.data.catalog import load_dataset

    train = load_dataset("moses", splits=("train",)).splits["train"]
    return TrainingSmiles(_subset(train, max_molecules, seed), "catalog:moses", len(train))


def file_training_smiles(
    path: str | Path, max_molecules: int | None = None, seed: int = 0
) -> TrainingSmiles:
    """The valid, standardised molecules of a ``.smi`` file; invalid rows reported.

    Raises
    ------
    DataFormatError
        The file cannot be read, or holds no valid molecule.
    """
    from precisionmed.chem.molecules import read_molecules

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such SMILES file.")
    batch = read_molecules(path)
    bad = [r for r in batch.rows if not r.valid]
    problems = [
        {"line": r.line, "input": r.input, "reason": "; ".join(r.reasons)}
        for r in bad[:MAX_LISTED_PROBLEMS]
    ]
    good = [r.smiles for r in batch.rows if r.smiles is not None]
    if not good:
        raise DataFormatError(f"{path}: no valid molecule in {len(batch)} rows.")
    return TrainingSmiles(
        _subset(good, max_molecules, seed), str(path), len(batch), problems, len(bad)
    )


def encode_corpus(
    smiles: list[str], vocabulary: Vocabulary, max_length: int
) -> tuple[torch.Tensor, int]:
    """Token ids ``[<bos> ... <eos>]`` right-padded to one width, shape (N, width).

    Molecules longer than ``max_length`` tokens (``<bos>``/``<eos>`` included) are left out;
    their number is returned with the tensor.

    Raises
    ------
    DataFormatError
        No molecule fits ``max_length``.
    """
    encoded = [vocabulary.encode(s) for s in smiles]
    kept = [e for e in encoded if len(e) <= max_length]
    if not kept:
        raise DataFormatError(f"No training molecule has at most {max_length} tokens.")
    return vocabulary.pad_batch(kept), len(encoded) - len(kept)


def stack_pairs(
    items: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate ``(inputs, target)`` rows into batch tensors (module level so that it pickles).

    Passing a collate function makes the engine step batch by batch, so its progress bar
    advances within an epoch (a generator's epoch can take many minutes on a CPU).
    """
    return torch.stack([i for i, _ in items]), torch.stack([t for _, t in items])


def _split(tokens: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n_val = min(MAX_VAL, max(1, int(round(VAL_FRACTION * len(tokens)))))
    if len(tokens) < 2:
        raise DataFormatError(
            f"A generator needs at least 2 training molecules; got {len(tokens)}."
        )
    order = torch.randperm(len(tokens), generator=torch.Generator().manual_seed(seed))
    return tokens[order[n_val:]], tokens[order[:n_val]]


def _annealed(
    name: str, hparams: Mapping[str, Any], n_molecules: int, config: TrainConfig
) -> dict[str, Any]:
    """A VAE's hyper-parameters with ``kl_anneal_steps`` = the run's optimisation steps
    (MOSES ramps the KL weight over the whole training), unless given."""
    out = dict(hparams)
    if name == "vae" and "kl_anneal_steps" not in out:
        n_train = n_molecules - min(MAX_VAL, max(1, int(round(VAL_FRACTION * n_molecules))))
        per_epoch = max(1, -(-n_train // config.batch_size))
        out["kl_anneal_steps"] = per_epoch * config.max_epochs
    return out


def fit_sequence_model(
    net: torch.nn.Module, tokens: torch.Tensor, config: TrainConfig, *, out_dir: Path | None = None
) -> dict[str, Any]:
    """Train a CharRNN or a VAE on token ids through the engine; returns the losses.

    CharRNN learns ``tokens[:, 1:]`` from ``tokens[:, :-1]`` (teacher forcing); the VAE
    reconstructs ``tokens[:, 1:]`` from the whole sequence (its loss adds the annealed KL term).
    """
    from precisionmed.train import fit

    train, val = _split(tokens, config.seed)
    loss_fn = net.loss_function()  # type: ignore[operator]
    inputs: Any = net.training_inputs
    datasets = [TensorDataset(inputs(t), t[:, 1:]) for t in (train, val)]
    result = fit(
        net, datasets[0], datasets[1], loss_fn=loss_fn, config=config, out_dir=out_dir,
        collate_fn=stack_pairs,
    )  # fmt: skip
    return {
        "n_train": len(train),
        "n_val": len(val),
        "best_epoch": result.best_epoch,
        "val_loss": result.val_metrics.get("val_loss"),
        "epochs": len(result.history),
        "fit_seconds": round(result.fit_seconds, 1),
    }


def train_generator(
    name: str,
    data: TrainingSmiles,
    out_dir: str | Path,
    *,
    hparams: Mapping[str, Any] | None = None,
    config: TrainConfig | None = None,
    representation: Representation = "smiles",
    max_length: int = 100,
    vae_dir: str | Path | None = None,
    vae_hparams: Mapping[str, Any] | None = None,
    gan_config: TrainConfig | None = None,
    overwrite: bool = False,
) -> Generator:
    """Train ``name`` (``charrnn``, ``vae`` or ``latentgan``) on ``data`` and save it.

    Parameters
    ----------
    name : {"charrnn", "vae", "latentgan"}
    data : TrainingSmiles
        From :func:`moses_training_smiles` or :func:`file_training_smiles`.
    out_dir : path
        The model directory (checked and locked before training).
    hparams : mapping, optional
        Constructor arguments of the network (defaults: the MOSES settings). For ``latentgan``:
        those of :class:`~precisionmed.chem.generative.latentgan.LatentGAN` besides the VAE.
    config : TrainConfig, optional
        Epochs, batch size, learning rate, seed, progress of a CharRNN or a VAE (also of the
        VAE a LatentGAN trains first).
    representation : {"smiles", "selfies"}
        Token representation of a new vocabulary (a LatentGAN takes its VAE's).
    max_length : int
        Molecules with more tokens are left out (counted in ``training.data``).
    vae_dir : path, optional
        ``latentgan`` only: a saved VAE to work in; without it a VAE is trained first (with
        ``vae_hparams`` and the same ``config``).
    gan_config : TrainConfig, optional
        ``latentgan`` only: ``max_epochs``, ``batch_size``, ``lr``, ``seed`` and ``progress`` of
        the adversarial loop (default: ``config``'s epochs and seed, MOSES's batch of 64 and
        learning rate of 2e-4).
    overwrite : bool
        Replace a model already at ``out_dir``.

    Returns
    -------
    Generator
        The trained generator; ``.path`` is its directory.
    """
    from precisionmed.artifacts import ModelContents, write_model_dir

    if name not in MODELS:
        raise ConfigError(f"The generator must be one of {list(MODELS)}. Got {name!r}.")
    config = config or TrainConfig()
    hparams = dict(hparams or {})

    def train_and_report(staging: Path) -> tuple[ModelContents, Generator]:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        vae_info: dict[str, Any] = {}
        if name == "latentgan":
            from precisionmed.chem.generative.latentgan import LatentGAN

            if vae_dir is not None:
                vae = load_generator(vae_dir)
                if vae.name != "vae":
                    raise ConfigError(f"--vae {vae_dir}: a {vae.name} model, not a vae.")
                vae_info = {"vae_dir": str(vae_dir), "vae_version": vae.version}
                vae_net = vae.model
            else:
                vae_net, vae_info = _train_vae(
                    data, config, representation, max_length, vae_hparams
                )
            tokens, n_long = encode_corpus(data.smiles, vae_net.vocabulary, max_length)  # type: ignore[arg-type]
            torch.manual_seed(config.seed)
            net: Any = LatentGAN(vae_net.vocabulary, vae=vae_net, **hparams)  # type: ignore[arg-type]
            gan = gan_config or TrainConfig(
                max_epochs=config.max_epochs, batch_size=64, lr=2e-4, seed=config.seed,
                progress=config.progress,
            )  # fmt: skip
            losses = net.fit_latent(tokens, gan)
            losses["gan_config"] = gan.model_dump()
        else:
            vocabulary = Vocabulary.from_smiles(data.smiles, representation)
            tokens, n_long = encode_corpus(data.smiles, vocabulary, max_length)
            torch.manual_seed(config.seed)  # the initial weights are part of what the seed fixes
            net = build_model(name, vocabulary, _annealed(name, hparams, len(tokens), config))
            losses = fit_sequence_model(net, tokens, config, out_dir=staging)
        training = {
            "data": {**data.provenance(), "n_too_long": n_long, "max_length": max_length},
            "config": config.model_dump(),
            "losses": losses,
            **({"vae": vae_info} if vae_info else {}),
            "cpu_seconds": round(time.process_time() - cpu_start, 1),
            "wall_seconds": round(time.perf_counter() - wall_start, 1),
            "threads": torch.get_num_threads(),
        }
        generator = Generator(model=net.eval(), name=name, training=training)
        return generator.contents(), generator

    path, generator = write_model_dir(out_dir, train_and_report, overwrite=overwrite)
    generator.path = path
    return generator


def _train_vae(
    data: TrainingSmiles,
    config: TrainConfig,
    representation: Representation,
    max_length: int,
    hparams: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, Any]]:
    """The VAE a LatentGAN works in, trained on the same molecules."""
    vocabulary = Vocabulary.from_smiles(data.smiles, representation)
    tokens, _ = encode_corpus(data.smiles, vocabulary, max_length)
    torch.manual_seed(config.seed)
    vae = build_model("vae", vocabulary, _annealed("vae", hparams or {}, len(tokens), config))
    losses = fit_sequence_model(vae, tokens, config)
    return vae.eval(), {"trained_with": "the same molecules and config", "losses": losses}


__all__ = [
    "TrainingSmiles",
    "encode_corpus",
    "file_training_smiles",
    "fit_sequence_model",
    "moses_training_smiles",
    "stack_pairs",
    "train_generator",
]
