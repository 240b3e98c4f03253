"""A second look after a refusal: the model is asked again with the sentences it pointed at left out.

A small model often points at a sentence next to the one that answers (the speaker's title one sentence
before the quote, the meeting in the paragraph above). Code refuses such a reply; asked again without
the refused sentences, the model sometimes points at the right one. But an unanswerable question asked
twice is two chances to slip a nearby sentence past the checks, so the second reply must earn more than
the first: it passes every check as the model gave it (no span, answer or verdict moved or replaced by
code), and the cross-encoder, a signal independent of the model, ranks its cited sentence first of all
the sentences shown, at or above ``min_relevance``. The decision is code's; the model only points again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa.evidence import Evidence
from qa.models import Answer, Passage
from qa.relation import Scorer
from qa.settings import Settings
from qa.verify import ModelReply, check_reply

# Checks that record code moving or replacing part of a reply: a second reply must stand as given.
_MOVED = ("span_relocated", "answer_relocated", "answer_from_span", "no_relocated", "none_denied")


# Refusals of where the model pointed, not of what it answered: the cited sentences are about something
# else, say what is asked of another subject, or name the question's own subject for whom it acts on. A
# second pointer can mend these; an answer of the wrong kind, one that gives the question back or names
# what no cited sentence says is the model's answer itself, and pointing again rarely mends it (measured:
# none of the 10 such second replies in a full run of the hand-written set could be shown).
_MISPOINTED = ("unrelated", "subject_swapped", "answer_is_actor")


def wanted(answer: Answer, settings: Settings, scorer: Scorer | None) -> bool:
    """True when a refused answer deserves a second look: code refused the sentences the model pointed at
    as being about something else (see _MISPOINTED)."""
    return (
        settings.answer.second_look
        and scorer is not None
        and not answer.answerable
        and bool(answer.evidence_ids)
        and any(k in answer.checks for k in _MISPOINTED)
    )


def accepted(second: Answer, evidence: Evidence, question: str, scorer: Scorer, settings: Settings) -> str | None:
    """None when the second reply's answer may be shown, else why not. ``evidence`` is every sentence
    shown the first time (the refused ones included)."""
    if not second.answerable:
        return second.refusal_reason or "refused"
    moved = [k for k in _MOVED if k in second.checks]
    if moved:
        return f"code had to adjust it ({moved[0]})"
    shown = evidence.sentences
    if not shown:
        return "no sentences"
    scores = scorer(question, [s.text for s in shown])
    cited = set(second.evidence_ids)
    best = max(range(len(shown)), key=lambda i: scores[i])
    if shown[best].id not in cited:
        return f"the cross-encoder ranks sentence [{shown[best].id}] first, not the one cited"
    if scores[best] < settings.answer.min_relevance:
        return f"the cross-encoder scores the cited sentence {scores[best]:.1f} (< {settings.answer.min_relevance})"
    return None


def settle(
    first: Answer,
    question: str,
    passages: Sequence[Passage],
    evidence: Evidence,
    reply: ModelReply,
    span_logprob: float | None,
    settings: Settings,
    scorer: Scorer,
) -> Answer:
    """The answer after a second look: ``reply`` (given the evidence without the first answer's cited
    sentences) checked, and shown only if ``accepted``; otherwise the first refusal. Either way the
    second reply is kept in ``checks["second_look"]``, so a recorded run can be re-scored offline."""
    second = check_reply(
        question, passages, evidence.without(first.evidence_ids), reply, settings, scorer, span_logprob
    )
    why = accepted(second, evidence, question, scorer, settings)
    look: dict[str, Any] = {
        "dropped": list(first.evidence_ids),
        "reply": reply.model_dump_json(),
        "span_logprob": None if span_logprob is None else round(span_logprob, 3),
        "accepted": why is None,
    }
    if why is None:
        second.checks["second_look"] = look | {"first_reason": first.refusal_reason}
        return second
    first.checks["second_look"] = look | {"why_not": why}
    return first


def unreadable(first: Answer) -> Answer:
    """The first refusal, recording a second reply that was not valid JSON even after a repair."""
    first.checks["second_look"] = {
        "dropped": list(first.evidence_ids),
        "accepted": False,
        "why_not": "the reply was not valid JSON",
    }
    return first


__all__ = ["accepted", "settle", "unreadable", "wanted"]
