"""A patient case: what the report runs the models on (:class:`PatientCase`), and where its files
are (:func:`resolve_location`).

File locations (an attachment URL, a case file's ``images``/``vcf``) are: a path relative to the
case file, ``mirror:REL`` (a file of the data mirror, ``PRECISIONMED_DATA_MIRROR``), or
``dataset:NAME/SPLIT/INDEX`` (one image of a catalog image dataset, fetched and verified by the
data layer and written as a PNG into the report's ``inputs/`` folder), so that example cases name
public data instead of copying it. :func:`~precisionmed.report.reading.load_case` reads a case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from precisionmed.errors import DataFormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".nii", ".nii.gz", ".npz", ".tif", ".tiff")
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".bcf")
FASTA_SUFFIXES = (".fa", ".fa.gz", ".fasta", ".fasta.gz", ".fna", ".fna.gz")


@dataclass(frozen=True)
class CaseObservation:
    """One measurement: a LOINC (or other) code, its value and unit, and when."""

    code: str | None
    system: str | None
    display: str
    value: Any
    unit: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class CaseCondition:
    """A diagnosis; ``present`` False for a refuted one (``verificationStatus: refuted``)."""

    code: str | None
    system: str | None
    display: str
    present: bool = True
    onset: str | None = None


@dataclass(frozen=True)
class CaseFile:
    """An image or a VCF of the case: the local file and what the case called it."""

    path: Path
    reference: str
    description: str = ""


@dataclass
class PatientCase:
    """Everything the report knows about one patient.

    Attributes
    ----------
    source : str
        The file (or export folder and Patient) the case came from.
    format : {"fhir-bundle", "fhir-ndjson", "case-file"}
    patient : str
        The patient's reference (``Patient/<id>``) as the source names it.
    sex : str or None
        ``"male"``, ``"female"``, ``"other"``, ``"unknown"`` (FHIR administrative gender).
    birth_date : date or None
    as_of : date
        The date ages are computed at: the case's ``date``, else the latest dated resource.
    observations, conditions, medications : lists
    images : list of CaseFile
    vcf : CaseFile or None
    reference : CaseFile or None
        The reference genome (FASTA) the VCF's variants are scored against.
    inputs : dict
        Model input columns given by name (case files only).
    provenance : str
        Where the data comes from (e.g. "built from public data: ...").
    """

    source: str
    format: str
    patient: str
    sex: str | None = None
    birth_date: dt.date | None = None
    as_of: dt.date = field(default_factory=dt.date.today)
    observations: list[CaseObservation] = field(default_factory=list)
    conditions: list[CaseCondition] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    images: list[CaseFile] = field(default_factory=list)
    vcf: CaseFile | None = None
    reference: CaseFile | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    provenance: str = ""

    @property
    def age(self) -> float | None:
        """Age in years at :attr:`as_of` (None without a birth date)."""
        if self.birth_date is None:
            return None
        return round((self.as_of - self.birth_date).days / 365.25, 1)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the case (what the report shows under "Patient")."""
        return {
            "source": self.source,
            "format": self.format,
            "patient": self.patient,
            "sex": self.sex,
            "age": self.age,
            "as_of": self.as_of.isoformat(),
            "observations": [o.__dict__ for o in self.observations],
            "conditions": [c.__dict__ for c in self.conditions],
            "medications": list(self.medications),
            "images": [{"path": str(f.path), "reference": f.reference} for f in self.images],
            "vcf": None
            if self.vcf is None
            else {"path": str(self.vcf.path), "reference": self.vcf.reference},
            "reference": None if self.reference is None else str(self.reference.path),
            "inputs": dict(self.inputs),
            "provenance": self.provenance,
        }


def resolve_location(ref: str, *, base: Path, work_dir: Path, where: str) -> Path:
    """The local file a case names (see the module docstring for the forms).

    Raises
    ------
    DataFormatError
        A remote URL, an unknown dataset, a missing file (``where`` names the case and field).
    """
    ref = str(ref)
    if ref.startswith("dataset:"):
        return _dataset_image(ref, work_dir, where)
    if ref.startswith("mirror:"):
        from precisionmed.config import get_settings

        mirror = get_settings().data_mirror
        if not mirror or "://" in mirror.removeprefix("file://"):
            raise DataFormatError(
                f"{where}: {ref!r} names a file of the data mirror, but PRECISIONMED_DATA_MIRROR "
                f"is not a local folder (got {mirror!r})."
            )
        path = Path(mirror.removeprefix("file://")) / ref.removeprefix("mirror:")
    elif ref.startswith(("http://", "https://")):
        raise DataFormatError(
            f"{where}: {ref!r} is a remote URL; the report reads local files only."
        )
    else:
        path = Path(ref.removeprefix("file://"))
        path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DataFormatError(f"{where}: {ref!r} resolves to {path}, which does not exist.")
    return path


def _dataset_image(ref: str, work_dir: Path, where: str) -> Path:
    """``dataset:NAME/SPLIT/INDEX``: one image of a catalog dataset (MedMNIST ``.npz`` layout:
    ``<split>_images``), written as an 8-bit PNG."""
    import numpy as np
    from PIL import Image

    from precisionmed.data import fetch_file, get_dataset

    parts = ref.removeprefix("dataset:").split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise DataFormatError(f"{where}: expected dataset:NAME/SPLIT/INDEX; got {ref!r}.")
    name, split, index = parts[0], parts[1], int(parts[2])
    spec = get_dataset(name)
    npz = [f for f in spec.files if f.path.endswith(".npz")]
    if not npz:
        raise DataFormatError(f"{where}: dataset {name!r} has no image archive (.npz).")
    with np.load(fetch_file(npz[0])) as data:
        key = f"{split}_images"
        if key not in data or not 0 <= index < len(data[key]):
            n = len(data[key]) if key in data else 0
            raise DataFormatError(
                f"{where}: {ref!r}: expected split train/val/test and an index below {n}."
            )
        image = np.asarray(data[key][index])
    out = work_dir / "inputs" / f"{name}_{split}_{index}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.astype(np.uint8)).save(out)
    return out


def parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise DataFormatError(f"{where}: expected a date YYYY-MM-DD; got {value!r}.") from exc


__all__ = ["CaseCondition", "CaseFile", "CaseObservation", "PatientCase", "resolve_location"]
