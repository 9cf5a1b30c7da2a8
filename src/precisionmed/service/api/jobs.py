"""Background jobs: molecule generation and optimisation (researchers and admins).

``POST /jobs`` checks the request (the generator is served; an optimisation's objective is
valid, each bad component named) and queues it; ``GET /jobs/{id}`` says where it stands;
``GET /jobs/{id}/result`` downloads the SMILES file (generation) or the CSV of scored molecules
(optimisation). A user sees only their own jobs, an admin every job (another's job is answered
404, so that its id reveals nothing). Every submission and read is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.errors import ConfigError
from precisionmed.service.audit import audit
from precisionmed.service.deps import CatalogDep, SessionDep, require_roles
from precisionmed.service.jobs import (
    GENERATOR_KIND,
    JobRunner,
    QueueFull,
    resolve_objective,
    served_model,
)
from precisionmed.service.models import Job, User
from precisionmed.service.schemas import GenerateJobCreate, JobPublic, OptimizeJobCreate

router = APIRouter(prefix="/jobs", tags=["jobs"])
#: Molecule work is research: researchers and admins (clinicians are refused).
Researcher = Annotated[User, Depends(require_roles("researcher", "admin"))]
JobId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The job's id.")]
JobCreate = Annotated[GenerateJobCreate | OptimizeJobCreate, Body(discriminator="kind")]
MEDIA = {".smi": "chemical/x-daylight-smiles", ".csv": "text/csv"}


def _runner(request: Request) -> JobRunner:
    return request.app.state.jobs


@router.post("", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED)
def submit_job(
    body: JobCreate, request: Request, user: Researcher, session: SessionDep, catalog: CatalogDep
) -> Job:
    """Queue a generation (``kind: generate``) or optimisation (``kind: optimize``) job."""
    runner = _runner(request)
    model = served_model(catalog, body.model, GENERATOR_KIND)
    params = body.model_dump(exclude={"kind", "model"})
    if isinstance(body, OptimizeJobCreate):
        try:
            resolve_objective(catalog, model, body.objective)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from exc
    try:
        runner.check_capacity(session)
    except QueueFull as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from exc
    job = Job(
        owner_id=user.id,
        kind=body.kind,
        model_name=model.name,
        model_version=model.version,
        params=params,
        status="queued",
        progress=0.0,
    )
    session.add(job)
    session.flush()
    audit(session, user.id, "create", "job", job.id, f"{body.kind} {model.name}")
    session.commit()
    runner.notify()
    return job


@router.get("", response_model=list[JobPublic])
def list_jobs(user: Researcher, session: SessionDep) -> list[Job]:
    """Your jobs, newest first (an admin: everyone's)."""
    query = select(Job).order_by(Job.id.desc())
    if user.role != "admin":
        query = query.where(Job.owner_id == user.id)
    jobs = list(session.scalars(query))
    audit(session, user.id, "list", "job", None, f"{len(jobs)} jobs")
    session.commit()
    return jobs


@router.get("/{job_id}", response_model=JobPublic)
def read_job(job_id: JobId, user: Researcher, session: SessionDep) -> Job:
    """A job's status: queued, running (with its progress), done or failed (with the error)."""
    job = _visible_job(session, user, job_id)
    audit(session, user.id, "read", "job", job.id)
    session.commit()
    return job


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {}, "chemical/x-daylight-smiles": {}}},
        409: {"description": "The job is not done."},
    },
)
def job_result(job_id: JobId, user: Researcher, session: SessionDep) -> FileResponse:
    """The job's result: a SMILES file (one molecule per line) or a CSV of scored molecules."""
    job = _visible_job(session, user, job_id)
    if job.status != "done" or not job.result_path:
        why = f": {job.error}" if job.status == "failed" else "; ask again when it is done"
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job.id} is {job.status}{why}")
    path = Path(job.result_path)
    if not path.is_file():
        raise HTTPException(status.HTTP_410_GONE, f"job {job.id}: its result file was removed")
    audit(session, user.id, "read", "job-result", job.id)
    session.commit()
    return FileResponse(
        path, media_type=MEDIA.get(path.suffix, "text/plain"), filename=f"job-{job.id}{path.suffix}"
    )


def _visible_job(session: Session, user: User, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or (user.role != "admin" and job.owner_id != user.id):
        audit(session, user.id, "denied", "job", job_id)
        session.commit()
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No job with id {job_id}.")
    return job
