"""A trained generator as a model directory: save, :func:`load_generator`, and batched sampling.

::

    gen = load_generator("runs/charrnn")          # every file checked against its manifest
    result = gen.sample(10_000, temperature=1.0, seed=0, progress=True)
    result.smiles          # every sample, in order (invalid ones included: MOSES counts them)
    result.n_invalid       # how many RDKit could not parse

The directory is an ordinary precisionmed artefact (``kind: "molecule-generator"``): the weights
in ``model.safetensors``, the architecture (``generator.model`` and its ``hparams``), the token
vocabulary and the training provenance in ``config.json``. A LatentGAN directory holds its VAE's
weights too (``vae.*``), so it samples on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from precisionmed.artifacts import (
    Artifact,
    ModelCard,
    ModelContents,
    read_artifact,
    write_model_dir,
)
from precisionmed.chem.generative.vocab import Vocabulary
from precisionmed.errors import ArtifactError, ConfigError

KIND = "molecule-generator"
MODELS = ("charrnn", "vae", "latentgan")


def build_model(name: str, vocabulary: Vocabulary, hparams: Mapping[str, Any]) -> nn.Module:
    """A fresh generator network by registered name (``charrnn``, ``vae``, ``latentgan``).

    Raises
    ------
    ConfigError
        An unknown name, or hyper-parameters the network does not take.
    """
    if name == "charrnn":
        from precisionmed.chem.generative.charrnn import CharRNN as cls
    elif name == "vae":
        from precisionmed.chem.generative.vae import MolecularVAE as cls  # type: ignore[assignment]
    elif name == "latentgan":
        from precisionmed.chem.generative.latentgan import LatentGAN as cls  # type: ignore[assignment]
    else:
        raise ConfigError(f"The generator must be one of {list(MODELS)}. Got {name!r}.")
    try:
        return cls(vocabulary, **dict(hparams))
    except TypeError as exc:
        raise ConfigError(f"Hyper-parameters of {name}: {exc}.") from exc


@dataclass
class SampleResult:
    """What :meth:`Generator.sample` drew.

    Attributes
    ----------
    smiles : list of str
        Every sample as decoded, in order (an invalid one included as it came).
    valid : list of bool
        Whether RDKit parses and sanitises each sample.
    seconds : float
        Wall-clock time of sampling.
    """

    smiles: list[str]
    valid: list[bool]
    seconds: float = 0.0

    @property
    def n_invalid(self) -> int:
        """Samples RDKit could not parse."""
        return self.valid.count(False)

    @property
    def validity(self) -> float:
        """Fraction of valid samples (0 for none drawn)."""
        return (len(self.valid) - self.n_invalid) / len(self.valid) if self.valid else 0.0

    def valid_smiles(self) -> list[str]:
        """The valid samples, in order."""
        return [s for s, ok in zip(self.smiles, self.valid, strict=True) if ok]


@dataclass
class Generator:
    """A generator network with what it was trained on.

    Attributes
    ----------
    model : nn.Module
        :class:`~precisionmed.chem.generative.charrnn.CharRNN`,
        :class:`~precisionmed.chem.generative.vae.MolecularVAE` or
        :class:`~precisionmed.chem.generative.latentgan.LatentGAN`; each has ``vocabulary``,
        ``hparams`` and ``sample(n, temperature, max_length)``.
    name : {"charrnn", "vae", "latentgan"}
    training : dict
        Provenance: data source, molecules, epochs, seed, CPU seconds, losses.
    path : Path or None
        The model directory it was loaded from.
    version : str
        The artefact's short version (empty before saving).
    """

    model: nn.Module
    name: str
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    version: str = ""

    @property
    def vocabulary(self) -> Vocabulary:
        return self.model.vocabulary  # type: ignore[return-value]

    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        batch_size: int = 512,
        max_length: int = 100,
        seed: int | None = None,
        progress: bool = False,
    ) -> SampleResult:
        """Draw ``n`` molecules in batches; each is checked with RDKit.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        temperature : float
            Softmax temperature (> 0).
        batch_size : int
            Samples drawn per forward pass.
        max_length : int
            Tokens per sample at most.
        seed : int, optional
            Seeds torch (and Python, NumPy) first: the same seed and model give the same samples.
        progress : bool
            A progress bar on stderr.

        Raises
        ------
        ConfigError
            ``n``, ``batch_size`` or ``max_length`` below 1, or ``temperature`` <= 0.
        """
        import time

        from rich.console import Console
        from rich.progress import Progress

        from precisionmed.chem.molecules import parse_smiles
        from precisionmed.train.seeding import seed_everything

        if n < 1 or batch_size < 1 or max_length < 1:
            raise ConfigError(
                f"Sampling needs n, batch_size and max_length >= 1. Got n={n}, "
                f"batch_size={batch_size}, max_length={max_length}."
            )
        if temperature <= 0:
            raise ConfigError(f"The sampling temperature must be > 0. Got {temperature}.")
        if seed is not None:
            seed_everything(seed)
        start = time.perf_counter()
        smiles: list[str] = []
        valid: list[bool] = []
        self.model.eval()
        with (
            torch.no_grad(),
            Progress(console=Console(stderr=True), transient=True, disable=not progress) as bar,
        ):
            task = bar.add_task(f"sample {self.name}", total=n)
            while len(smiles) < n:
                size = min(batch_size, n - len(smiles))
                drawn = self.model.sample(size, temperature=temperature, max_length=max_length)  # type: ignore[operator]
                batch = drawn[0] if isinstance(drawn, tuple) else drawn
                smiles.extend(batch)
                valid.extend(parse_smiles(s)[0] is not None for s in batch)
                bar.update(task, advance=size)
        return SampleResult(smiles, valid, time.perf_counter() - start)

    def contents(self, metrics: Mapping[str, Any] | None = None) -> ModelContents:
        """The :class:`~precisionmed.artifacts.ModelContents` this generator saves as."""
        vocab = self.vocabulary
        hparams = dict(self.model.hparams)  # type: ignore[arg-type]
        data = self.training.get("data", {})
        card = ModelCard(
            title=f"Molecule generator ({self.name})",
            intended_use=(
                "Research: proposing drug-like molecules resembling the training set, as a "
                "prior for goal-directed optimisation. Samples are not checked for synthesis "
                "or safety."
            ),
            training_data=str(data.get("source", "unknown")),
            limitations=[
                "Trained under a stated budget, possibly on a subset of its data (see "
                "config.json 'training').",
                "Samples can be invalid SMILES; each is checked with RDKit when sampled.",
            ],
            details={"model": self.name, **hparams, "tokens": len(vocab)},
        )
        config = {
            "generator": {"model": self.name, "hparams": hparams},
            "vocabulary": vocab.to_dict(),
            "training": self.training,
        }
        return ModelContents(
            kind=KIND,
            pillar="chem",
            config=config,
            metrics=dict(metrics or {}),
            card=card,
            state_dict=self.model.state_dict(),
        )

    def save(
        self,
        out_dir: str | Path,
        *,
        metrics: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the model directory (atomically, through the artefact writer).

        Raises
        ------
        ArtifactError
            ``out_dir`` holds a model and ``overwrite`` is False, or is unusable.
        """

        def write(staging: Path) -> tuple[ModelContents, None]:
            return self.contents(metrics), None

        path, _ = write_model_dir(out_dir, write, overwrite=overwrite)
        self.path = path
        return path


