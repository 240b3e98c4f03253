"""Checks on the hand-written follow-up set evals/followups.jsonl, loaded and quote-checked as `qa eval` loads it."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from qa.evals import EvalCase, load_evalset
from tests.conftest import ARTICLE, ROOT

FOLLOWUPS = ROOT / "evals" / "followups.jsonl"
DOC_ID = ARTICLE.stem
ARTICLE_TEXT = ARTICLE.read_text(encoding="utf-8")
BODY = ARTICLE_TEXT[
    ARTICLE_TEXT.index("President Joe Biden has formally approved") : ARTICLE_TEXT.index("CNN’s Jim Sciutto")
]
TYPES = {"followup_pronoun", "followup_ellipsis", "followup_standalone", "followup_unanswerable"}

# The loader raises InputError for any evidence quote the article does not hold.
CASES = load_evalset(FOLLOWUPS, corpus={DOC_ID: ARTICLE_TEXT})


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def _id(case: EvalCase) -> str:
    return case.id


def test_enough_cases_each_a_two_or_three_turn_conversation() -> None:
    assert len(CASES) >= 15
    assert [c.id for c in CASES] == [f"fu-{i:03d}" for i in range(1, len(CASES) + 1)]
    for case in CASES:
        assert 1 <= len(case.history) <= 2, case.id
        assert all(t.question.strip() and t.answer.strip() for t in case.history), case.id


def test_the_mix_of_follow_ups() -> None:
    counts = Counter(c.type for c in CASES)
    assert set(counts) == TYPES
    assert counts["followup_unanswerable"] >= 3 and counts["followup_standalone"] >= 2
    # Pointing words that need the earlier answer (only it names the referent) and ones the earlier question
    # resolves are both represented.
    refers = Counter((c.model_extra or {}).get("refers_to") for c in CASES if c.type == "followup_pronoun")
    assert refers["answer"] >= 3 and refers["question"] >= 3
    assert all(c.model_extra and c.model_extra.get("refers_to") for c in CASES if c.type != "followup_standalone")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_evidence_is_verbatim_from_the_article_body(case: EvalCase) -> None:
    for item in case.evidence:
        assert item.doc_id == DOC_ID
        assert item.quote and item.quote in BODY, item.quote


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_answerability_matches_answers_and_evidence(case: EvalCase) -> None:
    if case.answerable:
        assert case.answers and case.evidence
        assert case.type != "followup_unanswerable"
        if case.answers not in (["yes"], ["no"]):
            evidence = _normalise(" ".join(item.quote or "" for item in case.evidence))
            assert any(_normalise(a) in evidence for a in case.answers), case.answers
    else:
        assert case.type == "followup_unanswerable" and case.answers == [] and case.evidence == []
