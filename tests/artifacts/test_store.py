"""Model directories: round trips, recorded checksums, tampering, predictors and model cards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import precisionmed
from precisionmed.artifacts import (
    Artifact,
    ModelCard,
    read_artifact,
    register_predictor,
    registry,
    save_artifact,
)
from precisionmed.artifacts.manifest import manifest_bytes
from precisionmed.errors import ArtifactError

CARD = ModelCard(
    title="tiny net on test data",
    intended_use="Tests of the artefact format; not for clinical use.",
    training_data="Synthetic tensors, seed 0.",
    limitations=["Never validated on patients."],
    details={"parameters": 10},
)
METRICS = {
    "test": {
        "auc": {"value": 0.85, "low": 0.8, "high": 0.9, "n_boot": 1000},
        "accuracy": 0.75,
    },
    "best_epoch": 3,
}


def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(4, 2).state_dict()


@pytest.fixture
def torch_dir(tmp_path: Path) -> Path:
    out = tmp_path / "model"
    out.mkdir()
    (out / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really an image")  # a plot, written first
    return save_artifact(
        out,
        kind="test-linear",
        pillar="imaging",
        config={"architecture": {"in": 4, "out": 2}, "labels": ["no", "yes"]},
        metrics=METRICS,
        card=CARD,
        state_dict=tiny_state(),
    )


def test_torch_weights_round_trip_with_recorded_checksums(torch_dir: Path) -> None:
    artifact = read_artifact(torch_dir)
    for key, value in tiny_state().items():
        torch.testing.assert_close(artifact.state_dict()[key], value)
    config = json.loads((torch_dir / "config.json").read_text())
    assert config["kind"] == "test-linear"
    assert config["pillar"] == "imaging"
    assert config["precisionmed_version"] == precisionmed.__version__
    assert config["labels"] == ["no", "yes"]
    manifest = (torch_dir / "manifest.json").read_bytes()
    files = json.loads(manifest)["files"]
    on_disk = {p.name for p in torch_dir.iterdir()} - {"manifest.json"}
    assert (
        set(files)
        == on_disk
        == {"config.json", "model.safetensors", "metrics.json", "model_card.md", "roc.png"}
    )
    for name, digest in files.items():
        assert digest == hashlib.sha256((torch_dir / name).read_bytes()).hexdigest()
    assert artifact.version == hashlib.sha256(manifest).hexdigest()
    assert artifact.short_version == artifact.version[:12]
    assert artifact.metrics == METRICS
    assert not (torch_dir / "model.pt").exists()  # no pickle anywhere
    assert (torch_dir / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors header


def test_skops_estimator_round_trip(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    out = save_artifact(
        tmp_path / "clf",
        kind="test-sk",
        pillar="clinical",
        config={"input_schema": {"n_features": 30}},
        metrics={},
        card=CARD,
        estimator=model,
    )
    loaded = read_artifact(out).estimator()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert "model.skops" in json.loads((out / "manifest.json").read_text())["files"]


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda d: flip_byte(d / "model.safetensors"), r"model\.safetensors: sha256 .* differs"),
        (
            lambda d: (d / "model_card.md").unlink(),
            r"model_card\.md: recorded in manifest\.json but missing",
        ),
        (
            lambda d: (d / "metrics.json").write_text(
                (d / "metrics.json").read_text().replace("0.85", "0.95")
            ),
            r"metrics\.json: sha256 .* differs .* was modified after it was saved",
        ),
        (lambda d: flip_byte(d / "roc.png"), r"roc\.png: sha256"),
        (
            lambda d: (d / "config.json").unlink(),
            r"config\.json: recorded in manifest\.json but missing",
        ),
        (lambda d: (d / "config.json").write_text("{"), r"config\.json: sha256 .* differs"),
        (
            lambda d: (d / "manifest.json").unlink(),
            r"not a precisionmed model directory \(no manifest\.json\)",
        ),
        (lambda d: (d / "manifest.json").write_text("{"), r"manifest\.json: not valid JSON"),
        (
            lambda d: (d / "notes.txt").write_text("added later"),
            r"notes\.txt: present but not recorded in manifest\.json",
        ),
        (
            lambda d: (d / "plots").mkdir() or (d / "plots" / "extra.png").write_bytes(b"x"),
            r"plots/extra\.png: present but not recorded",
        ),
        (
            lambda d: (d / "link.png").symlink_to(d / "roc.png"),
            r"link\.png: a model directory holds only regular files",
        ),
    ],
)
def test_tampering_is_refused_naming_the_file(torch_dir: Path, tamper: Any, message: str) -> None:
    tamper(torch_dir)
    with pytest.raises(ArtifactError, match=message):
        read_artifact(torch_dir)
    with pytest.raises(ArtifactError, match=message):
        precisionmed.load(torch_dir)


def edit_config(directory: Path, *, remanifest: bool = True, **changes: Any) -> None:
    """Change fields of config.json; by default re-write the manifest so the checksums pass."""
    path = directory / "config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    path.write_text(json.dumps(config))
    if remanifest:
        (directory / "manifest.json").write_bytes(manifest_bytes(directory))


@pytest.mark.parametrize(
    "changes",
    [{"labels": ["yes", "no"]}, {"temperature": 0.05}, {"architecture": {"in": 4, "out": 3}}],
)
def test_an_edited_config_is_refused(torch_dir: Path, changes: dict[str, Any]) -> None:
    edit_config(torch_dir, remanifest=False, **changes)
    with pytest.raises(ArtifactError, match=r"config\.json: sha256 .* differs .* manifest\.json"):
        precisionmed.load(torch_dir)


def test_any_change_gives_another_version(torch_dir: Path) -> None:
    before = read_artifact(torch_dir).version
    edit_config(torch_dir, labels=["yes", "no"])
    after = read_artifact(torch_dir)
    assert after.version != before
    assert after.config["labels"] == ["yes", "no"]


def test_unrecorded_weights_are_not_loaded(torch_dir: Path) -> None:
    path = torch_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]["model.safetensors"]
    path.write_text(json.dumps(manifest))
    (torch_dir / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"model\.safetensors: not recorded in manifest\.json"):
        read_artifact(torch_dir).state_dict()


def test_weights_swapped_after_the_check_are_refused(torch_dir: Path) -> None:
    artifact = read_artifact(torch_dir)
    flip_byte(torch_dir / "model.safetensors")
    with pytest.raises(ArtifactError, match=r"model\.safetensors: sha256 .* differs"):
        artifact.state_dict()


def test_paths_outside_the_directory_are_refused(torch_dir: Path) -> None:
    path = torch_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["../model/metrics.json"] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"field 'files' names '../model/metrics.json'"):
        read_artifact(torch_dir)


def test_saving_into_a_saved_model_is_refused(torch_dir: Path) -> None:
    with pytest.raises(ArtifactError, match=r"already holds a saved model .*ModelWriter"):
        save_artifact(torch_dir, kind="k", pillar="imaging", config={}, metrics={}, card=CARD)


def test_load_unknown_pillar(torch_dir: Path) -> None:
    edit_config(torch_dir, pillar="astrology")
    with pytest.raises(ArtifactError, match=r"field 'pillar' is 'astrology'; expected one of"):
        precisionmed.load(torch_dir)


def test_load_missing_field(torch_dir: Path) -> None:
    edit_config(torch_dir, kind=None)
    with pytest.raises(ArtifactError, match=r"config\.json: field 'kind' is missing"):
        precisionmed.load(torch_dir)


@pytest.fixture
def no_pillar_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep load() from importing a real pillar (other packages' state is not under test)."""
    monkeypatch.setattr(registry.importlib, "import_module", lambda name: None)
    monkeypatch.setattr(registry.PREDICTORS, "_entries", dict(registry.PREDICTORS._entries))


