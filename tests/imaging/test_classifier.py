"""The image classifier's training is reproducible: the seed fixes the initial weights too."""

from __future__ import annotations

import hashlib
from pathlib import Path

from precisionmed.imaging import train_image_classifier
from precisionmed.train import TrainConfig
from tests.conftest import require_dataset


def _weights_digest(model_dir: Path) -> str:
    return hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()


def test_same_seed_gives_the_same_model_and_another_seed_does_not(tmp_path: Path) -> None:
    require_dataset("breastmnist")
    digests = []
    for run, seed in enumerate((3, 3, 4)):
        config = TrainConfig(max_epochs=1, batch_size=32, seed=seed, progress=False)
        trained = train_image_classifier(
            "breastmnist",
            "reference-cnn",
            out_dir=tmp_path / f"run{run}",
            config=config,
            augment="light",
            subset=64,
            n_boot=10,
        )
        digests.append(_weights_digest(trained.path))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]
