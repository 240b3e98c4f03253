"""``qa serve``: the HTTP API over qa.api.QA (FastAPI). ``create_app(qa, settings)`` builds the app.

Routes: POST /ask (qa.server.ask: JSON, or server-sent events with ``Accept: text/event-stream``),
POST/GET/DELETE /documents (qa.server.documents), GET /health and /metrics (qa.server.ops), and the
OpenAPI schema at /openapi.json. Blocking QA calls run off the event loop: answers in the bounded
generation pool (qa.server.pool), the rest in starlette's thread pool; writes go through
qa.server.service one batch at a time. The bearer token and body limits are qa.server.guard's; every
error has one JSON shape (qa.server.errors).

One process serves one QA. To scale out, run several ``qa serve`` processes against one Chroma
server (QA_CHROMA_URL); each notices documents the others ingest.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from qa.api import QA
from qa.errors import DocumentNotFoundError, NoDocumentsError, QAError
from qa.server import ask, documents, ops, page
from qa.server.context import AppContext
from qa.server.errors import error_response, qa_error_response
from qa.server.guard import GuardMiddleware
from qa.server.metrics import ServerMetrics
from qa.server.pool import Generations
from qa.server.service import Service
from qa.settings import Settings

log = logging.getLogger("qa.server")


ROUTERS = (ask.router, documents.router, ops.router, page.router)


def _route_label(scope: Scope) -> str:
    """The route template a request matched, for metrics ("/documents/{doc_id}"), or "other"."""
    for route in (r for router in ROUTERS for r in router.routes):
        match, _ = route.matches(scope)
        if match != Match.NONE:  # the template without converters, e.g. /documents/{doc_id}
            return str(getattr(route, "path_format", None) or getattr(route, "path", "other"))
    return "other"


def create_app(qa: QA, settings: Settings) -> FastAPI:
    """The FastAPI app serving ``qa``, limited and guarded by ``settings.serve`` (QA_SERVE_* variables)."""
    serve = settings.serve
    metrics = ServerMetrics()
    gens = Generations(serve.max_concurrent, serve.max_queue, serve.retry_after_s)
    service = Service(qa, settings, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from qa.server.guard import install_access_log_redactor

        install_access_log_redactor()  # here, after the ASGI server set up its loggers
        gens.start()
        yield
        gens.shutdown()

    app = FastAPI(
        title="article-qa",
        summary="Questions about news articles, answered with verified quotes.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.context = AppContext(qa, settings, gens, metrics, service)

    # -- errors: one JSON shape, stable codes, never a stack trace ---------------------------------------

    @app.exception_handler(QAError)
    async def on_qa_error(_request: Request, exc: QAError) -> Response:
        # The CLI's hints name `qa` commands and a server folder; a client gets the API's.
        if isinstance(exc, NoDocumentsError):
            exc = NoDocumentsError("no documents have been ingested yet", hint="add articles with POST /documents")
        elif isinstance(exc, DocumentNotFoundError):
            exc = DocumentNotFoundError(exc.message, hint="GET /documents lists them")
        return qa_error_response(exc, retry_after_s=serve.retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in list(exc.errors())[:5]
        )
        return error_response(422, "bad_input", f"invalid request: {problems}", "see /openapi.json for the schema")

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "bad_input")
        if exc.status_code >= 500:
            code = "internal"
        resp = error_response(exc.status_code, code, str(exc.detail), retry_after_s=serve.retry_after_s)
        for key, value in (exc.headers or {}).items():
            resp.headers[key] = value
        return resp

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(
            500, "internal", "internal error", "retry; if it persists, the server log has the details"
        )

    for router in ROUTERS:
        app.include_router(router)

    app.add_middleware(
        GuardMiddleware,
        serve=serve,
        label=_route_label,
        on_response=metrics.request,
        public_paths=page.PUBLIC_PATHS,
    )
    if serve.cors_origins:  # outermost, so browser preflights are answered without a token
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=serve.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
        )
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("article-qa")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
