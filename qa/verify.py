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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.citations import (
    QUESTION_SKIP,
    STOPWORDS,
    content_words,
    is_number,
    locate_quote,
    stem,
    unsupported_premises,
    words,
)
from qa.evidence import Evidence, Sentence
from qa.models import Answer, Citation, Passage
from qa.qualifiers import SAME_NAME as _SAME_NAME
from qa.qualifiers import swapped_in_answer, swapped_qualifiers
from qa.settings import AnswerSettings, Settings

#: The fixed wording of every refusal (documented in README.md).
REFUSAL_TEXT = "The ingested articles don't answer this question."

#: scorer(question, texts) → one cross-encoder relevance logit per text.
Scorer = Callable[[str, Sequence[str]], list[float]]


class ModelReply(BaseModel):
    """The structured reply asked of the model: evidence first, by reference; bounds keep small models short."""

    ids: list[int] = Field(max_length=4, description="Numbers of the sentences that state the answer; [] if none.")
    span: str = Field(max_length=160, description="The shortest words copied from those sentences that answer.")
    verdict: Literal["yes", "no", "none"] = Field(
        default="none", description="For a yes/no question, yes or no; otherwise none (and left out)."
    )
    answer: str = Field(max_length=200, description="A short answer (at most 15 words) from those sentences only.")


_WH = QUESTION_SKIP | frozenset(
    [
        # words about the text rather than its content ("as mentioned in the piece")
        "mentioned",
        "mention",
        "mentions",
        "piece",
        "story",
        "text",
        "report",
        "reported",
        # "how many", "what kind of": the question's frame, not its subject
        "many",
        "much",
        "kind",
        "type",
        "sort",
    ]
)
_YES_NO_QUESTION = re.compile(
    r"\s*(is|are|was|were|will|would|do|does|did|can|could|has|have|had|should|shall|may|might)\b", re.I
)
_NEGATION = re.compile(r"\b(not|no|never|neither|nor|cannot|without)\b|n't\b|n’t\b", re.I)
# What says "not this one" without a negation: "the troops were separate from the 8,500 on alert".
_CONTRAST = re.compile(
    r"\b(?:separate(?:ly)?|distinct|different)\s+from\b|\b(?:rather|other)\s+than\b|\binstead\s+of\b|\bunlike\b", re.I
)
# "with or without", "whether or not": a negation that takes both sides denies nothing.
_BOTH_WAYS = re.compile(r"\b(?:with|whether)\s+or\s+$|\bwhether\b[^,;.]{0,60}\bor\s+$", re.I)
# Words after a negation that it denies ("not going to fight in Ukraine"), within its clause.
_DENIAL_SCOPE = 6
_CLAUSE_END = re.compile(r"[,;:.!?”\"](?=\s|$)")
# How much surer than min_relevance the cross-encoder must be when the cited sentences hold none of the
# question's ordinary words (it alone then vouches for them).
_UNANCHORED_MARGIN = 0.5
# "Do adults or juveniles glow brighter?" asks which, not yes or no.
_ALTERNATIVE = re.compile(r"\bor\b(?!\s+not\b)", re.I)
# A question whose own verb is negated ("Who wasn't…", "Which city did not…"), not one quoting a negation.
# It may follow a leading phrase: "In between French and British, what groups never controlled land?".
_NEGATED_QUESTION = re.compile(
    r"(?:^|,)\s*(who|whom|what|which|where|when|why|how)\b(?:\s+[\w'’-]+){0,3}?\s+(?:\w+n['’]t|not|never)\b", re.I
)
# "Who is X going to meet?", "Whom did X thank?": the question's subject acts, the answer is acted on.
_WHOM_QUESTION = re.compile(
    r"\s*(?:who|whom)\s+(?:(?:did|does|do|will|would|can|could|should|has|have|had)\b|"
    r"(?:is|are|was|were)\b(?=.*\bgoing\s+to\b))(?P<rest>.*)$",
    re.I,
)
# Words between a subject and its verb in active voice ("Rau will meet"); "was" / "is" would make it passive.
_ACTIVE_AUX = frozenset(
    "will would did does do has have had can could should may might must to also then later soon".split()  # noqa: SIM905
)
# What a span says instead of naming anyone: "a handful of allies" for "Which other allies…?".
_VAGUE = frozenset(
    """handful some several many few number various other others couple dozens numerous lot lots plenty
    certain more most multiple variety range series host""".split()  # noqa: SIM905
)
_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_NAME = re.compile(r"\b[A-Z][\w'’.-]*")


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


def stems(text: str) -> set[str]:
    """The 5-letter stems (numbers whole) of every word of ``text``, with demonyms folded."""
    out = set()
    for w in words(text):
        out.add(stem(w))
        if w in _SAME_NAME:
            out.add(_SAME_NAME[w])
    return out


