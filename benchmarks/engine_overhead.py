"""Training throughput of precisionmed's engine against a plain hand-written PyTorch loop.

Issue 2: "the engine's training throughput (samples/s) on the reference CNN (conv3x3 64 + ReLU,
maxpool 2, conv3x3 128 + ReLU, maxpool 2, dense 256 + ReLU, softmax head) with PneumoniaMNIST
against a plain hand-written PyTorch loop, same model, batch, threads and epochs, in one process
run; print the ratio. Target: the engine reaches at least 0.9 of the plain loop."

Both contenders do the same work per epoch: one shuffled pass over the 4,708 training images
(batch 128, Adam, lr 1e-3, cross-entropy), one pass over the 524 validation images (batch 256,
the engine's evaluation batch) computing the validation loss, and a copy of the best epoch's
weights, restored at the end. The engine runs with its default settings (Rich progress bar on,
early stopping, per-epoch history). Runs alternate (engine, plain, engine, plain, ...) so that
load from other processes on the machine falls on both alike; the figure of each contender is its
median over its runs. Throughput is training samples x epochs / wall-clock seconds of the whole
call (trainer construction, validation and weight restore included).

Issue 20 adds a tabular case beside it: DeepSurv's network (``clinical/deepsurv.py`` defaults:
an MLP of 2 x 32 ReLU units with dropout 0.1, one log-risk output; Adam, lr 1e-3, weight decay
1e-4, batch 64, one torch thread) on GBSG2 (686 patients, one-hot categoricals, standardised;
583 training and 103 validation patients of a seeded split), Cox partial-likelihood loss, 100
epochs, the validation loss over the whole validation set after every epoch and a copy of the
best epoch's weights. The plain loop shuffles with ``torch.randperm`` and slices the tensors, the
fastest way to batch in-memory tensors by hand; the engine is given a ``TensorDataset``, which
it trains on through its in-memory path (``train/tensor_data.py``: one Lightning step per epoch,
the same batches as its general path) with its defaults: an epoch line on stderr per epoch,
early stopping, per-epoch history. A plain epoch takes about 8 ms here, so the engine's
per-epoch costs (Lightning's fit loop and callback hooks, about 0.3-0.5 ms an epoch on CPU;
the metrics bookkeeping and the epoch line) and its set-up per run (the Trainer, about 5 ms,
most of it Lightning reading the installed packages' entry points) weigh far more than in
the image case.

Run: ``.venv/bin/python benchmarks/engine_overhead.py [--case image|tabular|both]`` (writes
``benchmarks/results/engine_overhead.json``; a single case updates only its entry).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import use_shared_mirror
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "engine_overhead.json"
THREADS = 2
BATCH = 128
EVAL_BATCH = 256  # the engine's evaluation batch: max(256, batch_size)
EPOCHS = 3
SEED = 0
LR = 1e-3


NETWORK_SOURCE = {"value": "layers in benchmarks/engine_overhead.py"}


def reference_cnn(in_channels: int = 1, n_classes: int = 2, size: int = 28) -> nn.Module:
    """The issue's reference CNN, from the imaging registry when it exists, else these layers."""
    try:
        from precisionmed.imaging.networks import build_network

        net = build_network(
            "reference-cnn",
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=n_classes,
            size=(size, size),
        )
        NETWORK_SOURCE["value"] = "precisionmed.imaging.networks.build_network('reference-cnn')"
        return net
    except ImportError:
        pass
    flat = 128 * (size // 4) ** 2
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(flat, 256),
        nn.ReLU(),
        nn.Linear(256, n_classes),  # softmax head: logits; the softmax is in the loss
    )


def load_pneumoniamnist() -> tuple[TensorDataset, TensorDataset]:
    from precisionmed.data import load_dataset

    use_shared_mirror()

    data = load_dataset("pneumoniamnist")

    def part(split: str) -> TensorDataset:
        return TensorDataset(
            torch.from_numpy(data.images(split)), torch.from_numpy(data.targets(split))
        )

    return part("train"), part("val")


