"""Settings read from the environment (prefix ``PRECISIONMED_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from precisionmed.errors import ConfigError


def _default_cache() -> Path:
    return Path.home() / ".cache" / "precisionmed"


class Settings(BaseSettings):
    """Process-wide settings.

    Attributes
    ----------
    cache : Path
        Where downloaded datasets are kept (``PRECISIONMED_CACHE``, default
        ``~/.cache/precisionmed``; ``~`` is expanded).
    data_mirror : str or None
        A local folder laid out like the canonical data tree (a path or a ``file://`` URL), or an
        http(s) base URL, tried before each file's canonical URL (``PRECISIONMED_DATA_MIRROR``).
        Empty means none.
    download_timeout : float
        Seconds to wait for a server (to connect, or between two reads) before giving up on it
        (``PRECISIONMED_DOWNLOAD_TIMEOUT``).
    signing_key : SecretStr or None
        Key of the HMAC-SHA256 signature of model directories (``PRECISIONMED_SIGNING_KEY``):
        when set, saving signs ``manifest.json`` and loading refuses an unsigned directory or
        one signed with another key. Empty means none.
    """

    model_config = SettingsConfigDict(env_prefix="PRECISIONMED_", extra="ignore")

    cache: Path = Field(default_factory=_default_cache)
    data_mirror: str | None = None
    download_timeout: float = Field(default=60.0, gt=0)
    signing_key: SecretStr | None = None

    @field_validator("cache")
    @classmethod
    def _expand_cache(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("data_mirror")
    @classmethod
    def _blank_mirror_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("signing_key")
    @classmethod
    def _blank_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None


def get_settings() -> Settings:
    """Read the settings from the environment now (never cached, so tests can change them).

    Raises
    ------
    ConfigError
        An environment variable has a value of the wrong type or range.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PRECISIONMED_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']} "
            f"(got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid precisionmed settings in the environment: {problems}") from None