def stems_of(texts: Sequence[str]) -> set[str]:
    """The stems of every word of ``texts`` (see stems)."""
    return set().union(*(stems(t) for t in texts)) if texts else set()


def question_terms(question: str) -> list[str]:
    """The question's own content words (what it asks about), without question words."""
    return [w for w in content_words(question) if w not in _WH]


def relation_terms(question: str) -> list[str]:
    """The question's ordinary terms: what it asks about, without its names and numbers ("population" in
    "What is the population of Poland?")."""
    names = {w for m in _NAME.finditer(question) if m.start() > 0 for w in words(m.group(0))}
    return [w for w in question_terms(question) if w not in names and not is_number(w)]


def relation_coverage(question: str, texts: Sequence[str]) -> float:
    """Share of the question's terms that occur (by stem) in ``texts``; 1.0 for a question with none."""
    return _coverage(question, stems_of(texts))


def _coverage(question: str, have: set[str]) -> float:
    terms = {stem(w) for w in question_terms(question)}
    return len(terms & have) / len(terms) if terms else 1.0


def new_facts(answer: str, question: str) -> tuple[list[str], list[str]]:
    """(names and numbers, other content words) of ``answer`` that ``question`` doesn't hold."""
    body = _MARKER.sub(" ", answer)
    q = stems(question)
    facts: list[str] = []
    for m in _NAME.finditer(body):
        for part in words(m.group(0)):
            if part not in STOPWORDS and stem(part) not in q and part not in facts and not is_number(part):
                facts.append(part)
    others: list[str] = []
    for w in content_words(body):
        if is_number(w):
            if w not in q and w not in facts:
                facts.append(w)
        elif stem(w) not in q and w not in facts and w not in others:
            others.append(w)
    return facts, others


def unbacked(answer: str, question: str, texts: Sequence[str], min_support: float) -> list[str]:
    """What of the answer's new information ``texts`` don't back; [] when backed.

    Every new name and number must occur; of the other new words at least ``min_support`` must.
    """
    have = stems_of(texts)
    facts, others = new_facts(answer, question)
    missing = [f for f in facts if (f if is_number(f) else stem(f)) not in have]
    if missing:
        return missing
    if others:
        found = [w for w in others if stem(w) in have]
        if len(found) / len(others) < min_support:
            return [w for w in others if stem(w) not in have]
    return []


def verdict_asked(question: str, reply: ModelReply) -> str:
    """The reply's verdict when the question asks yes or no ("none" otherwise); a reply that left the
    verdict out but begins its answer with yes or no gives it there."""
    if not is_yes_no(question):
        return "none"
    if reply.verdict != "none":
        return reply.verdict
    head = re.match(r"\s*(yes|no)\b", reply.answer, re.I)
    return head.group(1).lower() if head else "none"


def is_yes_no(question: str) -> bool:
    """True for a question that asks for yes or no (not for "Is it X or Y?", which asks which)."""
    return bool(_YES_NO_QUESTION.match(question)) and not _ALTERNATIVE.search(question)


def _negations(text: str) -> list[re.Match[str]]:
    """Each "not" or "separate from" of ``text``, but for one that takes both sides ("with or without
    routers", "whether or not"): that denies nothing."""
    found = [*_NEGATION.finditer(text), *_CONTRAST.finditer(text)]
    return [m for m in found if not _BOTH_WAYS.search(text[: m.start()])]


def _denies(text: str) -> bool:
    return bool(_negations(text))


def _denied(text: str) -> set[str]:
    """Stems of the few words after each "not" or "separate from" of ``text``: what a sentence denies is
    what follows its negation ("not going to fight in Ukraine")."""
    scope: set[str] = set()
    for m in _negations(text):
        # up to the end of the clause: "The troops, not the ships, arrived" denies the ships, not arriving
        clause = _CLAUSE_END.split(text[m.end() :], maxsplit=1)[0]
        scope |= stems(" ".join(clause.split()[:_DENIAL_SCOPE]))
    return scope


def _denies_what_is_asked(question: str, text: str) -> bool:
    """True when ``text`` negates one of the question's ordinary terms (what it asks about) within a few
    words: "were not permanent" for "…meant to be permanent?"."""
    return bool({stem(w) for w in relation_terms(question)} & _denied(text))


