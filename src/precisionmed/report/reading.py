"""Read a patient case from FHIR or a plain case file.

:func:`load_case` accepts

- a FHIR R4 ``Bundle`` (``.json``; :func:`precisionmed.io.fhir.read_bundle`): Patient,
  Observation, Condition, MedicationStatement/MedicationRequest, DocumentReference/Media whose
  attachment points at an image file, a VCF or a reference FASTA, MolecularSequence with a VCF
  repository URL;
- a bulk FHIR export folder (NDJSON, e.g. Synthea's) with ``patient=`` naming one Patient id;
- a plain YAML/JSON case file (``kind: case``): ``patient`` (sex, birth_date or age),
  ``observations`` (LOINC code, value, unit), ``conditions``, ``medications``, ``images``, ``vcf``,
  ``reference`` (FASTA), ``inputs`` (model input columns given by name) and ``provenance``; or
  ``fhir:`` naming a Bundle or a bulk export folder (``fhir_patient:`` the Patient id) with the
  same extras on top.

Files are located with :func:`~precisionmed.report.case.resolve_location`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from precisionmed.errors import DataFormatError
from precisionmed.io.fhir import FhirBundle, read_bundle, read_ndjson_patients
from precisionmed.report.case import (
    FASTA_SUFFIXES,
    IMAGE_SUFFIXES,
    VCF_SUFFIXES,
    CaseCondition,
    CaseFile,
    CaseObservation,
    PatientCase,
    parse_date,
    resolve_location,
)


def load_case(path: str | Path, *, work_dir: str | Path, patient: str | None = None) -> PatientCase:
    """Read a case: a FHIR Bundle, a bulk FHIR export folder, or a YAML/JSON case file.

    Parameters
    ----------
    path : str or Path
    work_dir : str or Path
        Where files a case derives from public data (``dataset:`` images) are written.
    patient : str, optional
        The Patient id, for a bulk export holding several patients.

    Raises
    ------
    DataFormatError
        Unreadable files, invalid FHIR (resource and reference named), an unknown field.
    """
    path, work = Path(path), Path(work_dir)
    if path.is_dir():
        return _from_export(path, patient, work, extras={})
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DataFormatError(f"{path}: not valid YAML ({exc})") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return from_bundle(read_bundle(path), base=path.parent, work_dir=work)
    if not isinstance(data, dict) or data.get("kind") != "case":
        raise DataFormatError(
            f"{path}: expected a FHIR Bundle or a case file with 'kind: case'; got "
            f"{type(data).__name__ if not isinstance(data, dict) else data.get('kind')!r}."
        )
    return _from_case_file(path, data, work)


_CASE_KEYS = {
    "kind",
    "patient",
    "date",
    "observations",
    "conditions",
    "medications",
    "images",
    "vcf",
    "reference",
    "inputs",
    "provenance",
    "fhir",
    "fhir_patient",
}


def _from_case_file(path: Path, data: dict[str, Any], work: Path) -> PatientCase:
    unknown = sorted(set(data) - _CASE_KEYS)
    if unknown:
        raise DataFormatError(
            f"{path}: unknown field {unknown[0]!r}; expected one of {sorted(_CASE_KEYS)}."
        )
    if data.get("fhir"):
        where = f"{path}: fhir"
        target = resolve_location(data["fhir"], base=path.parent, work_dir=work, where=where)
        if target.is_dir():
            case = _from_export(target, data.get("fhir_patient"), work, extras={})
        else:
            case = from_bundle(read_bundle(target), base=target.parent, work_dir=work)
        case.source = f"{path} ({case.source})"
    else:
        info = data.get("patient") or {}
        case = PatientCase(
            source=str(path), format="case-file", patient=str(info.get("id", "case"))
        )
        case.sex = info.get("sex")
        if info.get("birth_date"):
            case.birth_date = parse_date(info["birth_date"], f"{path}: patient.birth_date")
    if data.get("date"):
        case.as_of = parse_date(data["date"], f"{path}: date")
    info = data.get("patient") or {}
    if info.get("age") is not None and case.birth_date is None:
        case.birth_date = case.as_of - dt.timedelta(days=round(float(info["age"]) * 365.25))
    for i, o in enumerate(data.get("observations") or []):
        if "value" not in o:
            raise DataFormatError(
                f"{path}: observations[{i}]: expected a 'value'; got {sorted(o)}."
            )
        case.observations.append(
            CaseObservation(
                code=str(o.get("code")) if o.get("code") else None,
                system=o.get("system", "http://loinc.org"),
                display=str(o.get("display", o.get("code", ""))),
                value=o["value"],
                unit=o.get("unit"),
                date=str(o["date"]) if o.get("date") else None,
            )
        )
    for c in data.get("conditions") or []:
        c = c if isinstance(c, dict) else {"display": str(c)}
        case.conditions.append(
            CaseCondition(
                code=str(c["code"]) if c.get("code") else None,
                system=c.get("system", "http://snomed.info/sct"),
                display=str(c.get("display", c.get("code", ""))),
                present=bool(c.get("present", True)),
            )
        )
    case.medications += [str(m) for m in data.get("medications") or []]
    for i, ref in enumerate(data.get("images") or []):
        where = f"{path}: images[{i}]"
        case.images.append(
            CaseFile(resolve_location(ref, base=path.parent, work_dir=work, where=where), ref)
        )
    for key in ("vcf", "reference"):
        if data.get(key):
            ref = data[key]
            found = resolve_location(ref, base=path.parent, work_dir=work, where=f"{path}: {key}")
            setattr(case, key, CaseFile(found, ref))
    case.inputs.update(data.get("inputs") or {})
    case.provenance = str(data.get("provenance") or case.provenance)
    return case


def _from_export(
    folder: Path, patient: str | None, work: Path, extras: dict[str, Any]
) -> PatientCase:
    bundles = read_ndjson_patients(folder, patient)
    if len(bundles) != 1:
        raise DataFormatError(
            f"{folder}: the export holds {len(bundles)} patients; name one (--patient / "
            f"fhir_patient:), e.g. {next(iter(bundles))}."
        )
    case = from_bundle(next(iter(bundles.values())), base=folder, work_dir=work)
    case.format = "fhir-ndjson"
    return case


def _text(concept: Any) -> tuple[str | None, str | None, str]:
    """``(code, system, display)`` of a CodeableConcept's first coding."""
    if concept is None:
        return None, None, ""
    coding = (concept.coding or [None])[0]
    code = coding.code if coding else None
    system = coding.system if coding else None
    display = concept.text or (coding.display if coding else None) or code or ""
    return code, system, str(display)


