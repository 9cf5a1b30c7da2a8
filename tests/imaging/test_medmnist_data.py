"""MedMNIST registration (URLs, md5s, sizes), the loader on real files, and every task type on
small arrays written in the official npz format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from precisionmed import load
from precisionmed.data import catalog, get_dataset, list_datasets
from precisionmed.data.sources._medmnist_info import MEDMNIST_INFO
from precisionmed.imaging import load_classification_data, train_image_classifier
from precisionmed.train import TrainConfig
from tests.conftest import require_dataset, require_path

OFFICIAL = "imaging/medmnist/OFFICIAL_REFERENCE_medmnist3.0.2_info.json"


def test_all_18_subsets_at_every_size_with_official_md5_and_zenodo_url() -> None:
    official = json.loads(require_path(OFFICIAL).read_text())
    assert len(official) == 18
    names = {s.name for s in list_datasets()}
    n = 0
    for flag, info in official.items():
        sizes = [28] + [int(k[4:]) for k in info if k.startswith("MD5_")]
        is_3d = flag.endswith("3d")
        assert sorted(sizes) == ([28, 64] if is_3d else [28, 64, 128, 224])
        for size in sizes:
            name = flag if size == 28 else f"{flag}_{size}"
            assert name in names
            spec = get_dataset(name)
            (file,) = spec.files
            md5 = info["MD5" if size == 28 else f"MD5_{size}"]
            assert file.checksum == f"md5:{md5}"
            # The URL the medmnist 3.0.2 package downloads from.
            assert file.url == f"https://zenodo.org/records/10519652/files/{name}.npz?download=1"
            assert file.path == f"imaging/medmnist/{name}.npz"
            assert spec.task == info["task"]
            n += 1
    assert n == 12 * 4 + 6 * 2


def test_real_pneumoniamnist_loads_with_official_splits() -> None:
    require_dataset("pneumoniamnist")
    data = load_classification_data("pneumoniamnist")
    assert data.task == "binary-class"
    assert data.labels == ["normal", "pneumonia"]
    assert (data.n_channels, data.spatial_dims, data.size) == (1, 2, (28, 28))
    sizes = {k: v[0].shape for k, v in data.arrays.items()}
    assert sizes == {"train": (4708, 1, 28, 28), "val": (524, 1, 28, 28), "test": (624, 1, 28, 28)}
    x, y = data.arrays["train"]
    assert x.dtype == np.float32
    assert x.min() >= 0.0
    assert x.max() <= 1.0
    assert set(np.unique(y)) == {0, 1}


def test_real_adrenalmnist3d_is_3d() -> None:
    require_dataset("adrenalmnist3d")
    data = load_classification_data("adrenalmnist3d", subset=5)
    assert (data.spatial_dims, data.size, data.n_channels) == (3, (28, 28, 28), 1)
    assert data.arrays["test"][0].shape == (5, 1, 28, 28, 28)


def _write_official_npz(path: Path, flag: str, n: int, rng: np.random.Generator) -> None:
    """A small file in the official format: {split}_images uint8, {split}_labels (N, L)."""
    _modality, task, channels, _md5, labels, _n = MEDMNIST_INFO[flag]
    k = len(labels)
    shape = (28, 28, 28) if flag.endswith("3d") else (28, 28)
    arrays = {}
    for split in ("train", "val", "test"):
        if task.startswith("multi-label"):
            y = rng.integers(0, 2, size=(n, k))
        else:
            y = (np.arange(n) % k)[:, None]  # every class present
        x = rng.integers(0, 60, size=(n, *shape, *((3,) if channels == 3 else ())))
        # Plant a class-dependent bright block so that the task is learnable.
        cls = y.argmax(1) if task.startswith("multi-label") else y[:, 0]
        for i, c in enumerate(cls):
            x[i, ..., 2 * c : 2 * c + 4, 4:10] = 250
        arrays[f"{split}_images"] = x.astype(np.uint8)
        arrays[f"{split}_labels"] = y.astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


@pytest.fixture
def tiny_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write official-format files into a temporary mirror and register their md5."""
    monkeypatch.setenv("PRECISIONMED_DATA_MIRROR", str(tmp_path / "mirror"))
    rng = np.random.default_rng(0)

    def make(flag: str, n: int = 24) -> str:
        spec = get_dataset(flag)
        (file,) = spec.files
        path = tmp_path / "mirror" / file.path
        _write_official_npz(path, flag, n, rng)
        md5 = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        fake = dataclasses.replace(file, checksum=f"md5:{md5}")
        monkeypatch.setitem(
            catalog.DATASETS._entries, flag, dataclasses.replace(spec, files=(fake,))
        )
        return flag

    return make


@pytest.mark.parametrize(
    ("flag", "task", "channels", "dims", "k"),
    [
        ("chestmnist", "multi-label", 1, 2, 14),
        ("dermamnist", "multi-class", 3, 2, 7),
        ("retinamnist", "ordinal-regression", 3, 2, 5),
        pytest.param("organmnist3d", "multi-class", 1, 3, 11, marks=pytest.mark.slow),
    ],
)
def test_every_task_type_trains_evaluates_and_predicts(
    tiny_mirror, tmp_path: Path, flag: str, task: str, channels: int, dims: int, k: int
) -> None:
    name = tiny_mirror(flag)
    data = load_classification_data(name)
    assert (data.task, data.n_channels, data.spatial_dims, data.n_outputs) == (
        task,
        channels,
        dims,
        k,
    )
    config = TrainConfig(max_epochs=1, batch_size=8, seed=0, progress=False, monitor="val_loss")
    result = train_image_classifier(
        data, "reference-cnn", out_dir=tmp_path / "model", config=config, augment="none", n_boot=10
    )
    test = result.metrics["test"]
    assert test["n"] == 24
    assert 0.0 <= test["acc"]["value"] <= 1.0
    clf = load(result.path)
    p = clf.predict_proba(data.arrays["test"][0][:3])
    assert p.shape == (3, k)
    if task == "multi-label":
        assert ((p >= 0) & (p <= 1)).all()
        labels = clf.predict_labels(data.arrays["test"][0][:3])
        assert labels.shape == (3, k)
        records = clf.predict(data.arrays["test"][0][:3])  # multi-label: the labels above 0.5
        for record, row in zip(records, labels, strict=True):
            assert record.prediction == [lab for lab, on in zip(clf.labels, row, strict=True) if on]
    else:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


def test_wrong_format_names_the_file(tmp_path: Path) -> None:
    from precisionmed.data.sources.medmnist import read_medmnist_npz
    from precisionmed.errors import DataFormatError

    path = tmp_path / "bad.npz"
    np.savez(path, train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataFormatError, match=r"bad\.npz: missing array 'train_labels'"):
        read_medmnist_npz(path, "breastmnist", MEDMNIST_INFO["breastmnist"])


def test_cross_validation_on_train_plus_val(tiny_mirror, tmp_path: Path) -> None:
    from precisionmed.imaging.crossval import cross_validate_classifier

    name = tiny_mirror("breastmnist", n=20)
    config = TrainConfig(max_epochs=1, batch_size=8, seed=0, progress=False, monitor="val_loss")
    record = cross_validate_classifier(
        name, "reference-cnn", n_splits=2, config=config, out_dir=tmp_path
    )
    assert len(record["folds"]) == 2
    assert set(record["summary"]) >= {"test_acc", "test_loss"}
    assert json_loads(tmp_path / "cv_metrics.json")["n_splits"] == 2


def json_loads(path: Path) -> dict:
    return json.loads(path.read_text())