def run_engine(train: TensorDataset, val: TensorDataset, epochs: int) -> dict[str, float]:
    from precisionmed.train import TrainConfig

    torch.manual_seed(SEED)
    net = reference_cnn()
    config = TrainConfig(max_epochs=epochs, batch_size=BATCH, lr=LR, seed=SEED, patience=epochs + 1)
    return timed_fit(net, train, val, nn.functional.cross_entropy, config)


def timed_fit(
    net: nn.Module, train: TensorDataset, val: TensorDataset, loss_fn: Callable, config: Any
) -> dict[str, float]:
    """The engine's ``fit`` timed as a whole call (trainer construction and restore included)."""
    from precisionmed.train import fit

    start, cpu = time.perf_counter(), time.process_time()
    result = fit(net, train, val, loss_fn=loss_fn, config=config)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "samples_per_s": len(train) * config.max_epochs / seconds,
        "val_loss": result.val_metrics["val_loss"],
    }


def run_plain(train: TensorDataset, val: TensorDataset, epochs: int) -> dict[str, float]:
    """The hand-written loop: the same work as the engine, no framework."""
    torch.manual_seed(SEED)
    net = reference_cnn()
    start, cpu = time.perf_counter(), time.process_time()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    train_loader = DataLoader(
        train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(SEED)
    )
    val_loader = DataLoader(val, batch_size=EVAL_BATCH, shuffle=False)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        net.train()
        loss_sum, seen = torch.zeros(()), 0
        for x, y in train_loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(x)
            seen += len(x)
        net.eval()
        with torch.no_grad():
            outs, ys = zip(*[(net(x), y) for x, y in val_loader], strict=True)
            val_loss = float(nn.functional.cross_entropy(torch.cat(outs), torch.cat(ys)))
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(net.state_dict())
    assert best_state is not None
    net.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "samples_per_s": len(train) * epochs / seconds,
        "val_loss": best,
        "train_loss_last_epoch": float(loss_sum) / seen,
    }


TAB_BATCH = 64
TAB_EPOCHS = 100
TAB_THREADS = 1  # DeepSurv's n_threads default
TAB_LR, TAB_WD = 1e-3, 1e-4
TAB_HIDDEN = (32, 32)  # DeepSurv's hidden_layers default
TAB_DROPOUT = 0.1  # DeepSurv's dropout default


def load_gbsg2() -> tuple[TensorDataset, TensorDataset]:
    """GBSG2 as float tensors: one-hot categoricals, standardised (training-set statistics);
    targets ``(time, event)``; a seeded 85/15 split (DeepSurv's ``val_fraction``)."""
    import numpy as np
    import pandas as pd

    from precisionmed.data import load_dataset

    use_shared_mirror()
    data = load_dataset("gbsg2")
    x = pd.get_dummies(data.X, dtype=float).to_numpy(np.float32)
    event_name, time_name = data.y.dtype.names
    if data.y.dtype[event_name] != np.bool_:
        event_name, time_name = time_name, event_name
    y = np.stack([data.y[time_name], data.y[event_name]], 1).astype(np.float32)
    order = np.random.default_rng(SEED).permutation(len(x))
    n_val = round(0.15 * len(x))
    tr, va = order[n_val:], order[:n_val]
    mean, std = x[tr].mean(0), x[tr].std(0) + 1e-8
    x = (x - mean) / std

    def part(rows: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.from_numpy(x[rows]), torch.from_numpy(y[rows]))

    return part(tr), part(va)


def deepsurv_mlp(n_inputs: int) -> nn.Module:
    from precisionmed.clinical.nets import make_mlp

    return make_mlp(n_inputs, TAB_HIDDEN, 1, dropout=TAB_DROPOUT)