def _when(resource: Any, *names: str) -> str | None:
    for name in names:
        value = getattr(resource, name, None)
        if value is not None:
            return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return None


def observations(bundle: FhirBundle) -> list[CaseObservation]:
    """Every Observation value of a Bundle (a panel's components each on their own)."""
    out = []
    for obs in bundle.of_type("Observation"):
        parts = [(obs.code, obs)] + [(c.code, c) for c in obs.component or []]
        for concept, holder in parts:
            q = holder.valueQuantity
            value = q.value if q is not None else holder.valueString or holder.valueBoolean
            if value is None and holder.valueCodeableConcept is not None:
                value = _text(holder.valueCodeableConcept)[2]
            if value is None:
                continue
            code, system, display = _text(concept)
            when = _when(obs, "effectiveDateTime", "issued")
            unit = (q.code or q.unit) if q is not None else None
            value = float(value) if q is not None else value
            out.append(CaseObservation(code, system, display, value, unit, when))
    return out


def from_bundle(bundle: FhirBundle, *, base: Path, work_dir: Path) -> PatientCase:
    """The case a validated Bundle describes (exactly one Patient)."""
    patients = bundle.of_type("Patient")
    if len(patients) != 1:
        raise DataFormatError(
            f"{bundle.source}: expected exactly one Patient; got {len(patients)}."
        )
    pat = patients[0]
    case = PatientCase(source=bundle.source, format="fhir-bundle", patient=f"Patient/{pat.id}")
    case.sex = pat.gender
    case.birth_date = pat.birthDate
    case.provenance = " ".join(bundle.tags)
    case.observations = observations(bundle)
    dates = [o.date for o in case.observations if o.date]
    for cond in bundle.of_type("Condition"):
        code, system, display = _text(cond.code)
        status = _text(cond.verificationStatus)[0]
        onset = _when(cond, "onsetDateTime", "recordedDate")
        if any(c.code == code and c.display == display for c in case.conditions):
            continue  # the same diagnosis recorded again (Synthea repeats findings per encounter)
        case.conditions.append(CaseCondition(code, system, display, status != "refuted", onset))
        dates += [onset] if onset else []
    for med in bundle.of_type("MedicationStatement") + bundle.of_type("MedicationRequest"):
        name = _text(med.medicationCodeableConcept)[2] or "medication"
        if name not in case.medications:
            case.medications.append(name)
    for res in bundle.of_type("DocumentReference") + bundle.of_type("Media"):
        contents = res.content if isinstance(res.content, list) else [res.content]
        for n, content in enumerate(contents):
            att = getattr(content, "attachment", content)
            where = f"{bundle.source}: {res.get_resource_type()}/{res.id} content[{n}]"
            _attach(case, att.url, att.contentType or "", att.title or "", base, work_dir, where)
    for seq in bundle.of_type("MolecularSequence"):
        for n, repo in enumerate(seq.repository or []):
            if repo.url:
                where = f"{bundle.source}: MolecularSequence/{seq.id} repository[{n}]"
                _attach(case, repo.url, "text/vcf", repo.name or "", base, work_dir, where)
    if pat.deceasedDateTime is not None:
        case.as_of = pat.deceasedDateTime.date()
    elif dates:
        case.as_of = max(parse_date(d, bundle.source) for d in dates)
    return case


def _attach(
    case: PatientCase,
    url: str | None,
    content_type: str,
    title: str,
    base: Path,
    work: Path,
    where: str,
) -> None:
    if not url:
        raise DataFormatError(f"{where}: expected an attachment url (a file); got none.")
    lower = url.lower()
    path = resolve_location(url, base=base, work_dir=work, where=where)
    if "fasta" in content_type or lower.endswith(FASTA_SUFFIXES):
        case.reference = CaseFile(path, url, title)
    elif "vcf" in content_type or lower.endswith(VCF_SUFFIXES):
        case.vcf = CaseFile(path, url, title)
    elif (
        content_type.startswith(("image/", "application/dicom"))
        or lower.startswith("dataset:")
        or lower.endswith(IMAGE_SUFFIXES)
    ):
        case.images.append(CaseFile(path, url, title))
    else:
        raise DataFormatError(
            f"{where}: expected an image (image/*, application/dicom), a VCF or a FASTA; got "
            "contentType "
            f"{content_type!r} for {url!r}."
        )


__all__ = ["from_bundle", "load_case"]
