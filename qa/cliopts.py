"""Command-line options and settings shared by the commands (qa.cli, qa.chat, qa.server.command, qa.evals.command)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from qa.models import Filters
from qa.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def filter_options(f: F) -> F:
    """--doc/--source/--title/--after/--before: restrict which documents are searched."""
    f = click.option("--before", metavar="DATE", help="Only documents published on or before DATE (ISO).")(f)
    f = click.option("--after", metavar="DATE", help="Only documents published on or after DATE (ISO).")(f)
    f = click.option("--title", help="Only documents with exactly this title.")(f)
    f = click.option("--source", help="Only documents from exactly this source.")(f)
    f = click.option("--doc", "doc_ids", multiple=True, metavar="DOC_ID", help="Only these documents (repeatable).")(f)
    return f


def make_filters(
    doc_ids: tuple[str, ...], source: str | None, title: str | None, after: str | None, before: str | None
) -> Filters | None:
    """The Filters for the filter options, or None when nothing is restricted."""
    filters = Filters(
        doc_ids=list(doc_ids) or None, source=source, title=title, published_after=after, published_before=before
    )
    return None if filters.is_empty() else filters


def store_option(f: F) -> F:
    """--store DIR for commands that use the store."""
    return click.option(
        "--store",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="QA_STORE",
        help="Store folder (default .qa/store; env QA_STORE). QA_CHROMA_URL uses a Chroma server instead.",
    )(f)


def settings_for(store: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with command-line overrides applied."""
    settings = Settings()
    if store is not None:
        settings.store = store
    for section, values in overrides.items():
        target = getattr(settings, section)
        for key, value in values.items():
            if value is not None:
                setattr(target, key, value)
    return settings