def _denying_sentence(question: str, evidence: Evidence, cfg: AnswerSettings, scorer: Scorer | None) -> Sentence | None:
    """The shown sentence that denies what the question asks ("not" or "separate from" followed closely
    by the question's terms), best first by the terms it denies, then by the cross-encoder; None unless
    it passes the same relation bar as any cited sentence."""
    q = {stem(w) for w in question_terms(question)}
    denied = [(n, s) for s in evidence.sentences if (n := len(q & _denied(s.text)))]
    if not denied:
        return None
    denying = [s for _, s in denied]
    coverage = [_coverage(question, stems(s.text)) for s in denying]
    scores = scorer(question, [s.text for s in denying]) if scorer is not None else coverage
    best = max(range(len(denying)), key=lambda i: (denied[i][0], scores[i]))
    ok = coverage[best] >= cfg.min_relation or (scorer is not None and scores[best] >= cfg.min_relevance)
    return denying[best] if ok else None


def _context(cited: Sequence[Sentence], evidence: Evidence) -> list[str]:
    """The cited sentences and the titles of their articles: what the answer's words are checked against."""
    return [s.text for s in cited] + [t for t in {evidence.block_of(s).title or "" for s in cited} if t]


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


def _relocate_span(span: str, evidence: Evidence, question: str) -> list[Sentence]:
    """The shown sentence holding ``span`` that shares most with the question ([] if none holds it)."""
    holding = [s for s in evidence.sentences if locate_quote(span, s.text) is not None]
    if not holding:
        return []
    q = {stem(w) for w in question_terms(question)}
    return [max(holding, key=lambda s: (len(q & stems(s.text)), -s.id))]


