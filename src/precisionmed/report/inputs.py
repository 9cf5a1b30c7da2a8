"""Map a patient case onto a tabular model's input columns (its ``TableInputSpec``).

A column is filled, in this order, from: the case file's ``inputs`` (by column name), an
Observation whose LOINC code is known for that column (:data:`LOINC_COLUMNS`, unit checked and
converted where a factor is known), the patient's age or sex, or a Condition whose SNOMED CT code
is known for that column (:data:`SNOMED_COLUMNS`: present -> ``"1"``, refuted -> ``"0"``). A column
found nowhere is *missing*: it is passed as an empty cell, which the model imputes and reports as
a warning on its record, and the report lists it. The tables are hand-written (no library maps
study column names to LOINC): they cover the catalog's clinical cohorts (WHAS500, Pima, UCI heart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from precisionmed.predict import TableInputSpec
from precisionmed.report.case import PatientCase

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

#: column name -> (LOINC codes, unit, {other unit: factor to ``unit``}, what it is).
LOINC_COLUMNS: dict[str, tuple[tuple[str, ...], str, dict[str, float], str]] = {
    "bmi": (("39156-5",), "kg/m2", {}, "body mass index"),
    "mass": (("39156-5",), "kg/m2", {}, "body mass index (Pima)"),
    "sysbp": (("8480-6",), "mm[Hg]", {"mmHg": 1.0}, "systolic blood pressure"),
    "sbp": (("8480-6",), "mm[Hg]", {"mmHg": 1.0}, "systolic blood pressure (NHEFS)"),
    "dbp": (("8462-4",), "mm[Hg]", {"mmHg": 1.0}, "diastolic blood pressure (NHEFS)"),
    "trestbps": (("8480-6",), "mm[Hg]", {"mmHg": 1.0}, "resting systolic blood pressure"),
    "diasbp": (("8462-4",), "mm[Hg]", {"mmHg": 1.0}, "diastolic blood pressure"),
    "pressure": (("8462-4",), "mm[Hg]", {"mmHg": 1.0}, "diastolic blood pressure (Pima)"),
    "hr": (("8867-4",), "/min", {"beats/min": 1.0, "{beats}/min": 1.0}, "heart rate"),
    "glucose": (("2345-7", "2339-0"), "mg/dL", {"mmol/L": 18.016}, "glucose"),
    "chol": (("2093-3",), "mg/dL", {"mmol/L": 38.67}, "total cholesterol"),
    "insulin": (("20448-7",), "u[IU]/mL", {"uU/mL": 1.0}, "insulin"),
    "triceps": (("39107-2",), "mm", {}, "triceps skinfold thickness"),
    "wt71": (("29463-7",), "kg", {"[lb_av]": 0.45359237}, "body weight at baseline (NHEFS)"),
    "ht": (("8302-2",), "cm", {"[in_i]": 2.54}, "body height (NHEFS)"),
    # cigarettes per day from "Cigarettes smoked current (pack per day)": 20 per pack
    "smokeintensity": (("8663-7",), "{cigarettes}/d", {"{pack}/d": 20.0}, "cigarettes per day"),
}

#: column name -> (SNOMED CT codes of the condition, what it is); present "1", refuted "0".
SNOMED_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "afb": (("49436004",), "atrial fibrillation"),
    "chf": (("42343007", "88805009"), "congestive heart failure"),
    "cvd": (("49601007", "53741008", "22298006", "230690007"), "history of cardiovascular disease"),
    "sho": (("89138009",), "cardiogenic shock"),
    "av3": (("27885002",), "complete atrioventricular block"),
}

#: sex columns -> the code of each FHIR administrative gender (the catalog cohorts' convention:
#: WHAS500 gender and NHEFS sex, 0 = male, 1 = female). A column whose categories are words
#: ("female", "male") gets the word.
SEX_COLUMNS: dict[str, dict[str, str]] = {
    "gender": {"male": "0", "female": "1"},
    "sex": {"male": "0", "female": "1"},
}


@dataclass
class ColumnMapping:
    """The case as one row of a model's inputs.

    Attributes
    ----------
    row : dict of str to value
        Column -> value (None where missing).
    sources : dict of str to str
        Column -> where its value came from (``"LOINC 8480-6 (2024-01-02)"``...).
    missing : list of str
        Columns the case does not give.
    notes : list of str
        Unit conversions and values that could not be used.
    """

    row: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_known(self) -> int:
        """How many columns have a value."""
        return len(self.row) - len(self.missing)


def _latest(case: PatientCase, codes: tuple[str, ...]) -> Any:
    found = [o for o in case.observations if o.code in codes and o.system in (LOINC, None)]
    return max(found, key=lambda o: o.date or "") if found else None


def map_case(case: PatientCase, spec: TableInputSpec) -> ColumnMapping:
    """Fill ``spec``'s columns from ``case`` (see the module docstring).

    Parameters
    ----------
    case : PatientCase
    spec : TableInputSpec
        The model's input columns.

    Returns
    -------
    ColumnMapping
    """
    out = ColumnMapping()
    for col in spec.columns:
        name, value, source = col.name, None, ""
        key = name.lower()
        if name in case.inputs:
            value, source = case.inputs[name], "case file inputs"
        elif key in LOINC_COLUMNS:
            codes, unit, factors, _what = LOINC_COLUMNS[key]
            obs = _latest(case, codes)
            if obs is not None:
                value, source = obs.value, f"LOINC {obs.code} ({obs.date or 'undated'})"
                if obs.unit and obs.unit != unit:
                    if obs.unit in factors:
                        value = float(obs.value) * factors[obs.unit]
                        out.notes.append(
                            f"{name}: {obs.value} {obs.unit} converted to {value:.4g} {unit}."
                        )
                    else:
                        out.notes.append(
                            f"{name}: LOINC {obs.code} is in {obs.unit!r}, expected {unit!r}; "
                            "not used."
                        )
                        value, source = None, ""
        elif key == "age" and case.age is not None:
            value, source = case.age, f"birth date, at {case.as_of.isoformat()}"
        elif key in SEX_COLUMNS and case.sex in SEX_COLUMNS[key]:
            coded = SEX_COLUMNS[key][case.sex]
            if col.kind == "numeric":
                value = float(coded)
            else:
                words = [str(c).lower() for c in col.categories or []]
                value = case.sex if case.sex in words else coded
            source = f"Patient.gender ({case.sex}; {SEX_COLUMNS[key]})"
        elif key in SNOMED_COLUMNS:
            codes, _what = SNOMED_COLUMNS[key]
            found = [c for c in case.conditions if c.code in codes]
            if found:
                present = any(c.present for c in found)
                value = "1" if present else "0"
                source = f"SNOMED CT {found[0].code} ({'present' if present else 'refuted'})"
        out.row[name] = value
        if value is None:
            out.missing.append(name)
        else:
            out.sources[name] = source
    return out


__all__ = ["LOINC_COLUMNS", "SEX_COLUMNS", "SNOMED_COLUMNS", "ColumnMapping", "map_case"]