def load_generator(model_dir: str | Path) -> Generator:
    """Load a saved generator; every file is checked against the directory's manifest.

    Parameters
    ----------
    model_dir : str or Path

    Returns
    -------
    Generator
        ``.model`` is the network (in eval mode), e.g. a CharRNN for a ``charrnn`` directory.

    Raises
    ------
    ArtifactError
        Not a model directory, a file changed, or not a molecule generator.
    """
    return generator_from_artifact(read_artifact(model_dir))


def generator_from_artifact(artifact: Artifact) -> Generator:
    """The :class:`Generator` of a checked model directory (see :func:`load_generator`)."""
    model_dir = artifact.path
    if artifact.kind != KIND:
        raise ArtifactError(
            f"{model_dir}: a {artifact.kind!r} model, not a molecule generator ({KIND!r})."
        )
    try:
        spec = artifact.config["generator"]
        vocabulary = Vocabulary.from_dict(artifact.config["vocabulary"])
        model = build_model(spec["model"], vocabulary, spec["hparams"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ArtifactError(
            f"{model_dir}/config.json: invalid generator description ({exc})."
        ) from exc
    model.load_state_dict(artifact.state_dict())
    model.eval()
    return Generator(
        model=model,
        name=spec["model"],
        training=dict(artifact.config.get("training", {})),
        path=Path(model_dir),
        version=artifact.short_version,
    )


__all__ = [
    "KIND",
    "MODELS",
    "Generator",
    "SampleResult",
    "build_model",
    "generator_from_artifact",
    "load_generator",
]
