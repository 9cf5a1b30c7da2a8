"""The clinicians' web page: ``GET /`` and its script and style sheet under ``/static/``.

The page and its script hold no data and are served without a token (a browser cannot send a
bearer token when it navigates); everything they show comes from the token-protected API. The
Content-Security-Policy allows scripts from this origin only, and the script writes data with
``textContent``, never as HTML, so that text in a case cannot run as code. Images and files that
need the token (Grad-CAM overlays, masks, the HTML report) are fetched by the script and shown from
``blob:`` URLs; the HTML report is shown in a sandboxed frame (no script), whose one style block
the policy admits by its hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)


@functools.cache
def report_style_source() -> str:
    """The CSP source admitting the report's one ``<style>`` block (by its sha256), so that a
    report shown in the page's sandboxed frame (which inherits this policy) keeps its layout
    while no other inline style, and no inline script, may run."""
    template = files("precisionmed.report") / "templates" / "report.html.j2"
    found = re.search(r"<style>(.*?)</style>", template.read_text(encoding="utf-8"), re.DOTALL)
    if found is None:
        return ""
    digest = hashlib.sha256(found.group(1).encode("utf-8")).digest()
    return f" 'sha256-{base64.b64encode(digest).decode()}'"


def page_headers() -> dict[str, str]:
    """The page's security headers: scripts, styles, frames from this origin only (images also
    from data: and blob: URLs, which the script makes from responses fetched with the token)."""
    csp = (
        "default-src 'self'; img-src 'self' data: blob:; "
        f"style-src 'self'{report_style_source()}; frame-ancestors 'none'"
    )
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff"}


def _asset(name: str) -> str:
    return (files("precisionmed.service") / "web" / name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    """The web page: sign in, submit a case, see the prediction, give feedback."""
    return HTMLResponse(_asset("index.html"), headers=page_headers())


@router.get("/static/app.js")
def script() -> Response:
    """The page's script."""
    return Response(_asset("app.js"), media_type="text/javascript", headers=page_headers())


@router.get("/static/common.js")
def common_script() -> Response:
    """What the clinicians' and the admins' pages share (the token, calls to the API)."""
    return Response(_asset("common.js"), media_type="text/javascript", headers=page_headers())


@router.get("/static/app.css")
def stylesheet() -> Response:
    """The page's style sheet."""
    return Response(_asset("app.css"), media_type="text/css", headers=page_headers())
