"""Davis drug-target affinity benchmark: test-fold CI and MSE beside DeepDTA and GraphDTA.

DeepDTA's setting 1 (Öztürk et al. 2018): trained on four of the five training folds, early
stopping on the fifth (``--val-fold``, 0 by default: DeepDTA itself cross-validated over the
five and reported the mean), tested once on DeepDTA's test fold of 5,010 pairs. Affinities are
pKd = -log10(Kd / 1e9). The CI is DeepDTA's (:func:`precisionmed.chem.concordance_index`), the
MSE in pKd^2; both with 95% bootstrap intervals over test pairs.

Published rows (Davis, setting 1): DeepDTA CI 0.878, MSE 0.261 (Öztürk et al. 2018, Table 3);
GraphDTA GIN CI 0.893, MSE 0.229 (Nguyen et al. 2021, Table 2). Target (issue 22): better than
GraphDTA's GIN on both.

The full schedules (100 epochs for DeepDTA, 1000 for GraphDTA, with early stopping here) take
hours on a CPU. ``--max-epochs`` and ``--subset`` (at most N pairs of each part) shorten a run;
the JSON records exactly what ran (``budget``), and a shortened run is flagged
``"full_schedule": false``: it is a smoke test, not a result to compare with the papers. CPU
time is ``time.process_time`` (every thread of this process). ``--protein-chunk 64`` trains on
batches of whole proteins (the ``protein_chunk`` parameter: about 12 CPU seconds an epoch of
DeepDTA instead of about 5 minutes), which makes the full schedule fit a CPU.

Run: ``.venv/bin/python benchmarks/chem_dta.py [--models deepdta gin] [--seeds 0]
[--max-epochs N] [--subset N] [--out FILE]``; merged into ``benchmarks/results/chem_dta.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import use_shared_mirror

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "chem_dta.json"
PUBLISHED = {
    "published:DeepDTA": {"ci": 0.878, "mse": 0.261},
    "published:GraphDTA-GIN": {"ci": 0.893, "mse": 0.229},
}
TARGET = "published:GraphDTA-GIN"


def run_one(model: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one seed of ``model`` on Davis; its test figures, epochs and CPU minutes."""
    from precisionmed.chem.affinity_training import train_affinity_model
    from precisionmed.data import load_dataset

    params = {"max_epochs": args.max_epochs, "batch_size": args.batch_size,
              "protein_chunk": args.protein_chunk}  # fmt: skip
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train_affinity_model(
            load_dataset("davis"), model, Path(tmp) / "model", val_fold=args.val_fold,
            subset=args.subset, seed=seed, n_members=args.ensemble, params=params,
            n_boot=args.n_boot, progress=not args.quiet, source="catalog:davis",
        )  # fmt: skip
    test, training = metrics["test"], metrics["training"]
    return {
        "seed": seed,
        "ci": test["ci"],
        "mse": test["mse"],
        "ci_95": [test["ci_interval"]["low"], test["ci_interval"]["high"]],
        "mse_95": [test["mse_interval"]["low"], test["mse_interval"]["high"]],
        "interval_coverage": test.get("coverage"),
        "val_ci": metrics["val"]["ci"],
        "val_mse": metrics["val"]["mse"],
        "sizes": metrics["sizes"],
        "best_epoch": [m["best_epoch"] for m in training["members"]],
        "epochs_run": [m["epochs_run"] for m in training["members"]],
        "cpu_minutes": (time.process_time() - cpu0) / 60.0,
        "wall_minutes": (time.perf_counter() - wall0) / 60.0,
    }


def aggregate(per_seed: list[dict], full: bool) -> dict:
    """Mean and sd over seeds; whether the mean beats the target on both metrics."""
    ci = np.array([r["ci"] for r in per_seed])
    mse = np.array([r["mse"] for r in per_seed])
    sd = (lambda v: float(v.std(ddof=1))) if len(per_seed) > 1 else (lambda v: 0.0)
    anchor = PUBLISHED[TARGET]
    return {
        "ci": float(ci.mean()),
        "ci_sd": sd(ci),
        "mse": float(mse.mean()),
        "mse_sd": sd(mse),
        "n_seeds": len(per_seed),
        "full_schedule": full,
        "beats_target": bool(full and ci.mean() > anchor["ci"] and mse.mean() < anchor["mse"]),
        "cpu_minutes": float(sum(r["cpu_minutes"] for r in per_seed)),
        "seeds": per_seed,
    }


def write(path: Path, entries: dict, meta_run: dict) -> None:
    """Merge the entries into ``path`` (``davis -> model -> metrics``) with ``_meta``."""
    results = json.loads(path.read_text()) if path.is_file() else {}
    davis = results.get("davis", {})
    davis.update(entries)
    davis.update(PUBLISHED)
    results["davis"] = davis
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    meta = results.get("_meta", {})
    meta.update(
        {
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0],
            "split": "DeepDTA setting 1: train = 4 training folds, validation = one, test = "
            "DeepDTA's test fold (5,010 pairs)",
            "metric_definitions": "CI: DeepDTA's concordance index over pairs of different "
            "true pKd (prediction ties 0.5); MSE in pKd^2; 95% percentile bootstrap intervals "
            "over test pairs",
            "published_source": "Öztürk et al., Bioinformatics 34(17) i821 (2018), Table 3; "
            "Nguyen et al., Bioinformatics 37(8) 1140 (2021), Table 2",
        }
    )
    meta.setdefault("runs", {}).update({k: {**meta_run, "commit": commit} for k in entries})
    results["_meta"] = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["deepdta", "gin"],
                        choices=["deepdta", "gin"])  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-epochs", type=int, default=None, help="default: the paper's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the paper's")
    parser.add_argument("--subset", type=int, default=None, help="at most N pairs per part")
    parser.add_argument(
        "--protein-chunk", type=int, default=None, help="batches of protein chunks of N pairs"
    )
    parser.add_argument("--val-fold", type=int, default=0)
    parser.add_argument("--ensemble", type=int, default=1)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON to merge into")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    use_shared_mirror()
    if args.threads:
        torch.set_num_threads(args.threads)
    full = args.max_epochs is None and args.subset is None
    budget = {"max_epochs": args.max_epochs or "paper's (100 deepdta, 1000 gin)",
              "subset": args.subset, "batch_size": args.batch_size or "paper's",
              "val_fold": args.val_fold, "ensemble": args.ensemble, "seeds": args.seeds,
              "n_boot": args.n_boot, "protein_chunk": args.protein_chunk}  # fmt: skip
    entries = {}
    for model in args.models:
        per_seed = [run_one(model, seed, args) for seed in args.seeds]
        entry = aggregate(per_seed, full) | {"budget": budget}
        entries[f"precisionmed:{model}"] = entry
        note = f"{entry['cpu_minutes']:.1f} CPU min, full schedule: {full}"
        print(f"{model}: CI {entry['ci']:.3f} MSE {entry['mse']:.3f} ({note})", flush=True)
    for key, row in PUBLISHED.items():
        print(f"{key}: CI {row['ci']:.3f} MSE {row['mse']:.3f}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    run = {"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": device,
           "cpu_minutes": float(sum(e["cpu_minutes"] for e in entries.values())),
           "seeds": args.seeds, "full_schedule": full}  # fmt: skip
    write(args.out, entries, run)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
