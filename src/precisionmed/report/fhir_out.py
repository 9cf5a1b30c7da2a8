"""The report as FHIR R4B resources: one ``RiskAssessment`` per risk-type finding and one
``DiagnosticReport`` carrying the HTML report, each validated with ``fhir.resources.R4B``.

A RiskAssessment's ``prediction`` holds a probability only where the model gives one (a class
probability; a survival model's probability of the event by a horizon, ``1 - S(t)``); its
``method`` names the model and version and its ``note`` the calibration and the interval
(R4B's ``probability[x]`` holds a decimal *or* a range, not both).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from precisionmed.io.fhir import validate_resource
from precisionmed.predict import PredictionRecord
from precisionmed.report.figures import describe_calibration, describe_interval
from precisionmed.report.run import Finding, ReportRun


def _horizon(record: PredictionRecord) -> tuple[float, float, str] | None:
    """``(time, 1 - S(time), unit)`` at one year (days) or mid follow-up."""
    times, surv = record.details.get("times"), record.details.get("survival")
    if not times or not surv:
        return None
    unit = str(record.details.get("time_unit") or "")
    target = 365.0 if unit == "days" and times[0] <= 365 <= times[-1] else times[len(times) // 2]
    i = min(range(len(times)), key=lambda j: abs(times[j] - target))
    return float(times[i]), 1.0 - float(surv[i]), unit


def risk_assessment(finding: Finding, record: PredictionRecord, patient: str) -> dict[str, Any]:
    """The ``RiskAssessment`` (JSON form) of one record of a finding."""
    predictions: list[dict[str, Any]] = []
    horizon = _horizon(record)
    if record.abstained:
        pass
    elif horizon is not None:
        t, p, unit = horizon
        predictions.append(
            {
                "outcome": {"text": f"event by {t:g} {unit}"},
                "probabilityDecimal": round(min(max(p, 0.0), 1.0), 6),
                "whenRange": {"high": {"value": round(t, 3), "unit": unit or "time"}},
            }
        )
    else:
        for label, value in record.values.items():
            if isinstance(value, int | float) and 0.0 <= value <= 1.0:
                predictions.append(
                    {"outcome": {"text": str(label)}, "probabilityDecimal": round(float(value), 6)}
                )
    notes = [describe_calibration(record.calibration), describe_interval(record)]
    if record.interval:
        notes += [f"{k}: [{lo}, {hi}]" for k, (lo, hi) in record.interval.items()]
    notes += list(record.warnings)
    return {
        "resourceType": "RiskAssessment",
        "id": str(uuid.uuid4()),
        "status": "final",
        "subject": {"reference": patient},
        "method": {"text": f"{finding.model} (version {finding.version or 'not saved'})"},
        "basis": [],
        "prediction": predictions or None,
        "note": [{"text": n} for n in notes],
    }


def write_fhir(run: ReportRun, html: str, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/fhir/RiskAssessment-N.json`` and ``DiagnosticReport.json``, each
    validated with ``fhir.resources.R4B`` before it is written. Returns the files."""
    folder = Path(out_dir) / "fhir"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    risk_ids = []
    n = 0
    for section in run.sections:
        # a ranking, changes, a score with its coverage: no probabilities, not RiskAssessments
        if section.key in ("treatment", "variants", "prs"):
            continue
        for finding in section.findings:
            for record in finding.records:
                n += 1
                data = {
                    k: v
                    for k, v in risk_assessment(finding, record, run.case.patient).items()
                    if v not in (None, [])
                }
                model = validate_resource(data, where=f"RiskAssessment {n}")
                path = folder / f"RiskAssessment-{n}.json"
                path.write_text(model.model_dump_json(indent=2))
                written.append(path)
                risk_ids.append(data["id"])
    lines = [
        f"{s.title}: "
        + ("assessed" if s.assessed else "not assessed (" + " ".join(s.reasons) + ")")
        for s in run.sections
    ]
    for finding in run.section("treatment").findings:
        for record in finding.records:
            said = record.details.get("recommendation") or record.prediction
            lines.append(f"Treatment ({finding.model}): {said}; {describe_interval(record)}.")
    report = {
        "resourceType": "DiagnosticReport",
        "id": str(uuid.uuid4()),
        "status": "preliminary",
        "code": {"text": "precisionmed patient report (decision support, not a diagnosis)"},
        "subject": {"reference": run.case.patient},
        "effectiveDateTime": run.case.as_of.isoformat(),
        "issued": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "conclusion": "\n".join(lines),
        "presentedForm": [
            {
                "contentType": "text/html",
                "title": "report.html",
                "data": base64.b64encode(html.encode()).decode(),
            }
        ],
        "extension": [
            {"url": "urn:precisionmed:risk-assessments", "valueString": json.dumps(risk_ids)}
        ],
    }
    model = validate_resource(report, where="DiagnosticReport")
    path = folder / "DiagnosticReport.json"
    path.write_text(model.model_dump_json(indent=2))
    written.append(path)
    return written


__all__ = ["risk_assessment", "write_fhir"]
