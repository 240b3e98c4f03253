"""Whether cited sentences are about what a question asks, and where else among the shown sentences the
answer is: the sentence that denies what is asked, the one holding the model's span or all of its answer,
the speaker's sentence before a quotation and the quotation after a speaker's.

The relation check weighs the question's own terms in the sentences (qa.terms) and, when a scorer is
given, the bundled cross-encoder's reading of question and sentences together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from qa.answer_kind import actor_for_object, another_year, counts_other_things
from qa.citations import STOPWORDS, is_number, locate_quote, stem, words
from qa.evidence import Evidence, Sentence
from qa.opposites import says_the_opposite
from qa.qualifiers import SAME_NAME as _SAME_NAME
from qa.qualifiers import swapped_in_answer, swapped_qualifiers, swapped_subject
from qa.settings import AnswerSettings
from qa.terms import (
    FRAME_WORDS,
    NAME,
    NEGATION,
    denied_stems,
    new_facts,
    question_terms,
    relation_terms,
    stems,
    stems_of,
    term_coverage,
    unbacked,
)

#: scorer(question, texts) → one cross-encoder relevance logit per text.
Scorer = Callable[[str, Sequence[str]], list[float]]


# How much surer than min_relevance the cross-encoder must be when the cited sentences hold none of the
# question's ordinary words (it alone then vouches for them).
_UNANCHORED_MARGIN = 0.5


def denying_sentence(question: str, evidence: Evidence, cfg: AnswerSettings, scorer: Scorer | None) -> Sentence | None:
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


def context_of(cited: Sequence[Sentence], evidence: Evidence) -> list[str]:
    """The cited sentences and the titles of their articles: what the answer's words are checked against."""
    return [s.text for s in cited] + [t for t in {evidence.block_of(s).title or "" for s in cited} if t]


def relocate_span(span: str, evidence: Evidence, question: str) -> list[Sentence]:
    """The shown sentence holding ``span`` that shares most with the question ([] if none holds it)."""
    holding = [s for s in evidence.sentences if locate_quote(span, s.text) is not None]
    if not holding:
        return []
    q = {stem(w) for w in question_terms(question)}
    return [max(holding, key=lambda s: (len(q & stems(s.text)), -s.id))]


def relocate_answer(sentence: str, question: str, evidence: Evidence, cfg: AnswerSettings) -> Sentence | None:
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


def relation(
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


def quotations_after(question: str, cited: Sequence[Sentence], evidence: Evidence) -> list[Sentence]:
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


def stray_facts(answer: str, question: str, texts: Sequence[str]) -> list[str]:
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


def quote_attributions(cited: Sequence[Sentence], evidence: Evidence) -> list[tuple[Sentence, Sentence]]:
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


def with_previous(cited: Sequence[Sentence], evidence: Evidence, after: int = 0) -> list[str]:
    """The cited sentences, each with the sentence before it in its block (where a subject is often named)
    and ``after`` sentences after it."""
    out: list[str] = []
    for s in cited:
        block = evidence.block_of(s).sentences
        i = next(n for n, x in enumerate(block) if x is s)
        out.append(" ".join(x.text for x in block[max(0, i - 1) : i + 1 + after]))
    return out


# A question whose own verb is negated ("Who wasn't…", "Which city did not…"), not one quoting a negation.
# It may follow a leading phrase: "In between French and British, what groups never controlled land?".
_NEGATED_QUESTION = re.compile(
    r"(?:^|,)\s*(who|whom|what|which|where|when|why|how)\b(?:\s+[\w'’-]+){0,3}?\s+(?:\w+n['’]t|not|never)\b", re.I
)


def nearby_reason(
    question: str,
    sentence: str,
    span: str,
    span_ok: bool,
    cited: Sequence[Sentence],
    units: Sequence[str],
    evidence: Evidence,
    cfg: AnswerSettings,
    checks: dict[str, Any],
) -> str | None:
    """Why an answer is about something near what the question asks rather than about that, or None: a
    fact from a cited sentence about something else, another name's thing, a count of other things, the
    question's own subject where it asks whom, what is so where it asks what is not, another year. What it
    finds is recorded in ``checks``."""
    texts = [s.text for s in cited]
    stray = stray_facts(sentence, question, units)
    if stray:
        checks["stray_facts"] = stray
        return f"the answer's {', '.join(stray[:3])} comes from a cited sentence about something else"
    # weighed on the sentence the answer comes from (the span's), when the span was found
    source = [t for t in texts if span_ok and locate_quote(span, t) is not None] or texts
    swaps = swapped_qualifiers(question, source, f"{sentence} {span}")
    if swaps:
        # "What is FMCG's economy characterized by?" cited to "Warsaw's economy … FMCG manufacturing".
        checks["qualifier_swapped"] = [list(x) for x in swaps]
        name, noun, other = swaps[0]
        return f"the cited sentences speak of {other}'s {noun}, the question of {name}'s {noun}"
    subjects = swapped_subject(question, source, f"{sentence} {span}")
    if subjects:
        # "How much of Poland's national income does Srodmiescie produce?" ← "Warsaw produces 12% of …".
        checks["subject_swapped"] = [list(x) for x in subjects]
        name, verb, other = subjects[0]
        return f"the question asks what {name} does ({verb}), the cited sentences say it of {other}"
    opposed = says_the_opposite(question, source)
    if opposed:
        # "What was the UK's least popular TV service in 2015?" ← "Freeview was the UK's most popular…".
        checks["opposite"] = [list(x) for x in opposed]
        asked, said = opposed[0]
        return f"the question asks about {asked!r}, the cited sentences say {said!r}: the opposite"
    in_answer = swapped_in_answer(question, sentence)
    if in_answer:
        # "What is the precise number of Russian troops…?" → "3,000 US troops": a count of other troops.
        checks["qualifier_swapped"] = [list(x) for x in in_answer]
        name, noun, other = in_answer[0]
        return f"the answer speaks of {other} {noun}, the question of {name} {noun}"
    counted = counts_other_things(question, texts)
    if counted:
        # "What year was 366,273 people in Jacksonville?" ← "… 821,784 people and 366,273 households".
        checks["number_counts_other"] = list(counted)
        number, theirs, ours = counted
        return f"the question's {number} are {ours}, the cited sentence's {number} are {theirs}"
    actor = actor_for_object(question, span, source) if span_ok else None
    if actor:
        # "Who is the Polish foreign minister going to meet?" → "Rau" from "Rau will meet Blinken".
        checks["answer_is_actor"] = actor
        return f"the answer names who will {actor}, and the question asks whom: the question's own subject"
    if _NEGATED_QUESTION.search(question) and not any(NEGATION.search(t) for t in texts):
        # "Who wasn't on the expedition?" answered from a sentence listing who was.
        return "the question asks what is not so, and the cited sentences only say what is"
    other_year = another_year(question, with_previous(cited, evidence, after=1))
    if other_year:
        # "What was the population density in 1970?" ← "As of the census of 2000 … The population density
        # was 4,097.9 people per square mile": the figure is for another year. The sentence after each is read
        # too ("… assembled there the Chevrolet Aveo. The license … expired in February 2011").
        checks["other_year"] = list(other_year)
        asked, given = other_year
        return f"the question asks about {asked}, the cited sentences (and the ones around them) speak of {given}"
    titles = context_of(cited, evidence)[len(cited) :]
    lost = anchors_missing(question, [*with_previous(cited, evidence), *titles])
    if lost:
        checks["anchors_missing"] = lost
        if cfg.anchors:
            return (
                f"the cited sentences (and the one before each) never mention {', '.join(lost)}, "
                "which the question is about"
            )
    return None
