"""Service settings: read from the environment (prefix ``PRECISIONMED_``), unsafe values refused.

Follows the FastAPI full-stack template's ``core/config.py``: one typed settings object handed to
:func:`precisionmed.service.create_app`, never a module-level singleton, and a secret key that
must be set to something strong (the template refuses ``"changethis"``; we also refuse short
keys, because an HS256 key shorter than 32 bytes can be brute-forced offline from one token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from precisionmed.errors import ConfigError

#: Secret keys seen in examples and templates; a service started with one is refused.
UNSAFE_SECRETS = frozenset({"changethis", "secret", "changeme", "password", "dev", "test"})
MIN_SECRET_BYTES = 32


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "precisionmed" / "service"


class DatabaseSettings(BaseSettings):
    """Where the service keeps its data: all that the migrations and ``precisionmed users`` need.

    Attributes
    ----------
    data_dir : Path
        Folder of the embedded database, the de-identified uploads and the generated secret key
        (``PRECISIONMED_DATA_DIR``).
    database_url : str or None
        SQLAlchemy URL (``PRECISIONMED_DATABASE_URL``): ``sqlite:///path.db`` or
        ``postgresql+psycopg://user@host:port/db``; None means SQLite in ``data_dir``.
    feedback_cap_per_user : float in (0, 1]
        Largest share of the training feedback one user may hold
        (``PRECISIONMED_FEEDBACK_CAP_PER_USER``; ``precisionmed retrain``).
    feedback_holdout_fraction : float in (0, 1)
        Share of the accepted feedback held out to compare a candidate with production.
    sqlite_synchronous : {"full", "normal"}
        SQLite's ``PRAGMA synchronous`` (``PRECISIONMED_SQLITE_SYNCHRONOUS``). ``full`` (the
        default): every commit is fsynced, so an acknowledged write survives a power cut.
        ``normal``: commits are not fsynced (WAL mode); an acknowledged write still survives
        the server being killed, but the last ones may be lost in a power cut or kernel crash.
        Ignored for PostgreSQL.
    """

    model_config = SettingsConfigDict(env_prefix="PRECISIONMED_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    feedback_cap_per_user: float = Field(default=0.2, gt=0, le=1)
    feedback_holdout_fraction: float = Field(default=0.3, gt=0, lt=1)
    sqlite_synchronous: Literal["full", "normal"] = "full"

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _known_database(self) -> DatabaseSettings:
        url = self.database_url
        if url is not None and not url.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError(
                "database_url must start with 'sqlite:///' or 'postgresql+psycopg://'; "
                f"got {url.split(':', 1)[0]!r}"
            )
        return self

    @property
    def registry_dir(self) -> Path:
        """Where ``precisionmed retrain`` writes candidate model directories."""
        return self.data_dir / "registry"

    @property
    def resolved_database_url(self) -> str:
        """The database URL: ``database_url``, or SQLite at ``data_dir/service.db``."""
        return self.database_url or f"sqlite:///{self.data_dir / 'service.db'}"


class ServiceSettings(DatabaseSettings):
    """Settings of the telemedicine service (those of :class:`DatabaseSettings` and these).

    Attributes
    ----------
    secret_key : SecretStr
        HS256 key signing the bearer tokens (``PRECISIONMED_SECRET_KEY``); at least 32
        characters and not a placeholder. ``precisionmed serve`` creates one in ``data_dir``
        when the variable is unset.
    models_dir : Path or None
        Folder whose sub-folders are the production model directories
        (``PRECISIONMED_MODELS_DIR``).
    token_expire_minutes : int
        Lifetime of a bearer token.
    max_upload_bytes : int
        Largest accepted upload (HTTP 413 above it).
    max_decoded_bytes : int
        Largest decompressed size of a compressed upload (gzip NIfTI) or decoded image
        (pixels x bytes per pixel): a zip bomb is refused before it is inflated.
    rate_limit_per_minute : float
        Requests a user may make per minute on average (token bucket refill rate).
    rate_limit_burst : int
        Requests a user may make at once (token bucket size).
    drift_window : int
        Recent inputs per model compared with the training statistics on ``/metrics`` (and the
        size of the running baseline when the model directory records none).
    inference_backend : {"onnxruntime", "torch"}
        How image classifiers are run (``PRECISIONMED_INFERENCE_BACKEND``): ONNX Runtime (torch
        where it is not possible) or torch.
    onnx_cache_dir : Path or None
        Where exported networks are cached, one file per model version
        (``PRECISIONMED_ONNX_CACHE_DIR``); None: ``data_dir/onnx``.
    batch_max_size : int
        Largest batch of queued image predictions of one model (1: no batching).
    batch_max_wait_ms : float
        How long the first of queued image predictions waits for others to batch with. The
        default 0 batches only the requests that queued while the previous batch was predicted
        (under load they do; without load a wait only adds latency to each request).
    reference_fasta : Path or None
        The reference genome (FASTA, ``PRECISIONMED_REFERENCE_FASTA``) VCFs are scored against by
        variant-effect models; None: those models are not run (polygenic scores still are).
    job_workers : int
        Background jobs (molecule generation, optimisation) run at once; one per user at most.
    job_queue_limit : int
        Jobs queued or running at most; a further submission is refused with 429.
    """

    secret_key: SecretStr
    models_dir: Path | None = None
    token_expire_minutes: int = Field(default=60, gt=0, le=24 * 60)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_decoded_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    rate_limit_per_minute: float = Field(default=120.0, gt=0)
    rate_limit_burst: int = Field(default=30, gt=0)
    drift_window: int = Field(default=50, ge=2, le=100_000)
    inference_backend: Literal["onnxruntime", "torch"] = "onnxruntime"
    onnx_cache_dir: Path | None = None
    batch_max_size: int = Field(default=16, ge=1, le=1024)
    batch_max_wait_ms: float = Field(default=0.0, ge=0, le=1000)
    reference_fasta: Path | None = None
    job_workers: int = Field(default=1, ge=1, le=64)
    job_queue_limit: int = Field(default=20, ge=1, le=10_000)

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text.strip().lower() in UNSAFE_SECRETS:
            raise ValueError(f"is a placeholder ({text!r}); set a random key of 32+ characters")
        if len(text.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} characters; got {len(text.encode())}"
            )
        return value

    @field_validator("models_dir")
    @classmethod
    def _expand_models_dir(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @property
    def uploads_dir(self) -> Path:
        """Where de-identified uploads are stored."""
        return self.data_dir / "uploads"

    @property
    def onnx_dir(self) -> Path | None:
        """Where exported networks are cached (None: ``inference_backend`` is torch)."""
        if self.inference_backend != "onnxruntime":
            return None
        return (self.onnx_cache_dir or self.data_dir / "onnx").expanduser()


def load_service_settings(**overrides: object) -> ServiceSettings:
    """Settings from the environment, with ``overrides`` on top.

    Raises
    ------
    ConfigError
        A value is missing, unsafe or of the wrong type; the message names the variable.
    """
    try:
        return ServiceSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"PRECISIONMED_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: "
            f"{err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid service settings: {problems}") from None


def stored_secret_key(data_dir: Path) -> str:
    """The secret key kept in ``data_dir/secret_key``, created (random, mode 0600) if absent.

    ``precisionmed serve`` uses it when ``PRECISIONMED_SECRET_KEY`` is unset, so that the
    embedded set-up needs no configuration and tokens survive a restart.
    """
    import os
    import secrets

    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
