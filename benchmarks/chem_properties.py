"""MoleculeNet property benchmark: our D-MPNN beside chemprop's published figures and two peers.

Sets and splits as MoleculeNet (Wu et al. 2018) and chemprop (Yang et al., J. Chem. Inf. Model.
59:3370, 2019) report them: BBBP on a scaffold split (ROC-AUC), Tox21 on a random split (mean
ROC-AUC over its 12 tasks, missing labels masked), ESOL and FreeSolv on random splits (RMSE);
80/10/10 by our seeded splitter (:func:`precisionmed.chem.split_molecules`); ``--split
scaffold`` runs every set on a scaffold split instead (entries ``<set>/scaffold``).

Per set and seed, in this process and on the same split (the ``split.json`` our run writes):

- ``precisionmed:mpnn``: ``train_property_model(..., "mpnn")`` (a deep ensemble of
  ``--members`` D-MPNNs, RDKit 2D descriptors after pooling unless ``--no-descriptors``);
- ``peer:rf-ecfp``: scikit-learn's random forest (500 trees) on RDKit ECFP4 (2048 bits), one
  per task on its labelled molecules, written here independently of our ``rf``;
- ``peer:chemprop-2.2.4``: chemprop's own CLI with its defaults (only ``-i train val test``,
  the task type and the seeds given), in a subprocess, when chemprop is importable
  (``pip install -c requirements/constraints.txt chemprop==2.2.4``: it keeps our pins; it is
  not a dependency of precisionmed, whose D-MPNN is :mod:`precisionmed.chem.mpnn`).

All rows are scored by the same metric code (:func:`precisionmed.chem.evaluation.
property_metrics`). The headline is the mean over the seeds (sd with ddof 1); beside each peer,
the paired 95% t-interval of (ours - peer) over the seeds. CPU minutes are per seed
(``time.process_time`` for this process, ``RUSAGE_CHILDREN`` for chemprop). Target: at or above
chemprop's published figure on each set, not worse than either peer, in at most 30 CPU minutes
per dataset and seed.

Run: ``.venv/bin/python benchmarks/chem_properties.py [--only esol ...] [--seeds 0 1 2]
[--max-epochs N] [--out FILE]``; results are merged into
``benchmarks/results/chem_properties.json``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import use_shared_mirror

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "chem_properties.json"
CPU_BUDGET_MINUTES = 30.0
OURS = "precisionmed:mpnn"
RF = "peer:rf-ecfp"
CHEMPROP = "peer:chemprop-2.2.4"

#: MoleculeNet's split and the metric of each set (lower is better for RMSE).
DATASETS = {
    "bbbp": ("scaffold", "roc_auc"),
    "tox21": ("random", "roc_auc"),
    "esol": ("random", "rmse"),
    "freesolv": ("random", "rmse"),
}
HIGHER_IS_BETTER = {"roc_auc": True, "rmse": False}
# chemprop's D-MPNN (Yang et al. 2019), the figures issue 22 sets as the target.
PUBLISHED = {
    "bbbp": {"published:chemprop": {"roc_auc": 0.737}},
    "tox21": {"published:chemprop": {"roc_auc": 0.851}},
    "esol": {"published:chemprop": {"rmse": 0.555}},
    "freesolv": {"published:chemprop": {"rmse": 1.075}},
}


def score(data, rows: list[int], pred: np.ndarray, metric: str) -> float:
    """The test metric (mean over tasks) of ``pred`` on input ``rows`` of ``data``."""
    from precisionmed.chem.evaluation import property_metrics

    out = property_metrics(data.task, data.targets[rows], pred, data.target_names)
    return float(out["mean"][metric])


def run_ours(data, split: str, seed: int, args, out_dir: Path) -> tuple[dict, dict]:
    from precisionmed.chem import train_property_model

    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    cpu0 = time.process_time()
    metrics = train_property_model(
        data, "mpnn", out_dir, split=split, seed=seed, n_members=args.members,
        descriptors=args.descriptors, params=params, progress=False,
    )  # fmt: skip
    cpu = (time.process_time() - cpu0) / 60.0
    split_rows = json.loads((out_dir / "split.json").read_text())
    mean = metrics["test"]["mean"]
    row = {k: mean[k] for k in ("roc_auc", "rmse", "ece", "coverage") if k in mean}
    row |= {"cpu_minutes": cpu, "in_domain_fraction":
            metrics["applicability"]["test_in_domain_fraction"]}  # fmt: skip
    return row, split_rows


def run_rf(data, split_rows: dict, metric: str, seed: int) -> dict:
    """scikit-learn's random forest on ECFP4, one per task on its labelled training molecules."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cpu0 = time.process_time()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

    def fps(rows: list[int]) -> np.ndarray:
        return np.stack([gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(data.smiles[i]))
                         for i in rows])  # fmt: skip

    train, test = split_rows["train"], split_rows["test"]
    X, Xt = fps(train), fps(test)
    pred = np.full((len(test), len(data.target_names)), 0.5)
    for t in range(len(data.target_names)):
        y = data.targets[train, t]
        known = ~np.isnan(y)
        if data.task == "classification":
            if len(np.unique(y[known])) < 2:
                continue
            est = RandomForestClassifier(n_estimators=500, n_jobs=1, random_state=seed)
            est.fit(X[known], y[known].astype(int))
            pred[:, t] = est.predict_proba(Xt)[:, list(est.classes_).index(1)]
        else:
            est = RandomForestRegressor(n_estimators=500, n_jobs=1, random_state=seed)
            pred[:, t] = est.fit(X[known], y[known]).predict(Xt)
    cpu = (time.process_time() - cpu0) / 60.0
    return {metric: score(data, test, pred, metric), "cpu_minutes": cpu}


