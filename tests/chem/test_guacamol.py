"""GuacaMol's goal-directed tasks score as guacamol 0.5.5 does.

``tests/chem/data/guacamol_reference.json`` holds guacamol's own scores (its
``goal_directed_suite_v2()`` objectives, computed by ``benchmarks/dev/chem_reference_values.py``
in a throwaway environment) of drugs of the suite, analogues, benzene and invalid SMILES.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from precisionmed.chem.optimize.guacamol import CORRUPT_SCORE, benchmark_score, goal_directed_task
from precisionmed.errors import ConfigError

REFERENCE = json.loads((Path(__file__).parent / "data" / "guacamol_reference.json").read_text())


@pytest.mark.parametrize("name", sorted(REFERENCE["scores"]))
def test_scores_equal_guacamols(name):
    ours = goal_directed_task(name).score_list(REFERENCE["molecules"])
    assert ours == pytest.approx(REFERENCE["scores"][name], abs=1e-9)


def test_known_answers():
    celecoxib = goal_directed_task("Celecoxib rediscovery")
    assert celecoxib.score("Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1") == 1.0
    assert celecoxib.score("C1CC") == CORRUPT_SCORE
    assert celecoxib.top_counts == (1,)
    assert goal_directed_task("osimertinib mpo").top_counts == (1, 10, 100)


def test_global_score_is_guacamols():
    ref = REFERENCE["global_score"]
    assert benchmark_score(ref["scores"], ref["top_counts"]) == pytest.approx(ref["score"])
    # fewer molecules than the top-100 needs: padded with zeros, as guacamol's assess_model
    assert benchmark_score([1.0], (1, 10, 100)) == pytest.approx((1 + 0.1 + 0.01) / 3)


def test_unknown_task_names_the_close_ones():
    with pytest.raises(ConfigError, match="Did you mean: celecoxib rediscovery"):
        goal_directed_task("Celecoxib rediscovry")
