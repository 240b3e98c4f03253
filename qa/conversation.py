"""Conversations: earlier turns, telling a follow-up from a standalone question, and rewriting a follow-up.

A question is treated as a follow-up (and rewritten, one short extra model call) only when it holds a
word that points back into the conversation ("they", "it", "there"), opens like a continuation ("and …",
"what about …"), or is too short to stand alone ("Why?"). Every other question is asked as typed, at no
extra latency. A false positive costs one short call: the rewrite of a standalone question is the question.

The rewrite may name what a pointing word refers to, often taken from an earlier answer ("What did he
say?" → "What did John Kirby say?"), but it must not carry the earlier answer into the question: "Which
unit are they from?" rewritten as "Which unit is the 82nd Airborne Division … based at Fort Bragg?" has
answered itself, and its answer would restate the rewrite. So the rewrite is first made from the earlier
questions alone; only when they don't resolve the reference are the earlier answers shown, and then a
rewrite that borrows more than ``MAX_BORROWED_WORDS`` words found only in them is not used. A rewrite
that drops words of the question or changes its question word is not used either: the question is then
asked as typed.

These are plain functions over a chat model, used by the Python API (``QA.ask(..., history=...)``), the
terminal chat and the HTTP service alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.citations import content_words, stem
from qa.errors import QAError
from qa.prompt import fill, load_prompt

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

FOLLOWUP_WORDS = frozenset(
    "they them their theirs it its he him his she her hers this that these those there here else former latter".split()  # noqa: SIM905
)
FOLLOWUP_OPENINGS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|what else|why not)\b", re.I)
MIN_STANDALONE_WORDS = 3
REWRITE_MAX_CHARS = 300
#: Words a rewrite may take from earlier answers only: enough to name a referent ("John Kirby", "the
#: stryker squadron"), not enough to restate the answer.
MAX_BORROWED_WORDS = 3
#: Earlier turns shown to the rewrite: a pointing word almost always means something of the last turn or
#: two, and the small local model copies an older question when it sees more of them (measured).
REWRITE_TURNS = 2

_QUESTION_WORDS = frozenset(
    "what who whom whose which when where why how is are was were do does did can could will would should "  # noqa: SIM905
    "has have had may might shall list name tell describe explain give".split()
)
_WH_WORDS = frozenset("what who whom whose which when where why how".split())  # noqa: SIM905
_LABEL = re.compile(r"^(standalone question|rewritten question|question)\s*:\s*", re.I)
_MARKERS = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the question as typed, the answer shown, and what was searched for when the
    question was rewritten."""

    question: str
    answer: str = ""
    standalone: str | None = None

    @property
    def asked(self) -> str:
        """The question as it was searched for (the rewrite, when there was one)."""
        return self.standalone or self.question


@dataclass(frozen=True)
class Rewrite:
    """The outcome of looking at a question in its conversation."""

    question: str  # as typed
    standalone: str  # what to search for and answer: the rewrite, or the question itself
    reason: str  # why: "rewritten from the conversation", "skipped, …", "failed …"

    @property
    def rewritten(self) -> bool:
        return self.standalone != self.question


def is_followup(question: str) -> bool:
    """True when the question seems to lean on the conversation before it (see the module docstring)."""
    tokens = re.findall(r"[a-z]+", question.lower())
    return (
        len(tokens) < MIN_STANDALONE_WORDS
        or bool(FOLLOWUP_OPENINGS.match(question))
        or any(t in FOLLOWUP_WORDS for t in tokens)
    )


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


def history_text(
    turns: Sequence[Turn], *, with_answers: bool = True, max_chars: int = 2_000, max_answer_chars: int = 400
) -> str:
    """The turns as the rewrite prompt shows them, newest kept first, within ``max_chars``."""
    blocks: list[str] = []
    used = 0
    for turn in reversed(turns):
        block = f"User: {turn.asked}"
        if with_answers and turn.answer:
            answer = _MARKERS.sub("", turn.answer).strip()
            if len(answer) > max_answer_chars:
                answer = answer[: max_answer_chars - 1] + "…"
            block += f"\nAssistant: {answer}"
        if blocks and used + len(block) > max_chars:
            break
        blocks.append(block[:max_chars])
        used += len(block) + 1
    return "\n".join(reversed(blocks))


