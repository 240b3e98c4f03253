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

The word-level comparisons live in qa.terms, the checks of an answer's kind in qa.answer_kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.answer_kind import (
    actor_for_object,
    another_year,
    answer_type_mismatch,
    counts_other_things,
    picked_alternative,
    restates_subject,
)
from qa.citations import (
    STOPWORDS,
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
from qa.terms import (
    ALTERNATIVE,
    FRAME_WORDS,
    MARKER,
    NAME,
    NEGATION,
    denied_stems,
    denies_what_is_asked,
    is_yes_no,
    new_facts,
    question_terms,
    relation_terms,
    says_not,
    stems,
    stems_of,
    term_coverage,
    unbacked,
)

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


# How much surer than min_relevance the cross-encoder must be when the cited sentences hold none of the
# question's ordinary words (it alone then vouches for them).
_UNANCHORED_MARGIN = 0.5
# A question whose own verb is negated ("Who wasn't…", "Which city did not…"), not one quoting a negation.
# It may follow a leading phrase: "In between French and British, what groups never controlled land?".
_NEGATED_QUESTION = re.compile(
    r"(?:^|,)\s*(who|whom|what|which|where|when|why|how)\b(?:\s+[\w'’-]+){0,3}?\s+(?:\w+n['’]t|not|never)\b", re.I
)


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


def _denying_sentence(question: str, evidence: Evidence, cfg: AnswerSettings, scorer: Scorer | None) -> Sentence | None:
    """The shown sentence that denies what the question asks ("not" or "separate from" followed closely
    by the question's terms), best first by the terms it denies, then by the cross-encoder; None unless
    it passes the same relation bar as any cited sentence."""
    q = {stem(w) for w in question_terms(question)}
    denied = [(n, s) for s in evidence.sentences if (n := len(q & denied_stems(s.text)))]
    if not denied:
        return None
    denying = [s for _, s in denied]
    coverage = [term_coverage(question, stems(s.text)) for s in denying]
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
    alternative = bool(ALTERNATIVE.search(question))
    if span_ok and not is_yes_no(question) and not alternative and not any(new_facts(span, question)):
        # "Where in Romania?" → "Romania": a span that only repeats the question answers nothing by itself.
        checks["span_restates_question"] = True
        span_ok = False
    if span_ok and restates_subject(question, span):
        # "What do epithelial cells have at the oral end?" → "adhesive epithelial cells": the subject again.
        checks["span_is_subject"] = True
        span_ok = False
    checks["span_ok"] = span_ok
    texts = [s.text for s in cited]
    context = _context(cited, evidence)
    units = list(texts)  # what the stray-facts rule weighs one by one: a quotation with its speaker is one

    # 3. The answer's new names, numbers and words, against the cited sentences.
    sentence = " ".join(MARKER.sub("", reply.answer).split())
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
    elif alternative and span_ok and (picked := picked_alternative(question, sentence, texts)):
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
    if verdict == "no" and not NEGATION.search(question) and not any(says_not(t) for t in texts):
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
    counted = counts_other_things(question, texts)
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
    actor = actor_for_object(question, span, source) if span_ok else None
    if actor:
        # "Who is the Polish foreign minister going to meet?" → "Rau" from "Rau will meet Blinken".
        checks["answer_is_actor"] = actor
        return refusal(
            question,
            passages,
            f"the answer names who will {actor}, and the question asks whom: the question's own subject",
            **common,
        )
    if _NEGATED_QUESTION.search(question) and not any(NEGATION.search(t) for t in texts):
        # "Who wasn't on the expedition?" answered from a sentence listing who was.
        return refusal(
            question, passages, "the question asks what is not so, and the cited sentences only say what is", **common
        )
    other_year = another_year(question, _with_previous(cited, evidence, after=1))
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
    if not related and is_yes_no(question) and any(denies_what_is_asked(question, t) for t in texts):
        # "Are the deployments meant to be permanent?" ← "the moves … were not permanent": a sentence that
        # negates the very thing a yes/no question asks about answers it, in whatever words it names the subject.
        checks["denies_what_is_asked"] = True
        related = True
    if not related and verdict == "none" and is_yes_no(question) and not NEGATION.search(question):
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
        negated = any(says_not(t) for t in texts) or NEGATION.search(sentence)
        if verdict == "yes" and negated and not NEGATION.search(question):
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
    if restates_subject(question, sentence):
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
    coverage = term_coverage(question, have)
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
        names = {w for m in NAME.finditer(s.text) if m.start() > 0 for w in words(m.group(0))}
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
        parts = [w for w in words(tok) if w not in STOPWORDS and w not in FRAME_WORDS]
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


def _same_name(name: str, passages: Sequence[Passage]) -> bool:
    """True when a name the passages lack is a known other form of one they have ("American" / "US")."""
    key = _SAME_NAME.get(name.lower())
    return key is not None and any(key in stems(p.text) for p in passages)