def _relocate_answer(sentence: str, question: str, evidence: Evidence, cfg: AnswerSettings) -> Sentence | None:
    """The shown sentence that alone backs all of the answer's new names, numbers and words (at least one of
    each kind it has), sharing most with the question; None if no sentence does."""
    facts, others = new_facts(sentence, question)
    if not facts and len(others) < 2:
        return None  # too little said to know where it comes from
    backing = [s for s in evidence.sentences if not unbacked(sentence, question, [s.text], cfg.min_support)]
    if not backing:
        return None
    q = {stem(w) for w in question_terms(question)}
    return max(backing, key=lambda s: (len(q & stems(s.text)), -s.id))


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
    span = reply.span.strip().strip(".,;:\"'“”‘’ ")
    span_ok = False
    if span:
        if any(locate_quote(span, s.text) is not None for s in cited):
            span_ok = True
        else:
            moved = _relocate_span(span, evidence, question)
            if moved:
                checks["span_relocated"] = [s.id for s in cited]
                cited = moved
                span_ok = True
    # "Do adults or juveniles glow brighter?" → "Juveniles": one of the question's own words is the answer.
    alternative = bool(_ALTERNATIVE.search(question))
    if span_ok and not is_yes_no(question) and not alternative and not any(new_facts(span, question)):
        # "Where in Romania?" → "Romania": a span that only repeats the question answers nothing by itself.
        checks["span_restates_question"] = True
        span_ok = False
    if span_ok and _restates_subject(question, span):
        # "What do epithelial cells have at the oral end?" → "adhesive epithelial cells": the subject again.
        checks["span_is_subject"] = True
        span_ok = False
    checks["span_ok"] = span_ok
    texts = [s.text for s in cited]
    context = _context(cited, evidence)
    units = list(texts)  # what the stray-facts rule weighs one by one: a quotation with its speaker is one

    # 3. The answer's new names, numbers and words, against the cited sentences.
    sentence = " ".join(_MARKER.sub("", reply.answer).split())
    if not is_yes_no(question):  # "Do adults or juveniles…?" → "Yes, juveniles…": the "yes" answers nothing
        head = re.match(r"\s*(?:yes|no)\s*[,.!]\s*(?=\S)", sentence, re.I)
        sentence = sentence[head.end() :] if head else sentence
        sentence = sentence[:1].upper() + sentence[1:]
    verdict = verdict_asked(question, reply)
    gaps = unbacked(sentence, question, context, cfg.min_support) if sentence else ["(empty answer)"]
    if gaps:
        speakers = _quote_attributions(cited, evidence)
        if speakers and not unbacked(sentence, question, context + [p.text for p, _ in speakers], cfg.min_support):
            # "Who called Article V a sacred obligation?" → "Biden": the quotation's second sentence is
            # cited, the speaker is named in its first. Both are cited.
            checks["quote_attribution"] = [p.id for p, _ in speakers]
            joined = {id(q): p.text + " " + q.text for p, q in speakers}
            units = [joined.get(id(s), s.text) for s in cited]
            cited = sorted(cited + [p for p, _ in speakers], key=lambda s: s.id)
            texts = [s.text for s in cited]
            context = _context(cited, evidence)
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
        holder = _relocate_answer(sentence, question, evidence, cfg)
        if holder is not None:
            # "what else does Kyiv want from the West?" → "…continued supplies of defensive weapons…",
            # pointed at a sentence about El Pais: one other shown sentence holds all it says; that one is cited.
            checks["answer_relocated"] = [s.id for s in cited]
            cited, units = [holder], [holder.text]
            texts = [holder.text]
            context = _context(cited, evidence)
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
    elif alternative and span_ok and (picked := _picked_alternative(question, sentence, texts)):
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
    if verdict == "no" and not _NEGATION.search(question) and not any(_denies(t) for t in texts):
        denying = _denying_sentence(question, evidence, cfg, scorer)
        if denying is None:
            return refusal(question, passages, "the answer says no, but no cited sentence says not", **common)
        checks["no_relocated"] = [s.id for s in cited]
        cited, units = [denying], [denying.text]
        texts = [denying.text]
        context = _context(cited, evidence)

    # 4. Are the cited sentences about what the question asks?
    stray = _stray_facts(sentence, question, units)
    if stray:
        checks["stray_facts"] = stray
        return refusal(
            question,
            passages,
            f"the answer's {', '.join(stray[:3])} comes from a cited sentence about something else",
            **common,
        )
    # weighed on the sentence the answer comes from (the span's), when the span was found
    source = [t for t in texts if span_ok and locate_quote(span, t) is not None] or texts
    swaps = swapped_qualifiers(question, source, f"{sentence} {span}")
    if swaps:
        # "What is FMCG's economy characterized by?" cited to "Warsaw's economy … FMCG manufacturing".
        checks["qualifier_swapped"] = [list(x) for x in swaps]
        name, noun, other = swaps[0]
        return refusal(
            question,
            passages,
            f"the cited sentences speak of {other}'s {noun}, the question of {name}'s {noun}",
            **common,
        )
    in_answer = swapped_in_answer(question, sentence)
    if in_answer:
        # "What is the precise number of Russian troops…?" → "3,000 US troops": a count of other troops.
        checks["qualifier_swapped"] = [list(x) for x in in_answer]
        name, noun, other = in_answer[0]
        return refusal(
            question, passages, f"the answer speaks of {other} {noun}, the question of {name} {noun}", **common
        )
    counted = _counts_other_things(question, texts)
    if counted:
        # "What year was 366,273 people in Jacksonville?" ← "… 821,784 people and 366,273 households".
        checks["number_counts_other"] = list(counted)
        number, theirs, ours = counted
        return refusal(
            question,
            passages,
            f"the question's {number} are {ours}, the cited sentence's {number} are {theirs}",
            **common,
        )
    actor = _actor_for_object(question, span, source) if span_ok else None
    if actor:
        # "Who is the Polish foreign minister going to meet?" → "Rau" from "Rau will meet Blinken".
        checks["answer_is_actor"] = actor
        return refusal(
            question,
            passages,
            f"the answer names who will {actor}, and the question asks whom: the question's own subject",
            **common,
        )
    if _NEGATED_QUESTION.search(question) and not any(_NEGATION.search(t) for t in texts):
        # "Who wasn't on the expedition?" answered from a sentence listing who was.
        return refusal(
            question, passages, "the question asks what is not so, and the cited sentences only say what is", **common
        )
    other_year = _other_year(question, _with_previous(cited, evidence, after=1))
    if other_year:
        # "What was the population density in 1970?" ← "As of the census of 2000 … The population density
        # was 4,097.9 people per square mile": the figure is for another year. The sentence after each is read
        # too ("… assembled there the Chevrolet Aveo. The license … expired in February 2011").
        checks["other_year"] = list(other_year)
        asked, given = other_year
        return refusal(
            question,
            passages,
            f"the question asks about {asked}, the cited sentences (and the ones around them) speak of {given}",
            **common,
        )
    lost = anchors_missing(question, _with_previous(cited, evidence) + context[len(texts) :])
    if lost:
        checks["anchors_missing"] = lost
        if cfg.anchors:
            return refusal(
                question,
                passages,
                f"the cited sentences (and the one before each) never mention {', '.join(lost)}, "
                "which the question is about",
                **common,
            )

    related, coverage, relevance, asks_about = _relation(question, texts, context, cfg, scorer)
    if not related:
        quoted = _quotations_after(question, cited, evidence)
        wider = sorted([*cited, *quoted], key=lambda s: s.id)
        if quoted and _relation(question, [s.text for s in wider], _context(wider, evidence), cfg, scorer)[0]:
            # "What position does the person who called the deployment 'a powerful signal' hold?" ←
            # "NATO Secretary General Jens Stoltenberg welcomed…" and, next, "“This is a powerful signal…,”
            # Stoltenberg said": the speaker's sentence answers, the quotation after it is what is asked about.
            checks["quotation_after"] = [s.id for s in quoted]
            cited, texts, related = wider, [s.text for s in wider], True
    checks["relation_coverage"] = round(coverage, 3)
    if relevance is not None:
        checks["relevance"] = round(relevance, 3)
    ordinary = relation_terms(question)
    if not related and is_yes_no(question) and any(_denies_what_is_asked(question, t) for t in texts):
        # "Are the deployments meant to be permanent?" ← "the moves … were not permanent": a sentence that
        # negates the very thing a yes/no question asks about answers it, in whatever words it names the subject.
        checks["denies_what_is_asked"] = True
        related = True
    if not related and verdict == "none" and is_yes_no(question) and not _NEGATION.search(question):
        denying = _denying_sentence(question, evidence, cfg, scorer)
        if denying is not None:
            # "Did the Pentagon press secretary say the moves are permanent?" with no verdict, pointed at a
            # sentence about something else, while a shown one says "the moves … were not permanent": no.
            checks["none_denied"] = [s.id for s in cited]
            verdict, cited, texts, sentence, related = "no", [denying], [denying.text], "", True
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
        return refusal(question, passages, why + ": they are about something else", **common)

    # Yes/no: the verdict leads; a "yes" resting on a negated sentence is not shown.
    if verdict != "none":
        head = re.match(r"\s*(yes|no)\b[\s,.!]*", sentence, re.I)
        if head and head.group(1).lower() != verdict:
            return refusal(question, passages, "the verdict and the answer sentence disagree", **common)
        negated = any(_denies(t) for t in texts) or _NEGATION.search(sentence)
        if verdict == "yes" and negated and not _NEGATION.search(question):
            denying = _denying_sentence(question, evidence, cfg, scorer)
            if denying is None:
                return refusal(
                    question, passages, "the answer says yes, but it or the sentence it cites is negated", **common
                )
            # "Are the troops being deployed part of the 8,500 on alert?" → "yes", pointed at "the troops
            # being deployed were separate from the 8,500 …": the evidence says no, so the answer is no.
            checks["yes_denied"] = [s.id for s in cited]
            verdict, cited, sentence, head = "no", [denying], "", None
        rest = sentence[head.end() :] if head else sentence
        sentence = verdict.capitalize() + (", " + rest[:1].lower() + rest[1:] if rest else "")

    mismatch = answer_type_mismatch(question, sentence)
    if _restates_subject(question, sentence):
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


