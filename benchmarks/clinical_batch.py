"""Batch prediction benchmark: ``clinical predict`` on 10,000 patients, as a user runs it.

Issue 21 item 5: "10,000 patients with ``--out`` in under a minute on 2 cores; curves stored
compactly (one table, a shared time grid), and plots that a person can read for a cohort". Before
the change the same run took 3 min 4 s and wrote 58 MB of curves as JSON and one plot of 10,000
overlaid lines (the issue's figure); ``--json`` took 31 s.

Protocol: GBSG2 (686 patients, from the catalog) trains the registry's ``coxph`` with its default
39 bootstrap refits (a 95% interval for every risk, median and curve point; ``--no-explain``).
10,000 patients are resampled from GBSG2 with replacement (seed 0), each with an identifier and
the observed time and event. Then, each in a fresh process (import, model load and checksum
included), timed by the wall clock:

- ``clinical predict MODEL patients.csv --out DIR --id-column mrn --time-column time
  --event-column event``: predictions.json/.csv, the curve table and the two plots;
- ``clinical predict MODEL patients.csv --json`` (stdout to a file): every record with its curve.

Each command runs ``--repeats`` times (default 2) and the fastest run is the figure (the others
are listed): the machine is shared, and the load average at the start of each run is recorded
beside it. CPU seconds are the child process's user + system time.

Run: ``nice -n 10 .venv/bin/python benchmarks/clinical_batch.py`` (writes
``benchmarks/results/clinical_batch.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, use_shared_mirror

RESULT = ROOT / "benchmarks" / "results" / "clinical_batch.json"
N_PATIENTS = 10_000
TARGET_SECONDS = 60.0
BEFORE = {"out_seconds": 184.0, "json_seconds": 31.0, "curves_mb": 58.0}


def build_cohort(path: Path, n: int, seed: int) -> None:
    """``n`` GBSG2 patients resampled with replacement, with an identifier and the outcome."""
    from precisionmed.data import load_dataset

    data = load_dataset("gbsg2")
    pick = np.random.default_rng(seed).integers(0, len(data.X), n)
    patients = data.X.iloc[pick].reset_index(drop=True)
    patients.insert(0, "mrn", [f"P{i:05d}" for i in range(1, n + 1)])
    patients["time"] = data.y["time"][pick]
    patients["event"] = data.y["event"][pick].astype(int)
    patients.to_csv(path, index=False)


def timed(args: list[str], stdout: Path | None = None) -> dict[str, float]:
    """Wall and CPU seconds of one command in a fresh process; fails loudly on an error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(stdout or os.devnull, "w") as out:
        done = subprocess.run(args, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "load_average": load}


def sizes(folder: Path) -> dict[str, float]:
    return {p.name: round(p.stat().st_size / 1e6, 3) for p in sorted(folder.iterdir())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patients", type=int, default=N_PATIENTS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    use_shared_mirror()
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    start = time.perf_counter()
    cli = [sys.executable, "-m", "precisionmed.cli.main", "clinical", "predict"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "coxph"
        t0 = time.perf_counter()
        train_clinical_model(load_dataset("gbsg2"), "coxph", model, seed=args.seed,
                             n_boot=200, explain=False)  # fmt: skip
        train_seconds = time.perf_counter() - t0
        csv = work / "patients.csv"
        build_cohort(csv, args.patients, args.seed)
        out_runs, json_runs = [], []
        for k in range(args.repeats):
            folder = work / f"pred{k}"
            out_runs.append(timed([*cli, str(model), str(csv), "--out", str(folder),
                                   "--id-column", "mrn", "--time-column", "time",
                                   "--event-column", "event"]))  # fmt: skip
            print(f"--out  run {k + 1}: {out_runs[-1]}", flush=True)
            json_runs.append(timed([*cli, str(model), str(csv), "--json"], work / "p.json"))
            print(f"--json run {k + 1}: {json_runs[-1]}", flush=True)
        files = sizes(work / "pred0")
        json_mb = round((work / "p.json").stat().st_size / 1e6, 3)
    best_out = min(out_runs, key=lambda r: r["wall_seconds"])
    best_json = min(json_runs, key=lambda r: r["wall_seconds"])
    entry: dict[str, Any] = {
        "predict_out_seconds": best_out["wall_seconds"],
        "predict_json_seconds": best_json["wall_seconds"],
        "target_seconds": TARGET_SECONDS,
        "meets_target": best_out["wall_seconds"] < TARGET_SECONDS,
        "predict_out_runs": out_runs,
        "predict_json_runs": json_runs,
        "out_files_mb": files,
        "json_stdout_mb": json_mb,
        "train_seconds": round(train_seconds, 2),
        "before": BEFORE,
    }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    results: dict[str, Any] = {
        f"gbsg2-resampled-{args.patients}": {"coxph": entry},
        "_meta": {
            "cpu_minutes": (usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime)
            / 60,
            "wall_minutes": (time.perf_counter() - start) / 60,
            "seeds": {"resample": args.seed, "model": args.seed},
            "git_commit": commit,
            "cpu_count": os.cpu_count(),
            "protocol": "coxph (39 bootstrap refits) trained on GBSG2; 10,000 patients "
            "resampled with replacement; each command in a fresh process, the fastest of "
            f"{args.repeats} runs; wall seconds include import, model load and writing.",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"--out {best_out['wall_seconds']:.1f} s (target < {TARGET_SECONDS:.0f} s), "
        f"--json {best_json['wall_seconds']:.1f} s; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
