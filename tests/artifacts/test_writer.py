"""ModelWriter: --out checked before training, one writer at a time, old or new model only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from precisionmed.artifacts import ModelCard, ModelWriter, read_artifact, save_artifact
from precisionmed.artifacts import writer as writer_module
from precisionmed.errors import ArtifactError

CARD = ModelCard(title="t", intended_use="tests of the writer", training_data="none")


def save_model(staging: Path, value: float, *, extra: str | None = None) -> None:
    """A model whose weights and metrics both carry ``value`` (so a mix would show)."""
    (staging / "roc.png").write_bytes(b"plot of run %d" % int(value))
    if extra:
        (staging / extra).write_text("only in this run")
    save_artifact(
        staging, kind="test-linear", pillar="imaging", config={"run": value},
        metrics={"run": value}, card=CARD, state_dict={"w": torch.full((4,), value)},
    )  # fmt: skip


def write(out: Path, value: float, *, overwrite: bool = False, extra: str | None = None) -> Path:
    with ModelWriter(out, overwrite=overwrite) as writer:
        save_model(writer.staging, value, extra=extra)
    return writer.path


def assert_model(out: Path, value: float) -> str:
    artifact = read_artifact(out)
    assert artifact.metrics["run"] == artifact.config["run"] == value
    torch.testing.assert_close(artifact.state_dict()["w"], torch.full((4,), value))
    return artifact.version


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def test_a_new_model_appears_complete_and_leaves_only_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "model"  # parents are created
    with ModelWriter(out) as writer:
        assert writer.staging.parent == out.parent
        assert writer.staging.name.startswith(".model.tmp-")
        assert not out.exists()  # nothing at the path until the model is complete
        save_model(writer.staging, 1.0)
    assert writer.path == out.absolute()
    assert_model(out, 1.0)
    assert siblings(out) == [".model.lock"]


def test_an_existing_model_is_refused_without_overwrite(tmp_path: Path) -> None:
    out = write(tmp_path / "model", 1.0)
    version = assert_model(out, 1.0)
    with pytest.raises(ArtifactError, match=r"model: already holds a model; use --overwrite"):
        write(out, 2.0)
    assert assert_model(out, 1.0) == version


def test_overwrite_replaces_every_file_old_ones_included(tmp_path: Path) -> None:
    out = write(tmp_path / "model", 1.0, extra="shap_summary.png")
    old = assert_model(out, 1.0)
    write(out, 2.0, overwrite=True)
    assert assert_model(out, 2.0) != old
    assert not (out / "shap_summary.png").exists()  # not certified into the new model
    assert siblings(out) == [".model.lock"]


def test_a_failure_during_training_leaves_the_old_model_untouched(tmp_path: Path) -> None:
    out = write(tmp_path / "model", 1.0)
    version = assert_model(out, 1.0)

    def train_and_fail() -> None:
        with ModelWriter(out, overwrite=True) as w:
            (w.staging / "roc.png").write_bytes(b"half a run")
            raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        train_and_fail()
    assert assert_model(out, 1.0) == version
    assert siblings(out) == [".model.lock"]


def test_leaving_without_saving_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    out = write(tmp_path / "model", 1.0)
    with pytest.raises(ArtifactError, match=r"nothing was saved"), ModelWriter(out, overwrite=True):
        pass
    assert_model(out, 1.0)


def test_a_second_writer_fails_at_once_naming_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with ModelWriter(out, overwrite=True) as first:
        with pytest.raises(ArtifactError, match=r"model: another process is writing a model"):
            ModelWriter(out, overwrite=True).__enter__()
        save_model(first.staging, 1.0)
    assert_model(out, 1.0)
    write(out, 2.0, overwrite=True)  # the lock is free again
    assert_model(out, 2.0)


@pytest.mark.parametrize("under", ["file.txt/model", "file.txt/deeper/model", "file.txt"])
def test_an_out_path_under_or_at_a_file_fails_before_training(tmp_path: Path, under: str) -> None:
    (tmp_path / "file.txt").write_text("a user's file")
    with pytest.raises(ArtifactError, match=r"file\.txt.* is a file"):
        ModelWriter(tmp_path / under, overwrite=True).__enter__()
    assert (tmp_path / "file.txt").read_text() == "a user's file"


def test_a_folder_of_other_files_is_not_replaced_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    with pytest.raises(ArtifactError, match=r"notes: is a folder with other files .*--overwrite"):
        write(out, 1.0)
    assert (out / "thesis.docx").read_text() == "years of work"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_model(write(empty, 1.0), 1.0)  # an empty folder is fine


def test_leftover_staging_folders_are_ignored_and_cleaned(tmp_path: Path) -> None:
    out = write(tmp_path / "model", 1.0)
    stale = tmp_path / ".model.tmp-99999-deadbeef"
    stale.mkdir()
    save_model(stale, 7.0)  # even a complete one is never read in place of the model
    assert_model(out, 1.0)
    write(out, 2.0, overwrite=True)
    assert not stale.exists()
    assert_model(out, 2.0)


def test_without_renameat2_the_fallback_swap_and_its_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_exchange", lambda a, b: False)
    out = write(tmp_path / "model", 1.0)
    write(out, 2.0, overwrite=True)
    assert_model(out, 2.0)
    assert siblings(out) == [".model.lock"]
    # A kill between the two renames of the fallback: the old model waits aside.
    aside = tmp_path / ".model.old-4242-cafe0000"
    out.rename(aside)
    with pytest.raises(ArtifactError, match=r"save into it was interrupted .* \(mv '.*model.old-"):
        read_artifact(out)
    with pytest.raises(ArtifactError, match=r"already holds a model"):
        write(out, 3.0)  # the next writer first puts the old model back
    assert_model(out, 2.0)


def test_other_ranks_of_a_distributed_run_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = write(tmp_path / "model", 1.0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with ModelWriter(out) as writer:  # no refusal, no lock: rank 0 owns the path
        assert writer.staging.parent != out.parent
        save_model(writer.staging, 2.0)
    assert not writer.staging.exists()
    assert_model(out, 1.0)


def test_the_manifest_records_files_in_sub_folders(tmp_path: Path) -> None:
    with ModelWriter(tmp_path / "model") as writer:
        (writer.staging / "member-0").mkdir()
        (writer.staging / "member-0" / "metrics.csv").write_text("epoch,loss\n0,1.0\n")
        save_model(writer.staging, 1.0)
    files = json.loads((writer.path / "manifest.json").read_text())["files"]
    assert "member-0/metrics.csv" in files
    (writer.path / "member-0" / "metrics.csv").write_text("epoch,loss\n0,0.1\n")
    with pytest.raises(ArtifactError, match=r"member-0/metrics\.csv: sha256 .* differs"):
        read_artifact(writer.path)


def test_an_output_inside_a_model_directory_is_refused(tmp_path):
    from precisionmed.artifacts import check_outside_model_dir
    from precisionmed.errors import ConfigError

    model = tmp_path / "model"
    model.mkdir()
    check_outside_model_dir(tmp_path / "model-evaluation", model)  # beside it: fine
    check_outside_model_dir(tmp_path / "modelx" / "heatmap.png", model)  # a name prefix only
    for inside in (model, model / "heatmap.png", model / "eval" / "x"):
        with pytest.raises(ConfigError, match="inside the model directory"):
            check_outside_model_dir(inside, model)