def _relation(
    question: str, texts: Sequence[str], context: Sequence[str], cfg: AnswerSettings, scorer: Scorer | None
) -> tuple[bool, float, float | None, bool]:
    """(related, coverage, relevance, asks_about): whether ``texts`` (with ``context``, their titles) are about
    what the question asks. They hold enough of its terms, including one of its ordinary ones (the names
    of "What is the population of Poland?" are easy to match, "population" must be there too), or the
    cross-encoder vouches for them."""
    have = stems_of(context)
    coverage = _coverage(question, have)
    relevance = scorer(question, [" ".join(texts)])[0] if scorer is not None else None
    ordinary = relation_terms(question)
    asks_about = not ordinary or any(stem(w) in have for w in ordinary)
    # With none of the question's ordinary words, the cross-encoder alone vouches for the sentences: it
    # must be surer ("Where is Ekstraklasa's home venue?" ← "… Polonia Warsaw … won the Ekstraklasa").
    bar = cfg.min_relevance + (0.0 if asks_about else _UNANCHORED_MARGIN)
    related = (coverage >= cfg.min_relation and asks_about) or (relevance is not None and relevance >= bar)
    return related, coverage, relevance, asks_about


def _quotations_after(question: str, cited: Sequence[Sentence], evidence: Evidence) -> list[Sentence]:
    """For each cited sentence, the next one in its block when that is a quotation by the same speaker: it
    opens with a quotation mark and follows in the same paragraph or names a name of the cited sentence that
    the question doesn't ("“This is a powerful signal…,” Stoltenberg said"). Not already cited."""
    out: list[Sentence] = []
    for s in cited:
        block = evidence.block_of(s).sentences
        i = next(n for n, x in enumerate(block) if x is s)
        if i + 1 >= len(block):
            continue
        nxt = block[i + 1]
        if not _OPENS_QUOTE.match(nxt.text) or nxt in cited or nxt in out:
            continue
        between = s.passage.text[s.end : s.end + max(0, nxt.doc_start - s.doc_end)]
        names = {w for m in _NAME.finditer(s.text) if m.start() > 0 for w in words(m.group(0))}
        names -= STOPWORDS | set(words(question))  # the speaker's own name, not one the question quotes
        if "\n\n" not in between or names & set(words(nxt.text)):
            out.append(nxt)
    return out


