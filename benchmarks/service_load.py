"""Service load benchmark: image prediction through ``precisionmed serve`` vs the same model
called in-process.

Issue 27: "a bounded load from a second process on 127.0.0.1 for 60 s against image prediction:
requests/s, p50/p99 latency and errors, beside the same model called in-process, as a ratio.
Target: zero errors, p99 under 100 ms for a 28 px CNN on 2 cores, service throughput at least half
the in-process throughput."

Protocol:

1. The model: the registry's ``reference-cnn`` trained on PneumoniaMNIST (28 px, 1 channel, from
   the catalog through the mirror) for 1 epoch on the first ``--subset`` (default 1,000) training
   images, batch 64, seed 0, calibrated on validation, ``n_boot=10`` (the figures of the model do
   not matter here, its size does).
2. 64 PneumoniaMNIST test images are written as PNG files (the uploads).
3. ``precisionmed serve --host 127.0.0.1`` starts in a subprocess (``--workers`` uvicorn
   workers, default 1; SQLite with the default ``synchronous=FULL`` unless
   ``PRECISIONMED_SQLITE_SYNCHRONOUS`` is set in the environment; defaults otherwise: ONNX
   Runtime, micro-batching of at most 16 queued images without waiting,
   ``PRECISIONMED_BATCH_MAX_WAIT_MS`` overrides; the rate limit raised so that it does not
   throttle the load). A clinician is added with ``precisionmed users add``; 8 warm-up cases
   per worker (model load, ONNX export) are not counted. The settings used are recorded in
   ``_meta.protocol``.
4. A second process (this script with ``--client``) keeps ``--concurrency`` (default 2) requests
   in flight for ``--seconds`` (default 60): each ``POST /cases`` uploads one PNG and gets the
   stored case with its prediction (the full request: authentication, upload checks, storage,
   prediction, audit rows, commit). Errors are non-201 answers and failed connections.
5. In-process: the same model directory loaded with ``precisionmed.load`` predicts the same files
   one at a time (``predict([png])``) for ``--inprocess-seconds`` (default 20) each: with torch
   (as a user calls it) and with ONNX Runtime (as the service runs it). The ratio target is
   checked against the faster of the two.

CPU minutes: this process, its children (server, client, CLI) together. The machine is shared
while this runs; the load average at the start and end is recorded in ``_meta``.
Bounded at about 5 CPU minutes (training ~1, load 2 x 60 s, in-process 2 x 20 s).

Run: ``nice -n 5 .venv/bin/python benchmarks/service_load.py`` (writes
``benchmarks/results/service_load.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, use_shared_mirror

RESULT = ROOT / "benchmarks" / "results" / "service_load.json"
DATASET = "pneumoniamnist"
N_IMAGES = 64
N_WARMUP = 8
PASSWORD = "benchmark password 1234"
TARGETS = {"errors": 0, "p99_ms_below": 100.0, "throughput_ratio_at_least": 0.5}


def train_model(root: Path, subset: int, seed: int) -> Path:
    """The tiny 28 px CNN (see the module docstring), saved as ``root/pneumonia``."""
    from precisionmed.imaging import train_image_classifier
    from precisionmed.train import TrainConfig

    out = root / "pneumonia"
    train_image_classifier(
        DATASET,
        "reference-cnn",
        out_dir=out,
        config=TrainConfig(max_epochs=1, batch_size=64, seed=seed, progress=False),
        subset=subset,
        n_boot=10,
    )
    return out


def write_pngs(folder: Path) -> list[Path]:
    """``N_IMAGES`` test images as 8-bit PNG files."""
    from PIL import Image

    from precisionmed.imaging import load_classification_data

    x = load_classification_data(DATASET).arrays["test"][0][:N_IMAGES]
    folder.mkdir(parents=True)
    paths = []
    for i, image in enumerate(x):
        paths.append(folder / f"test{i:03d}.png")
        Image.fromarray((image[0] * 255).round().astype(np.uint8)).save(paths[-1])
    return paths


def summary(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    """Requests/s and latency percentiles (ms) of the answered requests."""
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "mean_ms": round(float(ms.mean()), 2) if len(ms) else None,
    }


def run_client(url: str, token: str, png_dir: Path, seconds: float, concurrency: int) -> None:
    """The load (``--client``): ``concurrency`` threads each keep one ``POST /cases`` in flight
    until ``seconds`` pass; prints the summary as JSON."""
    import httpx

    files = [p.read_bytes() for p in sorted(png_dir.glob("*.png"))]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(k: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            i = k
            while time.perf_counter() < stop_at:
                data = files[i % len(files)]
                i += concurrency
                t0 = time.perf_counter()
                try:
                    r = client.post("/cases", files={"file": ("x.png", data, "image/png")})
                    ok = r.status_code == 201
                    why = f"{r.status_code}: {r.text[:120]}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                dt = time.perf_counter() - t0
                with lock:
                    (latencies.append(dt) if ok else errors.append(why))

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = summary(latencies, time.perf_counter() - start, len(errors))
    out["concurrency"] = concurrency
    out["first_errors"] = errors[:5]
    print(json.dumps(out))


def in_process(
    model_dir: Path, pngs: list[Path], seconds: float, onnx_dir: Path | None = None
) -> dict[str, Any]:
    """The same model called in-process, one file per call, for ``seconds``; with ``onnx_dir``
    run by ONNX Runtime as the service runs it (else torch, as ``precisionmed.load`` gives it)."""
    import precisionmed
    from precisionmed.service.acceleration import accelerate

    model = precisionmed.load(model_dir)
    if onnx_dir is not None:
        backend = accelerate(model, model_dir.name, str(model.model_version), onnx_dir)
        assert backend.name == "onnxruntime", backend.reason
    for p in pngs[:N_WARMUP]:
        model.predict([p])
    latencies = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        model.predict([pngs[i % len(pngs)]])
        latencies.append(time.perf_counter() - t0)
        i += 1
    return summary(latencies, time.perf_counter() - start, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the service")
    parser.add_argument("--inprocess-seconds", type=float, default=20.0)
    parser.add_argument("--subset", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--client", nargs=3, metavar=("URL", "TOKEN", "PNG_DIR"))
    args = parser.parse_args()
    if args.client:
        url, token, png_dir = args.client
        run_client(url, token, Path(png_dir), args.seconds, args.concurrency)
        return

    import httpx

    use_shared_mirror()
    start = time.perf_counter()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="service-load-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        model_dir = train_model(root / "models", args.subset, args.seed)
        train_seconds = time.perf_counter() - t0
        pngs = write_pngs(root / "pngs")
        env = {
            **os.environ,
            "PRECISIONMED_DATA_DIR": str(root / "data"),
            "PRECISIONMED_MODELS_DIR": str(root / "models"),
            "PRECISIONMED_RATE_LIMIT_PER_MINUTE": "1000000",
            "PRECISIONMED_RATE_LIMIT_BURST": "1000000",
        }
        cli = [sys.executable, "-m", "precisionmed.cli.main"]
        subprocess.run(
            [*cli, "users", "add", "bench", "--role", "clinician", "--password-stdin"],
            input=PASSWORD + "\n", env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (root / "serve.log").open("w")
        server = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(args.workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            token = httpx.post(
                f"{url}/auth/token", data={"username": "bench", "password": PASSWORD}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            for p in (pngs * args.workers)[: N_WARMUP * args.workers]:  # each worker warms up
                r = httpx.post(f"{url}/cases", headers=headers, timeout=120,
                               files={"file": (p.name, p.read_bytes(), "image/png")})  # fmt: skip
                r.raise_for_status()
            (served,) = httpx.get(f"{url}/models", headers=headers).json()
            client = subprocess.run(
                [sys.executable, __file__, "--client", url, token, str(root / "pngs"),
                 "--seconds", str(args.seconds), "--concurrency", str(args.concurrency)],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            service = json.loads(client.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
        local = in_process(model_dir, pngs, args.inprocess_seconds)
        local_onnx = in_process(model_dir, pngs, args.inprocess_seconds, root / "onnx")
    load_end = os.getloadavg()
    ratio = service["requests_per_s"] / local["requests_per_s"]
    ratio_onnx = service["requests_per_s"] / local_onnx["requests_per_s"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    import onnxruntime
    import torch

    import precisionmed

    results = {
        "service": {
            **service,
            "backend": served["backend"],
            "backend_reason": served["backend_reason"],
        },
        "in_process": {**local, "backend": "torch", "calls": "predict([png]), one at a time"},
        "in_process_onnx": {**local_onnx, "backend": "onnxruntime", "calls": "the same"},
        "throughput_ratio": round(ratio, 3),
        "throughput_ratio_vs_in_process_onnx": round(ratio_onnx, 3),
        "targets": TARGETS,
        "meets_targets": {
            "zero_errors": service["errors"] == 0,
            "p99_below_100ms": service["p99_ms"] is not None and service["p99_ms"] < 100,
            "throughput_ratio_at_least_half": min(ratio, ratio_onnx) >= 0.5,
        },
        "_meta": {
            "cpu_minutes": (usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime)
            / 60,
            "process_cpu_minutes": time.process_time() / 60,
            "wall_minutes": (time.perf_counter() - start) / 60,
            "train_seconds": round(train_seconds, 1),
            "load_average_start": [round(v, 2) for v in load_start],
            "load_average_end": [round(v, 2) for v in load_end],
            "cpu_count": os.cpu_count(),
            "seeds": {"model": args.seed},
            "git_commit": commit,
            "versions": {
                "precisionmed": precisionmed.__version__,
                "torch": torch.__version__,
                "onnxruntime": onnxruntime.__version__,
                "python": sys.version.split()[0],
            },
            "protocol": f"reference-cnn, 1 epoch on {args.subset} PneumoniaMNIST training "
            f"images (28 px); serve: {args.workers} worker(s), SQLite (synchronous="
            f"{env.get('PRECISIONMED_SQLITE_SYNCHRONOUS', 'full')}), batching wait "
            f"{env.get('PRECISIONMED_BATCH_MAX_WAIT_MS', '0')} ms, other settings "
            f"default; {args.concurrency} requests "
            f"in flight from a second process for {args.seconds:.0f} s (POST /cases, one PNG); "
            f"in-process: precisionmed.load + predict([png]) for {args.inprocess_seconds:.0f} s, "
            "torch and ONNX Runtime.",
            "note": "shared 2-core machine (other jobs running): figures are pessimistic.",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(  # noqa: T201
        f"service {service['requests_per_s']} req/s, p50 {service['p50_ms']} ms, p99 "
        f"{service['p99_ms']} ms, {service['errors']} errors; in-process "
        f"{local['requests_per_s']} req/s (torch), {local_onnx['requests_per_s']} req/s (onnx); "
        f"ratios {ratio:.2f}, {ratio_onnx:.2f}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
