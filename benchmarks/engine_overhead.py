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

Run: ``.venv/bin/python benchmarks/engine_overhead.py`` (writes
``benchmarks/results/engine_overhead.json``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

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
    from precisionmed.train import TrainConfig, fit

    torch.manual_seed(SEED)
    net = reference_cnn()
    config = TrainConfig(max_epochs=epochs, batch_size=BATCH, lr=LR, seed=SEED, patience=epochs + 1)
    start, cpu = time.perf_counter(), time.process_time()
    result = fit(net, train, val, loss_fn=nn.functional.cross_entropy, config=config)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "samples_per_s": len(train) * epochs / seconds,
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
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender")
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON")
    args = parser.parse_args()

    torch.set_num_threads(THREADS)
    cpu_start = time.process_time()
    train, val = load_pneumoniamnist()
    # Warm-up (first-call costs of the kernels and imports are not the engine's overhead).
    run_plain(torch.utils.data.Subset(train, range(512)), val, 1)  # type: ignore[arg-type]
    engine_runs: list[dict[str, float]] = []
    plain_runs: list[dict[str, float]] = []
    for i in range(args.repeats):
        engine_runs.append(run_engine(train, val, args.epochs))
        plain_runs.append(run_plain(train, val, args.epochs))
        print(
            f"round {i + 1}: engine {engine_runs[-1]['samples_per_s']:.1f} samples/s, "
            f"plain loop {plain_runs[-1]['samples_per_s']:.1f} samples/s"
        )
    n_samples = len(train) * args.epochs
    engine, plain = summarise(engine_runs, n_samples), summarise(plain_runs, n_samples)
    ratio = float(engine["samples_per_s"]) / float(plain["samples_per_s"])  # type: ignore[arg-type]
    # Each round's engine/plain pair ran back to back: their ratio is the least exposed to
    # load from other processes that changes between rounds.
    pair_ratios = [
        e["samples_per_s"] / p["samples_per_s"]
        for e, p in zip(engine_runs, plain_runs, strict=True)
    ]
    cpu_ratio = float(engine["samples_per_cpu_s"]) / float(plain["samples_per_cpu_s"])  # type: ignore[arg-type]
    print(
        f"\nPneumoniaMNIST 28px, reference CNN, batch {BATCH}, {THREADS} threads, "
        f"{args.epochs} epochs, median of {args.repeats} runs each"
    )
    print(f"  precisionmed engine      {engine['samples_per_s']:8.1f} samples/s")
    print(f"  peer: plain PyTorch loop {plain['samples_per_s']:8.1f} samples/s")
    print(
        f"  ratio engine / plain     {ratio:8.3f}   (target >= 0.9: "
        f"{'met' if ratio >= 0.9 else 'MISSED'})"
    )
    print(f"  per-round ratios         {', '.join(f'{r:.3f}' for r in pair_ratios)}")
    print(f"  ratio per CPU-second     {cpu_ratio:8.3f}")
    if args.no_write:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    out = {
        "pneumoniamnist": {
            "precisionmed-engine": {
                **engine,
                "ratio_to_plain_loop": ratio,
                "ratio_to_plain_loop_per_round": pair_ratios,
                "ratio_to_plain_loop_per_cpu_second": cpu_ratio,
                "target_ratio": 0.9,
                "target_met": ratio >= 0.9,
            },
            "peer:plain-pytorch-loop": plain,
        },
        "_meta": {
            "cpu_minutes": (time.process_time() - cpu_start) / 60,
            "seeds": [SEED],
            "git_commit": commit,
            "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "batch_size": BATCH,
            "eval_batch_size": EVAL_BATCH,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "order": "alternating: engine, plain, engine, plain, ...",
            "network": NETWORK_SOURCE["value"],
            "cpu_count": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "engine_settings": "TrainConfig defaults (progress bar on) except max_epochs, "
            "batch_size, lr, seed and patience=epochs+1 (no early stop within the run)",
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