def _stray_facts(answer: str, question: str, texts: Sequence[str]) -> list[str]:
    """New names and numbers of the answer found only in cited sentences that hold under a third of the
    question's ordinary terms: "When did Russia launch its invasion?" → "on Friday", taken from a sentence
    about what Biden said last Friday. [] for a single cited sentence (the relation check covers it)."""
    if len(texts) < 2:
        return []
    ordinary = {stem(w) for w in relation_terms(question)} or {stem(w) for w in question_terms(question)}
    need = 0.3
    facts, _ = new_facts(answer, question)
    out = []
    for f in facts:
        key = f if is_number(f) else stem(f)
        holders = [t for t in texts if key in stems(t)]
        if holders and not any(len(ordinary & stems(t)) > need * len(ordinary) for t in holders):
            out.append(f)
    return out


def anchors_missing(question: str, texts: Sequence[str]) -> list[str]:
    """The question's numbers and names (capitalised words past its first) that ``texts`` don't mention."""
    have = stems_of(texts)
    out: list[str] = []
    for pos, m in enumerate(re.finditer(r"[0-9][0-9,.]*[0-9]|[0-9]|[A-Z][\w'’-]*", question)):
        tok = m.group(0)
        if pos == 0 and m.start() < 3 and not tok[0].isdigit():
            continue
        parts = [w for w in words(tok) if w not in STOPWORDS and w not in _WH]
        if parts and not all((w if is_number(w) else stem(w)) in have or _SAME_NAME.get(w) in have for w in parts):
            out.append(tok)
    return out


_OPENS_QUOTE = re.compile(r"^\s*[“\"]")


def _quote_attributions(cited: Sequence[Sentence], evidence: Evidence) -> list[tuple[Sentence, Sentence]]:
    """(speaker sentence, quotation sentence) pairs: for each cited sentence that opens with a quotation mark,
    the sentence right before it in the same paragraph, not already cited. A quotation running over several
    sentences names its speaker only once."""
    out: list[tuple[Sentence, Sentence]] = []
    for s in cited:
        if not _OPENS_QUOTE.match(s.text):
            continue
        block = evidence.block_of(s).sentences
        i = next(n for n, x in enumerate(block) if x is s)
        if i == 0:
            continue
        prev = block[i - 1]
        gap = max(0, s.doc_start - prev.doc_end)
        between = prev.passage.text[prev.end : prev.end + gap]
        if "\n\n" in between or prev in cited or any(prev is p for p, _ in out):
            continue
        out.append((prev, s))
    return out


def _with_previous(cited: Sequence[Sentence], evidence: Evidence, after: int = 0) -> list[str]:
    """The cited sentences, each with the sentence before it in its block (where a subject is often named)
    and ``after`` sentences after it."""
    out: list[str] = []
    for s in cited:
        block = evidence.block_of(s).sentences
        i = next(n for n, x in enumerate(block) if x is s)
        out.append(" ".join(x.text for x in block[max(0, i - 1) : i + 1 + after]))
    return out


_YEAR = re.compile(r"(?<![\d,.])\b(1[0-9]{3}|20[0-9]{2})(s?)\b(?![,.]?\d)")


def _other_year(question: str, texts: Sequence[str]) -> tuple[str, str] | None:
    """(the question's year, a year of ``texts``) when the question names a year ("in 1970", "the 1970s")
    that ``texts`` never mention while they name another one: what they say holds for another time."""
    asked = [(m.group(1), bool(m.group(2))) for m in _YEAR.finditer(question)]
    if not asked:
        return None
    given = [m.group(1) for t in texts for m in _YEAR.finditer(t)]
    if not given:
        return None
    numbers = {w for t in texts for w in words(t) if is_number(w)}
    if any(y in numbers for y, _ in asked):  # "the 1500 troops" ← "1,500 troops": there, as a count
        return None
    for year, decade in asked:
        if any(g == year or (decade and g[:3] == year[:3]) for g in given):
            return None
    return asked[0][0] + ("s" if asked[0][1] else ""), given[0]


def _same_name(name: str, passages: Sequence[Passage]) -> bool:
    """True when a name the passages lack is a known other form of one they have ("American" / "US")."""
    key = _SAME_NAME.get(name.lower())
    return key is not None and any(key in stems(p.text) for p in passages)


_MONTHS = "january february march april may june july august september october november december"
_TEMPORAL = re.compile(
    r"\b(?:\d{4}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    r"week|weeks|month|months|year|years|day|days|morning|evening|night|hour|hours|ago|since|until|"
    r"soon|coming|recent|recently|later|earlier|now|then|dec|nov|oct|sept|sep|aug|jul|jun|apr|mar|feb|jan|"
    r"century|centuries|decade|decades|\d+s|" + "|".join(_MONTHS.split()) + r")\b"
)


