"""Showing answers, sources and reports in a terminal (rich) or as plain text when piped / NO_COLOR.

``qa ask`` and ``qa chat`` share these functions, so an answer looks the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from qa.conversation import Rewrite
from qa.models import Answer, Citation, DocumentInfo, IngestReport, Passage


def make_console(stderr: bool = False) -> Console:
    """A console that colours only real terminals and honours NO_COLOR."""
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _where(c: Citation | Passage) -> str:
    return f"chars {c.char_start}–{c.char_end}"


def source_lines(answer: Answer) -> list[str]:
    """The numbered source list as plain lines: one entry per cited passage, its verified quotes below."""
    lines: list[str] = []
    by_key: dict[int, list[Citation]] = {}
    for c in answer.citations:
        by_key.setdefault(c.key, []).append(c)
    passages = {p.key: p for p in answer.passages}
    for key in sorted(by_key):
        cites = by_key[key]
        p = passages.get(cites[0].passage_key)
        title = cites[0].title or cites[0].doc_id
        section = f" › {p.heading}" if p and p.heading else ""
        lines.append(f"[{key}] {title}{section} ({cites[0].doc_id}, {_where(cites[0])})")
        for c in cites:
            lines.append(f"    “{' '.join(c.quote.split())}”")
    return lines


def render_answer(answer: Answer, console: Console, *, show_closest: int = 2, debug: bool = False) -> None:
    """Print an answer with its sources, or a refusal with the closest passages found."""
    if answer.answerable:
        console.print(Text(answer.answer, style="bold"))
        console.print()
        console.print(Text("Sources", style="underline"))
        for line in source_lines(answer):
            style = "cyan" if line.startswith("[") else "green"
            console.print(Text(line, style=style))
    else:
        console.print(Text(answer.answer, style="bold yellow"))
        if answer.refusal_reason:
            console.print(Text(f"Why: {answer.refusal_reason}.", style="dim"))
        closest = sorted(answer.passages, key=lambda p: -p.score)[:show_closest]
        if closest:
            console.print(Text("Closest passages found:", style="dim"))
            for p in closest:
                snippet = " ".join(p.text.split())
                snippet = snippet if len(snippet) <= 160 else snippet[:157] + "…"
                console.print(Text(f"  [{p.key}] {p.title or p.doc_id} (score {p.score:.2f}): {snippet}", style="dim"))
    if debug:
        t = answer.timings
        console.print(
            Text(
                f"retrieve {t.retrieve_s:.2f}s · first token {t.first_token_s or 0:.2f}s · generate "
                f"{t.generate_s:.2f}s · total {t.total_s:.2f}s · tokens {answer.usage.prompt_tokens}+"
                f"{answer.usage.completion_tokens} · dropped citations {answer.dropped_citations}, "
                f"sentences {answer.dropped_sentences}",
                style="dim",
            )
        )


@contextmanager
def live_draft(console: Console) -> Iterator[Live | None]:
    """A transient live area for the answer while it streams (None when not a terminal)."""
    if not console.is_terminal:
        yield None
        return
    with Live(Text(""), console=console, transient=True, refresh_per_second=12) as live:
        yield live


def stream_and_render(items: Iterable[str | Rewrite | Answer], console: Console, *, debug: bool = False) -> Answer:
    """Show the rewrite of a follow-up ("→ …"), the draft as it streams, then the verified answer and sources."""
    draft = ""
    final: Answer | None = None
    with live_draft(console) as live:
        for item in items:
            if isinstance(item, Answer):
                final = item
                break
            if isinstance(item, Rewrite):
                if item.rewritten:
                    console.print(Text(f"→ {item.standalone}", style="dim"))
                if debug:
                    console.print(Text(f"rewrite: {item.reason}", style="dim"))
                continue
            draft += item
            if live is not None:
                live.update(Text(draft + " ▌", style="dim"))
    assert final is not None
    render_answer(final, console, debug=debug)
    return final


def render_ingest_report(report: IngestReport, console: Console) -> None:
    """The end-of-ingest summary, failures with reasons and hints."""
    console.print(
        f"added {len(report.added)}, updated {len(report.updated)}, skipped {len(report.skipped)} unchanged, "
        f"failed {len(report.failed)} · {report.chunks} chunks · {report.seconds:.1f} s"
    )
    for f in report.failed:
        hint = f" ({f.hint})" if f.hint else ""
        console.print(f"[red]failed[/red] {escape(f.path)}: {escape(f.reason)}{escape(hint)}")


def render_documents(docs: list[DocumentInfo], console: Console) -> None:
    """One line per ingested document."""
    if not docs:
        console.print("No documents ingested yet. Try: qa ingest evals/corpus")
        return
    for d in docs:
        title = f" — {d.title}" if d.title else ""
        console.print(f"{escape(d.doc_id)}{escape(title)}  ({d.chunks} chunks, {d.chars} chars)")
