"""`qa chat` without a terminal or a model: a scripted QA and a scripted rewrite model."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from rich.console import Console

from qa.answer import REFUSAL_TEXT
from qa.chat import ChatSession
from qa.conversation import Rewrite, Turn, clean_rewrite, is_followup, standalone_question
from qa.errors import ModelUnavailableError
from qa.models import Answer, Citation, DocumentInfo, Filters, Passage

DOC = "cnn-2022-02-02-us-troops-eastern-europe"
TITLE = "US troops deploy to Eastern Europe"
POLAND = (
    "The US deployment to Poland consists of about 1,700 troops from an 82nd Airborne Division infantry "
    "brigade combat team based at Fort Bragg in North Carolina. Some 300 troops from the 18th Airborne "
    "Corps will move to Germany, along with a stryker squadron moving from Germany to Romania."
)
ROMANIA = "The US is moving a stryker squadron of about 1,000 troops from Germany to Romania, Kirby said."
RUSSIA = "Kremlin spokesman Dmitry Peskov said the US is continuing to pump up tension in Europe."


def passage(key: int, text: str, start: int, score: float = 0.6) -> Passage:
    return Passage(
        key=key,
        chunk_id=f"{DOC}:{key}",
        doc_id=DOC,
        title=TITLE,
        heading="More US troops could be deployed",
        text=text,
        char_start=start,
        char_end=start + len(text),
        score=score,
    )


PASSAGES = [passage(1, POLAND, 4439), passage(2, RUSSIA, 1785, 0.3), passage(3, ROMANIA, 4702, 0.5)]


def cite(p: Passage, quote: str) -> Citation:
    at = p.char_start + p.text.index(quote)
    return Citation(
        key=p.key, passage_key=p.key, doc_id=p.doc_id, title=p.title, chunk_id=p.chunk_id, quote=quote,
        char_start=at, char_end=at + len(quote), score=p.score,
    )  # fmt: skip


def answer(question: str, text: str, *quotes: tuple[int, str]) -> Answer:
    by_key = {p.key: p for p in PASSAGES}
    return Answer(
        question=question,
        answer=text,
        answerable=True,
        citations=[cite(by_key[k], q) for k, q in quotes],
        passages=PASSAGES,
    )


def troops(question: str = "How many troops are going to Poland?") -> Answer:
    return answer(
        question,
        "About 1,700 troops are going to Poland [1].",
        (1, "The US deployment to Poland consists of about 1,700 troops"),
    )


def refusal(question: str) -> Answer:
    return Answer(
        question=question,
        answer=REFUSAL_TEXT,
        answerable=False,
        passages=PASSAGES,
        refusal_reason="the passages never mention France",
    )


class FakeRewriter:
    """A chat model stand-in: records the prompts and keyword arguments, replies from a script."""

    def __init__(self, *replies: str | AIMessage | Exception) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []
        self.kwargs: list[dict[str, Any]] = []

    def invoke(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        self.prompts.append(str(messages[-1].content))
        self.kwargs.append(kwargs)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply if isinstance(reply, AIMessage) else AIMessage(reply)


class FakeQA:
    """stream() yields a few text deltas then the next scripted Answer (or raises what it is told to)."""

    def __init__(self, *answers: Answer | BaseException, rewriter: Any = None, **_: Any) -> None:
        self.answers = list(answers)
        self.rewriter = rewriter if rewriter is not None else FakeRewriter()
        self.asked: list[tuple[str, int | None]] = []
        self.filters: list[Filters | None] = []
        self.histories: list[list[Turn]] = []
        self.model_uses = 0
        self.closed = 0

    @property
    def chat_model(self) -> Any:
        self.model_uses += 1
        return self.rewriter

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        doc_ids: list[str] | None = None,
        history: list[Turn] | None = None,
    ) -> Iterator[Any]:
        self.histories.append(list(history or []))
        rewrite: Rewrite | None = None
        if history:  # the same rewrite QA.stream makes, over the scripted model
            rewrite = standalone_question(lambda: self.chat_model, question, history)
            question = rewrite.standalone
        self.asked.append((question, k))
        self.filters.append(filters)
        item = self.answers.pop(0) if self.answers else troops(question)
        if isinstance(item, Answer) and rewrite is not None and rewrite.rewritten:
            item = item.model_copy(update={"standalone_question": rewrite.standalone})

        def gen() -> Iterator[Any]:
            try:
                if rewrite is not None:
                    yield rewrite
                words = (item.answer if isinstance(item, Answer) else "About 1,700 troops").split()
                for w in words[:3]:
                    yield w + " "
                if isinstance(item, BaseException):
                    raise item
                yield item
            finally:
                self.closed += 1

        return gen()

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(doc_id=DOC, title=TITLE, content_hash="x", chunks=19, chars=7503)]


def plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=200, highlight=False, soft_wrap=False)


def out(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def flat(text: str) -> str:
    """Text with line wrapping undone (rich wraps at the console width)."""
    return " ".join(text.split())


def session(*answers: Answer | BaseException, rewriter: Any = None, **kwargs: Any) -> tuple[ChatSession, FakeQA]:
    qa = FakeQA(*answers, rewriter=rewriter)
    return ChatSession(qa, plain_console(), **kwargs), qa


# -- follow-ups ----------------------------------------------------------------------------------


def test_follow_up_is_rewritten_from_the_conversation_and_the_rewrite_is_asked() -> None:
    rewriter = FakeRewriter("Which unit are the troops going to Poland from?")
    chat, qa = session(rewriter=rewriter)
    chat.handle("How many troops are going to Poland?")
    assert rewriter.prompts == []  # the first question is never rewritten
    chat.handle("Which unit are they from?")
    assert len(rewriter.prompts) == 1
    prompt = rewriter.prompts[0]
    assert "User: How many troops are going to Poland?" in prompt
    assert "About 1,700" not in prompt  # the earlier questions alone resolve "they": no answer shown
    assert "Last question: Which unit are they from?" in prompt
    assert rewriter.kwargs[0]["temperature"] == 0 and rewriter.kwargs[0]["max_tokens"] <= 100
    assert [q for q, _ in qa.asked] == [
        "How many troops are going to Poland?",
        "Which unit are the troops going to Poland from?",
    ]
    assert "→ Which unit are the troops going to Poland from?" in out(chat.console)
    assert chat.history[-1].question == "Which unit are they from?"
    assert chat.history[-1].standalone == "Which unit are the troops going to Poland from?"


def test_rewrite_works_with_a_langchain_chat_model() -> None:
    model = FakeListChatModel(responses=["How many troops are going to Germany?"])
    chat, qa = session(rewriter=model)
    chat.handle("How many troops are going to Poland?")
    chat.handle("What about Germany?")
    assert qa.asked[-1][0] == "How many troops are going to Germany?"


@pytest.mark.parametrize(
    "question",
    ["How many troops are going to Romania?", "Who is John Kirby?", "Where is Fort Bragg located?"],
)
def test_standalone_questions_are_not_rewritten(question: str) -> None:
    chat, qa = session()
    chat.handle("How many troops are going to Poland?")
    chat.handle(question)
    assert qa.model_uses == 0  # no model call, not even the client
    assert qa.asked[-1][0] == question
    assert "→" not in out(chat.console)


def test_first_question_is_not_rewritten_even_with_a_pronoun() -> None:
    chat, qa = session()
    chat.handle("Why are they sending troops?")
    assert qa.model_uses == 0
    assert qa.asked == [("Why are they sending troops?", 4)]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which unit are they from?", True),
        ("What about Germany?", True),
        ("And Romania?", True),
        ("Why?", True),
        ("Who said that?", True),
        ("Is it the 82nd Airborne?", True),
        ("How many troops are going to Poland?", False),
        ("Who is the Pentagon press secretary?", False),
        ("Where is Fort Bragg?", False),
    ],
)
def test_follow_up_heuristic(question: str, expected: bool) -> None:
    assert is_followup(question) is expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n  ",
        "Which " + "very " * 200 + "long question?",
        "About 1,700 troops [1].",
        "Sure! Here you go:",
        "?",
        AIMessage("Which unit are the troops going to", response_metadata={"finish_reason": "length"}),
        RuntimeError("connection reset"),
    ],
)
def test_bad_rewrite_falls_back_to_the_question_as_typed(reply: Any) -> None:
    chat, qa = session(rewriter=FakeRewriter(reply), debug=True)
    chat.handle("How many troops are going to Poland?")
    chat.handle("Which unit are they from?")
    assert qa.asked[-1][0] == "Which unit are they from?"
    text = out(chat.console)
    assert "asked as typed" in text
    assert "→" not in text


def test_clean_rewrite_strips_labels_and_quotes() -> None:
    original = "Which unit are they from?"
    assert clean_rewrite('Standalone question: "Which unit is it?"\nmore', original) == "Which unit is it?"
    assert clean_rewrite("Which unit are the troops from", original) == "Which unit are the troops from"
    assert clean_rewrite("The troops are from the 82nd Airborne.", original) is None


# -- memory --------------------------------------------------------------------------------------


def test_memory_is_bounded_in_turns() -> None:
    chat, qa = session(max_turns=3)
    for i in range(8):
        chat.handle(f"How many troops are going to place number {i}?")
    assert len(chat.history) == 3
    assert chat.history[0].question == "How many troops are going to place number 5?"
    assert [t.question for t in qa.histories[-1]][-1] == "How many troops are going to place number 6?"


def test_reset_forgets_the_conversation() -> None:
    chat, qa = session()
    chat.handle("How many troops are going to Poland?")
    chat.handle("/reset")
    assert not chat.history and chat.last_answer is None
    chat.handle("Which unit are they from?")  # first question again: not rewritten
    assert qa.model_uses == 0
    assert "forgotten" in out(chat.console)


# -- commands ------------------------------------------------------------------------------------


def test_k_changes_the_number_of_passages() -> None:
    chat, qa = session()
    chat.handle("/k 7")
    chat.handle("How many troops are going to Poland?")
    assert qa.asked[-1][1] == 7
    for bad in ("/k 0", "/k 21", "/k many"):
        chat.handle(bad)
    assert chat.k == 7
    chat.handle("/k")
    text = out(chat.console)
    assert "k set to 7" in text and "from 1 to 20" in text and "k is 7" in text


def test_sources_prints_the_passages_in_full() -> None:
    chat, _ = session()
    chat.handle("/sources")
    assert "No answer yet" in out(chat.console)
    chat.handle("How many troops are going to Poland?")
    chat.handle("/sources")
    text = flat(out(chat.console))
    for p in PASSAGES:
        assert p.text in text  # whole passage, not a snippet
    assert f"[1] {TITLE} › More US troops could be deployed ({DOC}, chars 4439–" in text
    assert "· cited" in text


def test_docs_lists_the_ingested_documents() -> None:
    chat, _ = session()
    chat.handle("/docs")
    assert f"{DOC} — {TITLE}  (19 chunks, 7503 chars)" in out(chat.console)


@pytest.mark.parametrize("command", ["/quit", "/exit", "/QUIT"])
def test_quit_ends_the_chat(command: str) -> None:
    chat, _ = session()
    assert chat.handle("/help") is True
    assert chat.handle(command) is False


def test_unknown_command_shows_help() -> None:
    chat, qa = session()
    assert chat.handle("/frobnicate") is True
    text = out(chat.console)
    assert "Unknown command /frobnicate" in text
    for cmd in ("/help", "/sources", "/docs", "/reset", "/k N", "/debug", "/quit"):
        assert cmd in text
    assert qa.asked == []


def test_debug_shows_the_rewrite_decision_and_timings() -> None:
    chat, _ = session()
    chat.handle("/debug")
    chat.handle("How many troops are going to Poland?")
    chat.handle("How many troops are going to Romania?")
    text = out(chat.console)
    assert "rewrite: skipped, no reference to the conversation" in text
    assert re.search(r"retrieve [\d.]+s · first token", text)
    assert re.search(r"whole turn [\d.]+ s", text)


# -- answers -------------------------------------------------------------------------------------


def test_refusal_shows_the_fixed_wording_and_the_closest_passages() -> None:
    chat, _ = session(refusal("Who is the president of France?"))
    chat.handle("Who is the president of France?")
    text = out(chat.console)
    assert REFUSAL_TEXT in text
    assert "Why: the passages never mention France." in text
    assert "Closest passages found:" in text
    assert "[1] " + TITLE in text  # the best-scoring passage


def test_sources_match_the_inline_markers() -> None:
    both = answer(
        "Where are the troops going?",
        "About 1,700 troops are going to Poland [1]. A stryker squadron moves from Germany to Romania [3].",
        (1, "The US deployment to Poland consists of about 1,700 troops"),
        (3, "moving a stryker squadron of about 1,000 troops from Germany to Romania"),
    )
    chat, _ = session(both)
    chat.handle("Where are the troops going?")
    text = out(chat.console)
    body, sources = text.split("Sources\n", 1)
    inline = set(re.findall(r"\[(\d+)\]", body))
    listed = set(re.findall(r"^\[(\d+)\] ", sources, flags=re.M))
    assert inline == listed == {"1", "3"}
    assert "“moving a stryker squadron of about 1,000 troops from Germany to Romania”" in sources
    assert "[2]" not in sources  # retrieved but not cited: not a source


def test_plain_output_has_no_escape_codes_and_a_terminal_has_colour() -> None:
    chat, _ = session()
    chat.handle("How many troops are going to Poland?")
    chat.handle("/sources")
    assert "\x1b" not in out(chat.console)
    coloured = ChatSession(
        FakeQA(), Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=200)
    )
    coloured.handle("How many troops are going to Poland?")
    assert "\x1b[" in out(coloured.console)


def test_ctrl_c_during_an_answer_returns_to_the_prompt() -> None:
    chat, qa = session(KeyboardInterrupt())
    assert chat.handle("How many troops are going to Poland?") is True
    assert "(stopped)" in out(chat.console)
    assert qa.closed == 1  # the stream was closed
    assert not chat.history and chat.last_answer is None
    chat.handle("How many troops are going to Poland?")  # the chat goes on
    assert len(chat.history) == 1
    assert "About 1,700 troops are going to Poland [1]." in out(chat.console)


def test_errors_are_shown_and_the_chat_goes_on() -> None:
    chat, _ = session(ModelUnavailableError("cannot reach the model", hint="qa llm status"))
    assert chat.handle("How many troops are going to Poland?") is True
    text = out(chat.console)
    assert "error: cannot reach the model" in text and "hint: qa llm status" in text
    chat.handle("How many troops are going to Poland?")
    assert len(chat.history) == 1


# -- the command, with piped input ---------------------------------------------------------------


def test_piped_chat_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import qa.api
    from qa.cli import cli

    rewriter = FakeRewriter("Which unit are the troops going to Poland from?")
    created: list[FakeQA] = []

    def fake_qa(settings: Any, **kwargs: Any) -> FakeQA:
        assert settings.store == tmp_path / "store"
        kwargs["status"]("loading the embedder")
        created.append(FakeQA(rewriter=rewriter))
        return created[-1]

    monkeypatch.setattr(qa.api, "QA", fake_qa)
    monkeypatch.setenv("NO_COLOR", "1")
    questions = "How many troops are going to Poland?\n\nWhich unit are they from?\n/k 3\n/quit\nnever asked?\n"
    result = CliRunner().invoke(cli, ["chat", "--store", str(tmp_path / "store"), "-k", "2"], input=questions)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    text = flat(result.stdout)
    assert "store" in text and "embedder" in text and "model" in text and "1 document, 19 chunks" in text
    assert "> How many troops are going to Poland?" in text
    assert "→ Which unit are the troops going to Poland from?" in text
    assert "Sources" in text and "“The US deployment to Poland consists of about 1,700 troops”" in text
    assert created[0].asked == [
        ("How many troops are going to Poland?", 2),
        ("Which unit are the troops going to Poland from?", 2),
    ]
    assert "never asked" not in text


def test_filter_command_restricts_the_search_and_can_be_cleared() -> None:
    chat, qa = session()
    chat.handle('/filter doc=cnn-2022 source=CNN after=2022-01-01 title="US troops"')
    chat.handle("How many troops are going to Poland?")
    assert qa.filters[-1] == Filters(
        doc_ids=["cnn-2022"], source="CNN", published_after="2022-01-01", title="US troops"
    )
    chat.handle("/filter off")
    chat.handle("How many troops are going to Poland?")
    assert qa.filters[-1] is None
    chat.handle("/filter colour=red")
    assert "takes doc=" in out(chat.console)
