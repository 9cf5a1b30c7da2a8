"""Two-process DDP on CPU (gloo): both ranks finish with the same weights, rank 0 saves them.

DDP re-launches the running command once per extra rank, so the training runs in a script
(``ddp_script.py``) started as a subprocess; Lightning picks a free port for the rendezvous.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from precisionmed.artifacts import read_artifact
from tests.conftest import require_dataset
from tests.train.tiny import state_hash

SCRIPT = Path(__file__).with_name("ddp_script.py")
REPO = Path(__file__).resolve().parents[2]


def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    require_dataset("breastmnist")
    env = {
        **os.environ,
        # Warnings are errors in the ranks too (as in pytest), except library deprecations.
        "PYTHONWARNINGS": "error,ignore::DeprecationWarning,ignore::PendingDeprecationWarning",
    }
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert [r["is_global_zero"] for r in reports] == [True, False]
    # Both ranks end with identical weights (the best epoch's, restored on every rank) ...
    assert reports[0]["state_sha256"] == reports[1]["state_sha256"]
    assert reports[0]["best_epoch"] == reports[1]["best_epoch"]
    # ... and the saved model is exactly what rank 0 reported.
    artifact = read_artifact(tmp_path / "model")
    assert state_hash(artifact.state_dict()) == reports[0]["state_sha256"]
    assert (
        state_hash(load_file(tmp_path / "model" / "model.safetensors"))
        == reports[0]["state_sha256"]
    )
    # Validation metrics cover the whole validation set once (77 images: one rank's shard is
    # padded by the sampler), equal on both ranks, and equal to a single-process recomputation.
    for report in reports:
        assert report["eval_sizes"] == {"val": 77, "test": 156}
        assert report["val_metrics"]["val_n"] == 77
        assert report["test_metrics"]["test_n"] == 156
    assert reports[0]["val_metrics"] == reports[1]["val_metrics"]
    recomputed = reports[0]["val_recomputed"]
    for key, value in recomputed.items():
        assert reports[0]["val_metrics"][key] == pytest.approx(value, rel=1e-5)
    # Only rank 0 writes the history files.
    assert (tmp_path / "run" / "metrics.csv").is_file()
