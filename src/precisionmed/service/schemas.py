"""Request and response bodies (the template's schema families: ``XCreate`` in, ``XPublic`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["clinician", "researcher", "admin"]


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_in: int = Field(description="Seconds until the token expires.")


class UserCreate(BaseModel):
    """A new user; without a password one is generated and returned once."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    password: str | None = Field(default=None, min_length=12, max_length=256)


class UserPublic(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    is_active: bool
    created_at: datetime


class UserCreated(UserPublic):
    """A user just created, with the generated password when none was given."""

    password: str | None = None


class SurvivalCurve(BaseModel):
    """A patient's predicted survival function S(t) on the model's time grid."""

    times: list[float] = Field(description="Time points, in time_unit.")
    survival: list[float | None] = Field(description="S(t) at each time, in [0, 1].")
    low: list[float | None] | None = Field(default=None, description="Pointwise band, lower.")
    high: list[float | None] | None = Field(default=None, description="Pointwise band, upper.")
    band_level: float | None = Field(default=None, description="The band's coverage level.")
    time_unit: str = ""


class PredictionPublic(BaseModel):
    """One model's prediction for a case: the headline and the full record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    model_name: str
    model_version: str | None
    model_kind: str
    prediction: Any
    record: dict[str, Any] = Field(
        description="The model's PredictionRecord: values (e.g. class probabilities), "
        "calibration, intervals, warnings, out-of-distribution flags."
    )
    created_at: datetime
    confidence: float | None = Field(
        default=None,
        description="Single-label image classifiers: the calibrated probability of the "
        "predicted class (from record.values).",
    )
    survival_curve: SurvivalCurve | None = Field(
        default=None,
        description="Survival models: the patient's survival curve (from record.details).",
    )

    @model_validator(mode="after")
    def _derived(self) -> PredictionPublic:
        """Fill ``confidence`` and ``survival_curve`` from the record."""
        values = self.record.get("values") or {}
        if isinstance(self.prediction, str) and isinstance(values.get(self.prediction), float):
            self.confidence = values[self.prediction]
        details = self.record.get("details") or {}
        if details.get("times") and details.get("survival"):
            level = self.record.get("interval_level")
            self.survival_curve = SurvivalCurve(
                times=details["times"],
                survival=details["survival"],
                low=details.get("survival_low"),
                high=details.get("survival_high"),
                band_level=level if details.get("survival_low") else None,
                time_unit=str(details.get("time_unit") or ""),
            )
        return self


class SegmentationPublic(BaseModel):
    """A segmenter's figures for an image case."""

    model_name: str
    model_version: str
    labels: dict[str, str] = Field(description="Label value -> name (0: background).")
    shape: list[int] = Field(description="The mask's shape, (D, H, W) or (H, W).")
    spacing_mm: list[float]
    volume_mm3: dict[str, float] = Field(description="Segmented volume per label name (mm^3).")
    area_mm2: dict[str, float] = Field(
        description="Per label name, its largest cross-section over the slices (mm^2)."
    )
    lesions: list[dict[str, Any]] = Field(
        description="The largest connected structures per label: voxels, volume_mm3, bounding "
        "boxes (voxels and world mm), centroid."
    )


class ReportPublic(BaseModel):
    """A full case report, stored as a case of its submitter."""

    case_id: int
    owner_id: int
    created_at: datetime
    report: dict[str, Any] = Field(
        description="report.json: case summary, sections with findings, models used."
    )
    html_url: str = Field(description="The self-contained HTML report (needs the token).")


class FeedbackCreate(BaseModel):
    """A clinician's verdict on a case's prediction."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["confirmed", "corrected"]
    label: str = Field(min_length=1, max_length=128, description="The label the clinician gives.")
    comment: str = Field(default="", max_length=4000)
    prediction_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The prediction judged; the case's first when omitted.",
    )


class FeedbackPublic(BaseModel):
    """Stored feedback."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    prediction_id: int | None
    user_id: int
    verdict: str
    label: str
    comment: str
    accepted: bool | None
    reviewed_by: int | None = None
    reviewed_at: datetime | None = None
    created_at: datetime


class CasePublic(BaseModel):
    """A case: what was submitted (never identifiers) and what the models said."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    input_kind: str
    input_format: str
    deidentified: bool
    record: dict[str, Any] | None = Field(
        default=None, description="Patient records: the model input fields kept."
    )
    dropped_fields: list[str] = Field(
        default_factory=list,
        description="Fields of a submitted record that no model uses; not stored.",
    )
    created_at: datetime
    predictions: list[PredictionPublic]
    feedback: list[FeedbackPublic]


class ModelPublic(BaseModel):
    """A served model."""

    name: str
    version: str
    kind: str
    pillar: str
    input_kind: str
    stage: str
    input_columns: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] | None = None
    backend: str | None = Field(
        default=None, description="'onnxruntime' or 'torch'; null until the model is first used."
    )
    backend_reason: str | None = None


class ModelVersionPublic(BaseModel):
    """A registered version of a model, with the evidence the gate used."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: str
    kind: str
    pillar: str
    stage: str
    source: str | None
    path: str
    metrics: dict[str, Any] | None
    data_checksums: dict[str, Any] | None
    evaluation: dict[str, Any] | None = Field(
        default=None, description="retrain's figures and the gate's decision, when retrained."
    )
    registered_at: datetime


class FeedbackReview(BaseModel):
    """An admin's decision on feedback: may training see it?"""

    model_config = ConfigDict(extra="forbid")

    accepted: bool


class Health(BaseModel):
    """Liveness and the database's reachability."""

    status: Literal["ok", "degraded"]
    database: bool
    version: str


class VariantCasePublic(CasePublic):
    """A VCF case: each variant-effect model's per-variant changes and each polygenic score."""

    not_run: list[str] = Field(
        default_factory=list, description="Served genomics models not run on this VCF, and why."
    )


class TreatmentRequest(BaseModel):
    """One patient's covariates, for the treatment recommenders."""

    model_config = ConfigDict(extra="forbid")

    record: dict[str, Any] = Field(
        min_length=1, description="The patient's fields (covariate -> value)."
    )


class TreatmentOption(BaseModel):
    """One candidate treatment: the expected outcome and its interval."""

    treatment: str
    expected_outcome: float
    interval: list[float] | None = None


class TreatmentRanking(BaseModel):
    """One recommender's ranking for the patient, or its abstention with the reasons."""

    prediction_id: int
    model_name: str
    model_version: str | None
    recommendation: str | None = Field(description="Null when the model abstains.")
    abstained: bool
    reasons: list[str] = Field(default_factory=list, description="Why it abstains, if it does.")
    better: str | None = Field(default=None, description="'lower' or 'higher' outcome is better.")
    ranking: list[TreatmentOption] = Field(description="Best expected outcome first.")
    effect: float | None = None
    effect_interval: list[float] | None = None
    interval_level: float | None = None


class TreatmentCasePublic(CasePublic):
    """A treatment case: the stored predictions and each recommender's ranking."""

    rankings: list[TreatmentRanking] = Field(default_factory=list)


class MoleculeRequest(BaseModel):
    """SMILES to predict properties of (one molecule per row)."""

    model_config = ConfigDict(extra="forbid")

    smiles: list[str] = Field(min_length=1, max_length=1000)


class MoleculeRow(BaseModel):
    """One row: each property model's values, or the reason the row could not be read."""

    row: int
    smiles: str
    error: str | None = Field(default=None, description="Why the SMILES was not predicted.")
    predictions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Model name -> its PredictionRecord for this row."
    )


