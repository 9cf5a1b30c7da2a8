"""Two-process DDP training on CPU (gloo), run by ``test_ddp.py`` as a subprocess.

``python tests/train/ddp_script.py OUT_DIR``: Lightning re-launches this script once per extra
rank. ``torchrun ... tests/train/ddp_script.py OUT_DIR --layout-from-env`` leaves devices,
nodes and strategy at their defaults, so the engine takes them from torchrun's environment.
Every rank trains the same small CNN on BreastMNIST through :func:`precisionmed.train.fit`
and writes ``OUT_DIR/rank<r>.json`` with the sha256 of its final state dict and its metrics;
rank 0 also saves the model directory ``OUT_DIR/model`` and recomputes the validation metrics
on the whole validation set on its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from precisionmed.artifacts import ModelCard, save_artifact
from precisionmed.data import load_dataset
from precisionmed.train import TrainConfig, fit, predict_outputs

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.*
from tests.train.tiny import state_hash  # noqa: E402

VAL_SIZE = 77  # odd: the distributed sampler pads one rank's shard with a repeated sample


def metrics_fn(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    correct = (outputs.argmax(1) == targets).float()
    # n: how many samples the metrics saw; first/last target: the order they came in.
    return {"acc": float(correct.mean()), "n": float(len(targets))}


def main(out: Path, layout_from_env: bool = False) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("breastmnist")

    def part(split: str) -> TensorDataset:
        return TensorDataset(
            torch.from_numpy(data.images(split)), torch.from_numpy(data.targets(split))
        )

    train, val, test = part("train"), Subset(part("val"), range(VAL_SIZE)), part("test")
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 7 * 7, 2),
    )
    layout = {} if layout_from_env else {"devices": 2, "strategy": "ddp"}
    config = TrainConfig(
        max_epochs=2,
        batch_size=64,
        lr=3e-3,
        seed=0,
        accelerator="cpu",
        progress=False,
        **layout,
    )
    result = fit(
        net,
        train,
        val,
        test,
        loss_fn=nn.functional.cross_entropy,
        metrics_fn=metrics_fn,
        config=config,
        out_dir=out / "run",
    )
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    report = {
        "rank": rank,
        "world_size": world,
        "is_global_zero": result.is_global_zero,
        "state_sha256": state_hash(result.net.state_dict()),
        "val_metrics": result.val_metrics,
        "test_metrics": result.test_metrics,
        "eval_sizes": result.eval_sizes,
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
    }
    if result.is_global_zero:
        # Independent check on one process: the whole validation set, in order, no engine.
        outputs = predict_outputs(result.net, val)
        targets = torch.stack([val[i][1] for i in range(len(val))])
        report["val_recomputed"] = {
            "val_loss": float(nn.functional.cross_entropy(outputs, targets)),
            **{f"val_{k}": v for k, v in metrics_fn(outputs, targets).items()},
        }
        save_artifact(
            out / "model",
            kind="ddp-test-cnn",
            pillar="imaging",
            config={"architecture": "tiny cnn", "train": config.model_dump()},
            metrics={"val": result.val_metrics, "test": result.test_metrics},
            card=ModelCard(
                title="DDP test CNN",
                intended_use="A test of the training engine; not for use.",
                training_data="BreastMNIST 28 px train split",
            ),
            state_dict=result.net.state_dict(),
        )
    (out / f"rank{rank}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), layout_from_env="--layout-from-env" in sys.argv[2:])
