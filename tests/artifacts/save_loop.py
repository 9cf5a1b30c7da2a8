"""Save models into one path over and over, until killed: run by ``test_kill.py``.

``python tests/artifacts/save_loop.py OUT FIRST [POINT]``: saves runs FIRST, FIRST+1, ... into
OUT with ``ModelWriter(OUT, overwrite=True)``; run ``r`` has 8 MB of weights equal to ``r``, its
metrics and config say ``r``, and a plot and a sub-folder are written first, as training does.
Prints ``ready`` once imported, then ``saved r`` after each commit. With POINT, the process
SIGKILLs itself at that step of the first save (see :data:`POINTS`).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from precisionmed.artifacts import ModelCard, ModelWriter, save_artifact, store, writer

CARD = ModelCard(title="kill test", intended_use="tests", training_data="none")


def save_run(out: Path, run: int) -> None:
    with ModelWriter(out, overwrite=True) as writer:
        (writer.staging / "training_curve.png").write_bytes(bytes([run % 256]) * 200_000)
        (writer.staging / "member-0").mkdir()
        (writer.staging / "member-0" / "metrics.csv").write_text(f"run\n{run}\n")
        save_artifact(
            writer.staging, kind="test-linear", pillar="imaging", config={"run": run},
            metrics={"run": run}, card=CARD,
            state_dict={"w": torch.full((2_000_000,), float(run))},
        )  # fmt: skip


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def after(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        func(*args, **kwargs)
        die()

    return wrapped


def before(_: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *args, **kwargs: die()


def half_removed(path: Any, **_: Any) -> None:
    """Remove one file of the tree, then die: a kill in the middle of the clean-up."""
    for dirpath, _dirs, files in os.walk(path):
        if files:
            os.unlink(os.path.join(dirpath, files[0]))
            break
    die()


def fallback_killed_between_renames() -> None:
    writer._exchange = lambda a, b: False  # type: ignore[attr-defined]
    rename, calls = os.rename, []

    def counted(src: Any, dst: Any) -> None:
        calls.append(src)
        if len(calls) == 2:  # old model renamed aside, the new one not yet in place
            die()
        rename(src, dst)

    writer.os.rename = counted  # type: ignore[attr-defined]


POINTS: dict[str, Callable[[], None]] = {
    "weights": lambda: setattr(store, "save_file", after(store.save_file)),
    "manifest": lambda: setattr(store, "manifest_bytes", before(store.manifest_bytes)),
    "swap": lambda: setattr(writer, "_exchange", before(writer._exchange)),
    "swapped": lambda: setattr(writer, "_exchange", after(writer._exchange)),
    "cleanup": lambda: setattr(writer.shutil, "rmtree", half_removed),
    "fallback": fallback_killed_between_renames,
}


if __name__ == "__main__":
    out, run = Path(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3:
        POINTS[sys.argv[3]]()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        save_run(out, run)
        sys.stdout.write(f"saved {run}\n")
        sys.stdout.flush()
        run += 1
