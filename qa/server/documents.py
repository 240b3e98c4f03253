"""/documents: add articles (multipart files or JSON), list them, remove one."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from qa.errors import DocumentNotFoundError, InputError
from qa.models import DocumentInfo, DocumentText, IngestReport
from qa.server.context import context
from qa.server.errors import error_response, error_responses
from qa.server.service import Articles

router = APIRouter()


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


@router.post(
    "/documents",
    response_model=IngestReport,
    summary="Add articles: multipart files, or JSON {articles: [...]}",
    description="Good files go in and bad ones are listed in `failed` (200). When nothing could be ingested "
    "the reply is 422 with the error and the report under `report`.",
    responses=error_responses((415, "Neither multipart/form-data nor application/json (code bad_input)")),
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
    ctx = context(request)
    serve, service = ctx.settings.serve, ctx.service
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


@router.get("/documents", response_model=list[DocumentInfo], summary="List the ingested documents")
async def list_documents(request: Request) -> list[DocumentInfo]:
    return await run_in_threadpool(context(request).service.documents)


@router.get(
    "/documents/{doc_id:path}",
    response_model=DocumentText,
    summary="One document's text and metadata (citation offsets point into the text)",
    responses=error_responses((404, "No such document (code document_not_found)")),
)
async def get_document(doc_id: str, request: Request) -> DocumentText:
    if not doc_id:
        raise DocumentNotFoundError("no document id given", hint="GET /documents lists them")
    return await run_in_threadpool(context(request).service.document, doc_id)


@router.delete(
    "/documents/{doc_id:path}",
    status_code=204,
    summary="Remove a document and its chunks",
    responses=error_responses((404, "No such document (code document_not_found)")),
)
async def remove_document(doc_id: str, request: Request) -> Response:
    if not doc_id:
        raise DocumentNotFoundError("no document id given", hint="GET /documents lists them")
    await run_in_threadpool(context(request).service.remove, doc_id)
    return Response(status_code=204)
