"""``--out`` of ``clinical train`` / ``imaging train``: checked before training, never mixed,
replaced only with ``--overwrite``; ``predict`` / ``evaluate`` show the model's version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import precisionmed
from precisionmed.artifacts import read_artifact
from precisionmed.cli.main import app, main
from tests.conftest import require_dataset

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
COX = ["clinical", "train", "--dataset", "gbsg2", "--model", "coxph", "--n-boot", "20",
       "--interval-models", "2"]  # fmt: skip


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> str:
    """Run the real entry point; expect exit code 1; return its stderr."""
    monkeypatch.setattr(sys, "argv", ["precisionmed", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    return capsys.readouterr().err.replace("\n", "")


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any training that starts fails the test: the checks must come first."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started")

    import precisionmed.clinical.training as clinical
    import precisionmed.train.steps as steps

    monkeypatch.setattr(clinical, "make_pipeline", fail)
    monkeypatch.setattr(steps, "fit", fail)  # the engine, as every pillar's members train


@pytest.mark.parametrize(
    "args",
    [
        [*COX, "--no-explain"],
        ["imaging", "train", "--dataset", "breastmnist", "--subset", "16", "--max-epochs", "1"],
    ],
)
def test_an_unusable_out_fails_in_one_line_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    no_training: None, args: list[str],
) -> None:  # fmt: skip
    require_dataset("gbsg2" if args[0] == "clinical" else "breastmnist")
    (tmp_path / "file.txt").write_text("not a folder")
    # root ignores permissions, so a path under a regular file is the unwritable --out here
    err = run_main(monkeypatch, capsys, *args, "--out", str(tmp_path / "file.txt" / "model"))
    assert err.startswith("error: ")
    assert "file.txt is a file, not a folder; choose another --out" in err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A coxph model trained with its SHAP plots."""
    require_dataset("gbsg2")
    out = tmp_path_factory.mktemp("dirs") / "cox"
    result = runner.invoke(app, [*COX, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert (out / "shap_summary.png").is_file()
    return out


def test_a_second_training_needs_overwrite_and_then_leaves_no_old_file(
    explained: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    old = read_artifact(explained).version
    with monkeypatch.context() as patch:
        patch.setattr("precisionmed.clinical.training.make_pipeline", _fail)
        err = run_main(patch, capsys, *COX, "--no-explain", "--out", str(explained))
    assert err == f"error: {explained}: already holds a model; use --overwrite (overwrite=True) " \
        "to replace it, or choose another --out."  # fmt: skip
    assert read_artifact(explained).version == old
    result = runner.invoke(app, [*COX, "--no-explain", "--overwrite", "--out", str(explained)])
    assert result.exit_code == 0, result.output
    new = read_artifact(explained)
    assert new.version != old
    assert not list(explained.glob("shap_*"))  # the old run's plots are not certified as new
    assert "permutation_importance" not in new.metrics
    assert sorted(p.name for p in explained.parent.iterdir()) == [".cox.lock", "cox"]


def _fail(*args: object, **kwargs: object) -> None:
    raise AssertionError("training started")


def test_predict_and_evaluate_show_the_model_version(explained: Path, tmp_path: Path) -> None:
    version = read_artifact(explained).version
    assert precisionmed.load(explained).model_version == version
    from precisionmed.data import load_dataset

    csv = tmp_path / "patients.csv"
    load_dataset("gbsg2").X.head(2).to_csv(csv, index=False)
    records = json.loads(runner.invoke(app, ["clinical", "predict", str(explained), str(csv),
                                             "--json"]).stdout)  # fmt: skip
    assert [r["model_version"] for r in records] == [version, version]
    human = runner.invoke(app, ["clinical", "predict", str(explained), str(csv)]).output
    assert f"version {version[:12]}" in human
    args = ["clinical", "evaluate", str(explained), "--dataset", "gbsg2", "--n-boot", "20"]
    assert json.loads(runner.invoke(app, [*args, "--json"]).stdout)["model_version"] == version
    assert f"(version {version[:12]})" in runner.invoke(app, args).output


def test_two_trainings_into_one_out_at_once_leave_one_complete_model(tmp_path: Path) -> None:
    require_dataset("gbsg2")
    out, go = tmp_path / "model", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    procs = []
    for alpha in ("0.1", "100"):  # two runs whose models differ
        args = [*COX, "--interval-models", "3", "--n-boot", "100", "--no-explain",
                "--param", f"alpha={alpha}", "--overwrite", "--out", str(out),
                "--json"]  # fmt: skip
        proc = subprocess.Popen(  # noqa: S603 - our own script
            [sys.executable, str(REPO / "tests" / "cli" / "train_on_signal.py"), str(go), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        procs.append(proc)
    go.touch()
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    winner = next(json.loads(stdout) for code, stdout, _ in results if code == 0)
    (loser_err,) = [stderr for code, _, stderr in results if code == 1]
    assert loser_err.replace("\n", "") == (
        f"error: {out}: another process is writing a model there (lock {tmp_path}/.model.lock "
        "is held); wait for it to finish or choose another --out."
    )
    # One complete model, its weights and metrics from the same (winning) run.
    predictor = precisionmed.load(out)
    artifact = read_artifact(out)
    assert artifact.metrics["test"] == winner["test"]
    from precisionmed.clinical.training import evaluate_saved_model
    from precisionmed.data import load_dataset

    again = evaluate_saved_model(predictor, load_dataset("gbsg2"), n_boot=20)
    assert again["c_index_harrell"]["value"] == pytest.approx(
        artifact.metrics["test"]["c_index_harrell"]["value"], abs=1e-12
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "go", "model"]
