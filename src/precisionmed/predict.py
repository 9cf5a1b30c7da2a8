"""The predictor contract every pillar implements: input specification, prediction records.

``precisionmed.load(model_dir)`` returns a :class:`Predictor`:

- :attr:`Predictor.input_spec` says what the model was trained on: an :class:`ImageInputSpec`
  (modality, photometric interpretation, channels, spatial size, intensity range and scaling)
  or a :class:`TableInputSpec` (columns with their type and training range or categories). It is
  recorded in ``config.json`` under ``input_spec`` at training and read back; model directories
  written before it existed get one derived from the rest of their config.
- :meth:`Predictor.predict` takes the pillar's inputs (image files, a table of patients...) and
  returns one :class:`PredictionRecord` per input: typed, JSON-safe (no NaN or infinity ever:
  ``json.dumps(record.to_dict(), allow_nan=False)`` always succeeds), carrying the model's name
  and version (the sha256 of its directory's manifest) and plain-sentence warnings for inputs
  unlike the training data.

This module imports nothing heavy, so a service or a report can read records and specs without
torch or scikit-learn.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from precisionmed.artifacts.store import Artifact

#: DICOM Modality (0008,0060) codes of the images each catalog modality stands for. An input
#: whose DICOM modality is not among its model's codes gets a warning.
DICOM_MODALITIES: dict[str, tuple[str, ...]] = {
    "x-ray": ("CR", "DX", "DR", "RG", "RF"),
    "ct": ("CT",),
    "mri": ("MR",),
    "ultrasound": ("US",),
    "pathology": ("SM", "GM"),
    "dermatoscope": ("XC", "DMS"),
    "fundus camera": ("OP", "XC"),
    "oct": ("OPT",),
    "electron microscope": ("SM", "GM"),
}


def dicom_modalities(modality: str | None) -> tuple[str, ...]:
    """DICOM Modality codes of a catalog modality (``"x-ray"`` -> CR, DX...); () if unknown."""
    if modality is None:
        return ()
    key = modality.lower()
    return DICOM_MODALITIES.get(key, (modality.upper(),) if len(modality) <= 3 else ())


@dataclass(frozen=True)
class ImageInputSpec:
    """What an image model was trained on.

    Attributes
    ----------
    modality : str or None
        The training data's modality as the catalog names it (``"x-ray"``, ``"mri"``...).
    dicom_modalities : tuple of str
        DICOM Modality codes of such images (``("CR", "DX", ...)``); a DICOM input of another
        modality is predicted with a warning.
    photometric : {"MONOCHROME2", "RGB"}
        Grey images with higher values brighter, or colour images.
    channels : int
        Input channels of the network.
    spatial_dims : int
        2 (``H, W``) or 3 (``D, H, W``).
    size : tuple of int
        Spatial shape of the network input; other sizes are resized (with a warning when by
        more than :data:`RESIZE_WARNING_FACTOR`).
    source_range : tuple of float or None
        Range of the training images' values as stored (``(0, 255)`` for 8-bit images); float
        inputs without a declared range are taken to be in it.
    intensity_range : tuple of float or None
        Range of the network's input values after scaling (``(0, 1)``); None when scaled per
        image (z-score).
    scaling : str
        How a file's values become network input.
    spacing_mm : tuple of float or None
        Training voxel size (segmentation models).
    orientation : str or None
        Training axis codes, e.g. ``"RAS"`` (segmentation models).
    resize : {"stretch", "letterbox"}
        How an image of another shape is fitted to ``size``: ``"stretch"`` resizes each axis on
        its own (aspect ratio lost; models saved before this was recorded); ``"letterbox"``
        keeps the aspect ratio and pads the rest with zeros (2D classifiers, at train and
        predict time alike).
    """

    modality: str | None
    dicom_modalities: tuple[str, ...]
    photometric: str
    channels: int
    spatial_dims: int
    size: tuple[int, ...] | None
    source_range: tuple[float, float] | None
    intensity_range: tuple[float, float] | None
    scaling: str
    spacing_mm: tuple[float, ...] | None = None
    orientation: str | None = None
    resize: str = "stretch"
    kind: Literal["image"] = "image"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples as lists), stored in ``config.json`` under ``input_spec``."""
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageInputSpec:
        """Inverse of :meth:`to_dict`."""

        def tup(key: str, cast: type) -> Any:
            value = data.get(key)
            return None if value is None else tuple(cast(v) for v in value)

        return cls(
            modality=data.get("modality"),
            dicom_modalities=tuple(data.get("dicom_modalities") or ()),
            photometric=str(data.get("photometric", "MONOCHROME2")),
            channels=int(data["channels"]),
            spatial_dims=int(data["spatial_dims"]),
            size=tup("size", int),
            source_range=tup("source_range", float),
            intensity_range=tup("intensity_range", float),
            scaling=str(data.get("scaling", "")),
            spacing_mm=tup("spacing_mm", float),
            orientation=data.get("orientation"),
            resize=str(data.get("resize") or "stretch"),
        )


