"""FHIR R4 input: a Bundle file, or a bulk-data export (NDJSON) grouped per patient.

Resources are validated with ``fhir.resources.R4B`` (the package's default models are R5 and
reject R4 resources such as Synthea's). Every entry is validated on its own, so an error names
the file, the entry and the resource:

- :func:`read_bundle` reads a ``Bundle`` (JSON): an unknown ``resourceType``, an invalid
  resource or a reference that does not resolve is a :class:`~precisionmed.errors.DataFormatError`
  naming the file, the resource (``Observation/bp-1``) and the reference.
- :func:`read_ndjson_patients` reads a bulk export folder (``Patient.000.ndjson``,
  ``Condition.000.ndjson``..., one resource per line, e.g. Synthea's) and groups the resources per
  patient into one Bundle each (:func:`group_by_patient`).

A reference must resolve inside the Bundle when it is a ``urn:uuid:``/``urn:oid:`` reference, the
``subject``/``patient`` of a resource, or a relative ``Type/id`` of a type the Bundle holds; other
references (``Practitioner?identifier=...``, a type the Bundle does not carry) point at a server
and are left alone, as FHIR allows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precisionmed.errors import DataFormatError, require_extra

#: The keys whose reference must always resolve: the patient a resource is about.
PATIENT_KEYS = ("subject", "patient")


@dataclass(frozen=True)
class FhirBundle:
    """A validated Bundle: its resources (fhir.resources R4B models) in entry order.

    Attributes
    ----------
    source : str
        The file (or ``folder#Patient/id`` for a grouped bulk export) the Bundle came from.
    resources : tuple
        The validated R4B resource models.
    full_urls : tuple of str or None
        Each entry's ``fullUrl``.
    tags : tuple of str
        The Bundle's ``meta.tag`` displays (e.g. where the case's data come from).
    """

    source: str
    resources: tuple[Any, ...]
    full_urls: tuple[str | None, ...]
    tags: tuple[str, ...] = ()

    def of_type(self, resource_type: str) -> list[Any]:
        """The resources of one type (``"Observation"``...), in entry order."""
        return [r for r in self.resources if r.get_resource_type() == resource_type]

    def resolve(self, reference: str) -> Any | None:
        """The resource a reference points at (``urn:uuid:...``, ``Type/id``), or None."""
        return _index(self.resources, self.full_urls).get(reference)


def model_class(resource_type: str, *, where: str) -> Any:
    """The ``fhir.resources.R4B`` class of ``resource_type``.

    Raises
    ------
    DataFormatError
        ``resource_type`` is not a FHIR R4B resource type (``where`` names the file and entry).
    """
    require_extra("fhir.resources", "report")
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(str(resource_type))
    except (KeyError, ValueError, AttributeError) as exc:
        raise DataFormatError(
            f"{where}: resourceType {resource_type!r} is not a FHIR R4B resource type "
            "(expected e.g. Patient, Observation, Condition, MedicationStatement, "
            "DocumentReference, Media)."
        ) from exc


def validate_resource(data: Mapping[str, Any], *, where: str) -> Any:
    """One resource (a JSON dict) as its validated R4B model; errors name ``where``."""
    if not isinstance(data, Mapping) or "resourceType" not in data:
        raise DataFormatError(
            f"{where}: expected a FHIR resource with a resourceType; got {data!r:.80}"
        )
    cls = model_class(data["resourceType"], where=where)
    name = f"{data['resourceType']}/{data.get('id', '?')}"
    try:
        return cls.model_validate(dict(data))
    except Exception as exc:  # pydantic.ValidationError: keep its first error only
        errors = getattr(exc, "errors", None)
        first = errors()[0] if callable(errors) else {"msg": str(exc), "loc": ()}
        field = ".".join(str(p) for p in first.get("loc", ())) or "?"
        raise DataFormatError(
            f"{where}: {name} is not a valid FHIR R4B {data['resourceType']} "
            f"(field {field}: {first.get('msg')})"
        ) from exc


def read_bundle(path: str | Path) -> FhirBundle:
    """Read and check a FHIR R4 ``Bundle`` JSON file.

    Parameters
    ----------
    path : str or Path
        A JSON file holding one Bundle.

    Returns
    -------
    FhirBundle

    Raises
    ------
    DataFormatError
        Not JSON, not a Bundle, an entry with an unknown resource type or an invalid resource,
        a reference that does not resolve (the message names the file, resource and reference).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: expected a FHIR Bundle in JSON; {exc}") from exc
    return bundle_from_dict(data, source=str(path))


def bundle_from_dict(data: Mapping[str, Any], *, source: str) -> FhirBundle:
    """:func:`read_bundle` on an already parsed Bundle (``source`` names it in errors)."""
    if not isinstance(data, Mapping) or data.get("resourceType") != "Bundle":
        got = data.get("resourceType") if isinstance(data, Mapping) else type(data).__name__
        raise DataFormatError(
            f"{source}: expected a FHIR Bundle (resourceType 'Bundle'); got {got!r}"
        )
    entries = data.get("entry") or []
    resources, urls = [], []
    for i, entry in enumerate(entries):
        where = f"{source}: entry {i}"
        if not isinstance(entry, Mapping) or "resource" not in entry:
            raise DataFormatError(
                f"{where}: expected an object with a 'resource'; got {entry!r:.80}"
            )
        resources.append(validate_resource(entry["resource"], where=where))
        urls.append(entry.get("fullUrl"))
    # the Bundle's own fields (type, id...), with its entries already checked above
    validate_resource({k: v for k, v in data.items() if k != "entry"}, where=source)
    tags = tuple(
        str(t.get("display") or t.get("code")) for t in (data.get("meta") or {}).get("tag", [])
    )
    bundle = FhirBundle(source, tuple(resources), tuple(urls), tags)
    check_references(bundle, [e["resource"] for e in entries])
    return bundle


