"""The eval-set format (including conversation history), the evidence quote check, and stratified sampling."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from qa.errors import InputError
from qa.evals import EvalCase, Evidence, HistoryTurn, check_quotes, load_evalset, sample_cases
from qa.evals.cases import normalize_match, quote_in
from tests.eval_fakes import DOC, S1, S2

# --- the format


def write_jsonl(tmp_path: Path, rows: list[Any]) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def row(id: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": id, "question": "q?", "answers": ["a"], "answerable": True, "evidence": []}
    return base | extra


def test_load_keeps_unknown_fields_and_skips_blank_lines(tmp_path: Path) -> None:
    ev = {"doc_id": "d1", "quote": S1, "paragraph_index": 0}
    path = write_jsonl(tmp_path, [row("a", evidence=[ev], meta={"src": 7}), "", "   ", row("b")])
    cases = load_evalset(path)
    assert [c.id for c in cases] == ["a", "b"]
    assert cases[0].model_extra == {"meta": {"src": 7}}
    assert cases[0].evidence[0].model_extra == {"paragraph_index": 0}
    assert cases[1].type == "unknown"
    assert json.loads(cases[0].model_dump_json())["meta"] == {"src": 7}


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('{"id": "b", "question": ', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        (json.dumps({"id": "b", "question": "q?"}), "answerable"),
        (json.dumps(row("b", answerable="maybe")), "answerable"),
        (json.dumps(row("b", evidence="x")), "evidence"),
        (json.dumps(row("a")), "duplicate id"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, bad: str, problem: str) -> None:
    path = write_jsonl(tmp_path, [row("a"), "", bad])
    with pytest.raises(InputError) as err:
        load_evalset(path)
    assert f"{path}:3" in str(err.value)
    assert problem in str(err.value)
    assert err.value.hint


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_evalset(tmp_path / "absent.jsonl")


def test_quotes_are_checked_against_the_corpus(tmp_path: Path) -> None:
    good = [
        row("ok1", evidence=[{"doc_id": "d1", "quote": "the troops won't FIGHT in Ukraine"}]),
        row("ok2", evidence=[{"quote": S2}, {"doc_id": "d1"}]),  # any doc; no quote: nothing to check
    ]
    assert len(load_evalset(write_jsonl(tmp_path, good), corpus={"d1": DOC, "d2": "other"})) == 2
    stale = [
        *good,
        row("bad1", evidence=[{"doc_id": "d1", "quote": "1,800 troops"}]),
        row("bad2", evidence=[{"doc_id": "d9", "quote": S1}, {"quote": "not anywhere"}]),
    ]
    with pytest.raises(InputError) as err:
        load_evalset(write_jsonl(tmp_path, stale), corpus={"d1": DOC})
    message = str(err.value)
    assert "bad1, bad2" in message and "3 evidence quote(s) in 2 case(s)" in message
    assert "ok1" not in message


def test_normalize_match_and_quote_in() -> None:
    assert normalize_match("  It’s  “Big” —\n5–6 ") == 'it\'s "big" - 5-6'
    assert quote_in("WON'T fight", DOC)
    assert not quote_in("", DOC)
    assert not quote_in("won't flee", DOC)


def typed(counts: dict[str, int]) -> list[EvalCase]:
    cases = []
    for t, n in counts.items():
        cases += [EvalCase(id=f"{t}{i}", question="q", answerable=True, type=t) for i in range(n)]
    # Interleave types so "original order" is not the same as grouped order.
    return sorted(cases, key=lambda c: (int(c.id.lstrip("abcdefghijklmnopqrstuvwxyz")), c.type))


def test_sample_is_deterministic_stratified_and_ordered() -> None:
    cases = typed({"a": 80, "b": 20})
    first = sample_cases(cases, 10, seed=1)
    assert [c.id for c in first] == [c.id for c in sample_cases(cases, 10, seed=1)]
    assert [c.id for c in first] != [c.id for c in sample_cases(cases, 10, seed=2)]
    assert Counter(c.type for c in first) == {"a": 8, "b": 2}
    position = {c.id: i for i, c in enumerate(cases)}
    assert [position[c.id] for c in first] == sorted(position[c.id] for c in first)


def test_sample_gives_every_type_a_case_and_uses_largest_remainders() -> None:
    cases = typed({"a": 97, "b": 2, "c": 1})
    assert Counter(c.type for c in sample_cases(cases, 5, seed=0)) == {"a": 3, "b": 1, "c": 1}
    # 7 of (50, 30, 20) -> exact 3.5, 2.1, 1.4 -> floors 3, 2, 1 and the spare seat to "a" (0.5).
    cases = typed({"a": 50, "b": 30, "c": 20})
    assert Counter(c.type for c in sample_cases(cases, 7, seed=0)) == {"a": 4, "b": 2, "c": 1}
    assert len(sample_cases(cases, 100, seed=0)) == 100
    assert len(sample_cases(cases, 500, seed=0)) == 100
    assert sample_cases(cases, 0, seed=0) == []


def test_history_turns_are_loaded_in_order_and_default_to_none(tmp_path: Path) -> None:
    turns = [{"question": "How many troops are going to Poland?", "answer": "About 1,700."}, {"question": "Why?"}]
    path = write_jsonl(
        tmp_path, [row("f", history=turns, standalone="Which unit are the Poland troops from?"), row("s")]
    )
    followup, alone = load_evalset(path)
    assert followup.history == [
        HistoryTurn(question="How many troops are going to Poland?", answer="About 1,700."),
        HistoryTurn(question="Why?", answer=""),
    ]
    assert followup.standalone == "Which unit are the Poland troops from?"
    assert alone.history == [] and alone.standalone is None


@pytest.mark.parametrize(
    ("history", "problem"),
    [
        ([{"question": "Who?", "anwser": "Kirby"}], "history.0.anwser"),  # a misspelt key is not dropped silently
        ([{"answer": "Kirby"}], "history.0.question"),
        ([{"question": "", "answer": "Kirby"}], "history.0.question"),
        ("Who is Kirby?", "history"),
    ],
)
def test_malformed_history_names_the_line_and_field(tmp_path: Path, history: Any, problem: str) -> None:
    path = write_jsonl(tmp_path, [row("a"), row("b", history=history)])
    with pytest.raises(InputError) as err:
        load_evalset(path)
    assert f"{path}:2" in str(err.value) and problem in str(err.value)
    assert "history" in (err.value.hint or "")


def test_check_quotes_on_cases_built_in_code() -> None:
    cases = [EvalCase(id="ok", question="q?", answerable=True, evidence=[Evidence(doc_id="d1", quote=S1)])]
    check_quotes(cases, {"d1": DOC})
    stale = [*cases, EvalCase(id="bad", question="q?", answerable=True, evidence=[Evidence(quote="1,800 troops")])]
    with pytest.raises(InputError, match=r"^my cases: 1 evidence quote\(s\) in 1 case\(s\) .*: bad$"):
        check_quotes(stale, {"d1": DOC}, source="my cases")
