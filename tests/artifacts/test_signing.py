"""Optional HMAC signing of model directories with PRECISIONMED_SIGNING_KEY."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import torch

import precisionmed
from precisionmed.artifacts import ModelCard, read_artifact, save_artifact
from precisionmed.artifacts.manifest import MANIFEST, manifest_bytes
from precisionmed.errors import ArtifactError

CARD = ModelCard(title="t", intended_use="tests of signing", training_data="none")
KEY = "a key the hospital keeps in its secret store"


def save(out: Path) -> Path:
    return save_artifact(
        out, kind="test-linear", pillar="imaging", config={"labels": ["no", "yes"]},
        metrics={}, card=CARD, state_dict={"w": torch.zeros(2)},
    )  # fmt: skip


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRECISIONMED_SIGNING_KEY", KEY)
    return save(tmp_path / "signed")


def test_saving_with_a_key_writes_the_hmac_of_the_manifest(signed: Path) -> None:
    manifest = (signed / MANIFEST).read_bytes()
    expected = hmac.new(KEY.encode(), manifest, hashlib.sha256).hexdigest()
    assert (signed / "manifest.sig").read_text().strip() == expected
    artifact = read_artifact(signed)
    assert artifact.signed
    assert artifact.version == hashlib.sha256(manifest).hexdigest()  # the signature is not in it


def test_an_unsigned_directory_is_refused_when_a_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRECISIONMED_SIGNING_KEY", raising=False)
    unsigned = save(tmp_path / "unsigned")
    assert not (unsigned / "manifest.sig").exists()
    monkeypatch.setenv("PRECISIONMED_SIGNING_KEY", KEY)
    with pytest.raises(ArtifactError, match=r"unsigned model directory .*SIGNING_KEY is set"):
        precisionmed.load(unsigned)


def test_a_directory_signed_with_another_key_is_refused(
    signed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRECISIONMED_SIGNING_KEY", "another key")
    with pytest.raises(ArtifactError, match=r"manifest\.sig: the signature does not match"):
        read_artifact(signed)


def test_a_rewritten_manifest_is_refused_with_the_key_though_its_checksums_match(
    signed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an attacker without the key can do: change config.json and re-write the manifest.
    path = signed / "config.json"
    config = json.loads(path.read_text())
    config["labels"] = ["yes", "no"]
    path.write_text(json.dumps(config))
    (signed / MANIFEST).write_bytes(manifest_bytes(signed))
    monkeypatch.delenv("PRECISIONMED_SIGNING_KEY")
    assert read_artifact(signed).config["labels"] == ["yes", "no"]  # checksums alone pass
    monkeypatch.setenv("PRECISIONMED_SIGNING_KEY", KEY)
    with pytest.raises(ArtifactError, match=r"manifest\.sig: the signature does not match"):
        read_artifact(signed)


def test_without_a_key_a_signed_directory_loads_unchecked(
    signed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRECISIONMED_SIGNING_KEY", "")  # empty means none
    artifact = read_artifact(signed)
    assert not artifact.signed
    assert artifact.config["labels"] == ["no", "yes"]
