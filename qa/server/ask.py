"""POST /ask: a question (with the conversation so far) answered in a generation slot, as JSON or as
server-sent events (the rewrite of a follow-up, text deltas, then the verified Answer)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from qa.answer import MAX_QUESTION_CHARS
from qa.conversation import Rewrite
from qa.errors import QAError
from qa.models import Answer, Filters
from qa.server.context import AppContext, context
from qa.server.errors import classify, error_payload, error_responses
from qa.server.pool import PING, Job
from qa.server.service import DocId, HistoryTurn, Text, public_answer

log = logging.getLogger("qa.server")
router = APIRouter()

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
        'from?"), it is first rewritten into a standalone question, as `qa chat` does; the Answer keeps '
        "`question` as asked and gives the rewrite as `standalone_question`.",
    )


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


@router.post(
    "/ask",
    response_model=Answer,
    summary="Answer a question with verified citations",
    responses={
        200: {
            "description": "The Answer (as `qa ask --json`). With Accept: text/event-stream: with `history`, "
            '`event: rewrite` first (data {"question": what is searched for, "rewritten": bool, "reason"}), '
            '`event: token` events (data {"text": delta}), then `event: answer` (data: the Answer) or '
            "`event: error`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(
            (404, "A document in doc_ids does not exist (code document_not_found)"),
            (409, "Nothing ingested yet (code no_documents)"),
            (502, "The model replied with something unusable (code model_output)"),
            (504, "No answer within QA_SERVE_ASK_TIMEOUT_S (code timeout)"),
        ),
    },
)
async def ask(body: AskRequest, request: Request) -> Response:
    ctx = context(request)
    serve, gens, metrics, service = ctx.settings.serve, ctx.generations, ctx.metrics, ctx.service
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
        return await _stream(ctx, job)
    try:
        async for item in job.items():
            if isinstance(item, Answer):
                metrics.answer(time.monotonic() - job.started, item)
                return Response(public_answer(item).model_dump_json(), media_type="application/json")
    finally:
        gens.finish(job)
    raise QAError("the answer stream ended without an answer")  # pragma: no cover - items() raises first


async def _stream(ctx: AppContext, job: Job) -> Response:
    gens, metrics = ctx.generations, ctx.metrics
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
                elif isinstance(item, Rewrite):
                    data = {"question": item.standalone, "rewritten": item.rewritten, "reason": item.reason}
                    yield _sse("rewrite", json.dumps(data))
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
