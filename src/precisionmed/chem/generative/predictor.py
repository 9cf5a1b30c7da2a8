"""A molecule generator as a predictor: ``precisionmed.load(generator_dir)``.

What a service or a report needs from a generator without importing the chem pillar:
:meth:`GeneratorPredictor.sample` (molecules drawn in batches, with a progress callback),
:meth:`GeneratorPredictor.objective` (an objective mapping checked, the errors of
:func:`~precisionmed.chem.optimize.objective.build_objective`) and
:meth:`GeneratorPredictor.optimize` (REINVENT toward that objective, the molecules written as
CSV). :meth:`~GeneratorPredictor.predict` draws ``n`` molecules, one record each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from precisionmed.artifacts import Artifact, register_predictor
from precisionmed.chem.generative.generator import (
    KIND,
    Generator,
    SampleResult,
    generator_from_artifact,
)
from precisionmed.errors import ConfigError
from precisionmed.predict import MoleculeInputSpec, PredictionRecord, Predictor

#: Molecules drawn between two progress reports of :meth:`GeneratorPredictor.sample`.
PROGRESS_CHUNK = 256


@register_predictor(KIND)
class GeneratorPredictor(Predictor):
    """A saved CharRNN, VAE or LatentGAN, loaded by :func:`precisionmed.load`."""

    kind = KIND

    def __init__(self, generator: Generator, config: dict[str, Any], artifact: Artifact | None):
        self.generator = generator
        self.config = config
        self.artifact = artifact

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> GeneratorPredictor:
        """The network of a checked generator directory."""
        return cls(generator_from_artifact(artifact), dict(artifact.config), artifact)

    @property
    def model_name(self) -> str:
        """``"<network> generator"``, e.g. ``"charrnn generator"``."""
        return f"{self.generator.name} generator"

    @property
    def input_spec(self) -> MoleculeInputSpec:
        """The molecules it was trained on: SMILES (or SELFIES) tokens."""
        data = dict(self.generator.training.get("data") or {})
        vocab = self.config.get("vocabulary") or {}
        return MoleculeInputSpec(
            format="smiles",
            standardisation=(),
            featurizer={"name": "tokens", "representation": vocab.get("representation", "smiles")},
            n_training_molecules=int(data.get("n_used", 0)),
        )

    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        seed: int | None = None,
        max_length: int = 100,
        on_progress: Callable[[int], None] | None = None,
    ) -> SampleResult:
        """Draw ``n`` molecules (every sample kept, invalid ones flagged).

        Parameters
        ----------
        n : int
            Molecules to draw (>= 1).
        temperature : float
            Softmax temperature (> 0).
        seed : int, optional
            The same seed gives the same molecules.
        max_length : int
            Tokens per molecule at most.
        on_progress : callable, optional
            Called with the number drawn so far after each batch of :data:`PROGRESS_CHUNK`.

        Raises
        ------
        ConfigError
            ``n`` or ``max_length`` below 1, or ``temperature`` <= 0.
        """
        # the first batch seeds; the next ones go on from the same random stream, so the
        # molecules equal those of one call with batch_size=PROGRESS_CHUNK
        if n < 1:  # the generator's own error
            return self.generator.sample(n, temperature=temperature, max_length=max_length)
        parts: list[SampleResult] = []
        drawn = 0
        while drawn < n:
            size = min(PROGRESS_CHUNK, n - drawn)
            part = self.generator.sample(
                size,
                temperature=temperature,
                batch_size=PROGRESS_CHUNK,
                max_length=max_length,
                seed=seed if not parts else None,
            )
            parts.append(part)
            drawn += size
            if on_progress is not None:
                on_progress(drawn)
        return SampleResult(
            [s for p in parts for s in p.smiles],
            [v for p in parts for v in p.valid],
            sum(p.seconds for p in parts),
        )

    def objective(self, config: Mapping[str, Any], source: str = "<objective>") -> Any:
        """The :class:`~precisionmed.chem.optimize.objective.Objective` of ``config`` (the
        parsed YAML mapping); a bad component is a :class:`ConfigError` naming it."""
        from precisionmed.chem.optimize.objective import build_objective

        return build_objective(dict(config) if isinstance(config, Mapping) else config, source)

    def optimize(
        self,
        objective: Any,
        out: str | Path,
        *,
        steps: int,
        seed: int = 0,
        batch_size: int = 64,
        max_length: int = 100,
        on_step: Callable[[dict[str, float]], None] | None = None,
    ) -> Any:
        """REINVENT from this generator (a CharRNN) toward ``objective``; the molecules found,
        best first, written to the CSV ``out``.

        Parameters
        ----------
        objective : Objective or mapping
            From :meth:`objective`, or its mapping.
        out : str or Path
            The CSV to write (rank, smiles, score, step, one column per component).
        steps : int
            Agent updates.
        seed : int
        batch_size : int
            Molecules sampled per step.
        max_length : int
        on_step : callable, optional
            Called with each step's history row.

        Returns
        -------
        ReinventResult

        Raises
        ------
        ConfigError
            Not a CharRNN, or bad settings.
        """
        from precisionmed.chem.optimize.outputs import write_molecules_csv
        from precisionmed.chem.optimize.reinvent import ReinventConfig, run_reinvent

        if self.generator.name != "charrnn":
            raise ConfigError(
                f"{self.model_name}: REINVENT fine-tunes a charrnn prior; got a "
                f"{self.generator.name}."
            )
        if isinstance(objective, Mapping):
            objective = self.objective(objective)
        config = ReinventConfig(
            steps=steps, batch_size=batch_size, seed=seed, max_length=max_length
        )
        result = run_reinvent(
            self.generator.model, objective, config, progress=False, on_step=on_step
        )
        write_molecules_csv(result, out)
        return result

    def predict(self, inputs: int) -> list[PredictionRecord]:
        """``inputs`` molecules drawn (seed 0): one record each, the SMILES its prediction and
        ``values["valid"]`` 1 where RDKit parses it, 0 otherwise (with a warning)."""
        result = self.sample(int(inputs), seed=0)
        return [
            self.record(
                f"sample {i}",
                smiles,
                {"valid": float(ok)},
                warnings=() if ok else ("not a valid molecule (RDKit cannot parse it)",),
            )
            for i, (smiles, ok) in enumerate(zip(result.smiles, result.valid, strict=True))
        ]


__all__ = ["PROGRESS_CHUNK", "GeneratorPredictor"]
