"""The telemedicine service: an authenticated API over the pillars' predictors.

``create_app(settings)`` builds the FastAPI app (see :mod:`precisionmed.service.app`);
``precisionmed serve`` runs it with uvicorn. Needs the ``service`` extra.
"""

from precisionmed.errors import require_extra

require_extra("fastapi", "service")

from precisionmed.service.app import create_app  # noqa: E402
from precisionmed.service.config import ServiceSettings, load_service_settings  # noqa: E402

__all__ = ["ServiceSettings", "create_app", "load_service_settings"]
