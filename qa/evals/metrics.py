"""Pure scoring functions for one case: answer correctness, token F1, retrieval and citation quality.
Nothing here reads files or calls a model, so every number in a report can be checked by hand.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Sequence

from qa.evals.cases import EvalCase, Evidence, normalize_match
from qa.models import Answer, Citation, Passage

__all__ = [
    "RECALL_KS",
    "answer_correct",
    "citation_precision",
    "citation_recall",
    "evidence_hit",
    "is_refusal",
    "mean_or_none",
    "normalize_answer",
    "percentile",
    "quotes_overlap",
    "recall_at_k",
    "reciprocal_rank",
    "token_f1",
    "yes_no_verdict",
]

_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_NAMES = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: str(i) for i, word in enumerate(_NUMBER_NAMES.split(), start=1)}
# A comma between digit groups is a thousands separator: "1,700" and "1700" are one number.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
#: The depths recall is reported at (a run adds its own k).
RECALL_KS = (1, 3, 5, 10)
# Tokens of at least this many words in common make two quotes "overlap" (a shared clause, not a phrase).
OVERLAP_TOKENS = 5


def normalize_answer(s: str) -> str:
    """SQuAD-style normal form: lower case, no accents, punctuation or articles, numbers as digits.

    Punctuation becomes a space (not nothing) so "1,700-strong" still holds the token "1700". Raises nothing.
    """
    text = unicodedata.normalize("NFKD", s.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _THOUSANDS.sub("", text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    tokens = [_NUMBER_WORDS.get(tok, tok) for tok in text.split() if tok not in _ARTICLES]
    return " ".join(tokens)


_YES = frozenset({"yes", "yeah", "yep", "correct", "true", "indeed"})
_NO = frozenset({"no", "not", "never", "nope", "false", "none", "neither", "nor"})
_WORD = re.compile(r"[a-z]+")
_LIST_SEPARATORS = re.compile(r"[,;&]|\band\b")


def yes_no_verdict(text: str) -> str | None:
    """The verdict of a yes/no answer: "yes" or "no" from its first yes- or no-ish word, else None.

    "No, ..." / "It did not ..." / "didn't" give "no"; "Yes, ..." gives "yes". An answer with no such
    word has no verdict (it counts as wrong), because guessing "yes" would reward evasive answers.
    Raises nothing.
    """
    lowered = text.lower().replace("n’t", " not").replace("n't", " not")
    for word in _WORD.findall(lowered):
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
    return None


def _contains_tokens(haystack: str, needle: str) -> bool:
    # Padding with spaces makes containment whole-token: " 170 " is not inside " 1700 troops ".
    return bool(needle) and f" {needle} " in f" {haystack} "


def answer_correct(answer_text: str, acceptable: Sequence[str], case_type: str) -> bool:
    """True when the answer holds an acceptable answer as a run of whole normalised tokens.

    Yes/no cases (``acceptable`` is just "yes" or "no", or ``case_type == "yes_no"``) compare
    :func:`yes_no_verdict` of the answer with that of the first acceptable answer instead. For
    ``case_type == "list"`` an acceptable answer also matches when each of its items (split on commas,
    semicolons and "and") is in the answer, in any order. No acceptable answers, or an empty answer,
    is never correct. Raises nothing.
    """
    if not acceptable or not answer_text.strip():
        return False
    golds = [normalize_answer(a) for a in acceptable]
    if case_type == "yes_no" or set(golds) <= {"yes", "no"}:
        verdict = yes_no_verdict(answer_text)
        return verdict is not None and verdict == yes_no_verdict(acceptable[0])
    got = normalize_answer(answer_text)
    if any(_contains_tokens(got, gold) for gold in golds):
        return True
    if case_type == "list":
        for gold in acceptable:
            items = [normalize_answer(item) for item in _LIST_SEPARATORS.split(_THOUSANDS.sub("", gold.lower()))]
            items = [item for item in items if item]
            if len(items) > 1 and all(_contains_tokens(got, item) for item in items):
                return True
    return False


def token_f1(answer_text: str, acceptable: Sequence[str]) -> float:
    """The best SQuAD token F1 of the answer against any acceptable answer (0.0 when there are none).

    Two empty normal forms count as a perfect match, one empty as 0. Raises nothing.
    """
    got = normalize_answer(answer_text).split()
    best = 0.0
    for gold_text in acceptable:
        gold = normalize_answer(gold_text).split()
        if not got or not gold:
            best = max(best, float(got == gold))
            continue
        same = sum((Counter(got) & Counter(gold)).values())
        if same:
            precision, recall = same / len(got), same / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _has_quote(evidence: Evidence) -> bool:
    return bool(evidence.quote and evidence.quote.strip())


def evidence_hit(evidence: Evidence, passage: Passage) -> bool:
    """True when the passage holds the evidence: it contains the quote, or the quote contains all of it.

    The second case covers a quote that runs across a chunk boundary. The doc_id is compared only for
    evidence without a quote: the store may name documents differently from the eval set, and the quote
    is what proves the passage carries the answer. Raises nothing.
    """
    if not _has_quote(evidence):
        return evidence.doc_id is not None and passage.doc_id == evidence.doc_id
    quote = normalize_match(evidence.quote or "")
    text = normalize_match(passage.text)
    return quote in text or (bool(text) and text in quote)


def _hits_any(evidence: Sequence[Evidence], passage: Passage) -> bool:
    return any(evidence_hit(ev, passage) for ev in evidence)


def recall_at_k(case: EvalCase, passages: Sequence[Passage], k: int) -> float | None:
    """Share of the case's evidence items found in the first ``k`` passages; None without evidence.

    Raises ValueError when ``k`` is below 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not case.evidence:
        return None
    top = passages[:k]
    found = sum(any(evidence_hit(ev, p) for p in top) for ev in case.evidence)
    return found / len(case.evidence)


