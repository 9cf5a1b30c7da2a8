"""The patient report: one case in (FHIR R4 Bundle, bulk FHIR export, or a case file), every
applicable trained model run on it through :func:`precisionmed.load`, a self-contained HTML report,
``report.json`` and FHIR R4B ``RiskAssessment``/``DiagnosticReport`` resources out.

It uses the pillars only through their predictors (:mod:`precisionmed.predict`).
"""

from precisionmed.report.case import PatientCase
from precisionmed.report.inputs import map_case
from precisionmed.report.reading import load_case
from precisionmed.report.run import SECTIONS, run_models
from precisionmed.report.writer import render_html, write_report

__all__ = [
    "SECTIONS",
    "PatientCase",
    "load_case",
    "map_case",
    "render_html",
    "run_models",
    "write_report",
]