def test_load_unknown_kind(torch_dir: Path, no_pillar_import: None) -> None:
    edit_config(torch_dir, kind="crystal-ball")
    with pytest.raises(ArtifactError, match=r"Unknown predictor kind 'crystal-ball'"):
        precisionmed.load(torch_dir)


def test_load_returns_the_registered_predictor(torch_dir: Path, no_pillar_import: None) -> None:
    @register_predictor("test-linear")
    class LinearPredictor:
        def __init__(self, net: nn.Module, labels: list[str]) -> None:
            self.net, self.labels = net, labels

        @classmethod
        def from_artifact(cls, artifact: Artifact) -> LinearPredictor:
            net = nn.Linear(
                artifact.config["architecture"]["in"], artifact.config["architecture"]["out"]
            )
            net.load_state_dict(artifact.state_dict())
            return cls(net, artifact.config["labels"])

    predictor = precisionmed.load(torch_dir)
    assert isinstance(predictor, LinearPredictor)
    assert predictor.labels == ["no", "yes"]
    x = torch.ones(1, 4)
    reference = nn.Linear(4, 2)
    reference.load_state_dict(tiny_state())
    torch.testing.assert_close(predictor.net(x), reference(x))


def test_model_card_lists_metrics_with_intervals(torch_dir: Path) -> None:
    card = (torch_dir / "model_card.md").read_text()
    assert card.startswith("# Model card: tiny net on test data")
    for section in ("## Intended use", "## Training data", "## Metrics", "## Limitations"):
        assert section in card
    assert "| test.auc | 0.8500 (95% CI 0.8000-0.9000) |" in card
    assert "| test.accuracy | 0.7500 |" in card
    assert "| best_epoch | 3 |" in card
    assert "- Never validated on patients." in card