# A question that asks for a time in any words; any other question is not answered by a time alone.
_ASKS_TIME = re.compile(
    r"\b(?:when|years?|days?|dates?|time|months?|centur(?:y|ies)|decades?|period|era|age|how long|how recent(?:ly)?|"
    r"seasons?|weeks?|hours?|until|since|ago|schedule|deadline|term)\b",
    re.I,
)
_TIME_WORD = re.compile(
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    + "|".join(_MONTHS.split())
    + r"|weeks?|months?|years?|days?|morning|evening|night|ago|last|next|coming|earlier|later|recent(?:ly)?|"
    r"decades?|centur(?:y|ies)|\d{4}s?|\d{1,2}(?:st|nd|rd|th)?)"
)


# "How long / far / old …?" asks for an amount; an answer without a number or a word of one gives none.
_HOW_MEASURE = re.compile(
    r"\bhow\s+(long|far|old|tall|big|large|often|high|deep|wide|heavy|fast|early|late|soon)\b", re.I
)
_MEASURE = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundreds?|"
    r"thousands?|millions?|billions?|dozens?|half|few|several|many|once|twice|since|until|till|ago|centur(?:y|ies)|"
    r"decades?|years?|months?|weeks?|days?|hours?|minutes?|seconds?|annually|daily|weekly|monthly|yearly|always|"
    r"never|long|short|brief|age|aged)\b",
    re.I,
)


_SPAN_WORDS = re.compile(
    r"\b(?:since|until|till|from|to|through|between|ago|for|years?|decades?|centur(?:y|ies)|months?)\b|[–—-]\s*\d", re.I
)


def _only_a_year(answer: str) -> bool:
    """True when the answer's only numbers are years ("1796"), with no word that makes a stretch of time
    of them ("until 1796", "1870 to 1939", "1970s")."""
    numbers = re.findall(r"\d[\d,.]*\d|\d", answer)
    years = [m for m in _YEAR.finditer(answer) if not m.group(2)]
    return bool(numbers) and len(years) == len(numbers) and not _SPAN_WORDS.search(answer)


def _only_a_time(answer: str) -> bool:
    """True for an answer that is a time and nothing else: "Friday", "last week"."""
    found = content_words(_MARKER.sub(" ", answer))
    return any(re.search("[a-z]", w) for w in found) and all(_TIME_WORD.fullmatch(w) for w in found)


def answer_type_mismatch(question: str, answer: str) -> str | None:
    """A reason when the answer is not the kind the question asks for (a count, a time), else None.

    A small model asked "When did X happen?" about an article that doesn't say will often restate a
    nearby sentence; the restatement is supported but answers nothing.
    """
    q = question.lower()
    a = answer.lower()
    if re.search(r"\bhow (many|much)\b", q) and not re.search(
        r"\d(?![\d,]*(?:st|nd|rd|th)\b)|\b(one|two|three|four|five|six|seven|eight|"
        r"nine|ten|eleven|twelve|dozen|dozens|hundred|hundreds|thousand|thousands|million|billion|"
        r"none|no|several|few|handful|couple)\b",
        a,
    ):
        return "the question asks for a number and the supported answer contains none"
    how = _HOW_MEASURE.search(q)
    if how and not _MEASURE.search(a):
        # "How long has the Pentagon press secretary held that job?" → "John Kirby".
        return f"the question asks how {how.group(1)} and the supported answer gives no amount"
    if how and how.group(1).lower() == "long" and _only_a_year(a):
        # "How long was Warsaw the capital of the Duchy Commonwealth?" → "1796": when, not for how long
        # ("until 1796" or "1870 to 1939" do say how long).
        return "the question asks how long, and the answer only names a year"
    if re.match(r"\s*(when|what (year|day|date|time|month|century|decade))\b", q) and not _TEMPORAL.search(a):
        return "the question asks when and the supported answer names no time"
    if not re.search(r"\bhow (many|much)\b", q):
        facts, others = new_facts(answer, question)
        if not facts and others and all(w in _VAGUE for w in others):
            return "the question asks which, and the answer only says how many"
    if not _ASKS_TIME.search(q) and _only_a_time(answer):
        # "What is on the agenda for Rau's meeting?" → "Friday": when it is, not what.
        return "the question asks what, and the answer only says when"
    if re.match(r"\s*(who|whom)\b", q) and not _names_beyond(answer, question):
        return "the question asks who and the supported answer names nobody the question doesn't"
    return None


# A large count ("366,273", "12,000"), not a year or a small number that many things share.
_COUNT = re.compile(r"[($]?(\d{1,3}(?:,\d{3})+|\d{5,})[)%.,;:]?")
# Words that may follow a count in a question without naming what is counted ("the 8,500 already on alert").
_NOT_COUNTED = frozenset("already still more less only just total in of".split())  # noqa: SIM905


