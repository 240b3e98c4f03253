"""GET /health (store, embedder and model status) and GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from qa.server.context import context
from qa.server.service import Health

router = APIRouter()


@router.get("/health", response_model=Health, summary="Store, embedder and model status")
async def health(request: Request) -> Response:
    ctx = context(request)
    report = await run_in_threadpool(ctx.service.health, ctx.generations)
    status = 503 if report.status == "down" else 200
    return Response(report.model_dump_json(), status_code=status, media_type="application/json")


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def prometheus(request: Request) -> PlainTextResponse:
    ctx = context(request)
    return PlainTextResponse(ctx.metrics.render(ctx.generations), media_type="text/plain; version=0.0.4; charset=utf-8")
