"""The answering chain: passages in, a verified and cited answer out.

The model (through LangChain's ChatOpenAI, structured output by JSON schema) proposes quotes and an
answer. Code then decides what is shown: a quote survives only if it occurs in the passage it cites,
an answer sentence survives only if surviving quotes support it, and the answer is withheld (with
the fixed REFUSAL_TEXT) when nothing survives, when no passage is related to the question, or when
the question takes for granted a name or number that no passage mentions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationError

from qa.chunking import split_sentences
from qa.citations import (
    content_words,
    content_words_beyond,
    expand_to_sentence,
    locate_quote,
    support,
    unsupported_premises,
    words,
)
from qa.errors import InputError, ModelError, ModelOutputError
from qa.guard import split_instructions
from qa.models import Answer, Citation, Passage, Timings, Usage
from qa.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

#: The fixed wording of every refusal (documented in README.md).
REFUSAL_TEXT = "The ingested articles don't answer this question."

MAX_QUESTION_CHARS = 2_000


class ModelCitation(BaseModel):
    """A citation as the model proposes it (unverified)."""

    key: int = Field(description="Number of the passage the quote is copied from.")
    quote: str = Field(max_length=300, description="Words copied exactly from that passage.")


class ModelAnswer(BaseModel):
    """The structured reply asked of the model. Bounds keep small models from running on."""

    # The answer comes first so it can stream; at least one citation is required so that the model
    # always commits to a quote that code can check (an empty list would make refusal its call).
    answer: str = Field(max_length=600)
    citations: list[ModelCitation] = Field(min_length=1, max_length=4)
    answerable: bool


@cache
def load_prompt(name: str) -> str:
    """A prompt template from the ``prompts/`` folder (package data)."""
    return resources.files("qa.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def fill(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders; raises KeyError naming a placeholder without a value."""
    return template.format(**values)


def render_passages(passages: Sequence[Passage]) -> str:
    """The passages as the model sees them: short numeric keys, title and section, then the text."""
    template = load_prompt("passage").rstrip("\n")
    blocks = []
    for p in passages:
        label = " / ".join(x for x in (p.title, p.heading) if x)
        blocks.append(fill(template, key=str(p.key), source=f"({label}) " if label else "", text=p.text.strip()))
    return "\n\n".join(blocks)


def build_messages(question: str, passages: Sequence[Passage]) -> list[BaseMessage]:
    """System rules, then passages, then the question last, so a repeated prefix stays cacheable."""
    from langchain_core.messages import HumanMessage, SystemMessage

    user = fill(load_prompt("answer_user"), passages=render_passages(passages), question=question.strip())
    return [SystemMessage(load_prompt("answer_system").strip()), HumanMessage(user.strip())]


