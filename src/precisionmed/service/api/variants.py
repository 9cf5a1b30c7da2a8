"""Variant scoring and polygenic scores for an uploaded VCF (clinicians and admins).

The VCF (plain, gzipped or bgzipped; checked by :func:`~precisionmed.service.uploads.check_upload`:
a ``#CHROM`` line, every record on a declared contig) is stored inflated, then:

- each production DNA sequence model (input kind ``sequence``) with ``score_variants`` scores
  every variant on its reference and alternate windows of the service's reference genome
  (``PRECISIONMED_REFERENCE_FASTA``; without one these models are listed in ``not_run``): one
  prediction whose values are the changes (alternate - reference) of the variants, largest
  first (at most :data:`MAX_VARIANTS` listed);
- each polygenic-score model (input kind ``vcf``) scores the VCF's sample: score, z-score,
  coverage, and each kind of variant left out as a warning.

The case and its predictions are stored and audited like ``POST /cases``.
"""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile, status

from precisionmed.errors import DataFormatError
from precisionmed.service.api.cases import _read_capped
from precisionmed.service.audit import audit
from precisionmed.service.deps import CatalogDep, Clinician, SessionDep, SettingsDep, UploadsDep
from precisionmed.service.inference import ModelCatalog, ServedModel
from precisionmed.service.models import Case, Prediction
from precisionmed.service.schemas import CasePublic, VariantCasePublic
from precisionmed.service.uploads import UploadRejected, check_upload

router = APIRouter(prefix="/variants", tags=["variants"])
log = logging.getLogger("precisionmed.service")
#: Variants listed per variant-effect prediction (the largest changes).
MAX_VARIANTS = 1000


@router.post("", response_model=VariantCasePublic, status_code=status.HTTP_201_CREATED)
def score_vcf(
    file: Annotated[UploadFile, File(description="A VCF of one sample (.vcf, .vcf.gz, bgzip).")],
    user: Clinician,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    uploads: UploadsDep,
) -> VariantCasePublic:
    """Score a VCF: variant effects of each sequence model, each polygenic score."""
    data = _read_capped(file, settings.max_upload_bytes)
    checked = check_upload(
        data,
        max_bytes=settings.max_upload_bytes,
        max_decoded_bytes=settings.max_decoded_bytes,
        accept_vcf=True,
    )
    if checked.kind != "vcf":
        raise UploadRejected(f"upload: a {checked.format} file; expected a VCF", 415)
    reference = settings.reference_fasta
    scorers = [m for m in catalog.applicable("sequence")]
    scores = catalog.applicable("vcf")
    not_run = []
    if reference is None:
        not_run = [f"{m.name}: the service has no reference genome (set "
                   "PRECISIONMED_REFERENCE_FASTA)" for m in scorers]  # fmt: skip
        scorers = []
    if not scorers and not scores:
        served = ", ".join(m.name for m in catalog.scan()) or "none"
        raise UploadRejected(
            f"upload: no production model can score a VCF (models served: {served})"
        )
    case = Case(owner_id=user.id, input_kind="vcf", input_format="vcf",
                sha256=hashlib.sha256(checked.data).hexdigest(), deidentified=False)  # fmt: skip
    stored = uploads.write(checked.suffix, checked.data)
    case.stored_path = str(stored)
    session.add(case)
    session.flush()
    try:
        for model in scorers:
            assert reference is not None  # scorers is empty without a reference
            _predict(case, model, stored, partial(_variant_effects, catalog, vcf=stored,
                                                  reference=reference))  # fmt: skip
        for model in scores:
            _predict(case, model, stored, lambda m: catalog.run(
                m, "predict", stored, rename_contigs="auto"))  # fmt: skip
        audit(session, user.id, "create", "case", case.id, "vcf")
        session.flush()
        for prediction in case.predictions:
            audit(session, user.id, "create", "prediction", prediction.id, prediction.model_name)
        session.commit()
    except BaseException:
        session.rollback()
        stored.unlink(missing_ok=True)
        raise
    log.info("vcf case %d created by user %d: %d predictions", case.id, user.id,
             len(case.predictions))  # fmt: skip
    public = CasePublic.model_validate(case).model_dump()
    return VariantCasePublic(**public, not_run=not_run)


def _predict(case: Case, model: ServedModel, stored: Path, run: Any) -> None:
    """``run(model)``'s records added to ``case``; a bad VCF is the client's 422."""
    try:
        records = run(model)
    except DataFormatError as exc:
        # the message names the stored file: say "upload" instead of a server path
        raise UploadRejected(
            f"model {model.name}: {str(exc).replace(str(stored), 'upload')}"
        ) from exc
    for rec in records:
        body = rec.to_dict() | {"input": f"case {case.id}"}
        case.predictions.append(
            Prediction(model_name=model.name, model_version=rec.model_version,
                       model_kind=rec.kind, prediction=body["prediction"], record=body)
        )  # fmt: skip


def _variant_effects(
    catalog: ModelCatalog, model: ServedModel, vcf: Path, reference: Path
) -> list[Any]:
    """One record: each variant's change of the model's output (the column that changes most),
    largest first, as the report's variant section computes it."""
    effects = catalog.run(model, "score_variants", vcf, reference, rename_contigs="auto")
    diff = effects.diff
    n = len(effects.variants)
    column = int(abs(diff).max(axis=0).argmax()) if n else 0
    order = sorted(range(n), key=lambda i: -abs(float(diff[i, column])))[:MAX_VARIANTS]
    issues = [i for i in effects.issues if i.kind != "multiallelic_split"]
    warnings = [f"VCF record {i.contig}:{i.pos} not scored ({i.kind}): {i.message}"
                for i in issues[:20]]  # fmt: skip
    if len(issues) > 20:
        warnings.append(f"... and {len(issues) - 20} more records not scored")
    values = {effects.variants[i].label: float(diff[i, column]) for i in order}
    variants = [
        {"variant": effects.variants[i].label, "diff": round(float(diff[i, column]), 6),
         "log_odds": round(float(effects.log_odds[i, column]), 4)}
        for i in order
    ]  # fmt: skip
    record = catalog.run(
        model,
        "record",
        "upload",
        variants[0]["variant"] if variants else None,
        values,
        warnings=tuple(warnings),
        details={
            "what": f"change of {effects.columns[column]} (alternate - reference window), "
            "largest first",
            "variants": variants,
            "variants_scored": n,
            "variants_listed": len(variants),
            "vcf_records": effects.n_records,
            "records_not_scored": len(issues),
            "window": effects.window,
        },
    )
    return [record]