def modality_warning(modality: str | None, spec: ImageInputSpec, what: str = "image") -> str | None:
    """A sentence when an input's DICOM ``modality`` is not one the model was trained on.

    None when it is, or when either side is unknown (a PNG declares no modality).
    """
    if not modality or not spec.dicom_modalities:
        return None
    if str(modality).upper() in spec.dicom_modalities:
        return None
    return (
        f"The {what}'s DICOM modality is {modality}; the model was trained on {spec.modality} "
        f"{what}s ({', '.join(spec.dicom_modalities)}), so its prediction for this {what} is not "
        "reliable."
    )


#: A resize by more than this factor along any axis is reported in the record's warnings.
RESIZE_WARNING_FACTOR = 4.0


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a tabular model, as seen in training.

    Attributes
    ----------
    name : str
    kind : {"numeric", "categorical"}
    dtype : str
        The training dtype (``"float64"``, ``"category"``...).
    categories : list or None
        Categorical columns: the values seen in training.
    min, max : float or None
        Numeric columns: the training range (values outside it are predicted with a warning).
    """

    name: str
    kind: str
    dtype: str
    categories: list[Any] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TableInputSpec:
    """What a tabular model was trained on: its ordered input columns."""

    columns: tuple[ColumnSpec, ...]
    kind: Literal["table"] = "table"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in ``config.json`` under ``input_spec``."""
        return {"kind": self.kind, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableInputSpec:
        """Inverse of :meth:`to_dict`; also reads a clinical ``input_schema`` dict."""
        return cls(columns=tuple(ColumnSpec(**c) for c in data["columns"]))


@dataclass(frozen=True)
class MoleculeInputSpec:
    """What a molecule model was trained on: SMILES, standardised and featurised so.

    Attributes
    ----------
    format : str
        ``"smiles"``.
    standardisation : tuple of str
        The steps applied to every input, in order (``"largest-organic-fragment"``...).
    featurizer : dict
        How a molecule becomes model input (``{"name": "ecfp4-2048", "radius": 2, ...}``).
    n_training_molecules : int
    applicability_threshold : float or None
        Nearest-neighbour Tanimoto similarity to the training set below which a prediction
        is flagged as outside the applicability domain.
    """

    format: str
    standardisation: tuple[str, ...]
    featurizer: dict[str, Any]
    n_training_molecules: int
    applicability_threshold: float | None = None
    kind: Literal["molecule"] = "molecule"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in ``config.json`` under ``input_spec``."""
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MoleculeInputSpec:
        """Inverse of :meth:`to_dict`."""
        threshold = data.get("applicability_threshold")
        return cls(
            format=str(data["format"]),
            standardisation=tuple(data.get("standardisation") or ()),
            featurizer=dict(data.get("featurizer") or {}),
            n_training_molecules=int(data["n_training_molecules"]),
            applicability_threshold=None if threshold is None else float(threshold),
        )


@dataclass(frozen=True)
class SequenceInputSpec:
    """What a DNA sequence model was trained on.

    Attributes
    ----------
    alphabet : str
        Columns of the one-hot encoding (``"ACGT"``).
    length : int
        Network input length: shorter sequences are zero-padded, longer ones cut to the centre.
    ambiguity : str
        How ambiguous IUPAC codes (``N``...) are encoded.
    padding : str
    task : {"binary", "multi-class", "multi-label"}
    class_names : tuple of str
    both_strands : bool
        Predictions average a sequence and its reverse complement.
    n_training_sequences : int
    """

    alphabet: str
    length: int
    ambiguity: str
    padding: str
    task: str
    class_names: tuple[str, ...]
    both_strands: bool
    n_training_sequences: int
    kind: Literal["sequence"] = "sequence"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in ``config.json`` under ``input_spec``."""
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequenceInputSpec:
        """Inverse of :meth:`to_dict`."""
        fields = {k: v for k, v in data.items() if k != "kind"}
        return cls(**{**fields, "class_names": tuple(data["class_names"])})


@dataclass(frozen=True)
class VcfInputSpec:
    """A model that takes one sample of a VCF (a polygenic score).

    Attributes
    ----------
    genome_build : str or None
        The build of the model's positions (``GRCh37``, ``GRCh38``), None where unknown.
    """

    genome_build: str | None = None
    kind: Literal["vcf"] = "vcf"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in ``config.json`` under ``input_spec``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VcfInputSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(genome_build=data.get("genome_build"))


InputSpec = ImageInputSpec | TableInputSpec | MoleculeInputSpec | SequenceInputSpec | VcfInputSpec


def input_spec_from_dict(data: Mapping[str, Any]) -> InputSpec:
    """An :class:`ImageInputSpec`, :class:`TableInputSpec` or :class:`MoleculeInputSpec` from
    its ``to_dict()`` form."""
    if data.get("kind") == "table":
        return TableInputSpec.from_dict(data)
    if data.get("kind") == "molecule":
        return MoleculeInputSpec.from_dict(data)
    if data.get("kind") == "sequence":
        return SequenceInputSpec.from_dict(data)
    if data.get("kind") == "vcf":
        return VcfInputSpec.from_dict(data)
    return ImageInputSpec.from_dict(data)


@dataclass(frozen=True)
class PredictionRecord:
    """One prediction, for one input, in a form every consumer (CLI, report, service) reads.

    Attributes
    ----------
    model : str
        The model's name (e.g. ``"reference-cnn on pneumoniamnist"``).
    model_version : str or None
        sha256 of the model directory's manifest (None for a model not loaded from disk).
    kind : str
        The predictor kind (``"image-classifier"``, ``"clinical-model"``...).
    input : str
        What was predicted: a file path, ``"row 3"``, a patient identifier.
    prediction : str, float, list of str or None
        The headline answer: the most probable class, the labels above 0.5 (multi-label), a
        risk score, or None where there is none.
    values : dict of str to float or None
        The numbers behind it: class probabilities, risk and median survival time, segmented
        volumes... (None where undefined, e.g. a median survival not reached).
    interval : dict of str to [low, high] or None
        For some keys of ``values``, an interval at ``interval_level``.
    interval_level : float or None
        The intervals' coverage level (0.95...), None without intervals.
    calibration : dict or None
        How the values are calibrated (method, temperature, calibration error on test).
    warnings : tuple of str
        Plain sentences about this input: unlike the training data, values replaced, resized.
    details : dict
        Pillar-specific, JSON-safe extras (a survival curve, a lesion list...).
    abstained : bool
        True where the model declined to predict (an input far outside its training data): the
        headline and the values are None and a warning says why.
    in_distribution : bool or None
        Whether the input looks like the training data (imaging: metadata and a feature-space
        score, see :mod:`precisionmed.imaging.ood`); None where the model cannot tell.
    ood_score : float or None
        The out-of-distribution score behind ``in_distribution`` (higher: less familiar).

    Non-finite numbers anywhere in the record become None, with a warning naming the field, so
    that :meth:`to_dict` is always valid JSON (``allow_nan=False``).
    """

    model: str
    model_version: str | None
    kind: str
    input: str
    prediction: Any
    values: dict[str, float | None]
    interval: dict[str, list[float | None]] | None = None
    interval_level: float | None = None
    calibration: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    abstained: bool = False
    in_distribution: bool | None = None
    ood_score: float | None = None

    def __post_init__(self) -> None:
        notes: list[str] = []
        names = ("prediction", "values", "interval", "interval_level", "calibration", "ood_score")
        for name in names:
            object.__setattr__(self, name, _finite(getattr(self, name), name, notes))
        object.__setattr__(self, "details", _finite(self.details, "details", notes))
        object.__setattr__(self, "warnings", (*(str(w) for w in self.warnings), *notes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: plain dicts, lists, str, float, int, bool and None."""
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out


def write_records(records: Sequence[PredictionRecord], out_dir: str | Path) -> Path:
    """Write ``out_dir/predictions.json``: the records as a JSON list (no NaN: see
    :meth:`PredictionRecord.to_dict`); ``out_dir`` is created. Returns the file's path."""
    import json

    from precisionmed.jsonable import json_default

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.json"
    path.write_text(
        json.dumps([r.to_dict() for r in records], indent=2, allow_nan=False, default=json_default)
    )
    return path


def _finite(value: Any, where: str, notes: list[str]) -> Any:
    """``value`` with NumPy scalars/arrays made plain and non-finite floats made None."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()  # NumPy / torch scalars and arrays
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append(f"{where} was {value} (not a finite number) and is reported as null.")
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v, f"{where}.{k}", notes) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_finite(v, where, notes) for v in value]
    return str(value)


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_listify(v) for v in value]
    return value


class Predictor(ABC):
    """Base class of every predictor :func:`precisionmed.load` returns.

    A subclass is registered for its model-directory kind with
    :func:`precisionmed.artifacts.register_predictor` and implements :meth:`from_artifact`,
    :attr:`input_spec` and :meth:`predict`. It sets ``self.artifact`` (the loaded directory, or
    None for a model built in memory) so that records carry the model's version.
    """

    #: The model-directory kind this class predicts for (``config.json``'s ``kind``).
    kind: ClassVar[str] = ""
    artifact: Artifact | None = None

    @classmethod
    @abstractmethod
    def from_artifact(cls, artifact: Artifact) -> Predictor:
        """Build the predictor from a checked model directory."""

    @property
    @abstractmethod
    def input_spec(self) -> InputSpec:
        """What the model was trained on (see :class:`ImageInputSpec`, :class:`TableInputSpec`)."""

    @abstractmethod
    def predict(self, inputs: Any) -> list[PredictionRecord]:
        """One :class:`PredictionRecord` per input."""

    @property
    def model_name(self) -> str:
        """A short human name: ``"<model> on <dataset>"`` where the config says so."""
        config = dict(getattr(self, "config", None) or {})
        model = config.get("architecture") or config.get("model") or self.kind
        if isinstance(model, Mapping):
            model = model.get("name", self.kind)
        dataset = config.get("dataset")
        if isinstance(dataset, Mapping):
            dataset = dataset.get("name")
        return f"{model} on {dataset}" if dataset else str(model)

    @property
    def model_version(self) -> str | None:
        """sha256 of the model directory's manifest; None for a model not loaded from disk."""
        return None if self.artifact is None else self.artifact.version

    def record(
        self, input: str, prediction: Any, values: Mapping[str, Any], **fields: Any
    ) -> PredictionRecord:
        """A :class:`PredictionRecord` stamped with this model's name, version and kind."""
        return PredictionRecord(
            model=self.model_name,
            model_version=self.model_version,
            kind=self.kind,
            input=input,
            prediction=prediction,
            values=dict(values),
            **fields,
        )


__all__ = [
    "DICOM_MODALITIES",
    "RESIZE_WARNING_FACTOR",
    "ColumnSpec",
    "ImageInputSpec",
    "InputSpec",
    "MoleculeInputSpec",
    "PredictionRecord",
    "Predictor",
    "SequenceInputSpec",
    "TableInputSpec",
    "VcfInputSpec",
    "dicom_modalities",
    "input_spec_from_dict",
    "modality_warning",
    "write_records",
]
