"""Write a patient report: ``report.html`` (self-contained: figures inlined as data URIs),
``report.json`` and the FHIR R4B resources (:func:`~precisionmed.report.fhir_out.write_fhir`)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from precisionmed.report.case import PatientCase
from precisionmed.report.fhir_out import write_fhir
from precisionmed.report.figures import describe_calibration
from precisionmed.report.reading import load_case
from precisionmed.report.run import ReportRun, run_models

#: Said in every report whose case does not state where its data come from.
NO_PROVENANCE = "The case does not state where its data come from."


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _fmt(value: Any, key: str = "") -> str:
    if value is None:  # a median survival time beyond follow-up is None in the record
        return "not reached" if "median" in key else "none"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_html(run: ReportRun) -> str:
    """The report as one HTML page (jinja2 template ``templates/report.html.j2``)."""
    import jinja2

    from precisionmed import __version__

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("precisionmed.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    provenance = run.case.provenance or NO_PROVENANCE
    return env.get_template("report.html.j2").render(
        case=run.case,
        sections=run.sections,
        models=run.models,
        provenance=provenance,
        version=__version__,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        data_uri=_data_uri,
        fmt=_fmt,
        calibration=describe_calibration,
    )


def write_report(
    case: str | Path | PatientCase,
    models_dir: str | Path,
    out_dir: str | Path,
    *,
    patient: str | None = None,
) -> dict[str, Any]:
    """Read a case, run every applicable model of ``models_dir`` on it and write the report.

    Parameters
    ----------
    case : str, Path or PatientCase
        A FHIR Bundle, a bulk FHIR export folder, a YAML/JSON case file
        (:func:`~precisionmed.report.case.load_case`), or a case already read.
    models_dir : str or Path
        Each subfolder a trained model directory.
    out_dir : str or Path
        The report folder: ``report.html``, ``report.json``, ``fhir/``, ``figures/``, ``inputs/``.
    patient : str, optional
        The Patient id in a bulk export.

    Returns
    -------
    dict
        ``report.json``'s content plus ``files`` (the paths written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(case, PatientCase):
        case = load_case(case, work_dir=out, patient=patient)
    run = run_models(case, models_dir, out)
    html = render_html(run)
    (out / "report.html").write_text(html)
    fhir_files = write_fhir(run, html, out)
    data = {
        "case": case.summary(),
        "provenance": case.provenance or NO_PROVENANCE,
        "sections": [s.to_dict() for s in run.sections],
        "models": run.models,
    }
    from precisionmed.jsonable import json_default

    (out / "report.json").write_text(
        json.dumps(data, indent=2, allow_nan=False, default=json_default)
    )
    data["files"] = [str(out / "report.html"), str(out / "report.json"), *map(str, fhir_files)]
    return data


__all__ = ["NO_PROVENANCE", "render_html", "write_report"]
