"""One round of recipe choice for the GUE TF sets, on their dev splits only.

The first full ``genomics_gue.py`` run (the models' defaults) stopped at epoch 2-6 on the TF sets
(validation loss turning up early) and stayed under DNABERT's published MCC on TF0, TF1 and TF3.
This round trains ``danq`` and ``cnn`` on each TF set under a few candidate recipes and records
the **dev** MCC that chooses among them (the test MCC is stored beside it for the record, never
for the choice):

* ``default``: the registered defaults (early stopping on validation loss, lr 1e-3);
* ``lr3e-4``: a third of the learning rate;
* ``stop-on-mcc``: early stopping and the restored epoch on validation MCC, GUE's metric
  (``TrainConfig.monitor="val_mcc"``; patched in here, since the genomics recipe has no such
  parameter yet);
* ``dropout0.5``: more dropout and weight decay 1e-4.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/dev/gue_tf_recipes.py --out FILE``.

Outcome (2026-12-07, commit 2a27d18, seed 0, ``benchmarks/dev/results/gue_tf_recipes.json``;
``danq`` on all five sets, ``cnn`` stopped after its default on TF0 to give the CPU back): mean
dev MCC over TF0-4 ``default`` 0.5622, ``lr3e-4`` 0.5588, ``stop-on-mcc`` 0.5585,
``dropout0.5`` 0.5637. The best candidate leads the default by 0.0015 and on 2 of the 5 sets:
noise, so the defaults stay and no new parameter was added to the genomics recipe. The default
candidate reproduces ``genomics_gue.py``'s ``danq`` test MCC exactly (same seed, one thread).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import use_shared_mirror  # noqa: E402

CANDIDATES: dict[str, dict] = {
    "default": {},
    "lr3e-4": {"lr": 3e-4},
    "stop-on-mcc": {"monitor": "val_mcc"},
    "dropout0.5": {"dropout": 0.5, "weight_decay": 1e-4},
}


def train_one(data, model: str, recipe: dict, seed: int) -> dict:
    from precisionmed.genomics.training import train_sequence_model
    from precisionmed.train import TrainConfig

    params = {k: v for k, v in recipe.items() if k != "monitor"}
    build = TrainConfig.build.__func__  # type: ignore[attr-defined]

    def patched(cls, **kwargs):
        return build(cls, **kwargs, monitor=recipe["monitor"], mode="max")

    ctx = (
        mock.patch.object(TrainConfig, "build", classmethod(patched))
        if "monitor" in recipe
        else contextlib.nullcontext()
    )
    cpu0 = time.process_time()
    with ctx, tempfile.TemporaryDirectory() as tmp:
        m = train_sequence_model(
            data, model, Path(tmp) / "m", seed=seed, params=params, progress=False, n_boot=0
        )
    return {
        "dev_mcc": m["val"]["mcc"]["value"],
        "test_mcc": m["test"]["mcc"]["value"],
        "best_epoch": m["training"]["best_epoch"],
        "epochs_run": m["training"]["epochs_run"],
        "cpu_minutes": (time.process_time() - cpu0) / 60.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=[f"gue-tf{i}" for i in range(5)])
    parser.add_argument("--models", nargs="*", default=["danq", "cnn"])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    use_shared_mirror()
    torch.set_num_threads(1)
    from precisionmed.data import load_dataset

    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for model in args.models:
        for name in args.sets:
            data = load_dataset(name)
            for cand in args.candidates:
                key = f"{name}/{model}/{cand}"
                if key in results:
                    continue
                results[key] = train_one(data, model, CANDIDATES[cand], args.seed)
                r = results[key]
                line = f"{key:32s} dev {r['dev_mcc']:.4f} test {r['test_mcc']:.4f} "
                line += f"epochs {r['epochs_run']} ({r['cpu_minutes']:.1f} CPU min)"
                print(line, flush=True)  # noqa: T201
                args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
