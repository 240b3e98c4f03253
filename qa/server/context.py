"""What every route of ``qa serve`` shares: the QA, its settings, the generation pool, metrics and the service."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from qa.api import QA
from qa.server.metrics import ServerMetrics
from qa.server.pool import Generations
from qa.server.service import Service
from qa.settings import Settings


@dataclass(frozen=True)
class AppContext:
    """One app's shared parts (``app.state.context``)."""

    qa: QA
    settings: Settings
    generations: Generations
    metrics: ServerMetrics
    service: Service


def context(request: Request) -> AppContext:
    """The AppContext of the app serving ``request``."""
    ctx: AppContext = request.app.state.context
    return ctx
