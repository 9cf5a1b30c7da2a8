"""skops loads only the types precisionmed writes: the list is complete, and a code chain fails."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import precisionmed
from precisionmed.artifacts import SKOPS_TRUSTED_TYPES, ModelCard, read_artifact, save_artifact
from precisionmed.artifacts.manifest import MANIFEST, manifest_bytes
from precisionmed.errors import ArtifactError
from tests.artifacts.skops_types_of_registry import written_types
from tests.conftest import require_dataset

CARD = ModelCard(title="t", intended_use="tests", training_data="breast cancer")


def _json(value: Any) -> dict[str, Any]:
    return {"__class__": type(value).__name__, "__module__": "builtins",
            "__loader__": "JsonNode", "content": json.dumps(value), "is_json": True}  # fmt: skip


def _call(module: str, name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """skops' node for ``module.name(*args)`` (how it stores objects rebuilt by a call)."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins",
                        "__loader__": "TupleNode", "content": list(args)}}  # fmt: skip


def crafted_skops(code: str) -> bytes:
    """A model.skops whose loading runs ``code``: numpy.full_like puts the code in an object
    array, numpy.take takes it out, numpy.testing's runstring executes it."""
    empty = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
             "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                          "__loader__": "ListNode", "content": []}}  # fmt: skip
    zero = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": [_json(0)]}  # fmt: skip
    chain = _call(
        "numpy.testing._private.utils", "runstring",
        _call("numpy", "take",
              _call("numpy", "full_like", zero, _json(code), _json("O")), _json(0)),
        empty,
    )  # fmt: skip
    schema = {**chain, "protocol": 2, "_skops_version": "0.16.0"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    return buffer.getvalue()


def test_the_crafted_file_runs_code_when_its_own_types_are_trusted(tmp_path: Path) -> None:
    # The control: what the former policy (trust every 'numpy.' type) did with this file.
    marker = tmp_path / "pwned"
    data = crafted_skops(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('x')")
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) == {
        "numpy.full_like",
        "numpy.take",
        "numpy.testing._private.utils.runstring",
    }
    sio.loads(data, trusted=untrusted)
    assert marker.exists()


def test_a_crafted_code_chain_with_valid_checksums_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    out = save_artifact(
        tmp_path / "model", kind="clinical-model", pillar="clinical", metrics={},
        config={"task": "classification", "input_schema": {}},
        card=CARD, estimator={"pipeline": LogisticRegression(max_iter=50).fit(X[:, :3], y)},
    )  # fmt: skip
    marker = tmp_path / "pwned"
    (out / "model.skops").write_bytes(
        crafted_skops(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('x')")
    )
    (out / MANIFEST).write_bytes(manifest_bytes(out))  # checksums valid: the list must refuse
    artifact = read_artifact(out)
    with pytest.raises(ArtifactError, match=r"model\.skops: holds types .*'numpy\.full_like'"):
        artifact.estimator()
    with pytest.raises(ArtifactError, match=r"runstring"):
        precisionmed.load(out)
    assert not marker.exists()


def test_a_type_named_in_the_model_config_is_not_trusted(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = save_artifact(
        tmp_path / "model", kind="clinical-model", pillar="clinical", metrics={}, card=CARD,
        config={"skops_trusted": ["numpy.full_like", "numpy.take",
                                  "numpy.testing._private.utils.runstring"]},
    )  # fmt: skip
    (out / "model.skops").write_bytes(
        crafted_skops(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('x')")
    )
    (out / MANIFEST).write_bytes(manifest_bytes(out))
    with pytest.raises(ArtifactError, match=r"will not load"):
        read_artifact(out).estimator()
    assert not marker.exists()


def test_the_list_is_exactly_the_types_the_registry_models_write() -> None:
    # Every clinical model, plain and behind the autoencoder with quantile scaling, on small
    # data: a model that writes a new type fails here instead of failing for users, and a type
    # no model writes any more is flagged so that the list does not grow stale.
    require_dataset("gbsg2")
    require_dataset("ihdp")
    require_dataset("deepsurv-sim-treatment")
    found = written_types()
    written = set().union(*found.values())
    missing = {name: sorted(types - SKOPS_TRUSTED_TYPES) for name, types in found.items()}
    assert not any(missing.values()), f"types written but not trusted: {missing}"
    assert written == SKOPS_TRUSTED_TYPES, f"stale: {sorted(SKOPS_TRUSTED_TYPES - written)}"
