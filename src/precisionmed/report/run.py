"""Run every applicable model of a models folder on one patient case.

Each subfolder of the models folder holding a ``config.json`` is loaded with
:func:`precisionmed.load`; what it can be used for is decided from its ``input_spec`` and kind
only (the report never imports a pillar):

- an image model (``ImageInputSpec``): each of the case's images, with a Grad-CAM overlay where
  the predictor offers ``explain(file, out)``; a segmenter (kind ``*segment*``): lesion
  measurements of each volume;
- a tabular model (``TableInputSpec``): the case mapped onto its columns
  (:func:`~precisionmed.report.inputs.map_case`); run when at least half of them are known, the
  missing ones listed; a treatment model (kind ``*treatment*``) ranks treatments, the others give
  a risk (classification) or a survival curve (survival);
- a DNA sequence model (``SequenceInputSpec``) whose predictor offers ``score_variants``: the
  case's VCF against its reference genome (FASTA), the largest predicted changes listed;
- a polygenic score (``VcfInputSpec``, kind ``polygenic-score``): the case's VCF sample scored,
  with its z-score where the model has a reference distribution, and its coverage.

Every section the report knows (:data:`SECTIONS`) comes back, "not assessed" with the reason where
no model or no data applies: nothing is invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from precisionmed.errors import PrecisionMedError
from precisionmed.predict import (
    ImageInputSpec,
    MoleculeInputSpec,
    PredictionRecord,
    SequenceInputSpec,
    TableInputSpec,
    VcfInputSpec,
)
from precisionmed.report.case import PatientCase
from precisionmed.report.figures import Figure, caption, survival_figure, values_figure
from precisionmed.report.inputs import ColumnMapping, map_case

#: Section key -> title, in report order.
#: How many variants (the largest predicted changes) a variant-scoring finding lists.
TOP_VARIANTS = 10

SECTIONS: dict[str, str] = {
    "imaging": "Imaging: classification with Grad-CAM",
    "lesions": "Imaging: lesion measurements",
    "variants": "Genomics: variant scoring",
    "prs": "Genomics: polygenic risk",
    "clinical-risk": "Clinical risk",
    "survival": "Survival",
    "treatment": "Treatment ranking",
}


@dataclass
class Finding:
    """One model's output for the case."""

    section: str
    model_dir: str
    model: str
    version: str | None
    kind: str
    records: list[PredictionRecord]
    figures: list[Figure] = field(default_factory=list)
    inputs: ColumnMapping | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "model_dir": self.model_dir,
            "model": self.model,
            "model_version": self.version,
            "kind": self.kind,
            "records": [r.to_dict() for r in self.records],
            "figures": [f.to_dict() for f in self.figures],
        }
        if self.inputs is not None:
            out["inputs"] = {
                "values": self.inputs.row,
                "sources": self.inputs.sources,
                "missing": self.inputs.missing,
                "notes": self.inputs.notes,
            }
        return out


@dataclass
class Section:
    """One part of the report: assessed (findings) or not (reasons)."""

    key: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def assessed(self) -> bool:
        """True where at least one model gave a finding."""
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "key": self.key,
            "title": self.title,
            "status": "assessed" if self.assessed else "not assessed",
            "reasons": self.reasons,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class ReportRun:
    """All sections, plus every model found and what was done with it."""

    case: PatientCase
    sections: list[Section]
    models: list[dict[str, Any]]

    def section(self, key: str) -> Section:
        """The section ``key`` (see :data:`SECTIONS`)."""
        return next(s for s in self.sections if s.key == key)


def find_model_dirs(models_dir: str | Path) -> list[Path]:
    """Subfolders of ``models_dir`` that hold a model (``config.json``), sorted by name."""
    root = Path(models_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such models folder")
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file())


def run_models(case: PatientCase, models_dir: str | Path, out_dir: str | Path) -> ReportRun:
    """Run every applicable model of ``models_dir`` on ``case``; figures go to ``out_dir/figures``.

    Parameters
    ----------
    case : PatientCase
    models_dir : str or Path
        Each subfolder a model directory.
    out_dir : str or Path
        The report folder.

    Returns
    -------
    ReportRun
    """
    from precisionmed import load

    figures = Path(out_dir) / "figures"
    sections = {k: Section(k, t) for k, t in SECTIONS.items()}
    models: list[dict[str, Any]] = []
    for n, mdir in enumerate(find_model_dirs(models_dir)):
        entry: dict[str, Any] = {"model_dir": str(mdir)}
        models.append(entry)
        try:
            pred = load(mdir)
        except PrecisionMedError as exc:
            entry["used"] = f"not loaded: {exc}"
            continue
        entry |= {"model": pred.model_name, "model_version": pred.model_version, "kind": pred.kind}
        try:
            entry["used"] = _run_one(case, pred, mdir, figures / f"{n:02d}", sections)
        except PrecisionMedError as exc:
            entry["used"] = f"failed on this case: {exc}"
            for key in _section_keys(pred):
                sections[key].reasons.append(f"{pred.model_name} failed on this case: {exc}")
    _not_assessed(case, sections)
    return ReportRun(case, list(sections.values()), models)


