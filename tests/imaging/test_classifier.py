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


def test_an_ensemble_saves_loads_predicts_and_explains_as_the_mean_of_its_members(
    tmp_path: Path,
) -> None:
    import numpy as np
    import torch

    from precisionmed import load
    from precisionmed.imaging.datasets import load_classification_data
    from precisionmed.imaging.gradcam import explain_file
    from precisionmed.imaging.networks import MeanEnsemble

    require_dataset("breastmnist")
    config = TrainConfig(max_epochs=1, batch_size=32, seed=5, progress=False)
    trained = train_image_classifier(
        "breastmnist",
        "reference-cnn",
        out_dir=tmp_path / "ens",
        config=config,
        subset=48,
        n_boot=10,
        network_kwargs={"dropout": 0.1},
        n_members=2,
    )
    assert trained.metrics["n_members"] == 2
    assert [m["seed"] for m in trained.metrics["members"]] == [5, 6]
    for i in range(2):  # each member keeps its own training curve
        assert (trained.path / f"member-{i}" / "metrics.csv").is_file()

    clf = load(trained.path)
    assert isinstance(clf.net, MeanEnsemble)
    assert len(clf.net.members) == 2
    images = np.asarray(load_classification_data("breastmnist", subset=8).split("test").images)
    with torch.no_grad():
        members = [m(torch.as_tensor(images)).numpy() for m in clf.net.members]
    np.testing.assert_allclose(clf.predict_logits(images), np.mean(members, 0), atol=1e-5)
    assert members[0].tolist() != members[1].tolist()  # different seeds, different networks

    png = tmp_path / "one.png"
    from PIL import Image as PILImage

    PILImage.fromarray((images[0, 0] * 255).astype("uint8")).save(png)
    record = explain_file(clf, png, tmp_path / "cam.png")
    assert (tmp_path / "cam.png").is_file()
    assert 0 <= record["probability"] <= 1
