"""Reports with NumPy/torch values and paths serialise to plain JSON (artefacts and --json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from precisionmed.jsonable import json_default


def test_scalars_arrays_and_paths_become_plain_json() -> None:
    report = {
        "auc": np.float32(0.5),
        "n": np.int64(3),
        "probs": np.array([0.25, 0.75]),
        "t": torch.tensor(2.0),
        "logits": torch.tensor([[1.0, 2.0]]),
        "file": Path("a/b.png"),
    }
    assert json.loads(json.dumps(report, default=json_default)) == {
        "auc": 0.5,
        "n": 3,
        "probs": [0.25, 0.75],
        "t": 2.0,
        "logits": [[1.0, 2.0]],
        "file": "a/b.png",
    }


def test_anything_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json.dumps({"x": object()}, default=json_default)
