"""Deciding in code what of the model's reply is shown: the support rules.

The model points at numbered sentences (``ids``), copies a short answer ``span`` from them, gives a
yes/no ``verdict`` where one is asked for, and writes one answer sentence. Nothing of that is trusted:

1. The cited sentences must exist; an empty list is the model's refusal.
2. The span must occur in the cited sentences. If it occurs only in other shown sentences, those are
   cited instead (the model pointed one sentence off); if nowhere, the span is unbacked. An answer
   sentence that leaves the verified span out says something else: the span is the answer, unless the
   question offers a choice ("X or Y?") and the answer names the one choice the cited sentences name.
3. Every name and number in the answer that the question doesn't already hold must occur in the cited
   sentences, and most of its other new words too. An answer sentence that fails is replaced by the
   verified span; with no verified span the answer is withheld, unless one other shown sentence holds
   all of it (the model pointed elsewhere): that one is cited. So an invented name cannot pass.
4. The cited sentences must be about what the question asks: they hold enough of the question's own
   terms (the relation asked about counts, it is not skipped), or the cross-encoder reads them as an
   answer to the question. A true sentence about something nearby is withheld.
   The answer must be of the kind asked ("Friday" answers no "what", "a handful" no "which"), must not
   count another name's things ("3,000 US troops" for the Russian troops; "366,273 households" for the
   question's 366,273 people), nor name the question's own subject where it asks whom that subject acts on.
5. The question's premises: a number (and, with ``premise_check=on``, a name) the question takes for
   granted that no retrieved passage mentions is a reason to refuse.

The word-level comparisons live in qa.terms, the checks of an answer's kind in qa.answer_kind, and the
relation check (and the search for the shown sentence that holds an answer) in qa.relation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.answer_kind import (
    answer_type_mismatch,
    names_the_object,
    picked_alternative,
    place_given_back,
    restates_subject,
)
from qa.citations import (
    locate_quote,
    unsupported_premises,
)
from qa.evidence import Evidence, Sentence
from qa.models import Answer, Citation, Passage
from qa.qualifiers import SAME_NAME as _SAME_NAME
from qa.relation import (
    Scorer,
    context_of,
    denying_sentence,
    nearby_reason,
    quotations_after,
    quote_attributions,
    relation,
    relocate_answer,
    relocate_span,
)
from qa.settings import AnswerSettings, Settings
from qa.terms import (
    ALTERNATIVE,
    MARKER,
    NEGATION,
    denies_what_is_asked,
    is_yes_no,
    new_facts,
    relation_terms,
    says_not,
    stems,
    unbacked,
)

#: The fixed wording of every refusal (documented in README.md).
REFUSAL_TEXT = "The ingested articles don't answer this question."


class ModelReply(BaseModel):
    """The structured reply asked of the model: evidence first, by reference; bounds keep small models short."""

    ids: list[int] = Field(max_length=4, description="Numbers of the sentences that state the answer; [] if none.")
    span: str = Field(max_length=160, description="The shortest words copied from those sentences that answer.")
    verdict: Literal["yes", "no", "none"] = Field(
        default="none", description="For a yes/no question, yes or no; otherwise none (and left out)."
    )
    answer: str = Field(max_length=200, description="A short answer (at most 15 words) from those sentences only.")


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


def verdict_asked(question: str, reply: ModelReply) -> str:
    """The reply's verdict when the question asks yes or no ("none" otherwise); a reply that left the
    verdict out but begins its answer with yes or no gives it there."""
    if not is_yes_no(question):
        return "none"
    if reply.verdict != "none":
        return reply.verdict
    head = re.match(r"\s*(yes|no)\b", reply.answer, re.I)
    return head.group(1).lower() if head else "none"


def _cite(n: int, s: Sentence) -> Citation:
    p = s.passage
    return Citation(
        key=n,
        passage_key=p.key,
        doc_id=p.doc_id,
        title=p.title,
        chunk_id=p.chunk_id,
        quote=s.text,
        char_start=s.doc_start,
        char_end=s.doc_end,
        score=p.score,
        located_by="code",
    )


def _checked_span(
    question: str, raw: str, alternative: bool, cited: list[Sentence], evidence: Evidence, checks: dict[str, Any]
) -> tuple[str, bool, list[Sentence], str | None]:
    """(span, whether it is verified, the cited sentences, a refusal reason or None) for the model's span:
    it must occur in the cited sentences (one sentence off, the shown sentence holding it is cited instead)
    and say more than the question; a span that answers nothing is not verified, one that gives the
    question back is a refusal. What it finds is recorded in ``checks``."""
    span = raw.strip().strip(".,;:\"'“”‘’ ")
    span_ok = False
    if span:
        if any(locate_quote(span, s.text) is not None for s in cited):
            span_ok = True
        else:
            moved = relocate_span(span, evidence, question)
            if moved:
                checks["span_relocated"] = [s.id for s in cited]
                cited = moved
                span_ok = True
    # "Do adults or juveniles glow brighter?" → "Juveniles" (``alternative``): one of the question's own
    # words is the answer.
    if span_ok and not is_yes_no(question) and not alternative and not any(new_facts(span, question)):
        # "Where in Romania?" → "Romania": a span that only repeats the question answers nothing by itself.
        checks["span_restates_question"] = True
        span_ok = False
        place = place_given_back(question, span)
        if place:
            # "Where exactly in Romania will the squadron be stationed?" → "Romania", in a sentence that adds
            # only who goes there: the question names the place and asks where in it; nothing answers that.
            return span, False, cited, f"the question asks where in {place}, and the answer gives {place} back"
    if span_ok and (verb := names_the_object(question, span)):
        # "Who commands the 82nd Airborne brigade…?" → "82nd Airborne Division infantry brigade combat team":
        # the model pointed at what is commanded, and nobody who commands it.
        checks["span_is_object"] = verb
        return span, False, cited, f"the question asks who {verb} something, and the answer names that thing"
    if span_ok and restates_subject(question, span):
        # "What do epithelial cells have at the oral end?" → "adhesive epithelial cells": the subject again.
        checks["span_is_subject"] = True
        span_ok = False
    return span, span_ok, cited, None


def _settle_verdict(
    question: str,
    verdict: str,
    sentence: str,
    cited: list[Sentence],
    evidence: Evidence,
    cfg: AnswerSettings,
    scorer: Scorer | None,
    checks: dict[str, Any],
) -> tuple[str, list[Sentence], str | None]:
    """(the answer sentence led by the verdict, the cited sentences, a refusal reason or None) for a yes/no
    answer: the verdict and the sentence must agree, and a "yes" resting on a negated sentence is not
    shown; it becomes "No", cited to the shown sentence that denies what is asked, when there is one."""
    head = re.match(r"\s*(yes|no)\b[\s,.!]*", sentence, re.I)
    if head and head.group(1).lower() != verdict:
        return sentence, cited, "the verdict and the answer sentence disagree"
    negated = any(says_not(s.text) for s in cited) or NEGATION.search(sentence)
    if verdict == "yes" and negated and not NEGATION.search(question):
        denying = denying_sentence(question, evidence, cfg, scorer)
        if denying is None:
            return sentence, cited, "the answer says yes, but it or the sentence it cites is negated"
        # "Are the troops being deployed part of the 8,500 on alert?" → "yes", pointed at "the troops
        # being deployed were separate from the 8,500 …": the evidence says no, so the answer is no.
        checks["yes_denied"] = [s.id for s in cited]
        verdict, cited, sentence, head = "no", [denying], "", None
    rest = sentence[head.end() :] if head else sentence
    first = rest.split(" ", 1)[0].strip(",.;:")
    if first and not any(re.search(rf"\S\s+{re.escape(first)}\b", s.text) for s in cited):
        rest = rest[:1].lower() + rest[1:]  # "The header can be small" → "Yes, the header…"; "Latvia" stays
    return verdict.capitalize() + (", " + rest if rest else ""), cited, None


def check_reply(
    question: str,
    passages: Sequence[Passage],
    evidence: Evidence,
    reply: ModelReply,
    settings: Settings,
    scorer: Scorer | None = None,
    span_logprob: float | None = None,
) -> Answer:
    """Apply the support rules to the model's reply: a verified, cited Answer or a refusal. Never raises.

    ``span_logprob`` (the lowest log-probability of the span's tokens, None when unknown) is one signal of
    the relation check: see AnswerSettings.confident_span."""
    cfg = settings.answer
    checks: dict[str, Any] = {}
    if span_logprob is not None:
        checks["span_logprob"] = round(span_logprob, 3)
    common: dict[str, Any] = {
        "raw_answer": reply.answer,
        "evidence_ids": list(reply.ids),
        "model_answerable": bool(reply.ids),
        "checks": checks,
    }
    if evidence.set_aside:
        checks["set_aside"] = len(evidence.set_aside)

    # 5. Premises, against every retrieved passage (not only the cited sentences).
    missing = (
        []
        if cfg.premise_check == "off"
        else unsupported_premises(question, [p.text + " " + (p.title or "") for p in passages])
    )
    missing = [m for m in missing if m[0].isdigit() or (cfg.premise_check == "on" and not _same_name(m, passages))]
    if missing:
        checks["premise_missing"] = missing
        return refusal(question, passages, f"the passages never mention {', '.join(dict.fromkeys(missing))}", **common)

    # 1. The evidence the model pointed at.
    if not reply.ids:
        return refusal(question, passages, "the model found no sentence that answers the question", **common)
    cited = [s for s in (evidence.get(i) for i in dict.fromkeys(reply.ids)) if s is not None]
    common["dropped_citations"] = len(reply.ids) - len(cited)
    if not cited:
        return refusal(question, passages, "the model cited sentence numbers that were not shown", **common)

    # 2. The span, in the cited sentences or (one sentence off) in another shown one.
    alternative = bool(ALTERNATIVE.search(question))  # "Do adults or juveniles…?"
    span, span_ok, cited, why = _checked_span(question, reply.span, alternative, cited, evidence, checks)
    if why:
        return refusal(question, passages, why, **common)
    checks["span_ok"] = span_ok
    context = context_of(cited, evidence)
    units = [s.text for s in cited]  # what the stray-facts rule weighs one by one: a quotation with its speaker is one

    # 3. The answer's new names, numbers and words, against the cited sentences.
    sentence = " ".join(MARKER.sub("", reply.answer).split())
    if not is_yes_no(question):  # "Do adults or juveniles…?" → "Yes, juveniles…": the "yes" answers nothing
        head = re.match(r"\s*(?:yes|no)\s*[,.!]\s*(?=\S)", sentence, re.I)
        sentence = sentence[head.end() :] if head else sentence
        sentence = sentence[:1].upper() + sentence[1:]
    verdict = verdict_asked(question, reply)
    gaps = unbacked(sentence, question, context, cfg.min_support) if sentence else ["(empty answer)"]
    if gaps:
        speakers = quote_attributions(cited, evidence)
        if speakers and not unbacked(sentence, question, context + [p.text for p, _ in speakers], cfg.min_support):
            # "Who called Article V a sacred obligation?" → "Biden": the quotation's second sentence is
            # cited, the speaker is named in its first. Both are cited.
            checks["quote_attribution"] = [p.id for p, _ in speakers]
            joined = {id(q): p.text + " " + q.text for p, q in speakers}
            units = [joined.get(id(s), s.text) for s in cited]
            cited = sorted(cited + [p for p, _ in speakers], key=lambda s: s.id)
            context = context_of(cited, evidence)
            gaps = []
    if (
        not gaps
        and not is_yes_no(question)
        and not any(new_facts(sentence, question))
        and not (alternative and span_ok)
    ):
        checks["answer_restates_question"] = True
        return refusal(question, passages, "the answer only repeats the question's own words", **common)
    if gaps and not span_ok:
        holder = relocate_answer(sentence, question, evidence, cfg)
        if holder is not None:
            # "what else does Kyiv want from the West?" → "…continued supplies of defensive weapons…",
            # pointed at a sentence about El Pais: one other shown sentence holds all it says; that one is cited.
            checks["answer_relocated"] = [s.id for s in cited]
            cited, units = [holder], [holder.text]
            context = context_of(cited, evidence)
            gaps = []
    if gaps:
        checks["answer_unbacked"] = gaps
        if not span_ok:
            return refusal(
                question,
                passages,
                f"the answer's {', '.join(gaps[:3])} is not in the sentences it cites",
                **common,
            )
        sentence = span  # the verified span is the answer, in the article's own words
        checks["answer_from_span"] = True
    elif alternative and span_ok and (picked := picked_alternative(question, sentence, [s.text for s in cited])):
        # "Do adults or juveniles glow brighter?" → "juveniles", span "luminescence": the answer names one
        # of the choices the question offers, and the cited sentences name it too: that choice answers.
        checks["answer_picks"] = picked
    elif span_ok and not is_yes_no(question) and locate_quote(span, sentence) is None:
        # The span was copied from the cited sentences; a free answer sentence without it says something
        # else ("deforestation is considerable" for what is visible from space): the span is the answer.
        checks["answer_disagrees"] = sentence
        sentence = span
        checks["answer_from_span"] = True

    # A "no" rests on a sentence that says not (or "separate from"); when the model pointed at one that
    # doesn't, the shown sentence that denies what the question asks is cited instead, if there is one.
    if verdict == "no" and not NEGATION.search(question) and not any(says_not(s.text) for s in cited):
        denying = denying_sentence(question, evidence, cfg, scorer)
        if denying is None:
            return refusal(question, passages, "the answer says no, but no cited sentence says not", **common)
        checks["no_relocated"] = [s.id for s in cited]
        cited, units = [denying], [denying.text]
        context = context_of(cited, evidence)

    # 4. Are the cited sentences about what the question asks?
    nearby = nearby_reason(question, sentence, span, span_ok, cited, units, evidence, cfg, checks)
    if nearby:
        return refusal(question, passages, nearby, **common)

    related, coverage, relevance, asks_about = relation(question, [s.text for s in cited], context, cfg, scorer)
    if not related:
        quoted = quotations_after(question, cited, evidence)
        wider = sorted([*cited, *quoted], key=lambda s: s.id)
        if quoted and relation(question, [s.text for s in wider], context_of(wider, evidence), cfg, scorer)[0]:
            # "What position does the person who called the deployment 'a powerful signal' hold?" ←
            # "NATO Secretary General Jens Stoltenberg welcomed…" and, next, "“This is a powerful signal…,”
            # Stoltenberg said": the speaker's sentence answers, the quotation after it is what is asked about.
            checks["quotation_after"] = [s.id for s in quoted]
            cited, related = wider, True
    checks["relation_coverage"] = round(coverage, 3)
    if relevance is not None:
        checks["relevance"] = round(relevance, 3)
    ordinary = relation_terms(question)
    if not related and is_yes_no(question) and any(denies_what_is_asked(question, s.text) for s in cited):
        # "Are the deployments meant to be permanent?" ← "the moves … were not permanent": a sentence that
        # negates the very thing a yes/no question asks about answers it, in whatever words it names the subject.
        checks["denies_what_is_asked"] = True
        related = True
    if not related and verdict == "none" and is_yes_no(question) and not NEGATION.search(question):
        denying = denying_sentence(question, evidence, cfg, scorer)
        if denying is not None:
            # "Did the Pentagon press secretary say the moves are permanent?" with no verdict, pointed at a
            # sentence about something else, while a shown one says "the moves … were not permanent": no.
            checks["none_denied"] = [s.id for s in cited]
            verdict, cited, sentence, related = "no", [denying], "", True
    if (
        not related
        and cfg.confident_span is not None
        and span_logprob is not None
        and span_logprob >= cfg.confident_span
        and relevance is not None
        and relevance >= cfg.confident_relevance
    ):
        # "From which post in the Tar Heel State are the paratroopers bound for Poland setting off?" → "Fort
        # Bragg", every token of the span at 80% or more, on "… from Fort Bragg, North Carolina" (cross-encoder
        # -0.8): two signals that each fall short agree. The span must still occur in the cited sentences and
        # every new name and number be backed (checked above).
        checks["confident_span"] = True
        related = True
    if not related:
        why = f"the cited sentences hold {coverage:.0%} of the question's terms"
        if not asks_about:
            why += f" and none of {', '.join(repr(w) for w in ordinary[:3])}"
        if relevance is not None:
            why += f" and the cross-encoder scores them {relevance:.1f} (< {cfg.min_relevance})"
        checks["unrelated"] = True
        return refusal(question, passages, why + ": they are about something else", **common)

    # Yes/no: the verdict leads; a "yes" resting on a negated sentence is not shown.
    if verdict != "none":
        sentence, cited, why = _settle_verdict(question, verdict, sentence, cited, evidence, cfg, scorer, checks)
        if why:
            return refusal(question, passages, why, **common)

    mismatch = answer_type_mismatch(question, sentence)
    if restates_subject(question, sentence) and not (span_ok and locate_quote(span, sentence) is not None):
        # "Which fort was rebuilt in 1964?" → "Fort Caroline was rebuilt in 1964.": a sentence holding the verified
        # span restates the question's frame around it; the span was checked for restating already.
        mismatch = "the answer names the question's own subject, not what it asks about it"
    if mismatch:
        return refusal(question, passages, mismatch, **common)

    citations = [_cite(n, s) for n, s in enumerate(cited, start=1)]
    body = sentence.rstrip()
    tail = "."
    if body and body[-1] in ".!?":
        body, tail = body[:-1], body[-1]
    text = body + "".join(f" [{c.key}]" for c in citations) + tail
    return Answer(
        question=question,
        answer=text,
        answerable=True,
        citations=citations,
        passages=list(passages),
        **{**common, "evidence_ids": [s.id for s in cited]},
    )


def _same_name(name: str, passages: Sequence[Passage]) -> bool:
    """True when a name the passages lack is a known other form of one they have ("American" / "US")."""
    key = _SAME_NAME.get(name.lower())
    return key is not None and any(key in stems(p.text) for p in passages)
