"""Integrated-gradients attributions of a sequence model (Captum), drawn as a sequence logo.

Integrated gradients (Sundararajan et al. 2017) integrates the gradient of one output along
the straight path from a baseline input to the one-hot sequence; the attributions sum to the
prediction minus the prediction on the baseline (completeness), which Captum reports as the
convergence delta. The quantity attributed is the probability that ``predict_sequences``
returns, averaged over both strands, so the attributions explain the model's actual output
and are directly comparable with :mod:`.mutagenesis`. Captum is imported inside the function:
the pillar imports without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError, require_extra
from precisionmed.genomics.encoding import encode_sequences, reverse_complement_one_hot
from precisionmed.genomics.mutagenesis import BASES, draw_logo
from precisionmed.genomics.variant_effect import output_columns

__all__ = ["BASELINES", "AttributionResult", "integrated_gradients", "plot_attribution"]

#: The baselines :func:`integrated_gradients` knows.
BASELINES = ("uniform", "zeros", "shuffle")


@dataclass
class AttributionResult:
    """What :func:`integrated_gradients` returns.

    Attributes
    ----------
    sequence : str
        The sequence attributed (upper case; cut to the model's length at its centre if longer).
    output : str
        The output column attributed (binary: the positive class).
    baseline : str
        ``uniform``, ``zeros`` or ``shuffle``.
    attributions : ndarray of shape (L, 4)
        Integrated gradients of each base channel (A, C, G, T) at each position.
    prediction : float
        The model's probability of ``output`` on ``sequence`` (both strands averaged).
    baseline_prediction : float
        The same on the baseline input.
    delta : float
        Captum's convergence delta: ``attributions.sum() - (prediction - baseline_prediction)``.
    """

    sequence: str
    output: str
    baseline: str
    attributions: np.ndarray
    prediction: float
    baseline_prediction: float
    delta: float

    def observed(self) -> np.ndarray:
        """The attribution at each position's observed base, shape (L,).

        As in DeepLIFT / integrated-gradients logos (input x gradient style): the attributions
        of the channels the input holds (an ambiguous code such as ``N``: the sum over the
        bases it stands for).
        """
        present = encode_sequences([self.sequence])[0].T > 0
        return (self.attributions * present).sum(axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the predictions, the per-position values and the (L, 4) attributions."""
        return {
            "sequence": self.sequence,
            "output": self.output,
            "baseline": self.baseline,
            "prediction": self.prediction,
            "baseline_prediction": self.baseline_prediction,
            "delta": self.delta,
            "observed": self.observed().round(6).tolist(),
            "attributions": {
                b: self.attributions[:, k].astype(float).round(6).tolist()
                for k, b in enumerate(BASES)
            },
        }


def _baseline(x: np.ndarray, kind: str, seed: int) -> np.ndarray:
    # x: (1, 4, L) with the sequence's positions first and any zero padding after them
    filled = x[0].sum(axis=0) > 0
    base = np.zeros_like(x)
    if kind == "uniform":
        base[0][:, filled] = 0.25  # every base equally likely: the encoding of N
    elif kind == "shuffle":
        idx = np.flatnonzero(filled)
        base[0][:, idx] = x[0][:, np.random.default_rng(seed).permutation(idx)]
    return base


def integrated_gradients(
    predictor: Any,
    sequence: str,
    *,
    output: str | None = None,
    baseline: str = "uniform",
    n_steps: int = 50,
    seed: int = 0,
) -> AttributionResult:
    """Integrated-gradients attributions of one sequence with Captum.

    Both strands: the function attributed is the mean of the model's probability on the
    one-hot input and on its reverse complement (what ``predict_sequences`` returns). Its
    gradient is the mean of the forward strand's gradient and of the reverse strand's gradient
    mapped back to forward positions (flipped along positions and A<->T, C<->G), so the result
    is exactly the average of attributing the forward and the reverse-complement input with
    the reverse strand's attributions mapped back to forward positions; a sequence and its
    reverse complement get mirrored attributions (with a strand-symmetric baseline).

    Parameters
    ----------
    predictor : SequencePredictor
    sequence : str
        IUPAC DNA; longer than the model's length: cut to its centre; shorter: zero-padded (the
        padding is also the baseline there, so it gets no attribution).
    output : str, optional
        The class / label to attribute (default: the first output column; binary: the
        positive class).
    baseline : {"uniform", "zeros", "shuffle"}
        ``uniform``: 0.25 in every channel (the encoding of ``N``, the expected input);
        ``zeros``: all-zero rows; ``shuffle``: the sequence's own bases randomly permuted
        (same composition, ``seed``).
    n_steps : int
        Points of Captum's Gauss-Legendre rule along the path.
    seed : int
        Seed of the ``shuffle`` baseline.

    Returns
    -------
    AttributionResult
        ``attributions`` of shape (L, 4); ``delta`` the completeness error.

    Raises
    ------
    ConfigError
        An empty sequence, an unknown ``output`` or ``baseline``, ``n_steps < 1``.
    MissingExtraError
        Captum is not installed.
    """
    seq = sequence.strip().upper()
    if not seq:
        raise ConfigError("--sequence: expected a DNA sequence, got an empty one")
    if baseline not in BASELINES:
        raise ConfigError(f"--baseline {baseline}: expected one of {list(BASELINES)}")
    if n_steps < 1:
        raise ConfigError(f"n_steps must be a positive integer, got {n_steps}")
    columns = output_columns(predictor)
    if output is not None and output not in columns:
        raise ConfigError(f"--output {output}: expected one of {columns}")
    target = 0 if output is None else columns.index(output)
    require_extra("captum", "genomics")
    import torch
    from captum.attr import IntegratedGradients

    length = int(predictor.config["length"])
    if len(seq) > length:
        start = (len(seq) - length) // 2
        seq = seq[start : start + length]
    x = encode_sequences([seq], length=length)
    base = _baseline(x, baseline, seed)
    net, task = predictor.net.eval(), predictor.task

    def both_strands(inputs: Any) -> Any:
        logits = (net(inputs), net(reverse_complement_one_hot(inputs)))
        act = (lambda t: torch.softmax(t, -1)) if task == "multi-class" else torch.sigmoid
        return (act(logits[0]) + act(logits[1])) / 2

    ig = IntegratedGradients(both_strands)
    inputs, baselines = torch.from_numpy(x), torch.from_numpy(base)
    attr, delta = ig.attribute(inputs, baselines=baselines, target=target, n_steps=n_steps,
                               return_convergence_delta=True)  # fmt: skip
    with torch.no_grad():
        p = both_strands(torch.cat([inputs, baselines]))[:, target]
    return AttributionResult(
        sequence=seq,
        output=columns[target],
        baseline=baseline,
        attributions=attr[0, :, : len(seq)].T.detach().numpy().astype(np.float64),
        prediction=float(p[0]),
        baseline_prediction=float(p[1]),
        delta=float(delta[0]),
    )


def plot_attribution(result: AttributionResult, path: str | Path) -> Path:
    """A PNG sequence logo: each base scaled by its attribution (above the axis: supports).

    The values are written beside the PNG as JSON (:meth:`AttributionResult.to_dict`).

    Parameters
    ----------
    result : AttributionResult
    path : str or Path
        The PNG to write.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from precisionmed.evaluation.plots import save_figure

    fig, ax = plt.subplots(figsize=(max(6.0, len(result.sequence) * 0.12), 2.4))
    draw_logo(ax, result.sequence, result.observed(), ylabel="attribution")
    ax.set_xlabel("position")
    ax.set_title(
        f"integrated gradients: {result.output} ({result.prediction:.3f} vs "
        f"{result.baseline_prediction:.3f} on the {result.baseline} baseline, both strands)"
    )
    return save_figure(fig, path, result.to_dict())
