"""What an optimisation run writes: the molecules as CSV and the score over the steps as a PNG."""

from __future__ import annotations

import csv
from pathlib import Path

from precisionmed.chem.optimize.reinvent import ReinventResult


def write_molecules_csv(result: ReinventResult, path: str | Path) -> Path:
    """Every distinct valid molecule scored, best first: rank, smiles, score, step, components.

    Parameters
    ----------
    result : ReinventResult
    path : str or Path
        The CSV to write (parent folders are created).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = [
        k
        for k in (result.molecules[0] if result.molecules else {})
        if k not in ("smiles", "score", "step")
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "smiles", "score", "step", *extra])
        for rank, row in enumerate(result.molecules, 1):
            writer.writerow(
                [
                    rank,
                    row["smiles"],
                    f"{row['score']:.6g}",
                    row["step"],
                    *(f"{row[k]:.6g}" for k in extra),
                ]
            )
    return path


def plot_score_history(result: ReinventResult, path: str | Path, *, title: str = "") -> Path:
    """Mean and best score of each step's batch against scoring calls, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    calls = [h["calls"] for h in result.history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(calls, [h["mean_score"] for h in result.history], label="batch mean")
    ax.plot(calls, [h["max_score"] for h in result.history], label="batch best")
    ax.plot(calls, [h["validity"] for h in result.history], ":", label="validity")
    ax.set_xlabel("scoring-function calls")
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "REINVENT: score over steps")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["plot_score_history", "write_molecules_csv"]
