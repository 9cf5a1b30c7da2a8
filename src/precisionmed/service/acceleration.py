"""Faster serving: image classifiers run by ONNX Runtime, torch as the fallback.

The network is exported from the loaded predictor's public objects only
(:meth:`~precisionmed.imaging.classifier.ImageClassifier.exportable_network`, which returns the
logits and the out-of-distribution guard's features in one pass) with torch's exporter, cached as
``onnx_dir/NAME-VERSION.onnx`` (keyed by the model version; never inside the model directory,
whose manifest refuses unlisted files), checked against torch on a few images and then set as the
predictor's :attr:`runtime`. Torch stays in use, with the reason logged and shown on ``/models``,
when onnxruntime (or onnx/onnxscript) is not installed, when the predictor has no exportable
network (segmenters, table models), when the export fails or when the two disagree.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("precisionmed.service")

#: Largest difference of logits or features allowed between ONNX Runtime and torch at export.
PARITY_TOLERANCE = 1e-4
#: Images of the export check (random intensities in [0, 1]; also the traced batch size).
CHECK_BATCH = 3


@dataclass(frozen=True)
class Backend:
    """How a model is run: ``name`` ("onnxruntime" or "torch") and why (``reason``)."""

    name: str
    reason: str


def accelerate(predictor: Any, name: str, version: str, onnx_dir: Path | None) -> Backend:
    """Serve ``predictor`` with ONNX Runtime when possible; say which backend runs it.

    Parameters
    ----------
    predictor : Predictor
        A loaded predictor; only image classifiers (``exportable_network``) are exported.
    name, version : str
        The model's name and version (sha256 of its manifest): the cache file's name.
    onnx_dir : Path or None
        Where exported networks are cached; None keeps torch.

    Returns
    -------
    Backend
        ``onnxruntime`` (``predictor.runtime`` set) or ``torch`` with the reason.
    """
    if onnx_dir is None:
        return Backend("torch", "ONNX Runtime disabled (PRECISIONMED_INFERENCE_BACKEND=torch)")
    if not hasattr(predictor, "exportable_network") or not hasattr(predictor, "runtime"):
        return Backend("torch", f"no ONNX export for {type(predictor).__name__}")
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("model %s: onnxruntime is not installed; serving with torch", name)
        return Backend("torch", "onnxruntime is not installed")
    path = onnx_dir / f"{name}-{version[:16]}.onnx"
    shape = (CHECK_BATCH, predictor.n_channels, *predictor.input_size)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    try:
        if not path.is_file():
            _export(predictor.exportable_network(), x, path)
        options = ort.SessionOptions()
        # one thread per call: the service runs requests side by side, and a 28 px network gains
        # nothing from splitting one small batch across cores that other requests are using
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        runtime = _Runtime(session)
        _check_parity(predictor, runtime, x)
    except Exception as exc:  # any export/runtime failure: keep serving with torch
        reason = f"ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        log.warning("model %s: %s; serving with torch", name, reason)
        return Backend("torch", reason)
    predictor.runtime = runtime
    log.info("model %s: served with ONNX Runtime from %s", name, path.name)
    return Backend("onnxruntime", f"exported to {path.name}, checked against torch")


class _Runtime:
    """An ONNX Runtime session with the predictor's runtime signature."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        logits, *features = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})
        return [f.astype(np.float64) for f in features], logits


def _export(module: Any, x: np.ndarray, path: Path) -> None:
    """Export ``module`` with a dynamic batch size to ``path`` (written whole, then renamed, so
    another worker never reads half a file)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings():
        # the exporter's own deprecation notices are not ours to fix
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.from_numpy(x),),
            str(tmp),
            dynamo=True,
            input_names=["images"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
            external_data=False,  # one file: the tiny CNNs have no 2 GB weights
        )
    tmp.replace(path)


def _check_parity(predictor: Any, runtime: _Runtime, x: np.ndarray) -> None:
    """Raise ValueError unless ONNX Runtime gives torch's logits and features on ``x``."""
    import torch

    with torch.no_grad():
        logits, *features = predictor.exportable_network()(torch.from_numpy(x))
    o_features, o_logits = runtime(x)
    diffs = [float(np.abs(o_logits - logits.numpy()).max())]
    diffs += [
        float(np.abs(a - b.double().numpy()).max())
        for a, b in zip(o_features, features, strict=True)
    ]
    if max(diffs) > PARITY_TOLERANCE:
        raise ValueError(f"ONNX Runtime differs from torch by {max(diffs):.2g}")
