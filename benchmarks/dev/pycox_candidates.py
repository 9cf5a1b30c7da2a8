"""Development probe: are non-proportional-hazards networks worth adding for the survival benchmark?

Before writing Cox-Time (Kvamme et al. 2019) or a discrete-time logistic-hazard network
(Gensheimer & Narasimhan 2019) on our training engine, this runs pycox's own implementations
on the development protocol of ``clinical_survival_selection.py`` (the same five files, the same
seed-0 5-fold split and preprocessing pipeline, Harrell's C on the held-out fold), as 5-seed
ensembles like our DeepSurv entries. The risk score for Harrell's C is minus the restricted mean
survival time up to the 80th percentile of the training fold's event times (the models' curves
cross, so no single time's survival ranks them).

pycox's usual settings: two hidden layers of 32 with batch normalisation and dropout 0.1, Adam at
1e-2, batch 256, early stopping on a stratified 20% validation carve-out (pycox's default
patience); the logistic hazard on 20 quantile-spaced durations, interpolated 10 steps per
interval.

Needs pycox and torchtuples, which the project does not depend on (both are in
``../shared/env/known-good-requirements.lock.txt``)::

    .venv/bin/pip install --no-deps pycox==0.3.0 torchtuples==0.2.2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dev/pycox_candidates.py

Adds ``pycox-coxtime`` and ``pycox-logistic-hazard`` to ``benchmarks/dev/results/<dataset>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import use_shared_mirror  # noqa: E402
from clinical_survival_selection import DATASETS, record  # noqa: E402

MEMBERS = 5


def fit_member(kind: str, X: np.ndarray, y: np.ndarray, seed: int, X_test: np.ndarray) -> Any:
    """Survival curves (times x test patients, a DataFrame) of one pycox network."""
    import torchtuples as tt
    from pycox.models import CoxTime, LogisticHazard
    from pycox.models.cox_time import MLPVanillaCoxTime
    from sklearn.model_selection import train_test_split

    torch.manual_seed(seed)
    np.random.seed(seed)
    tr, va = train_test_split(
        np.arange(len(X)), test_size=0.2, random_state=seed, stratify=y["event"]
    )
    time_, event = y["time"].astype("float32"), y["event"].astype("float32")
    if kind == "coxtime":
        labels = CoxTime.label_transform()
        y_tr = labels.fit_transform(time_[tr], event[tr])
        y_va = labels.transform(time_[va], event[va])
        model = CoxTime(MLPVanillaCoxTime(X.shape[1], [32, 32], True, 0.1), tt.optim.Adam,
                        labtrans=labels)  # fmt: skip
        model.optimizer.set_lr(0.01)
        val = tt.tuplefy(X[va], y_va).repeat(10).cat()  # pycox's advice: resample controls
        model.fit(X[tr], y_tr, 256, 512, [tt.callbacks.EarlyStopping()], False, val_data=val)
        order = np.argsort(y_tr[0], kind="stable")  # Breslow estimate wants sorted durations
        model.compute_baseline_hazards(X[tr][order], (y_tr[0][order], y_tr[1][order]))
        return model.predict_surv_df(X_test)
    labels = LogisticHazard.label_transform(20)
    y_tr = labels.fit_transform(time_[tr], event[tr])
    y_va = labels.transform(time_[va], event[va])
    net = tt.practical.MLPVanilla(X.shape[1], [32, 32], labels.out_features, True, 0.1)
    model = LogisticHazard(net, tt.optim.Adam(0.01), duration_index=labels.cuts)
    model.fit(X[tr], y_tr, 256, 512, [tt.callbacks.EarlyStopping()], False, val_data=(X[va], y_va))
    return model.interpolate(10).predict_surv_df(X_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=["coxtime", "logistic-hazard"])
    args = parser.parse_args()
    use_shared_mirror()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    from sklearn.model_selection import StratifiedKFold
    from sksurv.metrics import concordance_index_censored

    from precisionmed.clinical import make_pipeline
    from precisionmed.data import load_dataset

    for name in args.datasets:
        data = load_dataset(name)
        X, y = data.split(DATASETS[name]) if DATASETS[name] else (data.X, data.y)
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y["event"]))
        for kind in args.models:
            start = time.process_time()
            scores = []
            for tr, te in folds:
                pre = make_pipeline("coxph", data.feature_types)[:-1]  # preprocessing only
                X_tr = pre.fit_transform(X.iloc[tr].reset_index(drop=True)).astype("float32")
                X_te = pre.transform(X.iloc[te].reset_index(drop=True)).astype("float32")
                y_tr = y[tr]
                tau = np.quantile(y_tr["time"][y_tr["event"]], 0.8)
                risk = np.zeros(len(te))
                for seed in range(MEMBERS):
                    surv = fit_member(kind, X_tr, y_tr, seed, X_te)
                    keep = surv.index.values <= tau
                    rmst = np.trapezoid(surv.values[keep], surv.index.values[keep], axis=0)
                    risk -= rmst / MEMBERS
                ev, t = y[te]["event"], y[te]["time"]
                scores.append(float(concordance_index_censored(ev, t, risk)[0]))
            record(name, f"pycox-{kind}", scores, time.process_time() - start)


if __name__ == "__main__":
    main()
