"""The model registry: versions of each model with their metrics, data checksums and stage.

A version is a model directory (its version is the sha256 of its ``manifest.json``). At most one
version of a name is ``production``: the one the service serves. ``promote`` makes a candidate
production and archives the one before; the service reads the production version of each name
per request, so a promotion takes effect on the next request without a restart.

The models directory (``PRECISIONMED_MODELS_DIR``) is the out-of-the-box fallback: each model
directory found there is registered, and is production for its name unless another version was
promoted since (a directory replaced on disk in place takes over from the version it replaces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.errors import ConfigError
from precisionmed.service.models import STAGES, ModelVersion, utcnow


class RegistryError(ConfigError):
    """A registry operation that cannot be done (unknown version, a refused promotion)."""


def describe_model_dir(path: Path) -> dict[str, Any]:
    """The registry fields of a model directory, its files checked against its manifest.

    Returns
    -------
    dict
        ``version``, ``kind``, ``pillar``, ``input_kind``, ``metrics`` (``metrics.json``) and
        ``data_checksums``: the training data's name and catalog checksum from ``config.json``
        and the manifest's ``{file: sha256}``.

    Raises
    ------
    ArtifactError
        Not a model directory, or a file differs from its manifest.
    """
    from precisionmed.artifacts import read_artifact

    artifact = read_artifact(path)
    cfg = artifact.config
    dataset = cfg.get("dataset")
    name, checksum = (
        (dataset.get("name"), dataset.get("checksum"))
        if isinstance(dataset, dict)
        else (dataset, None)
    )
    spec = cfg.get("input_spec") or {}
    return {
        "version": str(artifact.version),
        "kind": str(cfg.get("kind", "")),
        "pillar": str(cfg.get("pillar", "")),
        "input_kind": str(spec.get("kind") or "image"),
        "metrics": artifact.metrics or None,
        "data_checksums": {"dataset": name, "data": checksum, "manifest": dict(artifact.files)},
    }


def versions(session: Session, name: str | None = None) -> list[ModelVersion]:
    """Registry rows (of ``name``, or all), by name then registration order."""
    query = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.id)
    if name is not None:
        query = query.where(ModelVersion.name == name)
    return list(session.scalars(query))


def production(session: Session, name: str) -> ModelVersion | None:
    """The production version of ``name``, if any."""
    return session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.stage == "production")
    )


def production_versions(session: Session) -> list[ModelVersion]:
    """The production version of every name, by name."""
    query = select(ModelVersion).where(ModelVersion.stage == "production")
    return list(session.scalars(query.order_by(ModelVersion.name)))


def find_version(session: Session, name: str, version: str) -> ModelVersion:
    """The row of ``name`` whose version is ``version`` or starts with it (at least 6 digits).

    Raises
    ------
    RegistryError
        No such version, or the prefix is ambiguous or shorter than 6 characters.
    """
    rows = [r for r in versions(session, name) if r.version.startswith(version)]
    if len(version) < 6 or len(rows) != 1:
        known = ", ".join(r.version[:12] for r in versions(session, name)) or "none"
        what = "is ambiguous" if len(rows) > 1 else "matches no version"
        raise RegistryError(
            f"model {name!r}: version {version!r} {what} (expected 6+ leading hex digits of one "
            f"of: {known})"
        )
    return rows[0]


def register(
    session: Session,
    name: str,
    path: Path,
    *,
    stage: str = "candidate",
    source: str = "registered",
    evaluation: dict[str, Any] | None = None,
) -> ModelVersion:
    """Add the model directory ``path`` as a version of ``name`` (its files checked first).

    A ``production`` stage archives the production version before. The caller commits.

    Raises
    ------
    RegistryError
        ``stage`` unknown, or this version of ``name`` is registered already.
    ArtifactError
        ``path`` is not an intact model directory.
    """
    if stage not in STAGES:
        raise RegistryError(f"stage: expected one of {', '.join(STAGES)}; got {stage!r}")
    info = describe_model_dir(path)
    existing = [r for r in versions(session, name) if r.version == info["version"]]
    if existing:
        raise RegistryError(
            f"{path}: model {name!r} version {info['version'][:12]} is registered already "
            f"(stage {existing[0].stage})"
        )
    row = ModelVersion(
        name=name,
        path=str(Path(path).resolve()),
        stage="candidate",
        source=source,
        evaluation=evaluation,
        **info,
    )
    session.add(row)
    session.flush()
    if stage == "production":
        _make_production(session, row)
    else:
        row.stage = stage
    return row


def promote(session: Session, name: str, version: str, *, force: bool = False) -> ModelVersion:
    """Make a version of ``name`` production (the one before is archived); the gate decides.

    A version evaluated by ``precisionmed retrain`` is promoted only when its gate passed and
    the production version it was compared with is still production; one without an
    evaluation only with ``force``. The caller commits.

    Raises
    ------
    RegistryError
        The gate refuses (the message says why), or the version is unknown.
    """
    row = find_version(session, name, version)
    if row.stage == "production":
        return row
    if not force:
        gate = (row.evaluation or {}).get("gate")
        if gate is None:
            raise RegistryError(
                f"model {name!r} version {row.version[:12]}: no gate evaluation (it was not made "
                "by 'precisionmed retrain'); promote it with --force if you have checked it"
            )
        current = production(session, name)
        compared = (row.evaluation or {}).get("production_version")
        if current is not None and current.version != compared:
            raise RegistryError(
                f"model {name!r} version {row.version[:12]}: evaluated against "
                f"{str(compared)[:12]}, but production is now {current.version[:12]}; "
                "retrain again"
            )
        if not gate.get("passed"):
            raise RegistryError(
                f"model {name!r} version {row.version[:12]}: the gate refused it: "
                f"{'; '.join(gate.get('reasons', []))}"
            )
    _make_production(session, row)
    return row


def archive(session: Session, name: str, version: str) -> ModelVersion:
    """Archive a version of ``name`` (a production version stops being served). The caller
    commits."""
    row = find_version(session, name, version)
    row.stage = "archived"
    return row


def _make_production(session: Session, row: ModelVersion) -> None:
    for other in versions(session, row.name):
        if other.stage == "production" and other.id != row.id:
            other.stage = "archived"
    row.stage = "production"
    row.registered_at = row.registered_at or utcnow()
    session.flush()


def sync_models_dir(session: Session, found: list[Any]) -> bool:
    """Register the model directories found in the models directory (the fallback).

    A version not seen before becomes production when its name has no production version, or
    when the production version lives at the same path (the directory was replaced in place);
    otherwise it is registered as a candidate. Returns whether anything changed (the caller
    commits).
    """
    changed = False
    rows = versions(session)
    known = {(r.name, r.version) for r in rows}
    for model in found:
        if (model.name, model.version) in known:
            continue
        current = production(session, model.name)
        takes_over = current is None or Path(current.path) == Path(model.path).resolve()
        register(
            session,
            model.name,
            model.path,
            stage="production" if takes_over else "candidate",
            source="models-dir",
        )
        changed = True
    return changed