def response_format() -> dict[str, Any]:
    """The OpenAI ``response_format`` that constrains the model to ModelAnswer."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "cited_answer", "schema": ModelAnswer.model_json_schema(), "strict": True},
    }


class _AnswerFieldStream:
    """Pulls the text of the JSON "answer" string out of a reply while it is still being generated."""

    _ESCAPES: ClassVar[dict[str, str]] = {
        "n": "\n",
        "t": "\t",
        '"': '"',
        "\\": "\\",
        "/": "/",
        "b": "",
        "f": "",
        "r": "",
    }

    def __init__(self) -> None:
        self.buf = ""
        self.pos = -1  # index of the first character of the answer string in buf
        self.done = False

    def feed(self, piece: str) -> str:
        self.buf += piece
        if self.done:
            return ""
        if self.pos < 0:
            m = re.search(r'"answer"\s*:\s*"', self.buf)
            if not m:
                return ""
            self.pos = m.end()
        out = []
        i = self.pos
        while i < len(self.buf):
            ch = self.buf[i]
            if ch == "\\":
                if i + 1 >= len(self.buf):
                    break
                nxt = self.buf[i + 1]
                if nxt == "u":
                    if i + 6 > len(self.buf):
                        break
                    out.append(chr(int(self.buf[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append(self._ESCAPES.get(nxt, nxt))
                i += 2
                continue
            if ch == '"':
                self.done = True
                i += 1
                break
            out.append(ch)
            i += 1
        self.pos = i
        return "".join(out)


def refusal(question: str, passages: Sequence[Passage], reason: str, **extra: Any) -> Answer:
    """An Answer that withholds an answer, keeping the passages that were looked at."""
    return Answer(
        question=question,
        answer=REFUSAL_TEXT,
        answerable=False,
        passages=list(passages),
        refusal_reason=reason,
        **extra,
    )


def precheck(question: str, passages: Sequence[Passage], settings: Settings) -> str | None:
    """A reason to refuse before asking the model, or None: evidence decided in code, not by the model."""
    if not passages:
        return "no passages were retrieved"
    best = max(p.score for p in passages)
    if best < settings.retrieval.min_score:
        return f"no passage is related to the question (best similarity {best:.2f} < {settings.retrieval.min_score})"
    mode = settings.answer.premise_check
    missing = (
        [] if mode == "off" else unsupported_premises(question, [p.text + " " + (p.title or "") for p in passages])
    )
    if mode == "numbers":
        missing = [m for m in missing if m[0].isdigit()]
    if missing:
        return f"the passages never mention {', '.join(dict.fromkeys(missing))}"
    return None


_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+(?:\s*\[\d+\])*[\"'”’)]*|$)")
_MARKER = re.compile(r"\s*\[(\d+)\]")


def verify(question: str, passages: Sequence[Passage], reply: ModelAnswer, settings: Settings) -> Answer:
    """Keep what the passages support; refuse when nothing is left. Never raises on model content."""
    by_key = {p.key: p for p in passages}
    verified: list[Citation] = []
    dropped = 0
    repaired: set[int] = set()
    for mc in reply.citations:
        passage = by_key.get(mc.key)
        span = locate_quote(mc.quote, passage.text) if passage else None
        if passage is not None and span is None and settings.answer.locate_support == "repair":
            # An altered quote: if one sentence of the cited passage holds most of its words, that is the
            # sentence the model meant; cite it, in the article's own words.
            span = closest_sentence(mc.quote, passage.text)
            if span is not None:
                repaired.add(passage.char_start + span[0])
        if passage is None or span is None:
            dropped += 1
            continue
        start, end = span
        if len(passage.text[start:end].split()) < 4:
            # A two-word quote proves little to a reader: show its whole sentence instead.
            start, end = expand_to_sentence(passage.text, start, end)
        if any(c.passage_key == passage.key and c.char_start == passage.char_start + start for c in verified):
            continue
        verified.append(cite(passage, start, end, "code" if passage.char_start + start in repaired else "model"))
    common: dict[str, Any] = {
        "raw_citations": [{"key": mc.key, "quote": mc.quote} for mc in reply.citations],
        "dropped_citations": dropped,
        "model_answerable": reply.answerable,
        "raw_answer": reply.answer,
    }
    if not reply.answerable:
        return refusal(question, passages, "the model found no answer in the passages", **common)

    # Evidence for a sentence: the sentences around each verified quote.
    evidence: dict[int, list[str]] = {}
    for c in verified:
        p = by_key[c.passage_key]
        s, e = expand_to_sentence(p.text, c.char_start - p.char_start, c.char_end - p.char_start)
        evidence.setdefault(c.key, []).append(p.text[s:e])
    ignore = words(question)
    # Where code may look for a backing sentence the model didn't quote (none for "repair"/"off").
    policy = settings.answer.locate_support
    cited_keys = {mc.key for mc in reply.citations}
    search = [p for p in passages if policy == "all" or (policy == "cited" and p.key in cited_keys)]
    kept: list[str] = []
    used: list[Citation] = []
    searched: list[Citation] = []
    dropped_sentences = 0
    for sentence in (m.group(0).strip() for m in _SENTENCE.finditer(reply.answer)):
        if not sentence or not re.search(r"\w", _MARKER.sub("", sentence)):
            continue
        all_ev = [t for texts in evidence.values() for t in texts]
        share, missing_numbers = support(sentence, all_ev, ignore) if all_ev else (0.0, [])
        keys: list[int] = []
        if share < settings.answer.min_support or missing_numbers:
            # The model's quotes don't back this sentence (missing, altered, or from the wrong place).
            # With "cited"/"all", look for the passage sentence that does, by the same rule; cite that.
            found = locate_support(question, sentence, search, settings.answer.min_support)
            if found is None:
                dropped_sentences += 1
                continue
            citation, text = found
            same = next(
                (c for c in verified if c.passage_key == citation.passage_key and c.char_start == citation.char_start),
                None,
            )
            if same is None:
                verified.append(citation)
                searched.append(citation)
                evidence.setdefault(citation.key, []).append(text)
            used.append(same or citation)
            keys = [citation.key]
        else:
            keys = [int(k) for k in _MARKER.findall(sentence) if int(k) in evidence]
            if not keys:
                # Point the sentence at the quote that supports it best.
                keys = [max(evidence, key=lambda k: support(sentence, evidence[k], ignore)[0])]
            # the model's own (or repaired) quotes under those keys; not ones found for other sentences
            used.extend(c for c in verified if c.key in keys and not any(c is x for x in searched))
        body = _MARKER.sub("", sentence).strip()
        tail = ""
        if body and body[-1] in ".!?":
            body, tail = body[:-1], body[-1]
        kept.append(body + "".join(f" [{k}]" for k in dict.fromkeys(keys)) + tail)
    if not verified:
        return refusal(question, passages, "no citation could be verified against the passages", **common)
    common["dropped_sentences"] = dropped_sentences
    if not kept:
        return refusal(question, passages, "no sentence of the answer is supported by a verified quote", **common)
    shown = [c for c in verified if any(c is u for u in used)]
    mismatch = answer_type_mismatch(question, " ".join(kept)) or yes_contradicted(question, reply.answer, shown)
    if mismatch:
        return refusal(question, passages, mismatch, **common)
    return Answer(
        question=question,
        answer=" ".join(kept),
        answerable=True,
        citations=shown,
        passages=list(passages),
        **common,
    )


def cite(passage: Passage, start: int, end: int, located_by: Literal["model", "code"]) -> Citation:
    """The citation of ``passage.text[start:end]``, with offsets into the whole document."""
    return Citation(
        key=passage.key,
        passage_key=passage.key,
        doc_id=passage.doc_id,
        title=passage.title,
        chunk_id=passage.chunk_id,
        quote=passage.text[start:end],
        char_start=passage.char_start + start,
        char_end=passage.char_start + end,
        score=passage.score,
        located_by=located_by,
    )


def closest_sentence(quote: str, text: str, min_overlap: float = 0.6) -> tuple[int, int] | None:
    """The span of the sentence of ``text`` holding the largest share (>= ``min_overlap``) of ``quote``'s
    content words, or None. Used to repair a quote the model altered while copying."""
    quote_stems = {w[:5] for w in content_words(quote)}
    if len(quote_stems) < 3:
        return None  # too little to recognise a sentence by
    best: tuple[float, int, int] | None = None
    for s, e in split_sentences(text):
        if split_instructions(text[s:e])[1]:
            continue  # a planted instruction is never a citation
        share = len(quote_stems & {w[:5] for w in content_words(text[s:e])}) / len(quote_stems)
        if share >= min_overlap and (best is None or share > best[0]):
            best = (share, s, e)
    return (best[1], best[2]) if best else None


def locate_support(
    question: str, claim: str, passages: Sequence[Passage], min_support: float
) -> tuple[Citation, str] | None:
    """The passage sentence that backs ``claim``, as a citation, or None.

    Backs means the same rule as for the model's own quotes: the span contains at least ``min_support``
    of the claim's content words that are not in the question, and every number in the claim. The span
    must also share a content word with the question, so a name that occurs all over the article is
    cited where the question's subject is. A claim that only restates the question has nothing to
    check and gets no citation, and a sentence that reads as an instruction to an assistant (an
    injection planted in an article) is never cited. The best sentence has the most support, then the
    most question words, then the fewest characters.
    """
    ignore = words(question)
    if not content_words_beyond(claim, ignore):
        return None
    q_stems = {w[:5] for w in content_words(question)}
    best: tuple[tuple[float, int, int], Passage, int, int] | None = None
    for p in passages:
        for s, e in split_sentences(p.text):
            text = p.text[s:e]
            share, missing = support(claim, [text], ignore)
            if share < min_support or missing or split_instructions(text)[1]:
                continue
            overlap = len(q_stems & {w[:5] for w in content_words(text)})
            if overlap == 0:
                continue
            rank = (share, overlap, -(e - s))
            if best is None or rank > best[0]:
                best = (rank, p, s, e)
    if best is None:
        return None
    _, p, s, e = best
    citation = cite(p, s, e, "code")
    return citation, p.text[s:e]


_MONTHS = "january february march april may june july august september october november december"
_TEMPORAL = re.compile(
    r"\b(?:\d{4}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    r"week|weeks|month|months|year|years|day|days|morning|evening|night|hour|hours|ago|since|until|"
    r"soon|coming|recent|recently|later|earlier|now|then|dec|nov|oct|sept|sep|aug|jul|jun|apr|mar|feb|jan|"
    + "|".join(_MONTHS.split())
    + r")\b"
)


def answer_type_mismatch(question: str, answer: str) -> str | None:
    """A reason when the answer is not the kind the question asks for (a count, a time), else None.

    A small model asked "When did X happen?" about an article that doesn't say will often restate a
    nearby sentence; the restatement is supported but answers nothing.
    """
    q = question.lower()
    a = answer.lower()
    if re.search(r"\bhow (many|much)\b", q) and not re.search(
        r"\d(?![\d,]*(?:st|nd|rd|th)\b)|\b(one|two|three|four|five|six|seven|eight|"
        r"nine|ten|dozen|hundred|thousand|million|billion|"
        r"none|no)\b",
        a,
    ):
        return "the question asks for a number and the supported answer contains none"
    if re.match(r"\s*(when|what (year|day|date|time|month))\b", q) and not _TEMPORAL.search(a):
        return "the question asks when and the supported answer names no time"
    return None


_YES_NO_QUESTION = re.compile(
    r"\s*(is|are|was|were|will|would|do|does|did|can|could|has|have|had|should|shall|may|might)\b", re.I
)
_NEGATION = re.compile(r"\b(not|no|never|neither|nor|cannot|without)\b|n't\b|n’t\b", re.I)


def yes_contradicted(question: str, answer: str, citations: Sequence[Citation]) -> str | None:
    """A reason when a yes/no question is answered "yes" but the quotes backing it are negated, else None.

    Word-overlap support can't see polarity: "Will the troops fight in Ukraine?" → "Yes, they will fight
    in Ukraine", quoting "These forces are not going to fight in Ukraine", shares every content word. A
    "yes" whose own quote says "not" (while the question doesn't) is refused rather than shown.
    """
    if not _YES_NO_QUESTION.match(question) or _NEGATION.search(question):
        return None
    if not re.match(r"\s*yes\b", answer, re.I):
        return None
    if any(_NEGATION.search(c.quote) for c in citations) or _NEGATION.search(answer):
        return "the answer says yes, but it or its quote is negated (word overlap can't check polarity)"
    return None


def parse_reply(text: str) -> ModelAnswer:
    """Validate the model's JSON; raises ModelOutputError naming what is wrong."""
    try:
        return ModelAnswer.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise ModelOutputError(
            f"the model's reply is not the expected JSON ({where}: {first.get('msg')}): {text[:200]!r}",
            hint="retry; with a hosted endpoint, check it supports response_format json_schema",
        ) from exc


def stream_answer(
    get_chat: Callable[[], BaseChatModel],
    question: str,
    passages: Sequence[Passage],
    settings: Settings,
    retrieve_s: float = 0.0,
) -> Iterator[str | Answer]:
    """Yield answer text as the model writes it, then the verified Answer (always last).

    Raises InputError for an empty or over-long question, ModelError when the model fails.
    """
    question = question.strip()
    if not question:
        raise InputError("the question is empty", hint='ask something, e.g. qa ask "How many troops?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(question)} characters long (limit {MAX_QUESTION_CHARS})",
            hint="shorten it to the question itself",
        )
    t0 = time.perf_counter()
    reason = precheck(question, passages, settings)
    if reason:
        yield refusal(question, passages, reason, timings=Timings(retrieve_s=retrieve_s, total_s=retrieve_s))
        return
    chat = get_chat()
    messages = build_messages(question, passages)
    fmt = response_format()
    field = _AnswerFieldStream()
    usage = Usage()
    first_token: float | None = None
    try:
        for chunk in chat.stream(messages, response_format=fmt):
            piece = chunk.content if isinstance(chunk.content, str) else ""
            if piece and first_token is None:
                first_token = time.perf_counter() - t0
            text = field.feed(piece)
            if text:
                yield text
            um = getattr(chunk, "usage_metadata", None)
            if um:
                usage = Usage(
                    prompt_tokens=um.get("input_tokens", 0),
                    completion_tokens=um.get("output_tokens", 0),
                    cached_prompt_tokens=(um.get("input_token_details") or {}).get("cache_read", 0) or 0,
                )
    except ModelError:
        raise
    except Exception as exc:
        from qa.llm import translate_error

        raise translate_error(exc, settings) from exc
    generate_s = time.perf_counter() - t0
    try:
        reply = parse_reply(field.buf)
    except ModelOutputError:
        reply = _repair(chat, messages, field.buf, fmt, settings)
    t1 = time.perf_counter()
    answer = verify(question, passages, reply, settings)
    answer.usage = usage
    answer.model = str(getattr(chat, "model_name", "") or "")
    answer.timings = Timings(
        retrieve_s=retrieve_s,
        first_token_s=first_token,
        generate_s=generate_s,
        verify_s=time.perf_counter() - t1,
        total_s=retrieve_s + time.perf_counter() - t0,
    )
    yield answer


def _repair(
    chat: BaseChatModel, messages: list[BaseMessage], bad: str, fmt: dict[str, Any], settings: Settings
) -> ModelAnswer:
    """One second chance for a reply that was not valid JSON; raises ModelOutputError if it fails again."""
    from langchain_core.messages import AIMessage, HumanMessage

    try:
        json.loads(bad)
        error = "fields missing or of the wrong type"
    except json.JSONDecodeError as exc:
        error = f"invalid JSON: {exc.msg}"
    retry = [*messages, AIMessage(bad[:2000]), HumanMessage(fill(load_prompt("repair"), error=error).strip())]
    try:
        msg = chat.invoke(retry, response_format=fmt)
    except Exception as exc:
        from qa.llm import translate_error

        raise translate_error(exc, settings) from exc
    return parse_reply(msg.content if isinstance(msg.content, str) else "")
