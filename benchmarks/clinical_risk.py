"""Disease-risk benchmark: SVM, random forest, gradient boosting and our DNN side by side.

Issue 4: "SVM, RF, GBM and the DNN on the Wisconsin set and a binarised survival endpoint, side by
side, AUC with intervals and ECE."

Datasets:

- ``breast-cancer-wisconsin``: 569 aspirates, 30 features, 1 = malignant.
- ``gbsg2-rfs5y``: GBSG2 (686 node-positive breast-cancer patients, 8 features) with the endpoint
  "recurrence or death within 5 years (1825 days)": 1 if the event occurred by day 1825, 0 if the
  patient was followed beyond day 1825 (with or without a later event); patients censored before
  day 1825 are excluded (their 5-year status is unknown).

Protocol: one seeded 5-fold split stratified on the label; every model is the registry's pipeline
(:func:`precisionmed.clinical.make_pipeline`, default hyper-parameters) fitted on the same training
folds; the out-of-fold probabilities of all patients are pooled and scored: ROC-AUC, Brier score
and the expected calibration error (10 equal-width bins), each with a 1000-resample percentile
bootstrap interval (stratified on the label). SVM probabilities are Platt-scaled (libsvm's
internal 5-fold CV); the others are used as they come (no recalibration).

Run: ``nice -n 10 .venv/bin/python benchmarks/clinical_risk.py`` (writes
``benchmarks/results/clinical_risk.json``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "clinical_risk.json"
THREADS = 1
HORIZON_DAYS = 1825.0
MODELS = {"SVM": "svm", "RF": "rf", "GBM": "gbm", "DNN": "dnn"}


def gbsg2_within_5_years() -> tuple[pd.DataFrame, np.ndarray, dict[str, str]]:
    """GBSG2 with the binary endpoint "event by day 1825"; early-censored patients dropped."""
    from precisionmed.data import load_dataset

    data = load_dataset("gbsg2")
    event, t = data.y["event"], data.y["time"]
    known = event & (t <= HORIZON_DAYS) | (t > HORIZON_DAYS)
    y = (event & (t <= HORIZON_DAYS)).astype(int)[known]
    return data.X[known].reset_index(drop=True), y, data.feature_types


def datasets() -> dict[str, tuple[pd.DataFrame, np.ndarray, dict[str, str]]]:
    from precisionmed.data import load_dataset

    wisc = load_dataset("breast-cancer-wisconsin")
    return {
        "breast-cancer-wisconsin": (wisc.X, wisc.y, wisc.feature_types),
        "gbsg2-rfs5y": gbsg2_within_5_years(),
    }


def out_of_fold(model: str, X, y, types, folds, seed: int) -> np.ndarray:
    from precisionmed.clinical import make_pipeline

    proba = np.full(len(y), np.nan)
    for tr, te in folds:
        pipe = make_pipeline(model, types, random_state=seed)
        pipe.fit(X.iloc[tr].reset_index(drop=True), y[tr])
        proba[te] = pipe.predict_proba(X.iloc[te].reset_index(drop=True))[:, 1]
    return proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    for msg in (".*does not have many workers.*", ".*GPU available.*", ".*LeafSpec.*"):
        warnings.filterwarnings("ignore", message=msg)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(THREADS)
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from precisionmed.clinical.metrics import classification_metrics

    start = time.perf_counter()
    results: dict[str, Any] = {}
    for name, (X, y, types) in datasets().items():
        folds = list(StratifiedKFold(5, shuffle=True, random_state=args.seed).split(X, y))
        results[name] = {}
        print(f"\n{name}: n={len(y)}, positives={int(y.sum())}")
        for label, model in MODELS.items():
            t0 = time.perf_counter()
            proba = out_of_fold(model, X, y, types, folds, args.seed)
            m = classification_metrics(y, proba, n_boot=1000, seed=args.seed)
            fold_auc = [roc_auc_score(y[te], proba[te]) for _, te in folds]
            entry = {
                "roc_auc": m["roc_auc"],
                "brier": m["brier"],
                "ece": m["ece"],
                "roc_auc_folds": np.round(fold_auc, 5).tolist(),
                "calibration": m["calibration"],
                "seconds": time.perf_counter() - t0,
            }
            results[name][label] = entry
            a, e = m["roc_auc"], m["ece"]
            print(
                f"  {label:4s} AUC {a['value']:.3f} ({a['low']:.3f}-{a['high']:.3f})  "
                f"Brier {m['brier']['value']:.3f}  ECE {e['value']:.3f} "
                f"({e['low']:.3f}-{e['high']:.3f})  [{entry['seconds']:.0f} s]",
                flush=True,
            )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    results["_meta"] = {
        "cpu_minutes": (usage.ru_utime + usage.ru_stime) / 60,
        "wall_minutes": (time.perf_counter() - start) / 60,
        "seeds": {"folds": args.seed, "models": args.seed, "bootstrap": args.seed},
        "git_commit": commit,
        "torch_threads": torch.get_num_threads(),
        "protocol": "5-fold stratified CV, pooled out-of-fold probabilities; 95% percentile "
        "bootstrap (1000, stratified). ECE: 10 equal-width bins, top-label.",
        "endpoints": {
            "gbsg2-rfs5y": "1 = recurrence or death by day 1825; patients censored before day "
            "1825 excluded"
        },
        "models": {
            k: f"precisionmed.clinical registry '{v}' (defaults)" for k, v in MODELS.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
