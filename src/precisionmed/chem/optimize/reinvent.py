"""REINVENT: policy-gradient fine-tuning of a CharRNN prior toward an objective.

Olivecrona et al., *Molecular de-novo design through deep reinforcement learning*, J Cheminf 9, 48
(2017), with the experience replay and scaffold diversity filter of REINVENT 2 (Blaschke et al.,
J Cheminf 12, 68, 2020). Each step the agent (a copy of the prior) samples ``batch_size``
SMILES; the distinct ones are scored; the **augmented likelihood** anchors the agent to the prior::

    log p_aug(x) = log p_prior(x) + sigma * S(x)
    loss = mean over the batch (+ replayed memories) of (log p_aug(x) - log p_agent(x))^2

``S`` is the objective's score after the **diversity filter**: a molecule whose Bemis-Murcko
scaffold bucket already holds ``bucket_size`` molecules scoring at least ``min_score``, or that
was generated before, scores 0 (REINVENT's ``IdenticalMurckoScaffold``). The **experience replay**
keeps the ``memory_size`` best distinct molecules seen; ``replay`` of them join each step's loss.
The run stops after ``max_calls`` scoring-function calls (the budget GuacaMol counts) or ``steps``
steps, whichever comes first.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from precisionmed.chem.optimize.objective import Objective
from precisionmed.errors import ConfigError


@dataclass(frozen=True)
class ReinventConfig:
    """Hyper-parameters of a run (REINVENT's defaults where it has them).

    Attributes
    ----------
    steps : int
        Agent updates at most.
    batch_size : int
        SMILES sampled per step (REINVENT: 128).
    sigma : float
        Weight of the score in the augmented likelihood (REINVENT 2: 120).
    learning_rate : float
        Adam's step size (REINVENT: 1e-4).
    max_calls : int or None
        Scoring-function calls at most (None: ``steps * batch_size``).
    memory_size, replay : int
        Experience replay: molecules kept, and replayed per step (0 disables it).
    bucket_size : int
        Diversity filter: molecules per scaffold before the scaffold scores 0 (0 disables it).
    min_score : float
        Only molecules scoring at least this fill the buckets (REINVENT: 0.4).
    temperature : float
        Sampling temperature (1: the agent's own distribution, as the gradient assumes).
    max_length : int
        Tokens per sampled SMILES at most.
    seed : int
    """

    steps: int = 100
    batch_size: int = 128
    sigma: float = 120.0
    learning_rate: float = 1e-4
    max_calls: int | None = None
    memory_size: int = 100
    replay: int = 10
    bucket_size: int = 25
    min_score: float = 0.4
    temperature: float = 1.0
    max_length: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.max_length < 1:
            raise ConfigError(
                f"REINVENT needs steps, batch_size, max_length >= 1. Got steps="
                f"{self.steps}, batch_size={self.batch_size}, "
                f"max_length={self.max_length}."
            )
        if self.sigma < 0 or self.learning_rate <= 0 or self.temperature <= 0:
            raise ConfigError(
                f"REINVENT needs sigma >= 0, learning_rate > 0, temperature > 0. "
                f"Got {self.sigma}, {self.learning_rate}, {self.temperature}."
            )
        if min(self.memory_size, self.replay, self.bucket_size) < 0:
            raise ConfigError("memory_size, replay and bucket_size must be >= 0.")


class ScaffoldDiversityFilter:
    """REINVENT's identical-Murcko-scaffold filter: full buckets and repeats score 0."""

    def __init__(self, bucket_size: int, min_score: float) -> None:
        self.bucket_size = bucket_size
        self.min_score = min_score
        self.buckets: dict[str, int] = {}
        self.seen: set[str] = set()

    def __call__(self, smiles: Sequence[str | None], scores: np.ndarray) -> np.ndarray:
        """Filtered copy of ``scores`` for canonical ``smiles`` (None: invalid)."""
        from rdkit import Chem, rdBase

        from precisionmed.chem.splits import murcko_scaffold

        out = scores.copy()
        if self.bucket_size == 0:
            return out
        for i, s in enumerate(smiles):
            if s is None:
                continue
            if s in self.seen:
                out[i] = 0.0
                continue
            self.seen.add(s)
            if scores[i] < self.min_score:
                continue
            with rdBase.BlockLogs():
                scaffold = murcko_scaffold(Chem.MolFromSmiles(s))
            if self.buckets.get(scaffold, 0) >= self.bucket_size:
                out[i] = 0.0
            else:
                self.buckets[scaffold] = self.buckets.get(scaffold, 0) + 1
        return out


@dataclass
class ReinventResult:
    """What a run produced.

    Attributes
    ----------
    molecules : list of dict
        Every distinct valid molecule scored: ``smiles``, ``score`` (the objective), ``step``,
        and each component's desirability; sorted by score, best first.
    history : list of dict
        Per step: ``step``, ``calls``, ``mean_score``, ``max_score``, ``validity``, ``loss``.
    agent : torch.nn.Module
        The fine-tuned CharRNN.
    calls : int
        Scoring-function calls made.
    seconds : float
    """

    molecules: list[dict[str, Any]]
    history: list[dict[str, float]]
    agent: Any
    calls: int
    seconds: float
    final_batch: list[str] = field(default_factory=list)

    def top(self, n: int) -> list[dict[str, Any]]:
        """The ``n`` best molecules."""
        return self.molecules[:n]


def _canonical(smiles: list[str]) -> list[str | None]:
    from rdkit import Chem

    from precisionmed.chem.moses_scoring import moses_mol

    out: list[str | None] = []
    for s in smiles:
        mol = moses_mol(s)
        out.append(None if mol is None else Chem.MolToSmiles(mol))
    return out


def _encodable(model: Any, smiles: list[str]) -> list[bool]:
    from precisionmed.errors import DataFormatError

    ok = []
    for s in smiles:
        try:
            model.vocabulary.encode(s)
            ok.append(bool(s))
        except DataFormatError:
            ok.append(False)
    return ok


def run_reinvent(
    prior: Any,
    objective: Objective,
    config: ReinventConfig | None = None,
    *,
    progress: bool = True,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> ReinventResult:
    """Fine-tune a copy of ``prior`` (a CharRNN) to maximise ``objective``.

    Parameters
    ----------
    prior : CharRNN
        ``load_generator(model_dir).model``; left unchanged (the agent is a copy).
    objective : Objective
        Scores in [0, 1]; its ``calls`` counter is the budget's clock.
    config : ReinventConfig, optional
    progress : bool
        A progress bar (scoring calls) on stderr.
    on_step : callable, optional
        Called with each step's history row (``step``, ``calls``, ``mean_score``...), e.g. to
        report progress elsewhere than on stderr.

    Returns
    -------
    ReinventResult
    """
    from rich.console import Console
    from rich.progress import Progress

    from precisionmed.train.seeding import seed_everything

    config = config or ReinventConfig()
    if not hasattr(prior, "log_likelihood") or not hasattr(prior, "sample"):
        raise ConfigError(
            "REINVENT needs a CharRNN prior (a 'charrnn' generator directory); "
            f"got a {type(prior).__name__}."
        )
    seed_everything(config.seed)
    start = time.perf_counter()
    prior.eval()
    agent = copy.deepcopy(prior)  # dropout stays off: the agent's and prior's likelihoods match
    for p in agent.parameters():  # the prior is only read (under no_grad), never trained
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    budget = config.max_calls or config.steps * config.batch_size
    dfilter = ScaffoldDiversityFilter(config.bucket_size, config.min_score)
    memory: dict[str, tuple[float, float]] = {}  # smiles -> (filtered score, prior log-lik.)
    found: dict[str, dict[str, Any]] = {}
    history: list[dict[str, float]] = []
    calls0 = objective.calls
    final: list[str] = []
    with Progress(console=Console(stderr=True), transient=True, disable=not progress) as bar:
        task = bar.add_task("REINVENT", total=budget)
        for step in range(1, config.steps + 1):
            left = budget - (objective.calls - calls0)
            if left <= 0:
                break
            with torch.no_grad():
                raw, _ = agent.sample(
                    config.batch_size, temperature=config.temperature, max_length=config.max_length
                )
            distinct = list(dict.fromkeys(raw))
            keep = _encodable(agent, distinct)
            smiles = [s for s, k in zip(distinct, keep, strict=True) if k][:left]
            if not smiles:
                continue
            final = list(raw)
            scores, parts = objective.score_components(smiles)
            canon = _canonical(smiles)
            filtered = dfilter(canon, scores)
            for i, c in enumerate(canon):
                if c is not None and c not in found:
                    found[c] = {
                        "smiles": c,
                        "score": float(scores[i]),
                        "step": step,
                        **{k: float(v[i]) for k, v in parts.items()},
                    }
            agent_ll = agent.log_likelihood(smiles)
            with torch.no_grad():
                prior_ll = prior.log_likelihood(smiles)
            target = prior_ll + config.sigma * torch.as_tensor(filtered, dtype=prior_ll.dtype)
            losses = [(target - agent_ll) ** 2]
            if config.replay and memory:
                pick = sorted(memory, key=lambda s: memory[s][0], reverse=True)
                rng = np.random.default_rng(config.seed + step)
                chosen = list(rng.choice(pick, size=min(config.replay, len(pick)), replace=False))
                m_scores = torch.tensor([memory[s][0] for s in chosen], dtype=prior_ll.dtype)
                m_prior = torch.tensor([memory[s][1] for s in chosen], dtype=prior_ll.dtype)
                losses.append(
                    (m_prior + config.sigma * m_scores - agent.log_likelihood(chosen)) ** 2
                )
            loss = torch.cat(losses).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for s, f, pl in zip(smiles, filtered, prior_ll.tolist(), strict=True):
                if f > 0:
                    memory[s] = (float(f), float(pl))
            if len(memory) > config.memory_size:
                best = sorted(memory, key=lambda s: memory[s][0], reverse=True)
                memory = {s: memory[s] for s in best[: config.memory_size]}
            valid = np.array([c is not None for c in canon])
            history.append(
                {
                    "step": step,
                    "calls": objective.calls - calls0,
                    "mean_score": float(scores.mean()),
                    "max_score": float(scores.max()),
                    "validity": float(valid.mean()),
                    "loss": float(loss.item()),
                }
            )
            if on_step is not None:
                on_step(history[-1])
            bar.update(
                task,
                completed=objective.calls - calls0,
                description=f"REINVENT score {scores.mean():.3f}",
            )
            if math.isnan(float(loss.item())):
                raise ConfigError(
                    f"REINVENT step {step}: the loss became NaN; lower learning_rate or sigma."
                )
    agent.eval()
    molecules = sorted(found.values(), key=lambda r: (-r["score"], r["smiles"]))
    return ReinventResult(
        molecules, history, agent, objective.calls - calls0, time.perf_counter() - start, final
    )


__all__ = ["ReinventConfig", "ReinventResult", "ScaffoldDiversityFilter", "run_reinvent"]
