"""``qa chat``: a conversation about the ingested articles.

A follow-up such as "Which unit are they from?" is first rewritten into a standalone question from
the conversation (prompts/condense.txt, one short call to the chat model at temperature 0), and the
standalone question is what is searched for and answered. Answers stream, then are shown with their
verified sources by qa.render, exactly as ``qa ask`` shows them.

``ChatSession`` holds the conversation and the slash commands and needs no terminal (tests drive it
with a fake QA and a console writing to a buffer); ``chat_command`` is the click command.
"""

from __future__ import annotations

import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from qa.errors import QAError
from qa.models import Answer, DocumentInfo, Filters
from qa.settings import redact_url

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from rich.console import Console
    from rich.status import Status


class QALike(Protocol):
    """What the chat needs from qa.api.QA."""

    @property
    def chat_model(self) -> BaseChatModel: ...

    def stream(
        self, question: str, *, k: int | None = None, filters: Filters | None = None, doc_ids: list[str] | None = None
    ) -> Iterator[str | Answer]: ...

    def documents(self) -> list[DocumentInfo]: ...


# -- when to rewrite: a small, deliberate heuristic ----------------------------------------------------
#
# A question is treated as a follow-up (and rewritten, one extra model call) only when it contains a
# word that points back into the conversation, opens like a continuation ("and ...", "what about ..."),
# or is too short to stand alone ("Why?"). Every other question is standalone and is asked as typed,
# so it costs no extra latency. A false positive only costs one short call: the rewrite of a question
# that is already standalone is the question itself.

FOLLOWUP_WORDS = frozenset(
    "they them their theirs it its he him his she her hers this that these those there here else former latter".split()  # noqa: SIM905
)
FOLLOWUP_OPENINGS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|what else|why not)\b", re.I)
MIN_STANDALONE_WORDS = 3


def is_followup(question: str) -> bool:
    """True when the question seems to lean on the conversation before it (see the heuristic above)."""
    tokens = re.findall(r"[a-z]+", question.lower())
    return (
        len(tokens) < MIN_STANDALONE_WORDS
        or bool(FOLLOWUP_OPENINGS.match(question))
        or any(t in FOLLOWUP_WORDS for t in tokens)
    )


_QUESTION_WORDS = frozenset(
    "what who whom whose which when where why how is are was were do does did can could will would should "  # noqa: SIM905
    "has have had may might shall list name tell describe explain give".split()
)
_LABEL = re.compile(r"^(standalone question|rewritten question|question)\s*:\s*", re.I)
REWRITE_MAX_CHARS = 300


def clean_rewrite(text: str, original: str) -> str | None:
    """The rewritten question from the model's reply, or None when the reply can't be trusted.

    Refused: an empty reply, one far longer than a question (> REWRITE_MAX_CHARS and twice the
    original), and one that is not question-like (neither ends with "?" nor opens with a question word).
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = _LABEL.sub("", lines[0]).strip().strip("\"'`“”‘’ ").strip()
    if len(re.findall(r"\w+", line)) < 2 or len(line) > max(REWRITE_MAX_CHARS, 2 * len(original)):
        return None
    first = re.findall(r"[a-z]+", line.lower())[:1]
    if not line.endswith("?") and not (first and first[0] in _QUESTION_WORDS):
        return None
    return line


_MARKERS = re.compile(r"\s*\[\d+\]")


@dataclass
class Turn:
    """One exchange kept in memory: what was typed, what was searched for, what was answered."""

    question: str
    standalone: str
    answer: str


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
        max_history_chars: int = 2_000,
        max_answer_chars: int = 400,
        rewrite_max_tokens: int = 64,
        debug: bool = False,
    ) -> None:
        self.qa = qa
        self.console = console
        self.k = k
        self.debug = debug
        self.max_history_chars = max_history_chars
        self.max_answer_chars = max_answer_chars
        self.rewrite_max_tokens = rewrite_max_tokens
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
        """Rewrite if it is a follow-up, stream the answer, render it; None if stopped or failed."""
        from rich.text import Text

        from qa.render import stream_and_render

        t0 = time.perf_counter()
        try:
            standalone, why = self.standalone(question)
            rewrite_s = time.perf_counter() - t0
            if standalone != question:
                self.console.print(Text(f"→ {standalone}", style="dim"))
            if self.debug:
                self._note(f"rewrite: {why}", style="dim")
            items = self.qa.stream(standalone, k=self.k, filters=self.filters)
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
            self._note(f"rewrite {rewrite_s:.2f} s · whole turn {time.perf_counter() - t0:.2f} s", style="dim")
        self.console.print()
        self.last_answer = answer
        self.history.append(Turn(question, standalone, _MARKERS.sub("", answer.answer).strip()))
        return answer

    def standalone(self, question: str) -> tuple[str, str]:
        """(question to search for, why): the rewrite of a follow-up, else the question as typed."""
        if not self.history:
            return question, "skipped, first question"
        if not is_followup(question):
            return question, "skipped, no reference to the conversation"
        from langchain_core.messages import HumanMessage

        from qa.answer import fill, load_prompt

        prompt = fill(load_prompt("condense"), history=self.history_text(), question=question)
        try:
            msg = self.qa.chat_model.invoke(
                [HumanMessage(prompt.strip())], temperature=0, max_tokens=self.rewrite_max_tokens
            )
        except QAError:
            raise
        except Exception as exc:  # a failed rewrite must not lose the question
            return question, f"failed ({exc.__class__.__name__}), asked as typed"
        text = msg.content if isinstance(msg.content, str) else ""
        if (getattr(msg, "response_metadata", None) or {}).get("finish_reason") == "length":
            return question, f"cut off at {self.rewrite_max_tokens} tokens, asked as typed"
        cleaned = clean_rewrite(text, question)
        if cleaned is None:
            return question, f"unusable model output {text[:80]!r}, asked as typed"
        return cleaned, "rewritten from the conversation"

    def history_text(self) -> str:
        """The remembered turns, newest kept first, within max_history_chars."""
        blocks: list[str] = []
        used = 0
        for turn in reversed(self.history):
            answer = turn.answer
            if len(answer) > self.max_answer_chars:
                answer = answer[: self.max_answer_chars - 1] + "…"
            block = f"User: {turn.standalone}\nAssistant: {answer}"
            if blocks and used + len(block) > self.max_history_chars:
                break
            blocks.append(block[: self.max_history_chars])
            used += len(block) + 1
        return "\n".join(reversed(blocks))

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
    from qa.cli import settings_for
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


def _build_command() -> click.Command:
    from qa.cli import store_option  # at call time: qa.cli imports this module

    @click.command("chat")
    @store_option
    @click.option("-k", type=click.IntRange(1, 20), help="Passages to give the model (default 4; QA_RETRIEVAL_K).")
    def chat(store: Path | None, k: int | None) -> None:
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

    return chat


def __getattr__(name: str) -> click.Command:
    """``chat_command`` is built on first access, so that qa.cli and this module can import each other."""
    if name == "chat_command":
        command = _build_command()
        globals()["chat_command"] = command
        return command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
