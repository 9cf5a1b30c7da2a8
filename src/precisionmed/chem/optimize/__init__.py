"""Goal-directed molecule optimisation: a composable objective, GuacaMol's tasks, REINVENT.

:mod:`.objective` reads a scoring function from a small YAML file (QED, SA, property windows,
similarity, substructures, saved property and affinity models, GuacaMol tasks);
:mod:`.guacamol` reproduces GuacaMol's goal-directed tasks; :mod:`.reinvent` fine-tunes a
CharRNN prior with REINVENT's augmented-likelihood policy gradient; :mod:`.outputs` writes a
run's CSV and score plot.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Objective": "precisionmed.chem.optimize.objective",
    "build_objective": "precisionmed.chem.optimize.objective",
    "load_objective": "precisionmed.chem.optimize.objective",
    "GoalDirectedTask": "precisionmed.chem.optimize.guacamol",
    "benchmark_score": "precisionmed.chem.optimize.guacamol",
    "goal_directed_task": "precisionmed.chem.optimize.guacamol",
    "ReinventConfig": "precisionmed.chem.optimize.reinvent",
    "ReinventResult": "precisionmed.chem.optimize.reinvent",
    "run_reinvent": "precisionmed.chem.optimize.reinvent",
    "plot_score_history": "precisionmed.chem.optimize.outputs",
    "write_molecules_csv": "precisionmed.chem.optimize.outputs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.chem.optimize' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