def borrowed_words(rewrite: str, question: str, turns: Iterable[Turn]) -> list[str]:
    """Content words of ``rewrite`` found in earlier answers but in neither the question nor any earlier one."""
    turns = list(turns)
    asked = {stem(w) for t in turns for w in content_words(t.question + " " + t.asked)}
    asked |= {stem(w) for w in content_words(question)}
    answered = {stem(w) for t in turns for w in content_words(t.answer)}
    out: list[str] = []
    for w in content_words(rewrite):
        s = stem(w)
        if s in answered and s not in asked and w not in out:
            out.append(w)
    return out


def lost_words(rewrite: str, question: str) -> list[str]:
    """What a rewrite changed of the question that it should have kept: its question word ("What did he
    say?" must not become "Who did Kirby say?"; an elliptic "What about Germany?" may change it) and its
    content words other than the pointing ones."""
    lost: list[str] = []
    tokens = re.findall(r"[a-z]+", question.lower())
    wh = next((t for t in tokens[:2] if t in _WH_WORDS), None)
    elliptic = _ELLIPSIS.match(question)  # "What about Germany?" takes the earlier question's form
    if wh and not elliptic and wh not in re.findall(r"[a-z]+", rewrite.lower()):
        lost.append(wh)
    kept = {stem(w) for w in content_words(rewrite)}

    def is_kept(word: str) -> bool:  # "go" is kept in "going"
        s = stem(word)
        return s in kept or any(k.startswith(s) or s.startswith(k) for k in kept if min(len(k), len(s)) >= 2)

    lost += [w for w in content_words(question) if w not in FOLLOWUP_WORDS and not is_kept(w)]
    return lost


def standalone_question(
    chat_model: Callable[[], BaseChatModel], question: str, history: Sequence[Turn], *, max_tokens: int = 64
) -> Rewrite:
    """The question to search for: a follow-up rewritten from ``history``, any other question as typed.

    ``chat_model`` is called only when a rewrite is needed (a standalone question costs no model, not
    even its start). Never raises for a bad rewrite (the question is then asked as typed, with the
    reason); a QAError from the model client (server down) propagates.
    """
    if not history:
        return Rewrite(question, question, "skipped, first question")
    if not is_followup(question):
        return Rewrite(question, question, "skipped, no reference to the conversation")
    swapped = ellipsis_rewrite(question, history[-1].asked)
    if swapped is not None:
        return Rewrite(question, swapped, "the earlier question, asked about what this one names")
    # The earlier questions alone usually say what "they" or "it" is, and can't leak an answer into the question.
    text, why = _ask_rewrite(chat_model, question, history, with_answers=False, max_tokens=max_tokens)
    problem = why if text is None else rewrite_problem(text, question, history)
    if text is not None and problem is None:
        return Rewrite(question, text, "rewritten from the earlier questions")
    # They don't (the referent is named only in an answer: "Who is …?" "John Kirby." "What did he say?").
    text, why = _ask_rewrite(chat_model, question, history, with_answers=True, max_tokens=max_tokens)
    again = why if text is None else rewrite_problem(text, question, history)
    if text is not None and again is None:
        return Rewrite(question, text, "rewritten from the conversation")
    # Both rewrites changed the question: ask only what the pointing word means and put that in its place.
    swapped = _substitute_referent(chat_model, question, history, max_tokens=max_tokens)
    if swapped is not None and rewrite_problem(swapped, question, history, allow_borrowing=True) is None:
        return Rewrite(question, swapped, "the pointing word replaced by what it refers to")
    return Rewrite(question, question, f"{again or problem}; asked as typed")


_ELLIPSIS = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$|^\s*and\s+(?!where|when|why|how|who|what|which)(.+?)\s*\?\s*$",
    re.I,
)
_NAME_RUN = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")


def ellipsis_rewrite(question: str, previous: str) -> str | None:
    """ "What about Germany?" after "How many troops are going to Poland?" → the earlier question about
    Germany, made in code (no model call): a name takes the place of the earlier question's last name;
    "the NATO document" takes the place of the phrase ending in the same noun ("the US document").
    None when the question is not of that form or no such place is found."""
    m = _ELLIPSIS.match(question)
    if not m:
        return None
    new = (m.group(1) or m.group(2) or "").strip().rstrip("?").strip()
    if not new or len(new.split()) > 6:
        return None
    if new[0].isupper():
        names = list(_NAME_RUN.finditer(previous))
        if not names:
            return None
        last = names[-1]
        return previous[: last.start()] + new + previous[last.end() :]
    head = new.split()[-1].lower()
    phrase = re.search(rf"\b(?:the|a|an|this|that|its|their)\b(?:\s+[\w'’.-]+)*?\s+{re.escape(head)}\b", previous, re.I)
    if phrase is None:
        return None
    return previous[: phrase.start()] + new + previous[phrase.end() :]


