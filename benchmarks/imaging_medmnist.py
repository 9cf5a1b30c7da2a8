"""MedMNIST v2 benchmark: our test ACC/AUC beside the paper's ResNet rows (Yang et al., 2023).

Trains on the official train split, selects the epoch on the official validation split (val
AUC) and reports the official test split with MedMNIST's ACC/AUC definitions
(``precisionmed.imaging.evaluation``). CPU training time is measured with
``time.process_time`` (all threads of this process), so other jobs on the machine do not inflate
it. Target: beat ResNet-18 (28) on AUC and ACC with at most 15 CPU minutes of training each
(the CPU time of every candidate recipe of a dataset counts; the candidate reported is the one
with the best validation AUC, never chosen on test).

Every dataset runs with 3 seeds (0, 1, 2): the headline ``auc``/``acc`` are the seeds' means,
their standard deviations and each seed's figures are in the JSON, the target is met by the mean
and the CPU budget holds per seed (issue 21: one seed's ACC on another machine fell below the
paper's while the recorded seed was above it).

Run: ``.venv/bin/python benchmarks/imaging_medmnist.py [--only NAME ...] [--seeds 0 1 2]``;
results are merged into ``benchmarks/results/imaging_medmnist.json``.
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
RESULTS = ROOT / "benchmarks" / "results" / "imaging_medmnist.json"
CPU_BUDGET_MINUTES = 15.0
THREADS = 1  # one thread is the most CPU-efficient for these small networks

# MedMNIST v2 paper (Sci Data 2023), Table 3 (2D) and Table 4 (3D): test AUC / ACC at 28 px.
PUBLISHED = {
    "pneumoniamnist": {
        "published:ResNet-18 (28)": {"auc": 0.944, "acc": 0.854},
        "published:ResNet-50 (28)": {"auc": 0.948, "acc": 0.854},
        "published:Google AutoML Vision (best)": {"auc": 0.991, "acc": 0.946},
    },
    "breastmnist": {
        "published:ResNet-18 (28)": {"auc": 0.901, "acc": 0.863},
        "published:ResNet-50 (28)": {"auc": 0.857, "acc": 0.812},
        "published:Google AutoML Vision (best AUC)": {"auc": 0.919, "acc": 0.861},
    },
    "adrenalmnist3d": {
        "published:ResNet-18+3D (28)": {"auc": 0.827, "acc": 0.721},
        "published:ResNet-50+3D (28)": {"auc": 0.828, "acc": 0.745},
        "published:ResNet-18+ACS (best AUC)": {"auc": 0.839, "acc": 0.754},
    },
}
TARGET = {
    "pneumoniamnist": "published:ResNet-18 (28)",
    "breastmnist": "published:ResNet-18 (28)",
    "adrenalmnist3d": "published:ResNet-18+3D (28)",
}

# Our recipes. Each dataset lists candidate recipes; all are trained (their CPU time adds up
# against the budget), the one with the best validation AUC is reported on test, and each
# network's epoch is selected on the validation split (``monitor``). How they were chosen: a
# narrow MONAI ResNet-18 (``widen_factor`` 0.25: 16-32-64-128 channels, MedMNIST's 3x3 stride-1
# stem) replaced the reference CNN, whose AUC fell short on all three sets in the first landing.
# PneumoniaMNIST: the first configuration tried. BreastMNIST (546 training images, 78 validation
# images): epoch selection on a 78-image validation AUC is noisy, so each network stops on the
# validation loss and the model is a deep ensemble of 4 seeds (a 5-seed ensemble was also run in
# development; 4 keeps a margin under the CPU budget). Development runs printed test figures for
# these two sets (2 configurations of BreastMNIST were looked at). AdrenalMNIST3D: the recipe
# was chosen on validation figures only, with test figures hidden until this benchmark ran.
_ADAMW = {"optimizer": "adamw", "scheduler": "cosine"}
_NARROW = {"widen_factor": 0.25}
RECIPES: dict[str, list[dict]] = {
    "pneumoniamnist": [
        {
            "model": "resnet18",
            "augment": "light",
            "network_kwargs": _NARROW,
            "train": {
                "max_epochs": 8,
                "batch_size": 64,
                "lr": 2e-3,
                "weight_decay": 1e-4,
                "patience": 8,
                **_ADAMW,
            },
        },
    ],
    "breastmnist": [
        {
            "model": "resnet18",
            "augment": "strong",
            "network_kwargs": _NARROW,
            "n_members": 4,
            "train": {
                "max_epochs": 30,
                "batch_size": 32,
                "lr": 2e-3,
                "weight_decay": 1e-4,
                "patience": 30,
                "monitor": "val_loss",
                "mode": "min",
                **_ADAMW,
            },
        },
    ],
    "adrenalmnist3d": [
        {
            "model": "resnet18",
            "augment": "light",
            # a stride-2 stem: 28^3 -> 14^3 before the first stage (8x cheaper in 3D)
            "network_kwargs": {**_NARROW, "conv1_t_stride": 2},
            "train": {
                "max_epochs": 12,
                "batch_size": 32,
                "lr": 2e-3,
                "weight_decay": 1e-4,
                "patience": 12,
                "monitor": "val_loss",
                "mode": "min",
                **_ADAMW,
            },
        }
    ],
}


def train_recipe(name: str, recipe: dict, seed: int) -> dict:
    """Train one recipe; return its validation and test figures."""
    from precisionmed.imaging import train_image_classifier
    from precisionmed.train import TrainConfig

    train = {"monitor": "val_auc", "mode": "max", **recipe["train"]}
    config = TrainConfig.build(seed=seed, progress=False, **train)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_image_classifier(
            name,
            recipe["model"],
            out_dir=Path(tmp) / name,
            config=config,
            augment=recipe["augment"],
            network_kwargs=recipe["network_kwargs"],
            n_members=recipe.get("n_members", 1),
            n_boot=1000,
        )
    test = result.metrics["test"]
    return {
        "acc": test["acc"]["value"],
        "acc_ci95": [test["acc"]["low"], test["acc"]["high"]],
        "auc": test["auc"]["value"],
        "auc_ci95": [test["auc"]["low"], test["auc"]["high"]],
        "ece": test["ece"],
        "ece_calibrated": test["ece_calibrated"],
        "temperature": test["temperature"],
        "val_auc": result.metrics["val"]["auc"]["value"],
        "val_acc": result.metrics["val"]["acc"]["value"],
        "best_epoch": [m["best_epoch"] for m in result.metrics["members"]],
        "epochs_run": sum(m["epochs_run"] for m in result.metrics["members"]),
        "train_cpu_minutes": result.cpu_seconds / 60.0,
        "train_wall_minutes": result.metrics["train_wall_seconds"] / 60.0,
        "recipe": recipe,
        "seed": seed,
    }


def run_one(name: str, seed: int) -> dict:
    """Train every candidate recipe; report the one with the best validation AUC."""
    runs = [train_recipe(name, recipe, seed) for recipe in RECIPES[name]]
    best = max(runs, key=lambda r: r["val_auc"])
    chosen = dict(best)
    chosen["train_cpu_minutes"] = sum(r["train_cpu_minutes"] for r in runs)
    chosen["train_wall_minutes"] = sum(r["train_wall_minutes"] for r in runs)
    chosen["candidates"] = [
        {k: r[k] for k in ("val_auc", "val_acc", "best_epoch", "train_cpu_minutes", "recipe")}
        for r in runs
    ]
    return chosen


def aggregate(name: str, per_seed: list[dict]) -> dict:
    """The seeds' figures in one entry: the headline ``auc``/``acc`` are their means.

    The target is met by the mean (issue 21: one seed on one machine had decided whether ACC beat
    the paper), and the CPU budget must hold for every seed.
    """
    auc = np.array([r["auc"] for r in per_seed])
    acc = np.array([r["acc"] for r in per_seed])
    sd = (lambda v: float(v.std(ddof=1))) if len(per_seed) > 1 else (lambda v: 0.0)
    anchor = PUBLISHED[name][TARGET[name]]
    return {
        "auc": float(auc.mean()),
        "auc_sd": sd(auc),
        "acc": float(acc.mean()),
        "acc_sd": sd(acc),
        "n_seeds": len(per_seed),
        "beats_target": bool(auc.mean() > anchor["auc"] and acc.mean() > anchor["acc"]),
        "within_cpu_budget": all(r["train_cpu_minutes"] <= CPU_BUDGET_MINUTES for r in per_seed),
        "max_train_cpu_minutes_per_seed": max(r["train_cpu_minutes"] for r in per_seed),
        "recipe": per_seed[0]["recipe"],
        "seeds": per_seed,
    }


def print_entry(name: str, model_key: str, ours: dict) -> None:
    print(f"\n== {name} (official test split; mean +- sd over seeds {seeds_of(ours)})")
    print(f"{'model':45s} {'AUC':>13s} {'ACC':>13s}")
    print(
        f"{model_key:45s} {ours['auc']:.3f} +- {ours['auc_sd']:.3f} "
        f"{ours['acc']:.3f} +- {ours['acc_sd']:.3f}"
    )
    for key, row in PUBLISHED[name].items():
        print(f"{key:45s} {row['auc']:13.3f} {row['acc']:13.3f}")
    for r in ours["seeds"]:
        print(
            f"  seed {r['seed']}: AUC {r['auc']:.3f} "
            f"({r['auc_ci95'][0]:.3f}-{r['auc_ci95'][1]:.3f})"
            f"  ACC {r['acc']:.3f} ({r['acc_ci95'][0]:.3f}-{r['acc_ci95'][1]:.3f})"
            f"  val AUC {r['val_auc']:.3f}  best epoch {r['best_epoch']}"
            f"  {r['train_cpu_minutes']:.1f} CPU min"
        )
    print(
        f"beats {TARGET[name]} by the mean: {ours['beats_target']}; every seed within "
        f"{CPU_BUDGET_MINUTES:.0f} CPU min: {ours['within_cpu_budget']} "
        f"(max {ours['max_train_cpu_minutes_per_seed']:.1f})"
    )


def seeds_of(entry: dict) -> list[int]:
    return [r["seed"] for r in entry["seeds"]]


def write_entry(name: str, model_key: str, ours: dict, run: dict) -> None:
    """Merge one dataset's entry into the JSON as it is on disk now (several processes may run
    different ``--only`` sets at the same time)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[name] = {model_key: ours, **PUBLISHED[name]}
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    meta = results.get("_meta", {})
    meta.pop("code_note", None)  # described a one-seed run of an earlier commit
    meta.update(
        {
            "commit": commit,
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "cpu_budget_minutes_per_dataset": CPU_BUDGET_MINUTES,
            "cpu_budget_applies": "per seed (each seed's training, all candidate recipes)",
            "headline": "auc and acc are the means over the seeds; auc_sd/acc_sd their sd (ddof 1)",
            "metric_definitions": (
                "MedMNIST evaluator: binary AUC of the positive score, ACC at 0.5"
            ),
            "published_source": (
                "Yang et al., MedMNIST v2, Scientific Data 10:41 (2023), Tables 3-4"
            ),
        }
    )
    meta.setdefault("runs", {})[name] = {**run, "commit": commit}
    results["_meta"] = meta
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--threads", type=int, default=THREADS, help="torch threads (at most the 2 cores)"
    )
    args = parser.parse_args()
    use_shared_mirror()
    torch.set_num_threads(args.threads)
    for name in args.only:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        per_seed = []
        for seed in args.seeds:
            per_seed.append(run_one(name, seed))
            print(
                f"{name} seed {seed}: AUC {per_seed[-1]['auc']:.3f} ACC {per_seed[-1]['acc']:.3f}",
                flush=True,
            )
        ours = aggregate(name, per_seed)
        model_key = f"precisionmed:{ours['recipe']['model']}"
        print_entry(name, model_key, ours)
        run = {
            "seeds": args.seeds,
            "cpu_minutes": (time.process_time() - cpu0) / 60.0,
            "wall_minutes": (time.perf_counter() - wall0) / 60.0,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_entry(name, model_key, ours, run)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
