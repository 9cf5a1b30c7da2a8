"""Reference values for tests/chem: molsets (MOSES metrics) and guacamol (goal-directed scores).

Neither package installs beside ours (see /work/shared/env/NOTES.md), so this script runs in a
throwaway environment that sees our venv's packages through a ``.pth`` file::

    python3.11 -m venv /tmp/rl-venv
    echo /work/main/.venv/lib/python3.11/site-packages \
        > /tmp/rl-venv/lib/python3.11/site-packages/main.pth
    /tmp/rl-venv/bin/pip install --no-deps molsets==0.3.1 guacamol==0.5.5 fcd==1.2.2
    PYTHONPATH=. /tmp/rl-venv/bin/python benchmarks/dev/chem_reference_values.py

It writes ``tests/chem/data/moses_reference.json`` and ``tests/chem/data/guacamol_reference.json``.
The shims below are the ones NOTES.md records (``rdkit.six``, ``DataFrame.append``,
``scipy.histogram``, ``np.NaN``); none changes a computed value.
"""

from __future__ import annotations

import json
import sys
import time
import types
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

from tests.chem.moses_sample import fixed_sample, small_sample

ROOT = Path(__file__).resolve().parents[2]
MOSES_DIR = Path("/work/shared/data/molecules/moses")
OUT = ROOT / "tests" / "chem" / "data"

six = types.ModuleType("rdkit.six")
six.iteritems = lambda d: iter(d.items())  # type: ignore[attr-defined]
sys.modules["rdkit.six"] = six
pd.DataFrame.append = lambda self, other, sort=False: pd.concat([self, other], sort=sort)  # type: ignore[attr-defined]
scipy.histogram = np.histogram  # type: ignore[attr-defined]
np.NaN = np.nan  # type: ignore[attr-defined]

#: Molecules scored by guacamol: drugs of the suite, MOSES Test molecules, and an invalid one.
GUACAMOL_MOLECULES = [
    "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",  # celecoxib
    "Cc1ccc(-c2cc(C(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",  # a close analogue
    "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",  # osimertinib
    "CCOc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",  # an ethoxy analogue
    "Clc4cccc(N3CCN(CCCCOc2ccc1c(NC(=O)CC1)c2)CC3)c4Cl",  # aripiprazole
    "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",  # albuterol
    "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",  # mestranol
    "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",  # fexofenadine
    "CC(C)C1CCC(C)CC1O",  # menthol
    "c1ccccc1",
    "C1CC",  # invalid: unclosed ring
]


def moses_reference() -> dict:
    import moses

    small = small_sample(MOSES_DIR)
    start = time.time()
    small_metrics = moses.get_all_metrics(
        small["gen"],
        k=[100, 1000],
        n_jobs=1,
        device="cpu",
        test=small["test"],
        test_scaffolds=small["test_scaffolds"],
        train=small["train"],
    )
    small_seconds = time.time() - start
    if "small" in sys.argv:
        sample, metrics = [], {}
    else:
        sample = fixed_sample(MOSES_DIR)
        metrics = moses.get_all_metrics(sample, k=[1000, 10000], n_jobs=1, device="cpu")
    return {
        "small": {
            "call": "moses.get_all_metrics(gen, k=[100, 1000], n_jobs=1, device='cpu', test=, "
            "test_scaffolds=, train=) on small_sample(mirror/molecules/moses)",
            "seconds": round(small_seconds, 1),
            "metrics": {k: float(v) for k, v in small_metrics.items()},
        },
        "reference": "molsets (moses.get_all_metrics, k=[1000, 10000], n_jobs=1, device='cpu', "
        "its packaged Train/Test/TestSF and statistics, identical to the mirror's files)",
        "versions": {p: version(p) for p in ("molsets", "fcd_torch", "rdkit", "torch", "numpy")},
        "sample": "tests/chem/moses_sample.py: fixed_sample(mirror/molecules/moses), 1000 SMILES",
        "seconds": round(time.time() - start, 1),
        "metrics": {k: float(v) for k, v in metrics.items()},
    }


def guacamol_reference() -> dict:
    from guacamol import standard_benchmarks as sb
    from guacamol.benchmark_suites import goal_directed_suite_v2
    from guacamol.goal_directed_score_contributions import compute_global_score

    suite = {b.name: b for b in goal_directed_suite_v2()}
    names = [
        "Celecoxib rediscovery",
        "Troglitazone rediscovery",
        "Thiothixene rediscovery",
        "Aripiprazole similarity",
        "Albuterol similarity",
        "Mestranol similarity",
        "Median molecules 1",
        "Osimertinib MPO",
        "Fexofenadine MPO",
        "Perindopril MPO",
        "Amlodipine MPO",
    ]
    assert all(n in suite for n in names), sorted(suite)
    scores = {n: suite[n].objective.score_list(GUACAMOL_MOLECULES) for n in names}
    ranked = [0.9, 0.1, 0.5] + [0.2] * 20 + [0.05] * 90
    spec = sb.uniform_specification(1, 10, 100)
    global_score, top = compute_global_score(spec, ranked)
    return {
        "reference": "guacamol 0.5.5 goal_directed_suite_v2() objectives, score_list",
        "versions": {p: version(p) for p in ("guacamol", "rdkit", "numpy")},
        "molecules": GUACAMOL_MOLECULES,
        "scores": scores,
        "global_score": {
            "scores": ranked,
            "top_counts": [1, 10, 100],
            "score": global_score,
            "top": top,
        },
    }


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["guacamol", "moses"]
    if "guacamol" in which:
        (OUT / "guacamol_reference.json").write_text(json.dumps(guacamol_reference(), indent=1))
    if "moses" in which or "small" in which:
        if "small" in which:  # keep the full sample's values, add the small one's
            old = json.loads((OUT / "moses_reference.json").read_text())
            new = moses_reference()
            old["small"] = new["small"]
            (OUT / "moses_reference.json").write_text(json.dumps(old, indent=1))
            sys.exit(0)
        (OUT / "moses_reference.json").write_text(json.dumps(moses_reference(), indent=1))
