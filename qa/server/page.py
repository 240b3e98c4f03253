"""The web page: ``GET /`` and its two static files, shipped in the package (no build step, no network).

The page holds no data, so it is served without the token; everything it shows comes from the API with
the bearer header. Its Content-Security-Policy allows scripts and styles from this server only: no
inline script, no eval, no other origin, so text from an article can never run as code.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

#: Paths the guard lets through without the token.
PUBLIC_PATHS = frozenset({"/", "/static/app.js", "/static/app.css"})

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> Response:
    body = resources.files("qa.server").joinpath("static", name).read_bytes()
    return Response(
        body,
        media_type=_FILES[name],
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/")
async def page() -> Response:
    return _asset("index.html")


@router.get("/static/app.js")
async def script() -> Response:
    return _asset("app.js")


@router.get("/static/app.css")
async def style() -> Response:
    return _asset("app.css")