def reciprocal_rank(case: EvalCase, passages: Sequence[Passage]) -> float | None:
    """1/rank of the first passage holding any evidence item, 0.0 if none does; None without evidence.

    Raises nothing.
    """
    if not case.evidence:
        return None
    for rank, passage in enumerate(passages, start=1):
        if _hits_any(case.evidence, passage):
            return 1.0 / rank
    return 0.0


def _word_tokens(s: str) -> list[str]:
    return re.findall(r"\w+", normalize_match(s))


def quotes_overlap(a: str, b: str) -> bool:
    """True when one quote contains the other or they share a run of ``OVERLAP_TOKENS`` words.

    Both sides are compared after :func:`normalize_match`. Raises nothing.
    """
    na, nb = normalize_match(a), normalize_match(b)
    if not na or not nb:
        return False
    if na in nb or nb in na:
        return True
    ta, tb = _word_tokens(a), _word_tokens(b)
    n = OVERLAP_TOKENS
    grams = {tuple(ta[i : i + n]) for i in range(len(ta) - n + 1)}
    return any(tuple(tb[i : i + n]) in grams for i in range(len(tb) - n + 1))


def _supports(citation: Citation, evidence: Evidence, answer: Answer) -> bool:
    if _has_quote(evidence) and quotes_overlap(citation.quote, evidence.quote or ""):
        return True
    if any(quotes_overlap(citation.quote, other) for other in evidence.also):
        return True  # another sentence of the article that states the same fact
    if not _has_quote(evidence) and evidence.doc_id is not None and citation.doc_id == evidence.doc_id:
        return True
    # The cited passage may hold the evidence even when the quoted sentence is a neighbour of it.
    cited = [p for p in answer.passages if p.key == citation.passage_key]
    return any(evidence_hit(evidence, p) for p in cited)


def citation_precision(case: EvalCase, answer: Answer) -> float | None:
    """Share of the answer's citations that support some evidence item.

    None when the answer has no citations, or the case has no evidence to judge them by. Raises nothing.
    """
    if not answer.citations or not case.evidence:
        return None
    good = sum(any(_supports(c, ev, answer) for ev in case.evidence) for c in answer.citations)
    return good / len(answer.citations)


def citation_recall(case: EvalCase, answer: Answer) -> float | None:
    """Share of the case's evidence items supported by some citation; None without evidence.

    An answer without citations (a refusal, say) scores 0.0. Raises nothing.
    """
    if not case.evidence:
        return None
    found = sum(any(_supports(c, ev, answer) for c in answer.citations) for ev in case.evidence)
    return found / len(case.evidence)


def is_refusal(answer: Answer) -> bool:
    """True when the system withheld an answer (``answerable`` is false). Raises nothing."""
    return not answer.answerable


def mean_or_none(values: Sequence[float | int | bool | None]) -> float | None:
    """The mean of the values that are not None; None when no value applies (not 0). Raises nothing."""
    present = [float(v) for v in values if v is not None]
    return statistics.fmean(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation between ranks; None for no values.

    Raises nothing.
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