class MoleculePredictions(BaseModel):
    """Property predictions for a batch of SMILES; bad rows reported, the rest predicted."""

    models: list[str]
    n_predicted: int
    n_failed: int
    rows: list[MoleculeRow]


class GenerateJobCreate(BaseModel):
    """Sample molecules from a generator."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["generate"]
    model: str = Field(min_length=1, max_length=128, description="A served generator's name.")
    n: int = Field(default=1000, ge=1, le=100_000, description="Molecules to draw.")
    temperature: float = Field(default=1.0, gt=0, le=10)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class OptimizeJobCreate(BaseModel):
    """Fine-tune a CharRNN generator toward an objective (REINVENT)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["optimize"]
    model: str = Field(min_length=1, max_length=128, description="A served CharRNN's name.")
    objective: str = Field(
        min_length=1,
        max_length=20_000,
        description="The objective as YAML text (components: qed, sa, logp, mw, tpsa, "
        "similarity, substructure, guacamol, property with a served model's name).",
    )
    steps: int = Field(default=20, ge=1, le=1000)
    batch_size: int = Field(default=64, ge=2, le=512, description="Molecules sampled per step.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class JobPublic(BaseModel):
    """A background job and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    kind: str
    model_name: str
    model_version: str | None
    params: dict[str, Any]
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(description="Fraction done, 0 to 1.")
    error: str | None
    summary: dict[str, Any] | None = Field(
        default=None, description="Done: counts (molecules drawn, valid; steps, best score)."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