def run_chemprop(data, split_rows: dict, metric: str, seed: int, args, tmp: Path) -> dict:
    """chemprop 2.2.4's CLI with its defaults on our split, in a subprocess."""
    names = list(data.target_names)
    paths = []
    for part in ("train", "val", "test"):
        path = tmp / f"{part}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["smiles", *names])
            for i in split_rows[part]:
                writer.writerow([data.smiles[i]] + ["" if np.isnan(v) else v
                                                     for v in data.targets[i]])  # fmt: skip
        paths.append(str(path))
    command = [
        "train", "-i", *paths, "-s", "smiles", "--target-columns", *names,
        "-t", data.task, "-o", str(tmp / "chemprop"), "--data-seed", str(seed),
        "--pytorch-seed", str(seed), "-n", "0", "--accelerator", "cpu", "--devices", "1",
    ]  # fmt: skip
    if args.max_epochs is not None:
        # chemprop refuses fewer epochs than its learning-rate warm-up (2 by default)
        warmup = min(2, args.max_epochs - 1)
        command += ["--epochs", str(args.max_epochs), "--warmup-epochs", str(warmup)]
    launcher = "import sys; from chemprop.cli.main import main; sys.argv[0] = 'chemprop'; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run([sys.executable, "-c", launcher, *command], capture_output=True,
                          text=True, env=env, timeout=4 * 3600)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"chemprop failed:\n{done.stderr[-3000:]}")
    found = sorted((tmp / "chemprop").rglob("test_predictions.csv"))
    with found[0].open() as fh:
        table = list(csv.DictReader(fh))
    pred = np.array([[float(r[n]) for n in names] for r in table])
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / 60.0
    return {metric: score(data, split_rows["test"], pred, metric), "cpu_minutes": cpu}


def aggregate(per_seed: list[dict], metric: str) -> dict:
    values = np.array([r[metric] for r in per_seed])
    return {
        metric: float(values.mean()),
        f"{metric}_sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "n_seeds": len(per_seed),
        "max_cpu_minutes_per_seed": max(r["cpu_minutes"] for r in per_seed),
        "seeds": per_seed,
    }


def paired(ours: list[dict], peer: list[dict], metric: str) -> dict:
    """Mean of (ours - peer) over the seeds with its paired 95% t-interval (None for 1 seed)."""
    from scipy import stats

    d = np.array([a[metric] - b[metric] for a, b in zip(ours, peer, strict=True)])
    out: dict = {"metric": metric, "mean_difference": float(d.mean()), "ci95": None}
    if len(d) > 1:
        half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
        out["ci95"] = [float(d.mean()) - half, float(d.mean()) + half]
    better = d.mean() >= 0 if HIGHER_IS_BETTER[metric] else d.mean() <= 0
    out["ours_not_worse_by_mean"] = bool(better)
    return out


