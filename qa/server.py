"""``qa serve``: the HTTP API over qa.api.QA (FastAPI). ``create_app(qa, settings)`` builds the app.

POST /ask (JSON, or SSE with ``Accept: text/event-stream``), POST/GET /documents, DELETE
/documents/{id}, GET /health, GET /metrics, and the OpenAPI schema at /openapi.json. Blocking QA
calls run off the event loop: answers in the bounded pool of qa.server_runtime, the rest in
starlette's thread pool. Retrieval and writes (ingest in batches, remove) share one lock, because QA's
lexical index is rebuilt in place when the store changes; listing and generation run concurrently
(qa.server_service). Limits, auth and the error format are in qa.server_security.

One process serves one QA. To scale out, run several ``qa serve`` processes against one Chroma
server (QA_CHROMA_URL); each notices documents the others ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from qa.answer import MAX_QUESTION_CHARS
from qa.api import QA
from qa.errors import DocumentNotFoundError, InputError, NoDocumentsError, QAError
from qa.models import Answer, DocumentInfo, Filters, IngestReport
from qa.server_runtime import PING, Generations, Job, Metrics
from qa.server_security import (
    ErrorBody,
    GuardMiddleware,
    ServeSettings,
    classify,
    error_payload,
    error_response,
    qa_error_response,
)
from qa.server_service import Articles, DocId, Health, HistoryTurn, Service, Text, public_answer
from qa.settings import Settings

log = logging.getLogger("qa.server")

_SSE_PING_S = 15.0


class AskRequest(BaseModel):
    """A question, optionally limited to some documents, optionally following earlier turns."""

    model_config = ConfigDict(extra="forbid")
    question: Text = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question about the articles.")
    k: StrictInt | None = Field(
        default=None, ge=1, le=20, description="Passages given to the model (default QA_RETRIEVAL_K)."
    )
    doc_ids: list[DocId] | None = Field(
        default=None, max_length=200, description="Only search these documents (unknown ids: 404)."
    )
    source: str | None = Field(default=None, max_length=500, description="Only documents from exactly this source.")
    title: str | None = Field(default=None, max_length=500, description="Only documents with exactly this title.")
    published_after: date | None = Field(default=None, description="Only documents published on or after (ISO).")
    published_before: date | None = Field(default=None, description="Only documents published on or before (ISO).")
    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=40,
        description='Earlier turns, oldest first. When the question leans on them ("Which unit are they '
        'from?"), it is first rewritten into a standalone question, as `qa chat` does; `question` in the '
        "Answer is then the rewritten one.",
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in {
        400: "Bad input (code bad_input)",
        401: "Missing or wrong bearer token (code unauthorized)",
        413: "Body too large (code too_large)",
        422: "Invalid request (code bad_input)",
        500: "Internal or configuration error (codes internal, store_mismatch)",
        503: "Busy or a dependency is down (codes overloaded, model_unavailable, store_unavailable); see Retry-After",
    }.items()
}


def _errors(*extra: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {**_ERRORS, **{s: {"model": ErrorBody, "description": d} for s, d in extra}}


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined (for openapi_extra, which can't add components)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return dict(resolve(schema))


def _route_label(app: FastAPI, scope: Scope) -> str:
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match != Match.NONE:  # the template without converters, e.g. /documents/{doc_id}
            return str(getattr(route, "path_format", None) or getattr(route, "path", "other"))
    return "other"


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def _while_connected(
    request: Request, work: Callable[[Any, Callable[[], bool]], IngestReport], arg: Any
) -> IngestReport:
    """Run an ingest in the thread pool, telling it when the client has gone (checked every 0.25 s)."""
    gone = threading.Event()
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            if await request.is_disconnected():
                gone.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.25)

    watcher = asyncio.create_task(watch())
    try:
        return await run_in_threadpool(work, arg, gone.is_set)
    finally:
        done.set()
        await watcher


def create_app(qa: QA, settings: Settings, serve: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app serving ``qa``. ``serve`` defaults to ServeSettings() (QA_SERVE_* variables).

    ``qa.retrieve`` is wrapped with the app's index lock, so use ``qa`` for one app only.
    """
    serve = serve or ServeSettings()
    metrics = Metrics()
    gens = Generations(serve.max_concurrent, serve.max_queue, serve.retry_after_s)
    service = Service(qa, settings, serve, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from qa.server_security import install_access_log_redactor

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
    app.state.metrics, app.state.generations, app.state.service = metrics, gens, service

    # -- errors: one JSON shape, stable codes, never a stack trace ---------------------------------------

    @app.exception_handler(QAError)
    async def on_qa_error(_request: Request, exc: QAError) -> Response:
        if isinstance(exc, NoDocumentsError):  # the CLI's wording names a server folder and `qa ingest`
            exc = NoDocumentsError("no documents have been ingested yet", hint="add articles with POST /documents")
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

    # -- routes ----------------------------------------------------------------------------------------------

    @app.post(
        "/ask",
        response_model=Answer,
        summary="Answer a question with verified citations",
        responses={
            200: {
                "description": "The Answer (as `qa ask --json`). With Accept: text/event-stream: `event: token` "
                'events (data {"text": delta}), then `event: answer` (data: the Answer) or `event: error`.',
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **_errors(
                (404, "A document in doc_ids does not exist (code document_not_found)"),
                (409, "Nothing ingested yet (code no_documents)"),
                (502, "The model replied with something unusable (code model_output)"),
                (504, "No answer within QA_SERVE_ASK_TIMEOUT_S (code timeout)"),
            ),
        },
    )
    async def ask(body: AskRequest, request: Request) -> Response:
        deadline = time.monotonic() + serve.ask_timeout_s
        job = Job(loop=asyncio.get_running_loop(), deadline=deadline, timeout_s=serve.ask_timeout_s)
        filters = Filters(
            source=body.source,
            title=body.title,
            published_after=body.published_after.isoformat() if body.published_after else None,
            published_before=body.published_before.isoformat() if body.published_before else None,
        )
        gens.submit(job, lambda: service.answer_items(body.question, body.k, body.doc_ids, body.history, filters))
        if "text/event-stream" in request.headers.get("accept", ""):
            return await _stream(job)
        try:
            async for item in job.items():
                if isinstance(item, Answer):
                    metrics.answer(time.monotonic() - job.started, item)
                    return Response(public_answer(item).model_dump_json(), media_type="application/json")
        finally:
            gens.finish(job)
        raise QAError("the answer stream ended without an answer")  # pragma: no cover - items() raises first

    async def _stream(job: Job) -> Response:
        items = job.items(ping_s=_SSE_PING_S)
        try:  # errors before the first token still get their own HTTP status
            first = await anext(items)
        except BaseException:
            gens.finish(job)
            raise

        async def events() -> AsyncIterator[str]:
            item: object = first
            try:
                while True:
                    if item is PING:
                        yield ": keep-alive\n\n"
                    elif isinstance(item, Answer):
                        metrics.answer(time.monotonic() - job.started, item)
                        yield _sse("answer", public_answer(item).model_dump_json())
                        return
                    else:
                        yield _sse("token", json.dumps({"text": item}))
                    item = await anext(items)
            except QAError as exc:
                yield _sse("error", json.dumps(error_payload(classify(exc)[1], exc.message, exc.hint)))
            except Exception:
                log.exception("internal error while streaming an answer")
                yield _sse("error", json.dumps(error_payload("internal", "internal error")))
            finally:
                gens.finish(job)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    @app.post(
        "/documents",
        response_model=IngestReport,
        summary="Add articles: multipart files, or JSON {articles: [...]}",
        description="Good files go in and bad ones are listed in `failed` (200). When nothing could be ingested "
        "the reply is 422 with the error and the report under `report`.",
        responses=_errors((415, "Neither multipart/form-data nor application/json (code bad_input)")),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                            "required": ["files"],
                        }
                    },
                    "application/json": {"schema": _inline_schema(Articles)},
                },
            }
        },
    )
    async def add_documents(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=serve.max_files, max_fields=serve.max_files)
            try:
                uploads = [v for v in form.getlist("files") if not isinstance(v, str)]
                if not uploads:
                    raise InputError(
                        'no files in the multipart field "files"', hint="curl -F files=@article.txt .../documents"
                    )
                report = await _while_connected(request, service.ingest_uploads, uploads)
            finally:
                await form.close()
        elif ctype.startswith("application/json"):
            try:
                articles = Articles.model_validate_json(await request.body())
            except ValidationError as exc:
                raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
            report = await _while_connected(request, service.ingest_articles, articles.articles)
        else:
            return error_response(
                415, "bad_input", f"unsupported content type {ctype or '(none)'!r}", "send multipart/form-data or JSON"
            )
        if report.failed and not (report.added or report.updated or report.skipped):
            msg = f"nothing could be ingested: {len(report.failed)} file(s) or record(s) failed"
            hint = "see report.failed for each reason"
            return error_response(422, "bad_input", msg, hint, report=report.model_dump(mode="json"))
        return Response(report.model_dump_json(), media_type="application/json")

    @app.get("/documents", response_model=list[DocumentInfo], summary="List the ingested documents")
    async def list_documents() -> list[DocumentInfo]:
        return await run_in_threadpool(service.documents)

    @app.delete(
        "/documents/{doc_id:path}",
        status_code=204,
        summary="Remove a document and its chunks",
        responses=_errors((404, "No such document (code document_not_found)")),
    )
    async def remove_document(doc_id: str) -> Response:
        if not doc_id:
            raise DocumentNotFoundError("no document id given", hint="GET /documents lists them")
        await run_in_threadpool(service.remove, doc_id)
        return Response(status_code=204)

    @app.get("/health", response_model=Health, summary="Store, embedder and model status")
    async def health() -> Response:
        report = await run_in_threadpool(service.health, gens)
        status = 503 if report.status == "down" else 200
        return Response(report.model_dump_json(), status_code=status, media_type="application/json")

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(gens), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(
        GuardMiddleware,
        serve=serve,
        label=lambda scope: _route_label(app, scope),
        on_response=metrics.request,
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
