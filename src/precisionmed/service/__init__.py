"""The telemedicine service: an authenticated API over the pillars' predictors.

``create_app(settings)`` builds the FastAPI app (see :mod:`precisionmed.service.app`);
``precisionmed serve`` runs it with uvicorn. Needs the ``service`` extra. The names are
imported on first use (PEP 562), so that ``precisionmed users ...`` does not import FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from precisionmed.errors import require_extra

require_extra("sqlalchemy", "service")

if TYPE_CHECKING:
    from precisionmed.service.app import create_app
    from precisionmed.service.config import ServiceSettings, load_service_settings

_EXPORTS = {
    "create_app": "precisionmed.service.app",
    "ServiceSettings": "precisionmed.service.config",
    "load_service_settings": "precisionmed.service.config",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = ["ServiceSettings", "create_app", "load_service_settings"]