def run_dataset(name: str, args) -> dict:
    from precisionmed.data import load_dataset

    split, metric = DATASETS[name]
    split = args.split or split
    data = load_dataset(name)
    with_chemprop = importlib.util.find_spec("chemprop") is not None
    rows: dict[str, list[dict]] = {OURS: [], RF: []} | ({CHEMPROP: []} if with_chemprop else {})
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            ours, split_rows = run_ours(data, split, seed, args, Path(tmp) / "model")
            rows[OURS].append(ours | {"seed": seed})
            rows[RF].append(run_rf(data, split_rows, metric, seed) | {"seed": seed})
            if with_chemprop:
                peer = run_chemprop(data, split_rows, metric, seed, args, Path(tmp))
                rows[CHEMPROP].append(peer | {"seed": seed})
        print(f"{name} seed {seed}: " + ", ".join(
            f"{k} {v[-1][metric]:.3f} ({v[-1]['cpu_minutes']:.1f} CPU min)"
            for k, v in rows.items()), flush=True)  # fmt: skip
    entry = {k: aggregate(v, metric) for k, v in rows.items()}
    entry[OURS]["vs_peers"] = {k: paired(rows[OURS], rows[k], metric) for k in rows if k != OURS}
    anchor = PUBLISHED[name]["published:chemprop"][metric]
    mean = entry[OURS][metric]
    entry[OURS]["meets_published"] = bool(
        mean >= anchor if HIGHER_IS_BETTER[metric] else mean <= anchor
    )
    entry[OURS]["within_cpu_budget"] = entry[OURS]["max_cpu_minutes_per_seed"] <= CPU_BUDGET_MINUTES
    entry[OURS]["settings"] = {
        "split": split,
        "members": args.members,
        "descriptors": args.descriptors,
        "max_epochs": args.max_epochs,
    }
    if split == DATASETS[name][0]:
        entry |= PUBLISHED[name]  # published figures sit beside MoleculeNet's own split only
    return entry


def print_entry(key: str, entry: dict, metric: str) -> None:
    print(f"\n== {key} ({metric}; mean +- sd over seeds)")
    for model, row in entry.items():
        sd = row.get(f"{metric}_sd")
        cpu = row.get("max_cpu_minutes_per_seed")
        extra = f" +- {sd:.3f}  (max {cpu:.1f} CPU min a seed)" if sd is not None else ""
        print(f"{model:28s} {row[metric]:.3f}{extra}")
    for peer, d in entry[OURS]["vs_peers"].items():
        ci = "n/a (1 seed)" if d["ci95"] is None else f"[{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]"
        print(f"  ours - {peer}: {d['mean_difference']:+.3f}, paired 95% CI {ci}")


def write_entry(path: Path, key: str, entry: dict, run: dict) -> None:
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[key] = entry
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    meta = results.get("_meta", {})
    meta.update({
        "commit": commit,
        "python": sys.version.split()[0],
        "cpu_budget_minutes_per_dataset_and_seed": CPU_BUDGET_MINUTES,
        "headline": "the metric is the mean over the seeds; <metric>_sd its sd (ddof 1)",
        "published_source": "Yang et al., J. Chem. Inf. Model. 59:3370 (2019), chemprop D-MPNN",
        "splits": "80/10/10, precisionmed.chem.split_molecules (seeded); peers on the same rows",
    })  # fmt: skip
    meta.setdefault("runs", {})[key] = {**run, "commit": commit}
    results["_meta"] = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--split",
        choices=["scaffold"],
        default=None,
        help="scaffold: every set on a scaffold split (default: MoleculeNet's)",
    )
    parser.add_argument("--members", type=int, default=3, help="D-MPNN ensemble size")
    parser.add_argument("--no-descriptors", dest="descriptors", action="store_false")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap the epochs of ours and chemprop's (a smoke test)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON to merge into")
    args = parser.parse_args()
    use_shared_mirror()
    import torch

    torch.set_num_threads(args.threads)
    for name in args.only:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        entry = run_dataset(name, args)
        key = name if args.split is None else f"{name}/{args.split}"
        print_entry(key, entry, DATASETS[name][1])
        run = {
            "seeds": args.seeds,
            "cpu_minutes_this_process": (time.process_time() - cpu0) / 60.0,
            "wall_minutes": (time.perf_counter() - wall0) / 60.0,
            "torch": torch.__version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_entry(args.out, key, entry, run)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