def _run_one(
    case: PatientCase, pred: Any, mdir: Path, figures: Path, sections: dict[str, Section]
) -> str:
    spec = pred.input_spec
    kind = str(pred.kind)
    if isinstance(spec, ImageInputSpec):
        key = "lesions" if "segment" in kind else "imaging"
        if not case.images:
            sections[key].reasons.append(f"{pred.model_name}: the case has no image.")
            return "not run: the case has no image"
        for i, image in enumerate(case.images):
            records = pred.predict([image.path])
            finding = Finding(key, str(mdir), pred.model_name, pred.model_version, kind, records)
            if key == "imaging" and callable(getattr(pred, "explain", None)):
                png = figures / f"gradcam_{i}.png"
                explained = pred.explain(image.path, png)
                title = f"Grad-CAM of {explained['target']} on {image.path.name}"
                finding.figures.append(Figure(title, png, caption(records[0])))
            finding.figures += [
                values_figure(r, figures / f"values_{i}_{j}.png")
                for j, r in enumerate(records)
                if r.values
            ]
            sections[key].findings.append(finding)
        return f"{key}: {len(case.images)} image(s)"
    if isinstance(spec, TableInputSpec):
        mapping = map_case(case, spec)
        treatment = "treatment" in kind
        key = "treatment" if treatment else "clinical"
        need = math.ceil(len(spec.columns) / 2)
        if mapping.n_known < need:
            reason = (
                f"{pred.model_name}: the case gives {mapping.n_known} of its "
                f"{len(spec.columns)} inputs (at least {need} needed); missing: "
                f"{', '.join(mapping.missing)}."
            )
            for k in _section_keys(pred):
                sections[k].reasons.append(reason)
            return f"not run: {mapping.n_known} of {len(spec.columns)} inputs known"
        import pandas as pd

        # missing cells: empty for a model that imputes (clinical), left out for one that needs
        # every input (treatment), whose own error then names the missing column
        row = {k: float("nan") if v is None else v for k, v in mapping.row.items()}
        if treatment:
            row = {k: v for k, v in mapping.row.items() if v is not None}
        table = pd.DataFrame([row])
        records = pred.predict(table)
        record = records[0]
        if not treatment:
            survival = (
                record.details.get("task") == "survival" or "median_survival_time" in record.values
            )
            key = "survival" if survival else "clinical-risk"
        finding = Finding(
            key, str(mdir), pred.model_name, pred.model_version, kind, records, inputs=mapping
        )
        if record.details.get("times") and record.details.get("survival"):
            finding.figures.append(survival_figure(record, figures / "survival.png"))
        elif record.values and not record.abstained:
            finding.figures.append(values_figure(record, figures / "values.png"))
        sections[key].findings.append(finding)
        return f"{key}: {mapping.n_known} of {len(spec.columns)} inputs known"
    if isinstance(spec, SequenceInputSpec):
        return _score_variants(case, pred, mdir, figures, sections["variants"])
    if isinstance(spec, VcfInputSpec):
        return _polygenic_score(case, pred, mdir, sections["prs"])
    if isinstance(spec, MoleculeInputSpec):
        return "not applicable: a molecule model (the case holds no molecule)"
    return f"not applicable: input kind {getattr(spec, 'kind', '?')}"


