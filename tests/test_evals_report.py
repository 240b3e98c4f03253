"""The report over case results: metrics overall and per type, repeats, the Markdown summary and failure
listing, the files a run writes, and the comparison with a baseline."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from qa.conversation import Turn
from qa.evals import CaseResult, EvalReport, HistoryTurn, run_eval
from qa.evals.diff import compare, format_differences
from qa.evals.report import build_report, failures_listing, report_markdown, write_outputs
from qa.models import Answer
from tests.eval_fakes import CASES, fake_retrieve, full_run

# --- the report


def test_report_aggregates_overall_and_by_type() -> None:
    report = build_report(full_run(), {"k": 4}, "abc123")
    assert report.n == 6 and report.errors == 1 and not report.retrieval_only
    # 4 answerable: troops right; romania wrong; refused wrong; broken (error) wrong.
    assert report.answer.accuracy == 0.25
    assert report.refusal.recall == 0.5  # price refused, ships answered
    assert report.refusal.false_rate == 0.25  # "refused" of the 4 answerable
    assert report.retrieval.recall_at_k["1"] == 0.5  # romania (rank 2) and refused (rank 3) miss
    assert report.retrieval.mrr == pytest.approx((1 + 0.5 + 1 / 3 + 1) / 4)
    assert report.retrieval.recall_at_k_default == 1.0
    assert report.citation.precision == 0.5  # troops 1.0, romania 0.0; others have no citations
    assert report.tokens.prompt == 100
    unans = report.by_type["unanswerable"]
    assert unans.n == 2 and unans.refusal.recall == 0.5
    # Nothing in this group applies: null, not 0.
    assert unans.answer.accuracy is None and unans.retrieval.mrr is None and unans.citation.recall is None
    assert report.by_type["extractive"].refusal.recall is None


def test_report_json_paths(tmp_path: Path) -> None:
    data = json.loads(build_report(full_run(), {"k": 4}, "abc123").model_dump_json())
    paths = [
        "n", "retrieval.recall_at_k.1", "retrieval.recall_at_k.3", "retrieval.recall_at_k.5",
        "retrieval.recall_at_k.10", "retrieval.recall_at_k_default", "retrieval.mrr", "answer.accuracy",
        "answer.f1", "citation.precision", "citation.recall", "refusal.recall", "refusal.false_rate",
        "latency.p50_s", "latency.p95_s", "tokens.prompt", "tokens.completion",
    ]  # fmt: skip
    for prefix in ("", "by_type.extractive.", "by_type.unanswerable."):
        for path in paths:
            node = data
            for key in (prefix + path).split("."):
                assert key in node, prefix + path
                node = node[key]
    for key in ("settings", "code_version", "created_at", "retrieval_only", "errors", "spread"):
        assert key in data
    assert data["settings"] == {"k": 4} and data["code_version"] == "abc123" and data["spread"] is None


def test_repeats_give_mean_and_spread() -> None:
    calls = Counter[str]()

    def flaky(question: str, history: Sequence[Turn]) -> Answer:
        calls[question] += 1
        right = calls[question] % 2 == 1  # right on odd attempts, wrong on even ones
        return Answer(question=question, answer="1,700" if right else "none", answerable=True)

    results = run_eval(CASES[:1], retrieve=fake_retrieve, ask=flaky, k=4, retrieval_only=False, repeat=3)
    assert [a.correct for a in results[0].repeats] == [True, False, True]
    report = build_report(results, {}, "v")
    assert report.repeat == 3
    assert report.answer.accuracy == pytest.approx(2 / 3)
    assert report.spread is not None
    spread = report.spread["answer.accuracy"]
    assert (spread.min, spread.max) == (0.0, 1.0)
    assert spread.stdev == pytest.approx(0.57735, abs=1e-4)
    assert "wrong answer (1/3 repeats)" in failures_listing(results)
    summary = report_markdown(report)
    assert "| answer.accuracy |" in summary and "| retrieval.mrr |" not in summary  # only what varied


# --- outputs


def test_failures_listing_and_markdown() -> None:
    results = full_run()
    listing = failures_listing(results)
    assert "## troops" not in listing and "## price" not in listing
    assert "## romania" in listing and "wrong answer" in listing
    assert "refused an answerable question" in listing
    assert "answered an unanswerable question" in listing
    assert "ModelUnavailableError" in listing and "d1:1, d1:2, d1:3" in listing
    summary = report_markdown(build_report(results, {}, "v"))
    assert "| **all** | 6 |" in summary and "| extractive | 4 |" in summary and "| unanswerable | 2 |" in summary


def test_write_outputs(tmp_path: Path) -> None:
    results = full_run()
    out = tmp_path / "run" / "1"
    write_outputs(build_report(results, {}, "v"), results, out)
    assert {p.name for p in out.iterdir()} == {"report.json", "summary.md", "failures.md", "cases.jsonl"}
    assert EvalReport.model_validate_json((out / "report.json").read_text()).n == 6
    lines = (out / "cases.jsonl").read_text().splitlines()
    assert [CaseResult.model_validate_json(line).id for line in lines] == [c.id for c in CASES]


# --- comparison with a baseline


@pytest.fixture
def report() -> EvalReport:
    return build_report(full_run(), {}, "v")


def baseline_with(report: EvalReport, **changes: float) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report.model_dump_json())
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return data


def test_compare_flags_a_drop_beyond_tolerance_and_ignores_latency(report: EvalReport) -> None:
    diffs, ok = compare(report, baseline_with(report))
    assert ok and not any(d.regressed for d in diffs)
    diffs, ok = compare(report, baseline_with(report, answer__accuracy=0.26, latency__p50_s=0.0001))
    assert ok  # a 0.01 drop is noise; latency is informational
    diffs, ok = compare(report, baseline_with(report, answer__accuracy=0.30, tokens__prompt=1.0))
    assert not ok
    assert [d.path for d in diffs if d.regressed] == ["answer.accuracy"]
    assert "REGRESSED" in format_differences(diffs) and "answer.accuracy" in format_differences(diffs)
    # A looser tolerance for the section lets the same drop pass.
    assert compare(report, baseline_with(report, answer__accuracy=0.30), {"answer": 0.1})[1]


def test_compare_false_refusal_rate_is_lower_is_better(report: EvalReport) -> None:
    assert report.refusal.false_rate == 0.25
    assert not compare(report, baseline_with(report, refusal__false_rate=0.10))[1]  # rose by 0.15
    assert compare(report, baseline_with(report, refusal__false_rate=0.50))[1]  # fell


def test_compare_checks_types_and_widens_by_spread(report: EvalReport) -> None:
    base = baseline_with(report)
    base["by_type"]["extractive"]["answer"]["accuracy"] = 0.5
    diffs, ok = compare(report, base)
    assert not ok and [d.path for d in diffs if d.regressed] == ["by_type.extractive.answer.accuracy"]
    spread = {"by_type.extractive.answer.accuracy": {"mean": 0.25, "min": 0.0, "max": 0.3, "stdev": 0.1}}
    noisy = EvalReport.model_validate(report.model_dump() | {"spread": spread})
    assert compare(noisy, base)[1]  # 0.25 drop within 0.02 + 0.3 spread
    # Paths missing from an older baseline are skipped, not failed.
    del base["citation"]
    assert all(not d.path.startswith("citation") for d in compare(report, base)[0])


def followup_result(**fields: Any) -> CaseResult:
    base: dict[str, Any] = {
        "id": "fu", "type": "followup_pronoun", "question": "Which unit are they from?", "answerable": True,
        "history": [HistoryTurn(question="How many troops are going to Poland?", answer="About 1,700.")],
        "expected": ["82nd Airborne"], "asked": True, "k": 4, "recall_at_k": {4: 1.0}, "rr": 1.0,
        "got": "The 18th Airborne Corps.", "correct": False,
        "standalone_question": "Which unit are the troops going to Poland from?",
    }  # fmt: skip
    return CaseResult.model_validate(base | fields)


def test_failures_listing_shows_the_conversation_and_the_rewrite() -> None:
    listing = failures_listing([followup_result()])
    lines = listing.splitlines()
    earlier = lines.index("- earlier: How many troops are going to Poland? → About 1,700.")
    assert lines[earlier + 1] == "- question: Which unit are they from?"
    assert lines[earlier + 2] == "- rewritten: Which unit are the troops going to Poland from?"
    assert "wrong answer" in listing
    # A case asked as typed has no "rewritten" line.
    assert "- rewritten:" not in failures_listing([followup_result(standalone_question=None)])


def test_a_rewritten_standalone_follow_up_is_a_failure_even_when_right() -> None:
    right = {"type": "followup_standalone", "question": "Who is the NATO Secretary General?", "correct": True,
             "got": "Jens Stoltenberg.", "expected": ["Stoltenberg"]}  # fmt: skip
    listing = failures_listing([followup_result(**right, standalone_question="Who is NATO's Secretary General?")])
    assert "## fu (followup_standalone)" in listing and "rewritten, though it stands alone" in listing
    assert listing.startswith("# Failures (1 of 1 cases)")
    assert failures_listing([followup_result(**right, standalone_question=None)]).startswith("# Failures (0 of 1")
    # Any other follow-up is meant to be rewritten.
    assert "stands alone" not in failures_listing([followup_result()])


def test_conversation_cases_are_reported_by_type() -> None:
    results = [followup_result(), followup_result(id="fu2", type="followup_ellipsis", correct=True), *full_run()]
    report = build_report(results, {}, "v")
    assert report.by_type["followup_pronoun"].answer.accuracy == 0.0
    assert report.by_type["followup_ellipsis"].answer.accuracy == 1.0
    assert "| followup_ellipsis | 1 |" in report_markdown(report)