def run_engine_tabular(train: TensorDataset, val: TensorDataset, epochs: int) -> dict[str, float]:
    from precisionmed.clinical.deepsurv import cox_ph_loss
    from precisionmed.train import TrainConfig

    torch.manual_seed(SEED)
    net = deepsurv_mlp(train.tensors[0].shape[1])
    config = TrainConfig(
        max_epochs=epochs,
        batch_size=TAB_BATCH,
        lr=TAB_LR,
        weight_decay=TAB_WD,
        seed=SEED,
        patience=epochs + 1,
    )
    return timed_fit(net, train, val, cox_ph_loss, config)


def run_plain_tabular(train: TensorDataset, val: TensorDataset, epochs: int) -> dict[str, float]:
    """The hand-written loop on tensors: shuffle, slice, step; validate; keep the best."""
    from precisionmed.clinical.deepsurv import cox_ph_loss

    torch.manual_seed(SEED)
    net = deepsurv_mlp(train.tensors[0].shape[1])
    start, cpu = time.perf_counter(), time.process_time()
    opt = torch.optim.Adam(net.parameters(), lr=TAB_LR, weight_decay=TAB_WD)
    generator = torch.Generator().manual_seed(SEED)
    x, y = train.tensors
    x_val, y_val = val.tensors
    best, best_state = float("inf"), None
    for _ in range(epochs):
        net.train()
        loss_sum, seen = torch.zeros(()), 0
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), TAB_BATCH):
            rows = order[i : i + TAB_BATCH]
            opt.zero_grad()
            loss = cox_ph_loss(net(x[rows]), y[rows])
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(rows)
            seen += len(rows)
        net.eval()
        with torch.no_grad():
            val_loss = float(cox_ph_loss(net(x_val), y_val))
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(net.state_dict())
    assert best_state is not None
    net.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "samples_per_s": len(train) * epochs / seconds,
        "val_loss": best,
        "train_loss_last_epoch": float(loss_sum) / seen,
    }


def compare(
    label: str,
    engine_fn: Callable[[], dict[str, float]],
    plain_fn: Callable[[], dict[str, float]],
    n_samples: int,
    repeats: int,
) -> dict[str, object]:
    """Alternating runs (engine, plain, ...); each contender's median; the per-round ratios."""
    engine_runs: list[dict[str, float]] = []
    plain_runs: list[dict[str, float]] = []
    for i in range(repeats):
        engine_runs.append(engine_fn())
        plain_runs.append(plain_fn())
        print(
            f"{label} round {i + 1}: engine {engine_runs[-1]['samples_per_s']:.1f} samples/s, "
            f"plain loop {plain_runs[-1]['samples_per_s']:.1f} samples/s"
        )
    engine, plain = summarise(engine_runs, n_samples), summarise(plain_runs, n_samples)
    ratio = float(engine["samples_per_s"]) / float(plain["samples_per_s"])  # type: ignore[arg-type]
    # Each round's engine/plain pair ran back to back: their ratio is the least exposed to
    # load from other processes that changes between rounds.
    pair_ratios = [
        e["samples_per_s"] / p["samples_per_s"]
        for e, p in zip(engine_runs, plain_runs, strict=True)
    ]
    cpu_ratio = float(engine["samples_per_cpu_s"]) / float(plain["samples_per_cpu_s"])  # type: ignore[arg-type]
    print(f"  {label}: precisionmed engine {engine['samples_per_s']:8.1f} samples/s")
    print(f"  {label}: plain PyTorch loop  {plain['samples_per_s']:8.1f} samples/s")
    print(
        f"  {label}: ratio (medians) {ratio:.3f}, per round "
        f"{', '.join(f'{r:.3f}' for r in pair_ratios)}, median of rounds "
        f"{statistics.median(pair_ratios):.3f}, per CPU-second {cpu_ratio:.3f} "
        f"(target >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'})"
    )
    return {
        "precisionmed-engine": {
            **engine,
            "ratio_to_plain_loop": ratio,
            "ratio_to_plain_loop_per_round": pair_ratios,
            "ratio_to_plain_loop_median_of_rounds": statistics.median(pair_ratios),
            "ratio_to_plain_loop_per_cpu_second": cpu_ratio,
            "target_ratio": 0.9,
            "target_met": ratio >= 0.9,
        },
        "peer:plain-pytorch-loop": plain,
    }


