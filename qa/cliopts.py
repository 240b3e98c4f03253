"""Command-line options shared by several commands (kept apart from qa.cli to avoid import cycles)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from qa.models import Filters

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
