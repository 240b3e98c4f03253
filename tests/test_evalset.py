"""Checks on the hand-written evaluation set evals/reference.jsonl (offline, standard library only)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "evals" / "reference.jsonl"
DOC_ID = "cnn-2022-02-02-us-troops-eastern-europe"
ARTICLE = ROOT / "evals" / "corpus" / f"{DOC_ID}.txt"

TYPES = {
    "fact",
    "number",
    "date",
    "list",
    "yes_no",
    "paraphrase",
    "multi_passage",
    "quote_attribution",
    "unanswerable",
    "general_knowledge",
    "false_premise",
    "injection",
}
# Types whose questions the article never answers: always answerable=false with no answers or evidence.
NEVER_ANSWERABLE = {"unanswerable", "general_knowledge", "false_premise"}
FIELDS: dict[str, type] = {
    "id": str,
    "question": str,
    "answers": list,
    "answerable": bool,
    "evidence": list,
    "type": str,
}
# The article body: after the scraped caption / teaser / dateline, before the contributor line.
BODY_START = "President Joe Biden has formally approved"
BODY_END = "CNN’s Jim Sciutto"


def _load() -> list[dict[str, Any]]:
    cases = []
    for n, line in enumerate(REFERENCE.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"line {n} of {REFERENCE.name} is blank"
        cases.append(json.loads(line))
    return cases


CASES = _load()
ARTICLE_TEXT = ARTICLE.read_text(encoding="utf-8")


def _normalise(text: str) -> str:
    """Lowercase, drop punctuation (so "1,700" == "1700") and collapse whitespace."""
    text = re.sub(r"[^\w\s]", "", text.lower())
    return " ".join(text.split())


def _case_id(case: dict[str, Any]) -> str:
    return str(case.get("id", "?"))


def test_enough_cases() -> None:
    assert len(CASES) >= 60


def test_ids_unique_and_in_order() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert ids == [f"ref-{i:03d}" for i in range(1, len(ids) + 1)]


def test_every_type_present() -> None:
    counts = Counter(c["type"] for c in CASES)
    assert set(counts) == TYPES, f"missing: {TYPES - set(counts)}"


def test_article_body_markers_present() -> None:
    assert ARTICLE_TEXT.count(BODY_START) == 1
    assert ARTICLE_TEXT.count(BODY_END) == 1
    assert ARTICLE_TEXT.index(BODY_START) < ARTICLE_TEXT.index(BODY_END)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fields_and_types(case: dict[str, Any]) -> None:
    assert set(case) == set(FIELDS)
    for name, kind in FIELDS.items():
        assert isinstance(case[name], kind), f"{name} should be {kind.__name__}"
    assert case["question"].strip()
    assert case["type"] in TYPES
    assert all(isinstance(a, str) and a.strip() for a in case["answers"])
    for item in case["evidence"]:
        assert isinstance(item, dict)
        assert {"doc_id", "quote"} <= set(item) <= {"doc_id", "quote", "also"}
        assert item["doc_id"] == DOC_ID
        assert isinstance(item["quote"], str) and item["quote"].strip()


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_evidence_is_verbatim_from_article_body(case: dict[str, Any]) -> None:
    body = ARTICLE_TEXT[ARTICLE_TEXT.index(BODY_START) : ARTICLE_TEXT.index(BODY_END)]
    for item in case["evidence"]:
        for quote in [item["quote"], *item.get("also", [])]:
            assert quote in ARTICLE_TEXT, f"not verbatim in the article: {quote!r}"
            assert quote in body, f"quote is from scraped debris, not the body: {quote!r}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_answerability_matches_answers_and_evidence(case: dict[str, Any]) -> None:
    if case["answerable"]:
        assert case["answers"], "answerable case needs at least one answer"
        assert case["evidence"], "answerable case needs at least one evidence quote"
        assert case["type"] not in NEVER_ANSWERABLE
    else:
        assert case["answers"] == []
        assert case["evidence"] == []


@pytest.mark.parametrize("case", [c for c in CASES if c["type"] == "multi_passage"], ids=_case_id)
def test_multi_passage_has_several_quotes(case: dict[str, Any]) -> None:
    quotes = [item["quote"] for item in case["evidence"]]
    assert len(quotes) >= 2
    assert len(set(quotes)) == len(quotes)


@pytest.mark.parametrize("case", [c for c in CASES if c["type"] == "yes_no"], ids=_case_id)
def test_yes_no_answers(case: dict[str, Any]) -> None:
    assert case["answers"] in (["yes"], ["no"])


@pytest.mark.parametrize("case", [c for c in CASES if c["answerable"] and c["type"] != "yes_no"], ids=_case_id)
def test_some_answer_is_supported_by_its_evidence(case: dict[str, Any]) -> None:
    evidence = _normalise(" ".join(item["quote"] for item in case["evidence"]))
    assert any(_normalise(a) in evidence for a in case["answers"]), case["answers"]