def _index(resources: Sequence[Any], full_urls: Sequence[str | None]) -> dict[str, Any]:
    index: dict[str, Any] = {}
    for resource, url in zip(resources, full_urls, strict=True):
        if resource.id:
            index[f"{resource.get_resource_type()}/{resource.id}"] = resource
        if url:
            index[url] = resource
            if "://" in url and url.count("/") >= 4:  # http://server/base/Type/id -> Type/id
                index["/".join(url.rsplit("/", 2)[-2:])] = resource
    return index


def _references(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every ``(field, reference)`` in a resource's JSON form."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield key, v
            elif k != "contained":
                yield from _references(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v, key)


def check_references(bundle: FhirBundle, raw: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Raise a :class:`DataFormatError` for the first reference that must resolve and does not
    (see the module docstring for which must). ``raw``: the resources' JSON form, when at hand
    (faster than dumping the models again)."""
    index = _index(bundle.resources, bundle.full_urls)
    types = {r.get_resource_type() for r in bundle.resources}
    if raw is None:
        raw = [r.model_dump(mode="json") for r in bundle.resources]
    for resource, data in zip(bundle.resources, raw, strict=True):
        name = f"{resource.get_resource_type()}/{resource.id or '?'}"
        for field, ref in _references(data):
            if ref.startswith("#") or ref in index:
                continue
            local = ref.startswith(("urn:uuid:", "urn:oid:"))
            relative = "?" not in ref and "://" not in ref and ref.count("/") == 1
            must = local or field in PATIENT_KEYS or (relative and ref.split("/")[0] in types)
            if must:
                raise DataFormatError(
                    f"{bundle.source}: {name} field {field!r} refers to {ref!r}, which is not in "
                    "the Bundle (expected an entry with that fullUrl or resourceType/id)."
                )


def read_ndjson(path: str | Path) -> list[dict[str, Any]]:
    """The resources of one NDJSON file (one JSON resource per line), unvalidated."""
    path = Path(path)
    out = []
    with path.open() as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataFormatError(
                    f"{path}: line {n}: expected one JSON resource; {exc}"
                ) from exc
            if not isinstance(out[-1], Mapping) or "resourceType" not in out[-1]:
                raise DataFormatError(
                    f"{path}: line {n}: expected a FHIR resource with a resourceType"
                )
    return out


def _patient_of(resource: Mapping[str, Any]) -> str | None:
    for key in PATIENT_KEYS:
        ref = resource.get(key)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return ref["reference"].removeprefix("urn:uuid:").rsplit("/", 1)[-1]
    return None


def group_by_patient(
    resources: Sequence[Mapping[str, Any]], *, source: str
) -> dict[str, dict[str, Any]]:
    """Group bulk-export resources into one ``collection`` Bundle (JSON form) per Patient.

    A resource goes with the patient its ``subject``/``patient`` names; resources about no patient
    are left out. Returns ``{patient id: bundle dict}`` in the Patients' order.
    """
    bundles: dict[str, list[Mapping[str, Any]]] = {}
    for r in resources:
        if r.get("resourceType") == "Patient":
            bundles.setdefault(str(r.get("id")), []).insert(0, r)
    for r in resources:
        owner = _patient_of(r)
        if r.get("resourceType") != "Patient" and owner is not None:
            if owner not in bundles:
                name = f"{r.get('resourceType')}/{r.get('id', '?')}"
                raise DataFormatError(
                    f"{source}: {name} refers to Patient/{owner}, which is not in the export."
                )
            bundles[owner].append(r)
    return {
        pid: {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": dict(r)} for r in rs],
        }
        for pid, rs in bundles.items()
    }


def read_ndjson_patients(folder: str | Path, patient: str | None = None) -> dict[str, FhirBundle]:
    """Read a bulk-data export folder and group it per patient (see :func:`group_by_patient`).

    Parameters
    ----------
    folder : str or Path
        Holds ``*.ndjson`` files, one resource per line; the export's ``log.ndjson`` is skipped.
    patient : str, optional
        Only this Patient's id (the others are not validated).

    Returns
    -------
    dict of str to FhirBundle
        One validated Bundle per patient, named ``FOLDER#Patient/<id>``.

    Raises
    ------
    DataFormatError
        No NDJSON file, a bad line (file and line named), an unknown patient.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.ndjson") if not p.name.startswith("log."))
    if not files:
        raise DataFormatError(f"{folder}: expected a bulk FHIR export (*.ndjson files); found none")
    resources = [r for f in files for r in read_ndjson(f)]
    grouped = group_by_patient(resources, source=str(folder))
    if patient is not None:
        if patient not in grouped:
            raise DataFormatError(
                f"{folder}: no Patient/{patient} in the export (it has {len(grouped)} patients)."
            )
        grouped = {patient: grouped[patient]}
    return {
        pid: bundle_from_dict(b, source=f"{folder}#Patient/{pid}") for pid, b in grouped.items()
    }


__all__ = [
    "FhirBundle",
    "bundle_from_dict",
    "check_references",
    "group_by_patient",
    "model_class",
    "read_bundle",
    "read_ndjson",
    "read_ndjson_patients",
    "validate_resource",
]
