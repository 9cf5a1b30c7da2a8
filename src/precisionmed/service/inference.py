"""The production models the service runs, found in the models directory.

Each sub-folder of ``models_dir`` that holds a ``manifest.json`` is a model directory. Its files
are checked (:func:`precisionmed.artifacts.read_artifact`) when the folder is scanned; the
predictor is built with :func:`precisionmed.load` the first time a case needs it and kept,
keyed by the model's version, so a model directory replaced on disk is picked up by the next
scan without a restart. The service adds no model code: it only calls ``predict``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precisionmed.errors import ArtifactError
from precisionmed.predict import PredictionRecord


@dataclass(frozen=True)
class ServedModel:
    """One model directory as the service sees it.

    Attributes
    ----------
    name : str
        The folder's name.
    version : str
        sha256 of its manifest.
    kind, pillar : str
        From ``config.json`` (``"image-classifier"``, ``"imaging"``...).
    input_kind : str
        ``"image"``, ``"table"``, ``"molecule"`` or ``"sequence"`` (its ``input_spec``).
    path : Path
    columns : tuple of str
        Table models: the input columns.
    metrics : dict or None
        ``metrics.json`` when present.
    """

    name: str
    version: str
    kind: str
    pillar: str
    input_kind: str
    path: Path
    columns: tuple[str, ...] = ()
    metrics: dict[str, Any] | None = None


class ModelCatalog:
    """The models of one models directory, with their predictors built on demand.

    Parameters
    ----------
    models_dir : Path or None
        Folder of model directories; None serves no model.
    """

    def __init__(self, models_dir: Path | None) -> None:
        self.models_dir = models_dir
        self._predictors: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._scanned: dict[Path, tuple[tuple[int, int], ServedModel]] = {}

    def scan(self) -> list[ServedModel]:
        """The valid model directories now in ``models_dir``, by name.

        Raises
        ------
        ArtifactError
            A model directory is damaged (a file differs from its manifest).
        """
        if self.models_dir is None or not self.models_dir.is_dir():
            return []
        found = []
        for sub in sorted(p for p in self.models_dir.iterdir() if p.is_dir()):
            manifest = sub / "manifest.json"
            if not manifest.is_file():
                continue
            stat = manifest.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            cached = self._scanned.get(sub)
            if cached is not None and cached[0] == stamp:
                found.append(cached[1])
                continue
            model = _read_model(sub)
            self._scanned[sub] = (stamp, model)
            found.append(model)
        return found

    def applicable(self, input_kind: str) -> list[ServedModel]:
        """Models that take this kind of input: ``"image"`` -> image classifiers and
        segmenters, ``"record"`` -> table models."""
        wanted = "table" if input_kind == "record" else input_kind
        return [m for m in self.scan() if m.input_kind == wanted]

    def _loaded(self, model: ServedModel) -> tuple[Any, threading.Lock]:
        """The predictor of ``model`` (built once per version) and its lock."""
        key = (model.name, model.version)
        with self._guard:
            if key not in self._predictors:
                import precisionmed

                predictor = precisionmed.load(model.path)
                if predictor.model_version != model.version:
                    raise ArtifactError(
                        f"{model.path}: changed while it was loaded (manifest sha256 "
                        f"{model.version[:12]} scanned, {str(predictor.model_version)[:12]} loaded)"
                    )
                # an older version of the same model is dropped (a promotion replaced it)
                self._predictors = {k: v for k, v in self._predictors.items() if k[0] != key[0]}
                self._locks = {k: v for k, v in self._locks.items() if k[0] != key[0]}
                self._predictors[key] = predictor
                self._locks[key] = threading.Lock()
            return self._predictors[key], self._locks[key]

    def predict(self, model: ServedModel, inputs: Any) -> list[PredictionRecord]:
        """``model``'s records for ``inputs`` (one predict call at a time per model)."""
        predictor, lock = self._loaded(model)
        with lock:
            return list(predictor.predict(inputs))


def _read_model(sub: Path) -> ServedModel:
    """Check a model directory's files and describe it."""
    import json

    from precisionmed.artifacts import read_artifact

    artifact = read_artifact(sub)
    cfg = artifact.config
    spec = cfg.get("input_spec") or {}
    input_kind = str(spec.get("kind") or "image")
    columns = tuple(c["name"] for c in spec.get("columns", ())) if spec else ()
    metrics_file = sub / "metrics.json"
    metrics = None
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
    return ServedModel(
        name=sub.name,
        version=str(artifact.version),
        kind=str(cfg.get("kind", "")),
        pillar=str(cfg.get("pillar", "")),
        input_kind=input_kind,
        path=sub,
        columns=columns,
        metrics=metrics if isinstance(metrics, dict) else None,
    )
