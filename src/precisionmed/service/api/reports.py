"""Full case reports: a case file in, the report package's HTML and ``report.json`` out.

``POST /reports`` takes what ``precisionmed report`` takes (a YAML/JSON case file with
``kind: case``, or a FHIR R4 Bundle), runs :func:`precisionmed.report.write_report` over the
service's production models and stores the report as a case of its submitter (``input_kind``
``"report"``): clinicians read only their own (another's is answered 404), every read is audited.

A case file names its images and VCF by reference. On a server a local path would let a client
read any file the service can (``/etc/...``, another clinician's upload), so only public-data
references are accepted here: ``dataset:NAME/SPLIT/INDEX`` and ``mirror:PATH`` (inside the data
mirror); anything else is refused with 422 naming the field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, UploadFile, status
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from precisionmed.errors import DataFormatError
from precisionmed.service.api.cases import CaseId, _read_capped, _visible_case
from precisionmed.service.audit import audit
from precisionmed.service.deps import CatalogDep, Clinician, CurrentUser, SessionDep, SettingsDep
from precisionmed.service.inference import ServedModel
from precisionmed.service.models import Case, User
from precisionmed.service.schemas import ReportPublic
from precisionmed.service.uploads import UploadRejected

router = APIRouter(prefix="/reports", tags=["reports"])
log = logging.getLogger("precisionmed.service")
#: The stored report is shown as a page of its own: no script, nothing fetched.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
ALLOWED_REFERENCES = ("dataset:", "mirror:")
WHERE = "case file"


@router.post("", response_model=ReportPublic, status_code=status.HTTP_201_CREATED)
def create_report(
    file: Annotated[
        UploadFile,
        File(description="A YAML/JSON case file (kind: case) or a FHIR R4 Bundle (JSON)."),
    ],
    user: Clinician,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> ReportPublic:
    """Build the full report of a case over the production models; stored as your case."""
    data = _read_capped(file, settings.max_upload_bytes)
    document, suffix = _parse(data)
    check_references(document)
    # the report is built before the case is written: SQLite has one writer at a time, and a
    # report takes seconds that no other request should wait for
    staging = settings.uploads_dir / f".report-{uuid.uuid4().hex}"
    out: Path | None = None
    try:
        _write(data, suffix, catalog.scan(), staging)
        case = Case(
            owner_id=user.id,
            input_kind="report",
            input_format="fhir-bundle" if document.get("resourceType") == "Bundle" else "case-file",
            sha256=hashlib.sha256(data).hexdigest(),
        )
        session.add(case)
        session.flush()  # the id names the report's folder
        out = settings.uploads_dir / str(case.id) / "report"
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.replace(out)
        audit(session, user.id, "create", "case", case.id, "report")
        session.commit()
    except BaseException:
        session.rollback()
        shutil.rmtree(staging, ignore_errors=True)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
        raise
    log.info("report case %d created by user %d", case.id, user.id)
    return _public(case, out)


@router.get("/{case_id}", response_model=ReportPublic)
def read_report(
    case_id: CaseId, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ReportPublic:
    """A stored report: ``report.json`` and the link to its HTML."""
    case, out = _report_case(session, user, case_id, settings.uploads_dir)
    audit(session, user.id, "read", "case", case.id, "report.json")
    session.commit()
    return _public(case, out)


@router.get("/{case_id}/html", response_class=HTMLResponse)
def read_report_html(
    case_id: CaseId, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """A stored report as one self-contained HTML page (figures inlined)."""
    case, out = _report_case(session, user, case_id, settings.uploads_dir)
    audit(session, user.id, "read", "case", case.id, "report.html")
    session.commit()
    headers = {
        "Content-Security-Policy": REPORT_CSP,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="report_case{case.id}.html"',
        "Cache-Control": "private, no-store",
    }
    return HTMLResponse((out / "report.html").read_text(encoding="utf-8"), headers=headers)


def _parse(data: bytes) -> tuple[dict[str, Any], str]:
    """The upload as a mapping, and the suffix ``load_case`` reads it by (.json or .yaml)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadRejected(
            f"{WHERE}: expected UTF-8 text (YAML or JSON); got binary data"
        ) from exc
    try:
        document, suffix = json.loads(text), ".json"
    except json.JSONDecodeError:
        import yaml

        try:
            document, suffix = yaml.safe_load(text), ".yaml"
        except yaml.YAMLError as exc:
            raise UploadRejected(
                f"{WHERE}: not valid JSON or YAML ({' '.join(str(exc).split())})"
            ) from exc
    if not isinstance(document, dict):
        raise UploadRejected(
            f"{WHERE}: expected a mapping (a case file with 'kind: case' or a FHIR Bundle); got "
            f"{type(document).__name__}"
        )
    if document.get("resourceType") != "Bundle" and document.get("kind") != "case":
        raise UploadRejected(
            f"{WHERE}: kind: expected 'case' (or resourceType 'Bundle'); got "
            f"{document.get('kind', document.get('resourceType'))!r}"
        )
    return document, suffix


