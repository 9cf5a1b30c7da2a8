"""One round of choice for ESOL (random split), on validation RMSE only.

``chem_properties.py`` left our D-MPNN at RMSE 0.567 +- 0.026 on ESOL's random split (3 seeds),
0.012 above chemprop's published 0.555. This round trains the benchmark's model on the same
splits (seeds 0-2) under a few candidate settings and records the **validation** RMSE that
chooses among them (the test RMSE is stored beside it for the record, never for the choice):

* ``members3``: the benchmark's setting (a deep ensemble of 3, RDKit descriptors);
* ``members5``: a deep ensemble of 5;
* ``members3-nodesc``: 3 members without the RDKit descriptors.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/dev/esol_members.py --out FILE``.

Outcome (2026-12-07, commit 8d64290, ``benchmarks/dev/results/esol_members.json``): mean
validation RMSE ``members3`` 0.5368, ``members5`` 0.5330, ``members3-nodesc`` 0.6286 (seed 0
only: 0.12 worse there, so its other seeds were not run). ``members5`` leads by 0.004 on the
validation sets, less than a tenth of the spread between seeds (0.51-0.55); its test RMSE,
0.566, is the benchmark's 0.567 within noise and still above chemprop's published 0.555. So the
benchmark keeps 3 members, and ESOL's published figure stays missed by about 0.01.
``members3`` reproduces ``chem_properties.py``'s per-seed test RMSE exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import use_shared_mirror  # noqa: E402

CANDIDATES = {
    "members3": {"n_members": 3, "descriptors": True},
    "members5": {"n_members": 5, "descriptors": True},
    "members3-nodesc": {"n_members": 3, "descriptors": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    use_shared_mirror()
    torch.set_num_threads(1)
    from precisionmed.chem import train_property_model
    from precisionmed.data import load_dataset

    data = load_dataset("esol")
    results: dict = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.candidates:
        for seed in args.seeds:
            if str(seed) in results.get(name, {}):
                continue
            cpu0 = time.process_time()
            with tempfile.TemporaryDirectory() as tmp:
                metrics = train_property_model(
                    data, "mpnn", Path(tmp) / "m", split="random", seed=seed,
                    progress=False, **CANDIDATES[name],
                )  # fmt: skip
            row = {
                "val_rmse": metrics["val"]["mean"]["rmse"],
                "test_rmse": metrics["test"]["mean"]["rmse"],
                "cpu_minutes": (time.process_time() - cpu0) / 60,
            }
            results.setdefault(name, {})[str(seed)] = row
            print(name, seed, row, flush=True)
            args.out.write_text(json.dumps(results, indent=2))
    for name, rows in results.items():
        val = np.mean([r["val_rmse"] for r in rows.values()])
        test = np.mean([r["test_rmse"] for r in rows.values()])
        print(f"{name}: mean val RMSE {val:.4f} (test {test:.4f}, {len(rows)} seeds)")


if __name__ == "__main__":
    main()
