"""The words of a question and of an answer, compared by stem: what a question asks about, what an
answer adds to it, and what a sentence denies.

The support rules (qa.verify) and the answer-kind checks (qa.answer_kind) are built on these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.citations import QUESTION_SKIP, STOPWORDS, content_words, is_number, stem, words
from qa.qualifiers import SAME_NAME as _SAME_NAME

FRAME_WORDS = QUESTION_SKIP | frozenset(
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


NEGATION = re.compile(r"\b(not|no|never|neither|nor|cannot|without)\b|n't\b|n’t\b", re.I)


# What says "not this one" without a negation: "the troops were separate from the 8,500 on alert".
_CONTRAST = re.compile(
    r"\b(?:separate(?:ly)?|distinct|different)\s+from\b|\b(?:rather|other)\s+than\b|\binstead\s+of\b|\bunlike\b", re.I
)


# "with or without", "whether or not": a negation that takes both sides denies nothing.
_BOTH_WAYS = re.compile(r"\b(?:with|whether)\s+or\s+$|\bwhether\b[^,;.]{0,60}\bor\s+$", re.I)


# Words after a negation that it denies ("not going to fight in Ukraine"), within its clause.
_DENIAL_SCOPE = 6


_CLAUSE_END = re.compile(r"[,;:.!?”\"](?=\s|$)")


# "Do adults or juveniles glow brighter?" asks which, not yes or no.
ALTERNATIVE = re.compile(r"\bor\b(?!\s+not\b)", re.I)


MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


NAME = re.compile(r"\b[A-Z][\w'’.-]*")


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
    return [w for w in content_words(question) if w not in FRAME_WORDS]


def relation_terms(question: str) -> list[str]:
    """The question's ordinary terms: what it asks about, without its names and numbers ("population" in
    "What is the population of Poland?")."""
    names = {w for m in NAME.finditer(question) if m.start() > 0 for w in words(m.group(0))}
    return [w for w in question_terms(question) if w not in names and not is_number(w)]


def relation_coverage(question: str, texts: Sequence[str]) -> float:
    """Share of the question's terms that occur (by stem) in ``texts``; 1.0 for a question with none."""
    return term_coverage(question, stems_of(texts))


def term_coverage(question: str, have: set[str]) -> float:
    """Share of the question's terms whose stems are in ``have``; 1.0 for a question with none."""
    terms = {stem(w) for w in question_terms(question)}
    return len(terms & have) / len(terms) if terms else 1.0


def new_facts(answer: str, question: str) -> tuple[list[str], list[str]]:
    """(names and numbers, other content words) of ``answer`` that ``question`` doesn't hold."""
    body = MARKER.sub(" ", answer)
    q = stems(question)
    facts: list[str] = []
    for m in NAME.finditer(body):
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


def is_yes_no(question: str) -> bool:
    """True for a question that asks for yes or no (not for "Is it X or Y?", which asks which)."""
    return bool(_YES_NO_QUESTION.match(question)) and not ALTERNATIVE.search(question)


def _negations(text: str) -> list[re.Match[str]]:
    """Each "not" or "separate from" of ``text``, but for one that takes both sides ("with or without
    routers", "whether or not"): that denies nothing."""
    found = [*NEGATION.finditer(text), *_CONTRAST.finditer(text)]
    return [m for m in found if not _BOTH_WAYS.search(text[: m.start()])]


def says_not(text: str) -> bool:
    """True when ``text`` says "not" (or "separate from", "rather than") about anything."""
    return bool(_negations(text))


def denied_stems(text: str) -> set[str]:
    """Stems of the few words after each "not" or "separate from" of ``text``: what a sentence denies is
    what follows its negation ("not going to fight in Ukraine")."""
    scope: set[str] = set()
    for m in _negations(text):
        # up to the end of the clause: "The troops, not the ships, arrived" denies the ships, not arriving
        clause = _CLAUSE_END.split(text[m.end() :], maxsplit=1)[0]
        scope |= stems(" ".join(clause.split()[:_DENIAL_SCOPE]))
    return scope


def denies_what_is_asked(question: str, text: str) -> bool:
    """True when ``text`` negates one of the question's ordinary terms (what it asks about) within a few
    words: "were not permanent" for "…meant to be permanent?"."""
    return bool({stem(w) for w in relation_terms(question)} & denied_stems(text))
