"""The clinicians' web page: ``GET /`` and its script and style sheet under ``/static/``.

The page and its script hold no data and are served without a token (a browser cannot send a
bearer token when it navigates); everything they show comes from the token-protected API. The
Content-Security-Policy allows scripts from this origin only, and the script writes data with
``textContent``, never as HTML, so that text in a case cannot run as code.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
CSP = "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'"
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


def _asset(name: str) -> str:
    return (files("precisionmed.service") / "web" / name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    """The web page: sign in, submit a case, see the prediction, give feedback."""
    return HTMLResponse(_asset("index.html"), headers=HEADERS)


@router.get("/static/app.js")
def script() -> Response:
    """The page's script."""
    return Response(_asset("app.js"), media_type="text/javascript", headers=HEADERS)


@router.get("/static/app.css")
def stylesheet() -> Response:
    """The page's style sheet."""
    return Response(_asset("app.css"), media_type="text/css", headers=HEADERS)
