"""kill -9 during a save into a folder holding a model leaves the old model or the new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from precisionmed.artifacts import read_artifact
from precisionmed.errors import ArtifactError
from tests.artifacts.save_loop import POINTS, save_run

SCRIPT = Path(__file__).with_name("save_loop.py")
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}


def assert_one_complete_run(out: Path) -> int:
    """The model at ``out`` loads and every file of it comes from the same run; its number."""
    artifact = read_artifact(out)
    run = artifact.config["run"]
    assert artifact.metrics["run"] == run
    assert (out / "member-0" / "metrics.csv").read_text() == f"run\n{run}\n"
    assert (out / "training_curve.png").read_bytes()[:1] == bytes([run % 256])
    torch.testing.assert_close(artifact.state_dict()["w"][-3:], torch.full((3,), float(run)))
    return int(run)


def start(out: Path, first: int, *point: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), str(out), str(first), *point],
        stdout=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def finish(proc: subprocess.Popen[str]) -> list[int]:
    """Wait for the (killed) process; the runs it reported saved."""
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert proc.stdout is not None
    saved = [int(line.split()[1]) for line in proc.stdout.read().splitlines()]
    proc.stdout.close()
    return saved


@pytest.mark.parametrize("point", [p for p in POINTS if p != "fallback"])
def test_a_kill_at_each_step_of_a_save_leaves_the_old_model_or_the_new(
    tmp_path: Path, point: str
) -> None:
    out = tmp_path / "model"
    save_run(out, 0)
    assert finish(start(out, 1, point)) == []
    run = assert_one_complete_run(out)
    # Until the swap the old model is there; from the swap on, the new one.
    assert run == (1 if point in ("swapped", "cleanup") else 0)
    save_run(out, 2)  # the next writer removes what the killed one left
    assert assert_one_complete_run(out) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]


def test_a_kill_inside_the_fallback_swap_says_how_to_recover(tmp_path: Path) -> None:
    # Where renameat2 is missing the old model is renamed aside first: a kill before the new
    # one is renamed in leaves no model at the path, and the message says where it is.
    out = tmp_path / "model"
    save_run(out, 0)
    assert finish(start(out, 1, "fallback")) == []
    with pytest.raises(ArtifactError, match=r"interrupted and the previous model waits at .*old"):
        read_artifact(out)
    save_run(out, 2)  # the next writer puts the old model back, then replaces it
    assert assert_one_complete_run(out) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]


def test_sigkill_at_random_moments_of_a_save_loop(tmp_path: Path) -> None:
    out = tmp_path / "model"
    save_run(out, 0)
    previous = 0
    for round_, delay in enumerate((0.03, 0.17, 0.41), start=1):
        first = 1000 * round_  # runs of this round: first, first + 1, ...
        proc = start(out, first)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        saved = finish(proc)
        assert saved == list(range(first, first + len(saved)))
        run = assert_one_complete_run(out)
        # the last run reported, or the one being committed (or just committed) at the kill
        assert run in ((saved[-1] if saved else previous), first + len(saved))
        previous = run
