"""write_model_dir: train, report and save as one step; a failure anywhere leaves no new model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from precisionmed.artifacts import ModelCard, ModelContents, read_artifact, write_model_dir
from precisionmed.errors import ArtifactError

CARD = ModelCard(title="t", intended_use="tests of the save step", training_data="none")


def contents(value: float) -> ModelContents:
    return ModelContents(
        kind="test-linear", pillar="imaging", config={"run": value}, metrics={"run": value},
        card=CARD, state_dict={"w": torch.full((4,), value)},
    )  # fmt: skip


def train_and_report(value: float):
    def run(staging: Path) -> tuple[ModelContents, str]:
        (staging / "roc.png").write_bytes(b"plot of run %d" % int(value))
        return contents(value), f"trained {value}"

    return run


def leftovers(out: Path) -> list[str]:
    return sorted(
        p.name for p in out.parent.iterdir() if p.name not in (out.name, f".{out.name}.lock")
    )


def test_the_returned_contents_and_the_plots_become_one_checked_model(tmp_path: Path) -> None:
    path, result = write_model_dir(tmp_path / "model", train_and_report(1.0))
    assert (path, result) == ((tmp_path / "model").absolute(), "trained 1.0")
    artifact = read_artifact(path)
    assert artifact.kind == "test-linear"
    assert artifact.config["run"] == artifact.metrics["run"] == 1.0
    assert "roc.png" in artifact.files  # written by the pillar's report, covered by the manifest
    assert "## Metrics" in (path / "model_card.md").read_text()
    torch.testing.assert_close(artifact.state_dict()["w"], torch.full((4,), 1.0))


@pytest.mark.parametrize("existing", [False, True])
def test_a_report_that_raises_leaves_no_partial_directory(tmp_path: Path, existing: bool) -> None:
    out = tmp_path / "model"
    if existing:
        write_model_dir(out, train_and_report(1.0))
        version = read_artifact(out).version

    def failing_report(staging: Path) -> tuple[ModelContents, None]:
        (staging / "metrics.csv").write_text("epoch,val_loss\n0,0.5\n")  # training had written
        (staging / "roc.png").write_bytes(b"half a plot")
        raise ValueError("the pillar's report failed")

    with pytest.raises(ValueError, match="report failed"):
        write_model_dir(out, failing_report, overwrite=True)
    assert leftovers(out) == []
    if existing:  # the previous model, unchanged and loadable
        assert read_artifact(out).version == version
        assert (out / "roc.png").read_bytes() == b"plot of run 1"
        assert not (out / "metrics.csv").exists()
    else:
        assert not out.exists()


def test_a_save_that_fails_leaves_the_old_model(tmp_path: Path) -> None:
    out = tmp_path / "model"
    write_model_dir(out, train_and_report(1.0))
    version = read_artifact(out).version
    bad = contents(2.0)
    bad.state_dict = {"w": "not a tensor"}
    with pytest.raises(AttributeError):
        write_model_dir(out, lambda staging: (bad, None), overwrite=True)
    assert read_artifact(out).version == version
    assert leftovers(out) == []


def test_an_existing_model_is_refused_before_training_runs(tmp_path: Path) -> None:
    out = tmp_path / "model"
    write_model_dir(out, train_and_report(1.0))
    ran = []
    with pytest.raises(ArtifactError, match="already holds a model; use --overwrite"):
        write_model_dir(out, lambda staging: ran.append(staging) or (contents(2.0), None))
    assert ran == []


def test_no_contents_on_the_writing_process_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with pytest.raises(ArtifactError, match="nothing was saved"):
        write_model_dir(out, lambda staging: (None, None))
    assert not out.exists()
