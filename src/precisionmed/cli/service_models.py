"""``precisionmed models``, ``precisionmed feedback`` and ``precisionmed retrain``: the registry.

``models list|register|promote|archive`` manage the versions the service serves (the service
switches to a promoted version on its next request); ``feedback list|accept|reject`` is the
admin's review; ``retrain TASK`` trains a candidate on accepted feedback and gates it. Heavy
imports happen inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from precisionmed.cli.service import DATA_DIR, DB
from precisionmed.cli.state import console, print_json

models_app = typer.Typer(
    help="Model versions of the service: list, register, promote, archive.", no_args_is_help=True
)
feedback_app = typer.Typer(
    help="Review clinicians' feedback before training.", no_args_is_help=True
)


def _settings(db: str | None, data_dir: Path | None) -> Any:
    from precisionmed.service.config import DatabaseSettings

    overrides: dict[str, object] = {}
    if db:
        overrides["database_url"] = db
    if data_dir:
        overrides["data_dir"] = data_dir
    return DatabaseSettings(**overrides)  # type: ignore[arg-type]


@contextmanager
def _session(db: str | None, data_dir: Path | None) -> Iterator[Any]:
    from precisionmed.service.db import make_engine, session_factory, upgrade_database

    url = _settings(db, data_dir).resolved_database_url
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _version_row(row: Any) -> dict[str, Any]:
    gate = (row.evaluation or {}).get("gate")
    return {
        "name": row.name,
        "version": row.version,
        "stage": row.stage,
        "kind": row.kind,
        "source": row.source,
        "path": row.path,
        "dataset": (row.data_checksums or {}).get("dataset"),
        "data_checksum": (row.data_checksums or {}).get("data"),
        "test_metrics": (row.metrics or {}).get("test"),
        "evaluation": row.evaluation,
        "gate": None if gate is None else ("passed" if gate.get("passed") else "refused"),
    }


@models_app.command("list")
def models_list(
    name: str | None = typer.Argument(None, help="Only this model's versions."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the registered versions with their stage, data and gate."""
    from precisionmed.service import registry

    with _session(db, data_dir) as session:
        rows = [_version_row(r) for r in registry.versions(session, name)]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "version", "stage", "source", "dataset", "gate")
    for r in rows:
        table.add_row(
            r["name"], r["version"][:12], r["stage"], str(r["source"]), str(r["dataset"]),
            str(r["gate"] or "-"),
        )  # fmt: skip
    console.print(table)


@models_app.command("register")
def models_register(
    path: Path = typer.Argument(..., help="The model directory (it stays where it is)."),
    name: str = typer.Option(..., "--name", help="The model's name (the task it serves)."),
    stage: str = typer.Option("candidate", help="candidate, production or archived."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Register a model directory as a version of NAME (its files checked first)."""
    from precisionmed.service import registry

    with _session(db, data_dir) as session:
        row = registry.register(session, name, path, stage=stage)
        session.commit()
        console.print(f"Registered {name} version {row.version[:12]} as {row.stage}.")


@models_app.command("promote")
def models_promote(
    name: str = typer.Argument(..., help="The model's name."),
    version: str = typer.Argument(..., help="The version (6+ leading hex digits)."),
    force: bool = typer.Option(False, "--force", help="Promote without a passed gate."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Make VERSION production if its gate passed; the service serves it from its next request."""
    from precisionmed.service import registry

    with _session(db, data_dir) as session:
        row = registry.promote(session, name, version, force=force)
        session.commit()
        console.print(f"Promoted {name} version {row.version[:12]}: now {row.stage}.")


@models_app.command("archive")
def models_archive(
    name: str = typer.Argument(..., help="The model's name."),
    version: str = typer.Argument(..., help="The version (6+ leading hex digits)."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Archive VERSION (a production version stops being served)."""
    from precisionmed.service import registry

    with _session(db, data_dir) as session:
        row = registry.archive(session, name, version)
        session.commit()
        console.print(f"Archived {name} version {row.version[:12]}.")


@feedback_app.command("list")
def feedback_list(
    status: str | None = typer.Option(None, help="pending, accepted or rejected."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """List feedback as JSON (ids, verdicts, labels, users, review state)."""
    from precisionmed.service.feedback import list_feedback

    with _session(db, data_dir) as session:
        print_json(
            [
                {"id": f.id, "case_id": f.case_id, "user_id": f.user_id, "verdict": f.verdict,
                 "label": f.label, "comment": f.comment, "accepted": f.accepted}
                for f in list_feedback(session, status)
            ]
        )  # fmt: skip


def _review(ids: list[int], accepted: bool, db: str | None, data_dir: Path | None) -> None:
    from precisionmed.service.audit import audit
    from precisionmed.service.feedback import review_feedback

    with _session(db, data_dir) as session:
        for fid in ids:
            row = review_feedback(session, fid, accepted, admin_id=None)
            audit(session, None, "accept" if accepted else "reject", "feedback", row.id, "cli")
        session.commit()
    console.print(f"{'Accepted' if accepted else 'Rejected'} feedback {', '.join(map(str, ids))}.")


@feedback_app.command("accept")
def feedback_accept(
    ids: list[int] = typer.Argument(..., help="Feedback ids."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Accept feedback: training may use it."""
    _review(ids, True, db, data_dir)


@feedback_app.command("reject")
def feedback_reject(
    ids: list[int] = typer.Argument(..., help="Feedback ids."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Reject feedback: training never uses it."""
    _review(ids, False, db, data_dir)


def retrain(
    task: str = typer.Argument(..., help="The model's name (its production version is retrained)."),
    auto_promote: bool = typer.Option(False, "--auto-promote", help="Promote if the gate passes."),
    max_epochs: int | None = typer.Option(None, min=1, help="Override the recipe's epochs."),
    n_boot: int = typer.Option(1000, min=10, help="Bootstrap resamples of the paired interval."),
    seed: int = typer.Option(0, help="Seed of the hold-out split and the bootstrap."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Retrain TASK on its data plus accepted feedback; register and gate the candidate.

    Prints the candidate's registry row (both models' figures and the gate's decision) as JSON.
    """
    from precisionmed.service import registry
    from precisionmed.service.retrain import retrain_classifier

    settings = _settings(db, data_dir)
    with _session(db, data_dir) as session:
        row = retrain_classifier(
            session,
            task,
            out_root=settings.registry_dir,
            cap=settings.feedback_cap_per_user,
            holdout_fraction=settings.feedback_holdout_fraction,
            n_boot=n_boot,
            seed=seed,
            max_epochs=max_epochs,
        )
        session.commit()
        if auto_promote and (row.evaluation or {}).get("gate", {}).get("passed"):
            registry.promote(session, task, row.version)
            session.commit()
        print_json(_version_row(row))


def register(app: typer.Typer) -> None:
    """Add ``models`` and ``feedback`` (groups) and ``retrain`` (a command) to ``app``."""
    app.add_typer(models_app, name="models")
    app.add_typer(feedback_app, name="feedback")
    app.command("retrain")(retrain)