def _counts_other_things(question: str, texts: Sequence[str]) -> tuple[str, str, str] | None:
    """(number, what a text counts, what the question counts) when the question counts one thing with a
    large number ("366,273 people") and a cited sentence gives the same number for another ("366,273
    households"); None otherwise."""
    q = question.split()
    for i, tok in enumerate(q[:-1]):
        m = _COUNT.fullmatch(tok)
        what = re.sub(r"[^\w-]", "", q[i + 1]).lower()
        if not m or not what.isalpha() or what in STOPWORDS or what in _NOT_COUNTED:
            continue
        number = m.group(1).replace(",", "")
        for text in texts:
            t = text.split()
            for j, x in enumerate(t):
                n = _COUNT.fullmatch(x)
                if n is None or n.group(1).replace(",", "") != number or j + 1 >= len(t):
                    continue
                after = [re.sub(r"[^\w-]", "", y) for y in t[j + 1 : j + 4]]
                first = after[0]
                if not first.isalpha() or first[0].isupper() or first.lower() in STOPWORDS:
                    continue  # "8,500 US troops": a name first, the thing counted comes later
                if stem(what) not in {stem(a.lower()) for a in after if a}:
                    return m.group(1), first, what
    return None


_AUX = r"(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might)"
# "What style were the blocks designed in?": what is asked ("style") before the verb, the subject after it.
_WHAT_ASKED = re.compile(r"\s*(?:what|which)\s+(?P<asked>.*?)\b" + _AUX + r"\b(?P<rest>.*)$", re.I)
# "What is the name of Sky Q's router?": the words after "name of" are what the answer restates.
_NAME_OF = re.compile(r"\s*(?:the\s+|a\s+)?(?:names?|types?|kinds?|sort|form|title|term|word)\s+(?:of|for)\b", re.I)


def _alternatives(question: str) -> list[str]:
    """The words on either side of each "or" of ``question``: the choices it offers ("adults", "juveniles")."""
    found: list[str] = []
    for m in _ALTERNATIVE.finditer(question):
        before = [w for w in words(question[: m.start()]) if w not in STOPWORDS]
        after = [w for w in words(question[m.end() :]) if w not in STOPWORDS]
        found += [w for w in (before[-1:] + after[:1]) if w not in found]
    return found


def _picked_alternative(question: str, answer: str, texts: Sequence[str]) -> str | None:
    """The one choice of an "X or Y?" question that ``answer`` names and the cited ``texts`` name too, or
    None when it names none, or more than one."""
    said, cited = stems(answer), stems_of(texts)
    named = [w for w in _alternatives(question) if stem(w) in said]
    return named[0] if len(named) == 1 and stem(named[0]) in cited else None


def _restates_subject(question: str, answer: str) -> bool:
    """True when ``answer`` is the question's own subject with one word added: "What do epithelial cells have at
    the oral end?" → "adhesive epithelial cells". Only for "what/which … <verb> <subject> …?" questions that
    don't ask for a name or kind ("What type of number generators…?" → "pseudorandom number generators" is
    an answer); flags 1 of the 1,707 gold answers of the answerable SQuAD 2.0 dev questions."""
    m = _WHAT_ASKED.match(question)
    if not m or _NAME_OF.match(m.group("rest")):
        return False
    asked = {stem(w) for w in content_words(m.group("asked"))}
    q = {stem(w) for w in content_words(question)}
    said = content_words(_MARKER.sub(" ", answer))
    restated = [w for w in said if stem(w) in q and stem(w) not in asked]
    added = [w for w in said if stem(w) not in q]
    return len(added) == 1 and len(restated) >= 2


def _actor_for_object(question: str, span: str, texts: Sequence[str]) -> str | None:
    """The question's verb when ``span`` is who does it in ``texts`` while the question asks whom it is done
    to: "Who is the Polish foreign minister going to meet?" ← "Rau will meet Secretary of State Antony
    Blinken". None otherwise (a passive "Blinken was met by" is not matched)."""
    m = _WHOM_QUESTION.match(question)
    if not m:
        return None
    rest = [w for w in words(m.group("rest")) if w not in STOPWORDS]
    verbs = {stem(w) for w in rest[1:]}  # past the subject's first word
    for text in texts:
        at = locate_quote(span, text)
        if at is None:
            continue
        for w in words(text[at[1] :])[:3]:
            if w in _ACTIVE_AUX:
                continue
            if w not in STOPWORDS and stem(w) in verbs:
                return w
            break
    return None


def _names_beyond(answer: str, question: str) -> list[str]:
    """Capitalised words of ``answer`` (past its first word) that ``question`` doesn't hold."""
    q = stems(question)
    body = _MARKER.sub(" ", answer).strip()
    found = []
    for m in _NAME.finditer(body):
        if m.start() == 0 and m.group(0).lower() in STOPWORDS | {"yes", "no"}:
            continue
        found += [w for w in words(m.group(0)) if w not in STOPWORDS and stem(w) not in q]
    return found