def rewrite_problem(
    rewrite: str, question: str, history: Sequence[Turn], *, allow_borrowing: bool = False
) -> str | None:
    """Why a rewrite can't be used, or None: it is the question itself, still points back, dropped part of
    the question, or carries an earlier answer into it."""
    if rewrite.strip().lower() == question.strip().lower():
        return "the rewrite is the question itself"
    pointing = {t for t in re.findall(r"[a-z]+", question.lower()) if t in FOLLOWUP_WORDS}
    left = sorted(pointing & set(re.findall(r"[a-z]+", rewrite.lower())) - {"that", "this", "there", "here"})
    if left:
        return f"the rewrite still says {', '.join(left)}"
    lost = lost_words(rewrite, question)
    if lost:
        return f"the rewrite dropped {', '.join(lost[:3])}"
    borrowed = [] if allow_borrowing else borrowed_words(rewrite, question, history)
    if len(borrowed) > MAX_BORROWED_WORDS:
        return f"the rewrite restated an earlier answer ({', '.join(borrowed[:4])}…)"
    return None


_POSSESSIVES = frozenset({"his", "her", "hers", "its", "their", "theirs"})
_REFERRING = ("he", "she", "they", "it", "him", "them", "his", "her", "hers", "its", "their", "theirs")


def _substitute_referent(
    chat_model: Callable[[], BaseChatModel], question: str, history: Sequence[Turn], *, max_tokens: int
) -> str | None:
    """The question with its first pronoun replaced by what the model says it refers to, when that is named
    in the conversation shown (it is copied, never made up); None otherwise."""
    tokens = re.findall(r"[A-Za-z]+", question)
    word = next((t for t in tokens if t.lower() in _REFERRING), None)
    if word is None:
        return None
    shown = history_text(history[-REWRITE_TURNS:])
    text, _ = _invoke(
        chat_model, fill(load_prompt("referent"), history=shown, question=question, word=word), max_tokens
    )
    lines = (text or "").strip().splitlines()
    referent = lines[0].strip().strip("\"'`“”‘’.").strip() if lines else ""
    if not referent or len(referent.split()) > 8 or referent.lower() not in shown.lower():
        return None
    asked = {stem(w) for w in content_words(question)}
    if all(stem(w) in asked for w in content_words(referent)):  # "respond to them" is not Russia itself
        return None
    if word.lower() in _POSSESSIVES:
        referent += "’s"
    return re.sub(rf"\b{re.escape(word)}\b", lambda _m: referent, question, count=1)


def _ask_rewrite(
    chat_model: Callable[[], BaseChatModel],
    question: str,
    history: Sequence[Turn],
    *,
    with_answers: bool,
    max_tokens: int,
) -> tuple[str | None, str]:
    shown = history_text(history[-REWRITE_TURNS:], with_answers=with_answers)
    text, why = _invoke(chat_model, fill(load_prompt("condense"), history=shown, question=question), max_tokens)
    if text is None:
        return None, why
    cleaned = clean_rewrite(text, question)
    if cleaned is None:
        return None, f"unusable model output {text[:80]!r}, asked as typed"
    return cleaned, "rewritten from the conversation"


def _invoke(chat_model: Callable[[], BaseChatModel], prompt: str, max_tokens: int) -> tuple[str | None, str]:
    """(the model's reply, "") for one short rewrite prompt, or (None, why) when it failed or was cut off.

    A QAError from the client (the server is down) propagates; any other failure must not lose the question.
    """
    from langchain_core.messages import HumanMessage

    try:
        msg = chat_model().invoke([HumanMessage(prompt.strip())], temperature=0, max_tokens=max_tokens)
    except QAError:
        raise
    except Exception as exc:
        return None, f"failed ({exc.__class__.__name__}), asked as typed"
    if (getattr(msg, "response_metadata", None) or {}).get("finish_reason") == "length":
        return None, f"cut off at {max_tokens} tokens, asked as typed"
    return (msg.content if isinstance(msg.content, str) else ""), ""


def turns_from_messages(messages: Iterable[tuple[str, str]]) -> list[Turn]:
    """Turns from chat-style (role, content) messages: each user message, with the assistant reply after it."""
    turns: list[Turn] = []
    asked: str | None = None
    for role, content in messages:
        if role == "user":
            if asked is not None:
                turns.append(Turn(asked))
            asked = content
        else:
            turns.append(Turn(asked or "", content))
            asked = None
    if asked is not None:
        turns.append(Turn(asked))
    return turns
