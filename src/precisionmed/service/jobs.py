"""Background jobs of the service: molecule generation and optimisation, run by worker threads.

A job is a row of ``jobs`` (:class:`~precisionmed.service.models.Job`): submitted ``queued``,
claimed by a worker (``running``), then ``done`` with its result file or ``failed`` with the
reason. The database is the queue, so that several service processes share it: a worker claims
a job with a conditional UPDATE (``status = 'queued'``), which only one process can win.
Bounds: ``workers`` threads per process; a user's next job waits while one of theirs runs; at
most ``queue_limit`` jobs queued or running (:meth:`JobRunner.check_capacity`). Worker threads
start when a job is submitted and end when the queue has nothing they may take.

A job left ``running`` by a process that died (the server was killed, or restarted) would wait
for ever: :meth:`JobRunner.recover`, called when the app is created, marks such jobs failed with
a message saying so. The work itself is the generator's: its predictor (``precisionmed.load``,
through the :class:`~precisionmed.service.inference.ModelCatalog`) samples or optimises; this
module imports no pillar.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from precisionmed.errors import PrecisionMedError
from precisionmed.service.inference import ModelCatalog, ServedModel
from precisionmed.service.models import Job, utcnow

log = logging.getLogger("precisionmed.service")

GENERATOR_KIND = "molecule-generator"
PROPERTY_KIND = "molecular-property"
#: Why a job left running by a dead process failed.
INTERRUPTED = (
    "the service stopped while this job was running (server killed or restarted); submit it again"
)


class QueueFull(PrecisionMedError):
    """The job queue holds its limit of queued and running jobs (HTTP 429)."""

    status_code = 429


def runner_name() -> str:
    """This process as a job runner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(runner: str | None) -> bool:
    """Whether ``runner`` (``host:pid``) is a live process of this host other than this one."""
    host, _, pid = (runner or "").rpartition(":")
    if host and host != socket.gethostname():
        return True  # another machine's process: it cannot be checked from here
    if not pid.isdigit() or int(pid) == os.getpid():
        return False  # unnamed, or a previous process that had our pid: gone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobRunner:
    """Runs the queued jobs of the service database in worker threads.

    Parameters
    ----------
    sessions : sessionmaker
        Sessions of the service database.
    catalog : ModelCatalog
        Finds the served generators (and property models for objectives).
    results_dir : Path
        Where each job's result goes (``results_dir/<job id>/``).
    workers : int
        Jobs run at once by this process.
    queue_limit : int
        Jobs queued or running at most (all users).
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        catalog: ModelCatalog,
        results_dir: Path,
        *,
        workers: int = 1,
        queue_limit: int = 20,
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.results_dir = results_dir
        self.workers = workers
        self.queue_limit = queue_limit
        self.name = runner_name()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._generation = 0
        self._closed = False

    @classmethod
    def recovered(
        cls, sessions: Callable[[], Session], catalog: ModelCatalog, settings: Any
    ) -> JobRunner:
        """The runner of a service's ``settings`` (results under ``data_dir/jobs``), after
        :meth:`recover`."""
        runner = cls(
            sessions,
            catalog,
            settings.data_dir / "jobs",
            workers=settings.job_workers,
            queue_limit=settings.job_queue_limit,
        )
        runner.recover()
        return runner

    def recover(self) -> int:
        """Mark failed the jobs left running by a process that is gone; start on the queue.

        Returns
        -------
        int
            How many jobs were marked failed.
        """
        with self.sessions() as session:
            stale = [
                job
                for job in session.scalars(select(Job).where(Job.status == "running"))
                if not _process_alive(job.runner)
            ]
            for job in stale:
                job.status, job.error, job.finished_at = "failed", INTERRUPTED, utcnow()
            session.commit()
            queued = session.scalar(select(func.count()).where(Job.status == "queued"))
        if stale:
            log.warning("%d job(s) left running by a stopped process marked failed", len(stale))
        if queued:
            self.notify()
        return len(stale)

    def check_capacity(self, session: Session) -> None:
        """Raise :class:`QueueFull` when ``queue_limit`` jobs are queued or running."""
        busy = session.scalar(select(func.count()).where(Job.status.in_(("queued", "running"))))
        if busy is not None and busy >= self.queue_limit:
            raise QueueFull(
                f"jobs: the queue is full ({busy} jobs queued or running, the limit is "
                f"{self.queue_limit}); try again when one has finished"
            )

    def notify(self) -> None:
        """A job was queued (or one finished): start a worker thread if there is room."""
        with self._lock:
            self._generation += 1
            if self._closed:
                return
            self._threads = [t for t in self._threads if t.is_alive()]
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name="precisionmed-job", daemon=True)
                self._threads.append(thread)
                thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Take no more jobs; wait up to ``timeout`` seconds for the running ones to end."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                if self._closed:
                    self._threads = [t for t in self._threads if t is not me]
                    return
                seen = self._generation
            job_id = self._claim()
            if job_id is not None:
                self._execute(job_id)
                continue
            with self._lock:
                if self._closed or self._generation == seen:
                    # nothing was queued since we looked: end (notify starts another)
                    self._threads = [t for t in self._threads if t is not me]
                    return

    def _claim(self) -> int | None:
        """The oldest queued job whose owner has none running, now ours (None: nothing)."""
        with self.sessions() as session:
            running = select(Job.owner_id).where(Job.status == "running")
            candidates = session.scalars(
                select(Job.id)
                .where(Job.status == "queued", Job.owner_id.not_in(running))
                .order_by(Job.id)
                .limit(self.workers + 1)
            ).all()
            for job_id in candidates:
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(status="running", runner=self.name, started_at=utcnow())
                )
                session.commit()
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    return int(job_id)
        return None

    def _set(self, job_id: int, **values: Any) -> None:
        with self.sessions() as session:
            session.execute(update(Job).where(Job.id == job_id).values(**values))
            session.commit()

    def _execute(self, job_id: int) -> None:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None
            kind, name, params = job.kind, job.model_name, dict(job.params)
        try:
            model = served_model(self.catalog, name, GENERATOR_KIND)
            self._set(job_id, model_version=model.version)  # production may have changed
            out_dir = self.results_dir / str(job_id)
            out_dir.mkdir(parents=True, exist_ok=True)
            if kind == "generate":
                path, summary = self._generate(job_id, model, params, out_dir)
            else:
                path, summary = self._optimize(job_id, model, params, out_dir)
        except Exception as exc:  # noqa: BLE001 (a job's failure is recorded, not raised)
            message = " ".join(str(exc).split()) or type(exc).__name__
            if not isinstance(exc, PrecisionMedError):
                message = f"{type(exc).__name__}: {message}"
                log.exception("job %d failed", job_id)
            self._set(job_id, status="failed", error=message[:2000], finished_at=utcnow())
        else:
            self._set(
                job_id,
                status="done",
                progress=1.0,
                result_path=str(path),
                summary=summary,
                finished_at=utcnow(),
            )
        log.info("job %d (%s) finished", job_id, kind)

    def _generate(
        self, job_id: int, model: ServedModel, params: dict[str, Any], out_dir: Path
    ) -> tuple[Path, dict[str, Any]]:
        n = int(params["n"])

        def progress(drawn: int) -> None:
            self._set(job_id, progress=min(drawn / n, 0.99))

        result = self.catalog.run(
            model,
            "sample",
            n,
            temperature=float(params["temperature"]),
            seed=params.get("seed"),
            on_progress=progress,
        )
        path = out_dir / "molecules.smi"
        # every sample, invalid ones included as decoded (as `chem generate` writes them)
        path.write_text("".join(f"{s}\n" for s in result.smiles), encoding="utf-8")
        valid = sum(bool(v) for v in result.valid)
        return path, {"molecules": len(result.smiles), "valid": valid,
                      "validity": valid / max(len(result.smiles), 1)}  # fmt: skip

    def _optimize(
        self, job_id: int, model: ServedModel, params: dict[str, Any], out_dir: Path
    ) -> tuple[Path, dict[str, Any]]:
        steps = int(params["steps"])
        objective = resolve_objective(self.catalog, model, str(params["objective"]))

        def progress(row: dict[str, float]) -> None:
            self._set(job_id, progress=min(float(row["step"]) / steps, 0.99))

        path = out_dir / "molecules.csv"
        result = self.catalog.run(
            model,
            "optimize",
            objective,
            path,
            steps=steps,
            seed=int(params["seed"]),
            batch_size=int(params["batch_size"]),
            on_step=progress,
        )
        best = result.molecules[0] if result.molecules else None
        return path, {
            "steps": len(result.history),
            "scoring_calls": result.calls,
            "molecules": len(result.molecules),
            "best_score": None if best is None else best["score"],
            "best_smiles": None if best is None else best["smiles"],
        }


def served_model(catalog: ModelCatalog, name: str, kind: str) -> ServedModel:
    """The production model ``name`` of ``kind``.

    Raises
    ------
    DatasetNotFoundError
        No such served model (HTTP 404), the message listing those of that kind.
    """
    from precisionmed.errors import DatasetNotFoundError

    models = [m for m in catalog.scan() if m.kind == kind]
    for model in models:
        if model.name == name:
            return model
    raise DatasetNotFoundError(
        f"model: no served {kind} named {name!r}; served: "
        f"{', '.join(m.name for m in models) or 'none'}"
    )


def resolve_objective(catalog: ModelCatalog, generator: ServedModel, text: str) -> Any:
    """The objective YAML ``text`` checked by ``generator``'s predictor.

    ``property`` components name a served property model (its directory is filled in);
    ``affinity`` components, which read a protein file of the server, are refused.

    Raises
    ------
    ConfigError
        Not YAML, not a mapping, an unknown or bad component (named by its position).
    """
    import yaml

    from precisionmed.errors import ConfigError

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"objective: not valid YAML{at} ({getattr(exc, 'problem', exc)})"
        ) from exc
    components = config.get("components") if isinstance(config, dict) else None
    for i, spec in enumerate(components if isinstance(components, list) else [], 1):
        if not isinstance(spec, dict):
            continue
        kind = str(spec.get("type", "")).lower()
        if kind == "affinity":
            raise ConfigError(
                f"objective: component {i} (affinity): not offered by the service (it reads a "
                "protein file); use qed, sa, logp, mw, tpsa, similarity, substructure, guacamol "
                "or property"
            )
        if kind == "property" and "model" in spec:
            try:
                spec["model"] = str(served_model(catalog, str(spec["model"]), PROPERTY_KIND).path)
            except PrecisionMedError as exc:
                raise ConfigError(f"objective: component {i} (property): {exc}") from exc
    return catalog.run(generator, "objective", config, "objective")


__all__ = ["INTERRUPTED", "JobRunner", "QueueFull", "resolve_objective", "served_model"]
