"""The answering chain: passages in, a verified and cited answer out.

The passages are shown to the model as numbered sentences (qa.evidence). Through LangChain's ChatOpenAI,
with a JSON schema that constrains its output, the model replies with the numbers of the sentences that
answer, a short answer span copied from them, a yes/no verdict where one is asked for, and one answer
sentence (qa.verify.ModelReply), in that order: evidence first. Code (qa.verify) then decides what is
shown; the quotes are the article's own sentences by construction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from qa import second_look
from qa.errors import InputError, ModelOutputError
from qa.evidence import Evidence, build_evidence
from qa.models import Answer, Passage, Timings
from qa.prompt import fill, load_prompt
from qa.relation import Scorer
from qa.reply_stream import Said, drain, span_logprob, stream_reply
from qa.settings import Settings
from qa.terms import is_yes_no
from qa.verify import REFUSAL_TEXT, ModelReply, check_reply, refusal

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = ["MAX_QUESTION_CHARS", "REFUSAL_TEXT", "ModelReply", "build_messages", "refusal", "stream_answer", "verify"]

MAX_QUESTION_CHARS = 2_000


def build_messages(question: str, evidence: Evidence) -> list[BaseMessage]:
    """System rules, then the numbered sentences, then the question last, so a repeated prefix stays cacheable."""
    from langchain_core.messages import HumanMessage, SystemMessage

    passages = evidence.render(load_prompt("passage").rstrip("\n"))
    user = fill(load_prompt("answer_user"), passages=passages, question=question.strip())
    return [SystemMessage(load_prompt("answer_system").strip()), HumanMessage(user.strip())]


def response_format(max_evidence: int = 4, yes_no: bool = True) -> dict[str, Any]:
    """The OpenAI ``response_format`` that constrains the model to ModelReply. Without ``yes_no`` (the
    question doesn't ask yes or no) the verdict field is left out: the model would only write "none"."""
    schema = ModelReply.model_json_schema()
    schema["properties"]["ids"]["maxItems"] = max_evidence
    if not yes_no:
        del schema["properties"]["verdict"]
    schema["required"] = list(schema["properties"])  # strict: every field, in the order asked
    return {"type": "json_schema", "json_schema": {"name": "evidence_answer", "schema": schema, "strict": True}}


def verify(
    question: str,
    passages: Sequence[Passage],
    reply: ModelReply,
    settings: Settings,
    scorer: Scorer | None = None,
    evidence: Evidence | None = None,
    confidence: float | None = None,
) -> Answer:
    """Check a reply against the passages it was given (qa.verify's rules); never raises on model content.
    ``confidence``: the lowest log-probability among the tokens of the reply's span (``span_logprob()``)."""
    return check_reply(question, passages, evidence or build_evidence(passages), reply, settings, scorer, confidence)


def precheck(question: str, passages: Sequence[Passage], settings: Settings) -> str | None:
    """A reason to refuse before asking the model, or None: no passage at all, or none related."""
    if not passages:
        return "no passages were retrieved"
    best = max(p.score for p in passages)
    if best < settings.retrieval.min_score:
        return f"no passage is related to the question (best similarity {best:.2f} < {settings.retrieval.min_score})"
    return None


def parse_reply(text: str) -> ModelReply:
    """Validate the model's JSON; raises ModelOutputError naming what is wrong."""
    try:
        return ModelReply.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise ModelOutputError(
            f"the model's reply is not the expected JSON ({where}: {first.get('msg')}): {text[:200]!r}",
            hint="retry; with a hosted endpoint, check it supports response_format json_schema",
        ) from exc


def check_question(question: str) -> str:
    """The question, stripped; raises InputError when it is empty or longer than MAX_QUESTION_CHARS."""
    question = question.strip()
    if not question:
        raise InputError("the question is empty", hint='ask something, e.g. qa ask "How many troops?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(question)} characters long (limit {MAX_QUESTION_CHARS})",
            hint="shorten it to the question itself",
        )
    return question


def stream_answer(
    get_chat: Callable[[], BaseChatModel],
    question: str,
    passages: Sequence[Passage],
    settings: Settings,
    retrieve_s: float = 0.0,
    scorer: Scorer | None = None,
) -> Iterator[str | Answer]:
    """Yield answer text as the model writes it, then the verified Answer (always last).

    ``scorer`` (the cross-encoder) is one of the signals that decide whether the cited sentences answer
    the question; without it that rests on the question's words alone.

    Raises InputError for an empty or over-long question, ModelError when the model fails.
    """
    question = check_question(question)
    t0 = time.perf_counter()
    reason = precheck(question, passages, settings)
    if reason:
        yield refusal(question, passages, reason, timings=Timings(retrieve_s=retrieve_s, total_s=retrieve_s))
        return
    chat = get_chat()
    evidence = build_evidence(passages)
    if not evidence.sentences:
        yield refusal(
            question,
            passages,
            "the retrieved passages hold nothing but instructions to an assistant",
            timings=Timings(retrieve_s=retrieve_s, total_s=retrieve_s),
        )
        return
    messages = build_messages(question, evidence)
    fmt = response_format(settings.answer.max_evidence, is_yes_no(question))
    lead = time.perf_counter() - t0  # evidence and prompt, before the model is asked
    said = yield from stream_reply(chat, messages, fmt, settings)
    reply, said_text, confidence = _parsed(chat, messages, said, fmt, settings)
    t1 = time.perf_counter()
    answer = verify(question, passages, reply, settings, scorer, evidence, confidence)
    if reply.ids and settings.answer.confirm and evidence.get(reply.ids[0]) is not None:
        # Asked whenever the model claims an answer (not only when the checks pass), so a recorded eval
        # run can be re-scored under any check policy; the verdict only ever withholds.
        verdict = confirm(chat, messages, said_text, reply.ids, question, settings)
        answer = apply_confirmation(answer, verdict, reply.ids, settings)
    usage, generate_s, second_s = said.usage, lead + said.generate_s, 0.0
    if scorer is not None and second_look.wanted(answer, settings, scorer):
        answer, again = _look_again(chat, question, passages, evidence, answer, fmt, settings, scorer)
        usage = usage.plus(again.usage)
        second_s = again.generate_s
    answer.raw_reply = reply.model_dump_json()
    answer.usage = usage
    answer.model = str(getattr(chat, "model_name", "") or "")
    answer.timings = Timings(
        retrieve_s=retrieve_s,
        first_token_s=None if said.first_token_s is None else lead + said.first_token_s,
        generate_s=generate_s + second_s,
        verify_s=time.perf_counter() - t1 - second_s,
        total_s=retrieve_s + time.perf_counter() - t0,
    )
    yield answer


def _look_again(
    chat: BaseChatModel,
    question: str,
    passages: Sequence[Passage],
    evidence: Evidence,
    refused: Answer,
    fmt: dict[str, Any],
    settings: Settings,
    scorer: Scorer,
) -> tuple[Answer, Said]:
    """The second look (qa.second_look): the model points again with the refused sentences left out; only
    a reply the checks and the cross-encoder both back replaces the refusal. Not streamed: it may not be
    shown. A second reply that is not valid JSON leaves the refusal standing. Raises ModelError."""
    messages = build_messages(question, evidence.without(refused.evidence_ids))
    again = drain(stream_reply(chat, messages, fmt, settings))
    try:
        reply, _, confidence = _parsed(chat, messages, again, fmt, settings)
    except ModelOutputError:
        return second_look.unreadable(refused), again
    return second_look.settle(refused, question, passages, evidence, reply, confidence, settings, scorer), again


def _parsed(
    chat: BaseChatModel, messages: list[BaseMessage], said: Said, fmt: dict[str, Any], settings: Settings
) -> tuple[ModelReply, str, float | None]:
    """(the reply, its text, the span's confidence) of a streamed reply, repaired once if it is not valid JSON."""
    confidence = span_logprob(said.tokens) if "".join(t for t, _ in said.tokens) == said.text else None
    try:
        return parse_reply(said.text), said.text, confidence
    except ModelOutputError:
        reply = _repair(chat, messages, said.text, fmt, settings)
        return reply, reply.model_dump_json(), None


CONFIRM_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "confirm",
        "schema": {
            "type": "object",
            "properties": {"answers": {"type": "string", "enum": ["yes", "no"]}},
            "required": ["answers"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def confirm(
    chat: BaseChatModel,
    messages: list[BaseMessage],
    reply: str,
    ids: Sequence[int],
    question: str,
    settings: Settings,
) -> str:
    """Ask the model once more whether sentences ``ids`` answer the question: "yes" or "no".

    The conversation so far (rules, sentences, question, the model's reply) is the prefix of this call,
    so a server with a prompt cache (llama.cpp) evaluates only the few new tokens. Raises ModelError.
    """
    from langchain_core.messages import AIMessage, HumanMessage

    ask = fill(load_prompt("confirm"), ids=", ".join(f"[{i}]" for i in ids), question=question.strip())
    try:
        msg = chat.invoke([*messages, AIMessage(reply), HumanMessage(ask.strip())], response_format=CONFIRM_FORMAT)
    except Exception as exc:
        from qa.llm import translate_error

        raise translate_error(exc, settings) from exc
    text = msg.content if isinstance(msg.content, str) else ""
    try:
        said = json.loads(text).get("answers")
    except (json.JSONDecodeError, AttributeError):
        said = None
    return said if said in ("yes", "no") else "unclear"


def apply_confirmation(answer: Answer, said: str, asked_ids: Sequence[int], settings: Settings) -> Answer:
    """Record the follow-up's verdict on the model's ``asked_ids``; with ``answer.confirm`` a "no" refuses."""
    answer.checks["confirm"] = said
    answer.checks["confirm_ids"] = list(asked_ids)
    if settings.answer.confirm and answer.answerable and said == "no":
        return refusal(
            answer.question,
            answer.passages,
            "asked again, the model says the cited sentences don't answer the question",
            raw_answer=answer.raw_answer,
            evidence_ids=answer.evidence_ids,
            model_answerable=answer.model_answerable,
            checks=answer.checks,
        )
    return answer


def _repair(
    chat: BaseChatModel, messages: list[BaseMessage], bad: str, fmt: dict[str, Any], settings: Settings
) -> ModelReply:
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
