"""benchmarks/baseline_eval.py scores the LangChain baseline as `qa eval` scores us (no model, no network)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from benchmarks.baseline_eval import build_report, run_cases, summary_markdown
from benchmarks.baselines.langchain_rag import REFUSAL_RULE, BaselineAnswer
from qa.evals.cases import EvalCase
from qa.evals.metrics import answer_correct


def _case(cid: str, ctype: str, answers: list[str], answerable: bool = True) -> EvalCase:
    return EvalCase(id=cid, question=f"question {cid}?", answers=answers, answerable=answerable, type=ctype)


# (case, scripted reply text or None for an ask that raises)
SCRIPT: list[tuple[EvalCase, str | None]] = [
    (_case("a1", "fact", ["Fort Bragg"]), "The 18th Airborne Corps is based at Fort Bragg."),
    (_case("a2", "number", ["1,700"]), "About 1700 troops."),
    (_case("a3", "fact", ["John Kirby"]), "I don't know."),
    (_case("a4", "yes_no", ["no"]), "I don't know."),
    (_case("a5", "yes_no", ["yes"]), "Yes, they are."),
    (_case("a6", "fact", ["Romania"]), "Germany."),
    (_case("u1", "unanswerable", [], answerable=False), "The context does not mention that."),
    (_case("u2", "unanswerable", [], answerable=False), "In Romania."),
    (_case("u3", "unanswerable", [], answerable=False), None),
    (_case("a7", "fact", []), "Sure."),
]


def _ask_scripted() -> tuple[list[str], Callable[[str], BaselineAnswer]]:
    by_question = {case.question: (i, text) for i, (case, text) in enumerate(SCRIPT)}
    asked: list[str] = []

    def ask(question: str) -> BaselineAnswer:
        asked.append(question)
        i, text = by_question[question]
        if text is None:
            raise RuntimeError("connection refused")
        return BaselineAnswer(
            answer=text,
            refused=bool(REFUSAL_RULE.search(text)),  # what LangChainRAG.ask does
            retrieve_s=0.01,
            first_token_s=0.1,
            total_s=float(i + 1),
            prompt_tokens=300 + i,
            completion_tokens=10 * (i + 1),
        )

    return asked, ask


def test_scores_counts_and_rates_of_a_scripted_run() -> None:
    cases = [c for c, _ in SCRIPT]
    asked, ask = _ask_scripted()
    seen: list[tuple[int, int, str]] = []
    records = run_cases(cases, ask, on_result=lambda d, t, r: seen.append((d, t, r["id"])))

    assert asked == [c.question for c in cases]
    assert seen == [(i, 10, c.id) for i, c in enumerate(cases, start=1)]
    by_id = {r["id"]: r for r in records}
    scored = ("a1", "a2", "a3", "a4", "a5", "a6")
    assert [by_id[i]["correct"] for i in scored] == [True, True, False, False, True, False]
    assert [by_id[i]["refused"] for i in ("a3", "a4", "u1", "u2", "u3")] == [True, True, True, False, False]
    assert [by_id[i]["correct"] for i in ("u1", "u2", "u3")] == [True, False, False]
    # The yes/no metric alone reads "I don't know" as "no" ("do not"); a refusal must still be wrong.
    assert answer_correct("I don't know.", ["no"], "yes_no")
    assert by_id["a4"]["correct"] is False and by_id["a4"]["f1"] == 0.0
    # An answerable case without acceptable answers is not scored but still counts for false refusals.
    assert by_id["a7"]["correct"] is None and by_id["a7"]["f1"] is None
    # A failed ask is recorded, not refused, and wrong; the raw reply text is kept for re-scoring.
    assert by_id["u3"]["error"] == "RuntimeError: connection refused" and by_id["u3"]["answer"] is None
    assert by_id["a1"]["answer"] == "The 18th Airborne Corps is based at Fort Bragg."
    assert by_id["a1"]["expected"] == ["Fort Bragg"] and by_id["a1"]["type"] == "fact"

    report = json.loads(json.dumps(build_report(records, {"evalset": "scripted.jsonl"})))
    assert (report["n"], report["n_answerable"], report["n_unanswerable"]) == (10, 7, 3)
    assert report["answerable_correct_count"] == 3 and report["unanswerable_refused_count"] == 1
    assert report["errors"] == 1
    assert report["answer"]["n_scored"] == 6
    assert report["answer"]["accuracy"] == pytest.approx(3 / 6)
    assert report["refusal"]["recall"] == pytest.approx(1 / 3)
    assert report["refusal"]["false_rate"] == pytest.approx(2 / 7)
    # Latencies 1..8 and 10 s plus the failed ask's near-zero time: the median is between 4 and 5.
    assert report["latency"]["p50_s"] == pytest.approx(4.5, abs=0.01)
    # Completion tokens 10, 20, ..., 80, 100 of the nine replies (the failed ask has none).
    assert report["tokens"]["completion_median"] == 50.0
    yes_no = report["by_type"]["yes_no"]
    assert (yes_no["n"], yes_no["answer"]["accuracy"], yes_no["refusal"]["false_rate"]) == (2, 0.5, 0.5)
    assert report["by_type"]["unanswerable"]["answer"]["accuracy"] is None

    row = summary_markdown(report, "scripted").splitlines()
    assert "| scripted | 7 / 3 | – | – | 0.500 | 0.286 | 0.333 | – | 4.5 |" in row


def test_empty_run_reports_nulls_not_zeros() -> None:
    report = build_report([])
    assert report["n"] == 0
    assert report["answer"]["accuracy"] is None and report["refusal"]["recall"] is None
    assert report["latency"]["p50_s"] is None and report["tokens"]["completion_median"] is None
