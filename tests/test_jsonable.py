"""Reports with NumPy/torch values and paths serialise to plain JSON (artefacts and --json);
``--json`` output is strict JSON, undefined numbers as null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from precisionmed.cli.state import print_json
from precisionmed.jsonable import finite_or_null, json_default


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


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_writes_undefined_numbers_as_null(capsys) -> None:
    # chem evaluate on acyclic molecules: Scaf/Test is NaN (no scaffolds to compare)
    report = {
        "metrics": {"valid": 1.0, "Scaf/Test": float("nan"), "ratio": float("inf")},
        "bounds": np.array([np.nan, 0.5]),
        "se": np.float32("nan"),
        "t": torch.tensor(float("-inf")),
        "rows": [(1, float("nan")), "NaN"],
        "file": Path("x.smi"),
    }
    print_json(report)
    assert _strict(capsys.readouterr().out) == {
        "metrics": {"valid": 1.0, "Scaf/Test": None, "ratio": None},
        "bounds": [None, 0.5],
        "se": None,
        "t": None,
        "rows": [[1, None], "NaN"],
        "file": "x.smi",
    }


def test_finite_values_pass_unchanged() -> None:
    value = {"a": [1, 2.5, "b", None, True], "c": np.int64(4)}
    assert finite_or_null(value) == {"a": [1, 2.5, "b", None, True], "c": 4}