def _score_variants(
    case: PatientCase, pred: Any, mdir: Path, figures: Path, section: Section
) -> str:
    """A DNA sequence model on the case's VCF: each variant's reference and alternate windows of
    the reference genome; the record's values are the largest changes (alt - ref)."""
    missing = [what for what, have in (("VCF", case.vcf), ("reference genome (FASTA)",
               case.reference)) if have is None]  # fmt: skip
    if missing or not callable(getattr(pred, "score_variants", None)):
        why = f"the case has no {' and no '.join(missing)}" if missing else "it cannot score a VCF"
        section.reasons.append(f"{pred.model_name}: not run, {why}.")
        return f"not run: {why}"
    assert case.vcf is not None
    assert case.reference is not None
    effects = pred.score_variants(case.vcf.path, case.reference.path, rename_contigs="auto")
    diff = effects.diff
    n = len(effects.variants)
    column = int(abs(diff).max(axis=0).argmax()) if n else 0
    order = sorted(range(n), key=lambda i: -abs(float(diff[i, column])))[:TOP_VARIANTS]
    label = effects.columns[column]

    def name(i: int) -> str:
        v = effects.variants[i]
        ref, alt = (a if len(a) <= 8 else f"{a[:6]}..({len(a)})" for a in (v.ref, v.alt))
        return f"{v.contig}:{v.pos} {ref}>{alt}" + (f" ({v.id})" if v.id else "")

    issues = effects.issues
    first = issues[0] if issues else None
    warnings = [
        f"{len(issues)} VCF record(s) not scored or split, e.g. {getattr(first, 'contig', '')}:"
        f"{getattr(first, 'pos', '')}: {getattr(first, 'message', first)}"
    ]
    record = pred.record(
        str(case.vcf.path),
        name(order[0]) if order else None,
        {name(i): float(diff[i, column]) for i in order},
        warnings=warnings if issues else (),
        details={
            "what": f"change of {label} (alternate - reference window), largest first",
            "variants_scored": n,
            "vcf_records": effects.n_records,
            "window": effects.window,
            "reference": str(case.reference.path),
        },
    )
    finding = Finding("variants", str(mdir), pred.model_name, pred.model_version, str(pred.kind),
                      [record])  # fmt: skip
    if order:
        finding.figures.append(values_figure(record, figures / "variants.png"))
    section.findings.append(finding)
    return f"variants: {n} scored"


def _polygenic_score(case: PatientCase, pred: Any, mdir: Path, section: Section) -> str:
    """A polygenic score of the case's VCF (its only sample; the reference genome, where the
    case has one, checks the VCF's REF alleles)."""
    if case.vcf is None:
        section.reasons.append(f"{pred.model_name}: not run, the case has no VCF.")
        return "not run: the case has no VCF"
    fasta = case.reference.path if case.reference is not None else None
    records = pred.predict(case.vcf.path, fasta=fasta, rename_contigs="auto")
    section.findings.append(
        Finding("prs", str(mdir), pred.model_name, pred.model_version, str(pred.kind), records)
    )
    details = records[0].details
    return f"prs: {details.get('n_matched')} of {details.get('n_variants')} variants scored"


def _section_keys(pred: Any) -> tuple[str, ...]:
    """The sections a model's findings may go to (before it has run)."""
    spec, kind = pred.input_spec, str(pred.kind)
    if isinstance(spec, ImageInputSpec):
        return ("lesions",) if "segment" in kind else ("imaging",)
    if isinstance(spec, SequenceInputSpec):
        return ("variants",)
    if isinstance(spec, VcfInputSpec):
        return ("prs",)
    if not isinstance(spec, TableInputSpec):
        return ()
    if "treatment" in kind:
        return ("treatment",)
    task = str(dict(getattr(pred, "config", None) or {}).get("task"))  # a hint, where it has one
    by_task: dict[str, tuple[str, ...]] = {
        "survival": ("survival",),
        "classification": ("clinical-risk",),
    }
    return by_task.get(task, ("clinical-risk", "survival"))


def _not_assessed(case: PatientCase, sections: dict[str, Section]) -> None:
    """The reason of every section without findings: no data, or no model."""
    data = {
        "imaging": ("image", bool(case.images)),
        "lesions": ("image", bool(case.images)),
        "variants": ("VCF", case.vcf is not None),
        "prs": ("VCF", case.vcf is not None),
    }
    what = {
        "imaging": "image classifier",
        "lesions": "segmentation model",
        "variants": "variant-effect model",
        "prs": "polygenic-score model",
        "clinical-risk": "clinical risk classifier",
        "survival": "survival model",
        "treatment": "treatment recommender",
    }
    for key, section in sections.items():
        if section.findings or section.reasons:
            continue
        if key in data and not data[key][1]:
            section.reasons.append(
                f"The case has no {data[key][0]}, and the models folder has no {what[key]}."
            )
        else:
            section.reasons.append(f"No {what[key]} in the models folder.")


__all__ = ["SECTIONS", "Finding", "ReportRun", "Section", "find_model_dirs", "run_models"]
