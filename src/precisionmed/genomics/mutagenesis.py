"""In-silico saturation mutagenesis of one sequence, drawn as a sequence logo and a heat map.

Every position is changed to each of the four bases and the model re-run (both strands
averaged): ``effects[i, b]`` is the prediction with base ``b`` at position ``i`` minus the
prediction on the sequence itself (zero at the sequence's own base). A position's importance is
minus the mean effect of its three substitutions: positive where mutating it lowers the
prediction (the base supports it), as in DeepSEA/Basset in-silico mutagenesis plots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError
from precisionmed.genomics.variant_effect import output_columns, predict_in_batches

__all__ = ["MutagenesisResult", "draw_logo", "plot_mutagenesis", "saturation_mutagenesis"]

BASES = "ACGT"
#: Letter colours of the usual DNA logo palette (as logomaker's "classic").
COLOURS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839", "N": "#888888"}


@dataclass
class MutagenesisResult:
    """What :func:`saturation_mutagenesis` returns.

    Attributes
    ----------
    sequence : str
        The sequence, upper case.
    columns : list of str
        The model's K output columns (binary: the positive class).
    reference : ndarray of shape (K,)
        The prediction on ``sequence``.
    effects : ndarray of shape (L, 4, K)
        Prediction with each base (A, C, G, T) at each position minus ``reference``.
    """

    sequence: str
    columns: list[str]
    reference: np.ndarray
    effects: np.ndarray

    def importance(self, output: int = 0) -> np.ndarray:
        """Minus the mean effect of the three substitutions at each position, shape (L,).

        At a non-ACGT base (``N``) the mean is over all four bases.
        """
        e = self.effects[:, :, output]
        own = np.array([BASES.find(b) for b in self.sequence])
        n_subs = np.where(own >= 0, 3, 4)
        return -e.sum(axis=1) / n_subs

    def to_dict(self, output: int = 0) -> dict[str, Any]:
        """JSON-ready: the reference prediction, the importances and the effects of ``output``."""
        return {
            "sequence": self.sequence,
            "output": self.columns[output],
            "reference": float(self.reference[output]),
            "importance": self.importance(output).round(6).tolist(),
            "effects": {
                b: self.effects[:, k, output].astype(float).round(6).tolist()
                for k, b in enumerate(BASES)
            },
        }


def saturation_mutagenesis(
    predictor: Any, sequence: str, *, batch_size: int = 512, progress: bool = False
) -> MutagenesisResult:
    """Predict every single-base substitution of ``sequence``.

    Parameters
    ----------
    predictor : SequencePredictor
    sequence : str
        IUPAC DNA (its length is the model's, or it is padded / cut as by
        ``predict_sequences``).
    batch_size : int
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    MutagenesisResult

    Raises
    ------
    ConfigError
        An empty sequence.
    """
    seq = sequence.strip().upper()
    if not seq:
        raise ConfigError("--sequence: expected a DNA sequence, got an empty one")
    mutants = [seq[:i] + b + seq[i + 1 :] for i in range(len(seq)) for b in BASES]
    prob = predict_in_batches(predictor, [seq, *mutants], batch_size, progress, "mutagenesis")
    reference = prob[0]
    effects = (prob[1:] - reference).reshape(len(seq), len(BASES), -1)
    return MutagenesisResult(seq, output_columns(predictor), reference, effects)


def _letter(ax: Any, base: str, x: float, bottom: float, height: float) -> None:
    # a letter stretched to fill [x, x + 1) x [bottom, bottom + height), as logo tools draw it;
    # drawn by hand (a TextPath scaled into its box) since no logo library is a dependency
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    font = FontProperties(family="DejaVu Sans", weight="bold")
    path = TextPath((0, 0), base, size=1, prop=font)
    box = path.get_extents()
    if box.width == 0 or box.height == 0 or height == 0:
        return
    transform = (
        Affine2D()
        .translate(-box.x0, -box.y0)
        .scale(0.9 / box.width, height / box.height)
        .translate(x + 0.05, bottom)
    )
    ax.add_patch(PathPatch(transform.transform_path(path), color=COLOURS.get(base, "#888888")))


def draw_logo(ax: Any, sequence: str, heights: np.ndarray, *, ylabel: str) -> None:
    """Draw ``sequence`` on ``ax`` as a logo: letter ``i`` scaled to ``heights[i]``.

    Positive heights stand on the axis, negative ones hang below it (upright letters).

    Parameters
    ----------
    ax : matplotlib Axes
    sequence : str
        Length L.
    heights : ndarray of shape (L,)
    ylabel : str
    """
    for i, base in enumerate(sequence):
        _letter(ax, base, i, min(0.0, float(heights[i])), abs(float(heights[i])))
    span = float(np.abs(heights).max()) if len(heights) else 0.0
    span = span or 1.0
    ax.set_xlim(0, len(sequence))
    ax.set_ylim(-span * 1.05, span * 1.05)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel(ylabel)


def plot_mutagenesis(result: MutagenesisResult, path: str | Path, *, output: int = 0) -> Path:
    """A PNG: the sequence's letters scaled by importance (logo) over a heat map of the effects.

    Letters above the axis support the prediction (mutating them lowers it), letters below
    oppose it. The plotted values are written beside the PNG as JSON (:meth:`to_dict`).

    Parameters
    ----------
    result : MutagenesisResult
    path : str or Path
        The PNG to write.
    output : int
        Which output column to draw.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from precisionmed.evaluation.plots import save_figure

    if not 0 <= output < len(result.columns):
        raise ConfigError(f"output must be in 0..{len(result.columns) - 1}, got {output}")
    n = len(result.sequence)
    importance = result.importance(output)
    effects = result.effects[:, :, output]
    fig, axes = plt.subplots(
        2, 2, figsize=(max(6.0, n * 0.12), 4.0), gridspec_kw={"width_ratios": [60, 1]}
    )
    (logo, blank), (heat, bar) = axes
    blank.axis("off")
    draw_logo(logo, result.sequence, importance, ylabel="importance")
    logo.set_title(
        f"in-silico mutagenesis: {result.columns[output]} "
        f"(reference {result.reference[output]:.3f}, both strands)"
    )
    limit = float(np.abs(effects).max()) or 1.0
    image = heat.imshow(effects.T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                        extent=(0, n, len(BASES) - 0.5, -0.5), interpolation="nearest")  # fmt: skip
    heat.set_yticks(range(len(BASES)), list(BASES))
    heat.set_xlabel("position")
    heat.set_xlim(0, n)
    fig.colorbar(image, cax=bar, label="mutant - ref")
    return save_figure(fig, path, result.to_dict(output))