def check_references(document: dict[str, Any]) -> None:
    """Refuse a case whose files are not public-data references (see the module docstring).

    Raises
    ------
    UploadRejected
        422, naming the field: a local path, a URL, or a ``mirror:`` path leaving the mirror.
    """
    for where, ref in _references(document):
        text = str(ref)
        if not text.startswith(ALLOWED_REFERENCES):
            raise UploadRejected(
                f"{WHERE}: {where}: expected a dataset:NAME/SPLIT/INDEX or mirror:PATH reference "
                f"(the service reads no other file); got {text!r}"
            )
        rest = text.split(":", 1)[1]
        if rest.startswith(("/", "\\")) or ".." in Path(rest).parts:
            raise UploadRejected(
                f"{WHERE}: {where}: expected a path inside the data mirror; got {text!r}"
            )


def _references(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, reference) of every file a case file or Bundle names."""
    refs: list[tuple[str, Any]] = []
    if document.get("resourceType") != "Bundle":
        for i, ref in enumerate(_as_list(document.get("images"))):
            refs.append((f"images[{i}]", ref))
        refs += [(key, document[key]) for key in ("vcf", "reference", "fhir") if document.get(key)]
        return refs
    for n, entry in enumerate(_as_list(document.get("entry"))):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        kind = resource.get("resourceType")
        where = f"entry[{n}] {kind}"
        if kind in ("DocumentReference", "Media"):
            for i, content in enumerate(_as_list(resource.get("content"))):
                att = content.get("attachment", content) if isinstance(content, dict) else {}
                if isinstance(att, dict) and att.get("url"):
                    refs.append((f"{where} content[{i}].url", att["url"]))
        elif kind == "MolecularSequence":
            for i, repo in enumerate(_as_list(resource.get("repository"))):
                if isinstance(repo, dict) and repo.get("url"):
                    refs.append((f"{where} repository[{i}].url", repo["url"]))
    return refs


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _write(data: bytes, suffix: str, served: list[ServedModel], out: Path) -> None:
    """Run the report package on the upload over the production models, into ``out``."""
    from precisionmed.report import load_case, write_report

    with tempfile.TemporaryDirectory(prefix="pm-report-") as tmp:
        upload = Path(tmp) / f"case{suffix}"
        upload.write_bytes(data)
        # the production models, by name, as the models folder the report package reads
        models = Path(tmp) / "models"
        models.mkdir()
        for model in served:
            (models / model.name).symlink_to(model.path.resolve(), target_is_directory=True)
        out.mkdir(parents=True, exist_ok=True)
        try:
            case = load_case(upload, work_dir=out)
        except DataFormatError as exc:
            text = " ".join(str(exc).replace(str(upload), WHERE).split())
            raise UploadRejected(text) from exc
        write_report(case, models, out)
        # the server's folders are nobody's business: name them relative to the report
        for name in ("report.json", "report.html"):
            path = out / name
            text = path.read_text(encoding="utf-8")
            for folder, shown in ((str(models), "models"), (str(upload), WHERE), (str(out), ".")):
                text = text.replace(folder, shown)
            path.write_text(text, encoding="utf-8")


def _report_case(
    session: Session, user: User, case_id: int, uploads_dir: Path
) -> tuple[Case, Path]:
    case = _visible_case(session, user, case_id)
    out = uploads_dir / str(case.id) / "report"
    if case.input_kind != "report" or not (out / "report.json").is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Case {case_id} has no report.")
    return case, out


def _public(case: Case, out: Path) -> ReportPublic:
    return ReportPublic(
        case_id=case.id,
        owner_id=case.owner_id,
        created_at=case.created_at,
        report=json.loads((out / "report.json").read_text(encoding="utf-8")),
        html_url=f"/reports/{case.id}/html",
    )
