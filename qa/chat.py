"""``qa chat``: a conversation about the ingested articles.

A follow-up such as "Which unit are they from?" is rewritten into a standalone question from the
conversation (qa.conversation, one short model call), and that is what is searched for and answered;
the rewrite is shown as "→ …". Answers stream, then are shown with their verified sources by qa.render,
exactly as ``qa ask`` shows them.

``ChatSession`` holds the turns and the slash commands and needs no terminal (tests drive it with a fake
QA and a console writing to a buffer); ``chat_command`` is the click command.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from qa.cliopts import settings_for, store_option
from qa.conversation import Rewrite, Turn
from qa.errors import QAError
from qa.models import Answer, DocumentInfo, Filters
from qa.settings import redact_url

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status


class QALike(Protocol):
    """What the chat needs from qa.api.QA."""

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        doc_ids: list[str] | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Iterator[str | Rewrite | Answer]: ...

    def documents(self) -> list[DocumentInfo]: ...


HELP = [
    ("/help", "show this help"),
    ("/sources", "the passages behind the last answer, in full"),
    ("/docs", "the ingested documents"),
    ("/reset", "forget the conversation (the next question starts afresh)"),
    ("/k N", "give the model N passages per question (1–20)"),
    ("/filter …", "only search some documents: doc=ID source=S title=T after=DATE before=DATE; /filter off"),
    ("/debug", "toggle showing rewrites and timings"),
    ("/quit", "leave (also Ctrl-D); Ctrl-C stops a running answer"),
]


class ChatSession:
    """Conversation state, follow-up rewriting and slash commands, printing to ``console``."""

    def __init__(
        self,
        qa: QALike,
        console: Console,
        *,
        k: int = 4,
        max_turns: int = 6,
        debug: bool = False,
    ) -> None:
        self.qa = qa
        self.console = console
        self.k = k
        self.debug = debug
        self.history: deque[Turn] = deque(maxlen=max_turns)
        self.last_answer: Answer | None = None
        self.filters: Filters | None = None

    # -- input -------------------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Act on one line of input; False when the chat should end."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return self.command(line)
        self.ask(line)
        return True

    def command(self, line: str) -> bool:
        """Run a slash command; False for /quit."""
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name in ("/help", "/?"):
            self.show_help()
        elif name == "/sources":
            self.show_sources()
        elif name == "/docs":
            self.show_docs()
        elif name == "/reset":
            self.history.clear()
            self.last_answer = None
            self._note("Conversation forgotten; the next question starts afresh.")
        elif name == "/k":
            self.set_k(arg)
        elif name == "/filter":
            self.set_filter(arg)
        elif name == "/debug":
            self.debug = not self.debug
            self._note(f"debug {'on: rewrites and timings are shown' if self.debug else 'off'}.")
        else:
            self._note(f"Unknown command {name}.", style="yellow")
            self.show_help()
        return True

    # -- questions ---------------------------------------------------------------------------------

    def ask(self, question: str) -> Answer | None:
        """Stream the answer (a follow-up rewritten first) and render it; None if stopped or failed."""
        from qa.render import stream_and_render

        t0 = time.perf_counter()
        try:
            items = self.qa.stream(question, k=self.k, filters=self.filters, history=list(self.history))
            try:
                answer = stream_and_render(items, self.console, debug=self.debug)
            finally:
                close = getattr(items, "close", None)
                if callable(close):
                    close()
        except KeyboardInterrupt:
            self._note("(stopped)", style="dim")
            self.console.print()
            return None
        except QAError as exc:
            self._error(exc)
            return None
        if self.debug:
            self._note(f"whole turn {time.perf_counter() - t0:.2f} s", style="dim")
        self.console.print()
        self.last_answer = answer
        self.history.append(Turn(question, answer.answer, answer.standalone_question))
        return answer

    # -- commands ----------------------------------------------------------------------------------

    def show_help(self) -> None:
        from rich.text import Text

        self.console.print("Ask a question about the ingested articles; follow-ups may refer to earlier answers.")
        for cmd, what in HELP:
            extra = f" (now {self.k})" if cmd == "/k N" else ""
            self.console.print(Text(f"  {cmd:<10} {what}{extra}"))

    def show_sources(self) -> None:
        from rich.text import Text

        if self.last_answer is None:
            self._note("No answer yet: ask a question first.")
            return
        cited = {c.passage_key for c in self.last_answer.citations}
        for p in sorted(self.last_answer.passages, key=lambda p: p.key):
            section = f" › {p.heading}" if p.heading else ""
            mark = " · cited" if p.key in cited else ""
            self.console.print(
                Text(
                    f"[{p.key}] {p.title or p.doc_id}{section} ({p.doc_id}, chars {p.char_start}–{p.char_end}, "
                    f"similarity {p.score:.2f}){mark}",
                    style="cyan",
                )
            )
            self.console.print(Text(p.text.strip()))
            self.console.print()

    def show_docs(self) -> None:
        from qa.render import render_documents

        try:
            render_documents(self.qa.documents(), self.console)
        except QAError as exc:
            self._error(exc)

    def set_filter(self, arg: str) -> None:
        """/filter doc=ID source=S title=T after=DATE before=DATE; /filter off; /filter shows it."""
        import shlex

        keys = {"doc": "doc_ids", "source": "source", "title": "title", "after": "published_after",
                "before": "published_before"}  # fmt: skip
        if arg.lower() in ("off", "none", "clear"):
            self.filters = None
            self._note("Filter cleared: every document is searched.")
            return
        if arg:
            values: dict[str, Any] = {}
            try:
                parts = shlex.split(arg)
            except ValueError as exc:
                self._note(f"/filter: {exc}", style="yellow")
                return
            for part in parts:
                key, eq, value = part.partition("=")
                if not eq or key not in keys or not value:
                    self._note(f"/filter takes {', '.join(k + '=…' for k in keys)} or off, not {part!r}.", "yellow")
                    return
                field = keys[key]
                values[field] = [*values.get(field, []), value] if field == "doc_ids" else value
            self.filters = Filters(**values)
        shown = {k: v for k, v in (self.filters.model_dump() if self.filters else {}).items() if v}
        self._note(f"Filter: {shown}." if shown else "No filter: every document is searched.")

    def set_k(self, arg: str) -> None:
        if not arg:
            self._note(f"k is {self.k}: the model sees {self.k} passages per question.")
            return
        if not arg.isdigit() or not 1 <= int(arg) <= 20:
            self._note(f"/k takes a number from 1 to 20, not {arg!r}.", style="yellow")
            return
        self.k = int(arg)
        self._note(f"k set to {self.k}.")

    def _note(self, message: str, style: str = "") -> None:
        from rich.text import Text

        self.console.print(Text(message, style=style))

    def _error(self, exc: QAError) -> None:
        self._note(f"error: {exc.message}", style="red")
        if exc.hint:
            self._note(f"hint: {exc.hint}", style="dim")


# -- the command -------------------------------------------------------------------------------------


def run_chat(store: Path | None, k: int | None) -> None:
    """Start-up (store, embedder, model, with a spinner), then the prompt or piped lines until the end."""
    from rich.text import Text

    from qa.api import QA
    from qa.render import make_console

    settings = settings_for(store)
    console, err = make_console(), make_console(stderr=True)
    spinner: list[Status] = []  # the start-up spinner while it is shown

    def status(message: str) -> None:
        if spinner:
            spinner[0].update(f"{message}…")
        else:
            err.print(Text(message, style="dim"))

    qa = QA(settings, status=status)
    with ExitStack() as stack:
        if err.is_terminal:
            spinner.append(stack.enter_context(err.status("opening the store…")))
        docs = qa.documents()
        if spinner:
            spinner[0].update("connecting to the chat model (the local server starts if needed)…")
        chat_model = qa.chat_model  # warm-up: the first question shouldn't pay for the server start
    spinner.clear()
    llm = settings.llm
    where = redact_url(str(getattr(chat_model, "openai_api_base", None) or llm.base_url or ""))
    model = f"{llm.model} at {where}" if llm.base_url else f"{llm.local_model} (local server at {where})"
    chunks = sum(d.chunks for d in docs)
    n_docs = f"{len(docs)} document" + ("" if len(docs) == 1 else "s")
    console.print(Text("article-qa chat", style="bold"))
    for label, value in (
        (
            "store",
            f"{redact_url(settings.chroma_url) if settings.chroma_url else settings.store_path} · "
            f"{n_docs}, {chunks} chunks",
        ),
        ("embedder", f"{settings.embeddings.model} ({settings.embeddings.provider})"),
        ("model", model),
    ):
        console.print(Text(f"  {label:<9} {value}", style="dim"))
    if not docs:
        console.print(Text("No documents ingested yet. Try: qa ingest evals/corpus", style="yellow"))
    console.print(Text("Ask about the articles; /help for commands, Ctrl-D or /quit to leave.", style="dim"))
    session = ChatSession(qa, console, k=k or settings.retrieval.k)
    if sys.stdin.isatty() and sys.stdout.isatty():
        _prompt_loop(session, settings.home / "chat_history")
        return
    for raw in sys.stdin:  # piped input: one question or command per line
        line = raw.strip()
        if not line:
            continue
        console.print(Text(f"> {line}", style="bold"))
        if not session.handle(line):
            break


def _prompt_loop(session: ChatSession, history_file: Path) -> None:
    """The interactive prompt: line editing, history across sessions, Ctrl-C clears, Ctrl-D leaves."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history_file.parent.mkdir(parents=True, exist_ok=True)
    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(history_file)))
    while True:
        try:
            line = prompt.prompt("qa› ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not session.handle(line):
            break


@click.command("chat")
@store_option
@click.option("-k", type=click.IntRange(1, 20), help="Passages to give the model (default 4; QA_RETRIEVAL_K).")
def chat_command(store: Path | None, k: int | None) -> None:
    """Ask questions in a conversation; follow-ups may refer to earlier answers.

    Answers stream and end with numbered, verified sources. Type /help for commands
    (/sources, /docs, /reset, /k N, /debug, /quit). Ctrl-C stops an answer, Ctrl-D leaves.
    Piped input is read one question per line:

    \b
    Examples:
      qa chat
      printf 'How many troops are going to Poland?\\nWhich unit are they from?\\n' | qa chat
    """
    run_chat(store, k)
