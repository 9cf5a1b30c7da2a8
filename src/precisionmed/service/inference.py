"""The production models the service runs: the registry's, with the models directory as fallback.

Each sub-folder of ``models_dir`` that holds a ``manifest.json`` is a model directory, registered
in ``model_versions`` when first seen (:func:`precisionmed.service.registry.sync_models_dir`).
Each scan (once per request) reads the production version of every name from the registry (one
query of three columns), so a promotion, or a model directory replaced on disk, is served from
the next request without a restart; a directory is described again only when its manifest's
size or modification time changed, and registered only when its version is new. A directory's
files are checked (:func:`precisionmed.artifacts.read_artifact`) when it is first described
(and again when its manifest changes); the predictor is built with :func:`precisionmed.load`
the first time a case needs it and kept, keyed by the model's version. The service adds no
model code: it only calls ``predict``. Image classifiers are run by ONNX Runtime when possible
(:mod:`precisionmed.service.acceleration`), and image predictions that queue are batched
(:mod:`precisionmed.service.batching`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precisionmed.errors import ArtifactError
from precisionmed.predict import PredictionRecord
from precisionmed.service.acceleration import Backend, accelerate
from precisionmed.service.batching import MicroBatcher


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
        ``"image"``, ``"table"``, ``"molecule"``, ``"sequence"``, ``"vcf"`` (its ``input_spec``)
        or ``"none"`` (a generator).
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
    spatial_dims: int | None = None


class ModelCatalog:
    """The models of one models directory, with their predictors built on demand.

    Parameters
    ----------
    models_dir : Path or None
        Folder of model directories (the fallback); None adds none.
    sessions : callable, optional
        A session factory of the service database: the registry decides what is production.
        Without it every model of ``models_dir`` is served.
    drift : DriftMonitor, optional
        Told the model input of every image file and patient record predicted
        (:class:`~precisionmed.service.drift.DriftMonitor`).
    onnx_dir : Path, optional
        Cache of exported networks; image classifiers are then run by ONNX Runtime where
        possible. None: torch.
    max_batch : int
        Largest batch of queued image predictions of one model (1: no batching).
    max_wait_s : float
        How long a prediction waits for others to batch with (seconds).
    """

    def __init__(
        self,
        models_dir: Path | None,
        sessions: Any = None,
        drift: Any = None,
        *,
        onnx_dir: Path | None = None,
        max_batch: int = 1,
        max_wait_s: float = 0.0,
    ) -> None:
        self.models_dir = models_dir
        self.sessions = sessions
        self.drift = drift
        self.onnx_dir = onnx_dir
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._predictors: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._backends: dict[tuple[str, str], Backend] = {}
        self._batchers: dict[tuple[str, str], MicroBatcher] = {}
        self._guard = threading.Lock()
        self._scanned: dict[tuple[Path, str], tuple[tuple[int, int], ServedModel]] = {}
        self._registered: set[tuple[str, str]] = set()

    def scan(self) -> list[ServedModel]:
        """The production models now served, by name.

        Raises
        ------
        ArtifactError
            A model directory is damaged (a file differs from its manifest), or a registered
            version's directory changed since it was registered.
        """
        found = self._scan_dir()
        if self.sessions is None:
            return found
        from sqlalchemy import select
        from sqlalchemy.exc import IntegrityError

        from precisionmed.service.models import ModelVersion
        from precisionmed.service.registry import RegistryError, sync_models_dir

        with self.sessions() as session:
            # registering is needed only for a directory version this catalog has not yet seen
            # registered (rows are never deleted), so most requests skip it
            if any((m.name, m.version) not in self._registered for m in found):
                try:
                    if sync_models_dir(session, found):
                        session.commit()
                except (IntegrityError, RegistryError):
                    # A concurrent request or worker registered the same version first: either
                    # its row was committed before our check (RegistryError: "registered
                    # already") or between our check and our insert (the unique constraint).
                    # Its row serves.
                    session.rollback()
                else:
                    self._registered.update((m.name, m.version) for m in found)
            # three columns, not the whole rows (their JSON metrics and checksums)
            rows = session.execute(
                select(ModelVersion.name, ModelVersion.version, ModelVersion.path)
                .where(ModelVersion.stage == "production")
                .order_by(ModelVersion.name)
            ).all()
        served = []
        for name, version, path_text in rows:
            path = Path(path_text)
            if not (path / "manifest.json").is_file():
                continue
            model = self._describe(path, name)
            if model.version != version:
                raise ArtifactError(
                    f"{path}: model {name!r} changed on disk since it was registered "
                    f"(version {version[:12]} registered, {model.version[:12]} found)"
                )
            served.append(model)
        return served

    def _scan_dir(self) -> list[ServedModel]:
        """The valid model directories now in ``models_dir``, by name."""
        if self.models_dir is None or not self.models_dir.is_dir():
            return []
        return [
            self._describe(sub, sub.name)
            for sub in sorted(p for p in self.models_dir.iterdir() if p.is_dir())
            if (sub / "manifest.json").is_file()
        ]

    def _describe(self, path: Path, name: str) -> ServedModel:
        """``path`` described (cached while its manifest is unchanged)."""
        stat = (path / "manifest.json").stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._scanned.get((path, name))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        model = _read_model(path, name)
        self._scanned[(path, name)] = (stamp, model)
        return model

    def applicable(self, input_kind: str, spatial_dims: int | None = None) -> list[ServedModel]:
        """Models that take this kind of input: ``"image"`` -> image classifiers and
        segmenters (of ``spatial_dims`` dimensions when it is given: a PNG does not go to a
        3-D segmenter), ``"record"`` -> table models."""
        wanted = "table" if input_kind == "record" else input_kind
        return [
            m
            for m in self.scan()
            if m.input_kind == wanted
            and (spatial_dims is None or m.spatial_dims in (None, spatial_dims))
        ]

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
                backend = accelerate(predictor, model.name, model.version, self.onnx_dir)
                # an older version of the same model is dropped (a promotion replaced it)
                for old in [k for k in self._batchers if k[0] == key[0]]:
                    self._batchers.pop(old).close()
                self._predictors = {k: v for k, v in self._predictors.items() if k[0] != key[0]}
                self._locks = {k: v for k, v in self._locks.items() if k[0] != key[0]}
                self._backends = {k: v for k, v in self._backends.items() if k[0] != key[0]}
                self._predictors[key] = predictor
                self._locks[key] = threading.Lock()
                self._backends[key] = backend
            return self._predictors[key], self._locks[key]

    def predictor(self, model: ServedModel) -> tuple[Any, threading.Lock]:
        """The loaded predictor of ``model`` and the lock every call on it must hold (for the
        predictor's own methods beyond ``predict``: ``explain``, ``segment``)."""
        return self._loaded(model)

    def backend(self, model: ServedModel) -> Backend | None:
        """How ``model`` is run (ONNX Runtime or torch, and why); None until first loaded."""
        return self._backends.get((model.name, model.version))

    def _batcher(self, model: ServedModel, predictor: Any, lock: threading.Lock) -> MicroBatcher:
        key = (model.name, model.version)
        with self._guard:
            if key not in self._batchers:

                def locked_predict(items: list[Any]) -> list[PredictionRecord]:
                    with lock:
                        return list(predictor.predict(items))

                self._batchers[key] = MicroBatcher(
                    locked_predict, self.max_batch, self.max_wait_s, name=model.name
                )
            return self._batchers[key]

    def run(self, model: ServedModel, method: str, *args: Any, **kwargs: Any) -> Any:
        """``model``'s predictor's public ``method`` called with ``args`` (one call at a time
        per model): ``score_variants``, ``sample``... for what ``predict`` does not cover."""
        predictor, lock = self._loaded(model)
        with lock:
            return getattr(predictor, method)(*args, **kwargs)

    def predict(self, model: ServedModel, inputs: Any) -> list[PredictionRecord]:
        """``model``'s records for ``inputs`` (one predict call at a time per model; lists of
        image files that queue are predicted together, up to ``max_batch``)."""
        predictor, lock = self._loaded(model)
        if self.max_batch > 1 and isinstance(inputs, list) and model.input_kind == "image":
            records = self._batcher(model, predictor, lock).predict(inputs)
        else:
            with lock:
                records = list(predictor.predict(inputs))
        if self.drift is not None:  # image files or a table of records
            self.drift.observe_inputs(model.name, model.version, predictor, inputs)
        return records


def _read_model(sub: Path, name: str) -> ServedModel:
    """Check a model directory's files and describe it."""
    import json

    from precisionmed.artifacts import read_artifact

    artifact = read_artifact(sub)
    cfg = artifact.config
    spec = cfg.get("input_spec") or {}
    # a model without an input spec takes images only if it is an imaging one (a generator: none)
    input_kind = str(spec.get("kind") or ("image" if cfg.get("pillar") == "imaging" else "none"))
    columns = tuple(c["name"] for c in spec.get("columns", ())) if spec else ()
    metrics_file = sub / "metrics.json"
    metrics = None
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
    return ServedModel(
        name=name,
        version=str(artifact.version),
        kind=str(cfg.get("kind", "")),
        pillar=str(cfg.get("pillar", "")),
        input_kind=input_kind,
        path=sub,
        columns=columns,
        metrics=metrics if isinstance(metrics, dict) else None,
        spatial_dims=int(spatial) if isinstance(spatial := spec.get("spatial_dims"), int) else None,
    )