def summarise(runs: list[dict[str, float]], n_samples: int) -> dict[str, object]:
    sps = [r["samples_per_s"] for r in runs]
    per_cpu_s = [n_samples / r["cpu_seconds"] for r in runs]
    return {
        "samples_per_s": statistics.median(sps),
        "samples_per_cpu_s": statistics.median(per_cpu_s),
        "samples_per_s_runs": sps,
        "seconds_runs": [r["seconds"] for r in runs],
        "cpu_seconds_runs": [r["cpu_seconds"] for r in runs],
        "val_loss_first_run": runs[0]["val_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["image", "tabular", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs of the image case")
    parser.add_argument("--tabular-epochs", type=int, default=TAB_EPOCHS)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender (image)")
    parser.add_argument(
        "--tabular-repeats", type=int, default=9, help="runs of each contender (tabular: short)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON")
    args = parser.parse_args()

    cpu_start = time.process_time()
    out: dict[str, object] = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    meta: dict[str, object] = dict(out.get("_meta", {}))  # type: ignore[call-overload]
    if args.case in ("image", "both"):
        torch.set_num_threads(THREADS)
        train, val = load_pneumoniamnist()
        # Warm-up (first-call costs of the kernels and imports are not the engine's overhead).
        warm = TensorDataset(*(t[:512] for t in train.tensors))
        run_plain(warm, val, 1)
        run_engine(warm, val, 1)
        out["pneumoniamnist"] = compare(
            "PneumoniaMNIST reference CNN",
            lambda: run_engine(train, val, args.epochs),
            lambda: run_plain(train, val, args.epochs),
            len(train) * args.epochs,
            args.repeats,
        )
        meta.update(
            torch_threads=THREADS,
            batch_size=BATCH,
            eval_batch_size=EVAL_BATCH,
            epochs=args.epochs,
            network=NETWORK_SOURCE["value"],
        )
    if args.case in ("tabular", "both"):
        torch.set_num_threads(TAB_THREADS)
        train_t, val_t = load_gbsg2()
        run_plain_tabular(train_t, val_t, 2)  # warm-up
        run_engine_tabular(train_t, val_t, 2)
        out["gbsg2"] = compare(
            "GBSG2 DeepSurv MLP",
            lambda: run_engine_tabular(train_t, val_t, args.tabular_epochs),
            lambda: run_plain_tabular(train_t, val_t, args.tabular_epochs),
            len(train_t) * args.tabular_epochs,
            args.tabular_repeats,
        )
        meta["tabular"] = {
            "torch_threads": TAB_THREADS,
            "batch_size": TAB_BATCH,
            "epochs": args.tabular_epochs,
            "network": f"precisionmed.clinical.nets.make_mlp(hidden {TAB_HIDDEN}, dropout "
            f"{TAB_DROPOUT}), DeepSurv's defaults",
            "loss": "precisionmed.clinical.deepsurv.cox_ph_loss",
            "optimizer": f"adam lr {TAB_LR} weight_decay {TAB_WD}",
            "n_train": len(train_t),
            "n_val": len(val_t),
            "repeats": args.tabular_repeats,
        }
    if args.no_write:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    meta.update(
        cpu_minutes=(time.process_time() - cpu_start) / 60,
        cases_run=args.case,
        seeds=[SEED],
        git_commit=commit,
        torch_version=torch.__version__,
        repeats=args.repeats,
        order="alternating: engine, plain, engine, plain, ...",
        cpu_count=os.cpu_count(),
        load_average_at_end=os.getloadavg(),
        engine_settings="TrainConfig defaults (progress bar on) except max_epochs, batch_size, "
        "lr (and weight_decay), seed and patience=epochs+1 (no early stop within the run)",
    )
    out["_meta"] = meta
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
