"""Settings read from the environment (prefix ``PRECISIONMED_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache() -> Path:
    return Path.home() / ".cache" / "precisionmed"


class Settings(BaseSettings):
    """Process-wide settings.

    Attributes
    ----------
    cache : Path
        Where downloaded datasets are kept (``PRECISIONMED_CACHE``).
    data_mirror : str or None
        A local folder laid out like the canonical data tree, or an http(s) base URL, tried
        before each file's canonical URL (``PRECISIONMED_DATA_MIRROR``).
    download_timeout : float
        Seconds to wait for a server before giving up on it.
    """

    model_config = SettingsConfigDict(env_prefix="PRECISIONMED_", extra="ignore")

    cache: Path = Field(default_factory=_default_cache)
    data_mirror: str | None = None
    download_timeout: float = 60.0


def get_settings() -> Settings:
    """Read the settings from the environment now (never cached, so tests can change them)."""
    return Settings()
