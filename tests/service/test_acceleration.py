"""Serving speed: image classifiers run by ONNX Runtime (torch as the fallback), and image
predictions that queue batched; on the session's 28 px BreastMNIST CNN and real images."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.service.conftest import Api, upload

pytest.importorskip("onnxruntime", reason="the service extra's onnxruntime is not installed")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Eight BreastMNIST validation images written as PNG files."""
    from PIL import Image

    from precisionmed.imaging import load_classification_data

    x = load_classification_data("breastmnist", subset=8).arrays["val"][0]
    root = tmp_path_factory.mktemp("pngs")
    paths = []
    for i, image in enumerate(x):
        paths.append(root / f"image{i}.png")
        Image.fromarray((image[0] * 255).round().astype(np.uint8)).save(paths[-1])
    return paths


def _load(models_dir: Path) -> Any:
    import precisionmed

    return precisionmed.load(models_dir / "breast")


def test_onnx_runtime_gives_torchs_probabilities_and_is_cached_outside_the_model_dir(
    models_dir: Path, images: list[Path], tmp_path: Path
) -> None:
    from precisionmed.service.acceleration import accelerate

    torch_model, onnx_model = _load(models_dir), _load(models_dir)
    version = onnx_model.model_version
    backend = accelerate(onnx_model, "breast", version, tmp_path / "onnx")
    assert backend.name == "onnxruntime", backend.reason
    (cached,) = (tmp_path / "onnx").iterdir()
    assert cached.name == f"breast-{version[:16]}.onnx"
    assert not list((models_dir / "breast").glob("*.onnx"))

    expected = torch_model.predict(images)
    got = onnx_model.predict(images)
    for a, b in zip(expected, got, strict=True):
        assert a.input == b.input
        assert a.prediction == b.prediction
        np.testing.assert_allclose(list(b.values.values()), list(a.values.values()), atol=1e-5)
        assert b.ood_score == pytest.approx(a.ood_score, rel=1e-4)

    # a second load reuses the cached export of this version
    stamp = cached.stat().st_mtime_ns
    assert accelerate(_load(models_dir), "breast", version, tmp_path / "onnx").name == "onnxruntime"
    assert cached.stat().st_mtime_ns == stamp


def test_torch_serves_when_onnxruntime_is_absent_or_the_model_cannot_be_exported(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from precisionmed.service.acceleration import accelerate

    model = _load(models_dir)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    backend = accelerate(model, "breast", model.model_version, tmp_path / "onnx")
    assert (backend.name, backend.reason) == ("torch", "onnxruntime is not installed")
    assert model.runtime is None
    assert "onnxruntime is not installed; serving with torch" in caplog.text
    monkeypatch.undo()

    # an export that fails (here: an unwritable cache folder) keeps torch, with the reason
    blocker = tmp_path / "file"
    blocker.write_text("")
    backend = accelerate(model, "breast", model.model_version, blocker / "onnx")
    assert backend.name == "torch"
    assert backend.reason.startswith("ONNX export failed (")
    assert model.runtime is None


def test_concurrent_predictions_are_batched_and_each_request_gets_its_own_answer(
    models_dir: Path, images: list[Path]
) -> None:
    from precisionmed.errors import DataFormatError
    from precisionmed.service.batching import MicroBatcher

    model = _load(models_dir)
    expected = {r.input: r.values for r in model.predict(images)}
    batcher = MicroBatcher(model.predict, max_batch=8, max_wait_s=0.2)

    def ask_together(paths: list[Path]) -> list[Any]:
        answers: list[Any] = [None] * len(paths)
        start = threading.Barrier(len(paths))

        def ask(i: int) -> None:
            start.wait()
            try:
                answers[i] = batcher.predict([paths[i]])
            except Exception as exc:
                answers[i] = exc

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(paths))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return answers

    for path, (record,) in zip(images, ask_together(images), strict=True):
        assert record.input == str(path)
        assert record.values == pytest.approx(expected[str(path)], abs=1e-6)  # float32, any batch
    assert max(batcher.batch_sizes) > 1  # requests that queued were predicted together

    # a bad upload in a batch fails its own request only
    bad = images[0].with_name("bad.png")
    bad.write_bytes(b"not a png")
    *good, failed = ask_together([*images[:3], bad])
    assert [r.input for (r,) in good] == [str(p) for p in images[:3]]
    assert isinstance(failed, DataFormatError)
    assert "bad.png" in str(failed)
    batcher.close()


def test_the_service_reports_its_backend_and_answers_concurrent_cases(
    make_app: Any, images: list[Path]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api = Api(make_app(batch_max_size=8, batch_max_wait_ms=50, rate_limit_burst=100))
    doc = api.add_user("doc", "clinician")
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda p: api.client.post(
                    "/cases", headers=doc, files=upload(p.name, p.read_bytes())
                ),
                images[:4],
            )
        )
    direct = {r.input: r.values for r in _load(api.app.state.settings.models_dir).predict(images)}
    for path, response in zip(images[:4], responses, strict=True):
        assert response.status_code == 201, response.text
        (prediction,) = [p for p in response.json()["predictions"] if p["model_name"] == "breast"]
        assert prediction["record"]["values"] == pytest.approx(direct[str(path)], abs=1e-5)
    models = {m["name"]: m for m in api.client.get("/models", headers=doc).json()}
    assert models["breast"]["backend"] == "onnxruntime"
