"""The eval-set format, sampling, the runner, the report and the baseline comparison, with fakes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from qa.errors import InputError, ModelUnavailableError, StoreError
from qa.evalreport import build_report, compare, failures_listing, format_differences, report_markdown, write_outputs
from qa.evals import CaseResult, EvalReport, run_eval
from qa.evalset import EvalCase, Evidence, load_evalset, normalize_match, quote_in, sample_cases
from qa.models import Answer, Citation, Passage, Usage

DOC = (
    "The Pentagon ordered 1,700 troops to Poland on Wednesday. "
    "About 3,000 soldiers will move from Germany to Romania. "
    "Officials said the troops won’t fight in Ukraine."
)
S1, S2, S3 = (s + "." for s in DOC.rstrip(".").split(". "))


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


# --- the runner and the report


def passage(key: int, text: str) -> Passage:
    return Passage(key=key, chunk_id=f"d1:{key}", doc_id="d1", text=text, char_start=0, char_end=len(text), score=0.9)


PASSAGES = [passage(1, S1), passage(2, S2), passage(3, S3)]
CASES = [
    EvalCase(id="troops", question="How many troops to Poland?", answers=["1,700"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S1)], type="extractive"),
    EvalCase(id="romania", question="How many to Romania?", answers=["3000"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S2)], type="extractive"),
    EvalCase(id="refused", question="Who fights in Ukraine?", answers=["nobody"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S3)], type="extractive"),
    EvalCase(id="price", question="What did it cost?", answers=[], answerable=False, type="unanswerable"),
    EvalCase(id="ships", question="How many ships?", answers=[], answerable=False, type="unanswerable"),
    EvalCase(id="broken", question="Model down?", answers=["x"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S1)], type="extractive"),
]  # fmt: skip


def fake_retrieve(question: str, depth: int) -> list[Passage]:
    assert depth == 10
    return list(PASSAGES)


def fake_ask(question: str) -> Answer:
    def cite(key: int) -> Citation:
        p = PASSAGES[key - 1]
        return Citation(key=1, passage_key=key, doc_id="d1", chunk_id=p.chunk_id, quote=p.text,
                        char_start=0, char_end=len(p.text), score=0.9)  # fmt: skip

    usage = Usage(prompt_tokens=100, completion_tokens=10)
    if question.startswith("How many troops"):
        return Answer(question=question, answer="1700 troops [1]", answerable=True, citations=[cite(1)],
                      passages=PASSAGES, usage=usage)  # fmt: skip
    if question.startswith("How many to Romania"):  # wrong, and cites the wrong passage
        return Answer(question=question, answer="1,700 [1]", answerable=True, citations=[cite(1)],
                      passages=PASSAGES, usage=usage)  # fmt: skip
    if question.startswith("How many ships"):  # answers an unanswerable question
        return Answer(question=question, answer="Five ships.", answerable=True, usage=usage)
    if question.startswith("Model down"):
        raise ModelUnavailableError("the model server is not running", "start it")
    return Answer(question=question, answer="The articles do not say.", answerable=False, usage=usage)


def full_run(repeat: int = 1) -> list[CaseResult]:
    return run_eval(CASES, retrieve=fake_retrieve, ask=fake_ask, k=4, retrieval_only=False, repeat=repeat)


def test_run_eval_scores_each_case() -> None:
    seen: list[tuple[int, int]] = []
    results = run_eval(
        CASES,
        retrieve=fake_retrieve,
        ask=fake_ask,
        k=4,
        retrieval_only=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    by_id = {r.id: r for r in results}
    assert seen[-1] == (6, 6) and len(seen) == 6
    assert by_id["troops"].correct is True and by_id["troops"].citation_precision == 1.0
    assert by_id["romania"].correct is False and by_id["romania"].citation_recall == 0.0
    assert by_id["romania"].recall_at_k == {1: 0.0, 3: 1.0, 4: 1.0, 5: 1.0, 10: 1.0}
    assert by_id["romania"].rr == 0.5
    assert by_id["refused"].refused and by_id["refused"].correct is False and by_id["refused"].f1 == 0.0
    assert by_id["price"].correct is True and by_id["price"].rr is None
    assert by_id["ships"].correct is False and not by_id["ships"].refused
    broken = by_id["broken"]
    assert broken.error is not None and "ModelUnavailableError" in broken.error
    assert broken.correct is False and not broken.refused
    assert by_id["troops"].retrieved == ["d1:1", "d1:2", "d1:3"]
    assert by_id["troops"].prompt_tokens == 100


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


def test_retrieval_only_run_leaves_answer_metrics_null() -> None:
    results = run_eval(CASES, retrieve=fake_retrieve, ask=None, k=3, retrieval_only=True)
    report = build_report(results, {}, "v")
    assert report.retrieval_only and report.retrieval.recall_at_k_default == 1.0
    assert report.answer.accuracy is None and report.refusal.recall is None and report.tokens.prompt is None
    assert report.latency.p50_s is not None  # retrieval time
    with pytest.raises(ValueError):
        run_eval(CASES, retrieve=fake_retrieve, ask=None, k=3, retrieval_only=False)


def test_retrieval_error_is_recorded_not_raised() -> None:
    def broken(question: str, depth: int) -> list[Passage]:
        raise StoreError("store is locked", "close the other process")

    [result] = run_eval(CASES[:1], retrieve=broken, ask=fake_ask, k=4, retrieval_only=False)
    assert result.error is not None and "store is locked" in result.error
    assert result.recall_at_k[4] == 0.0 and result.correct is False
    assert build_report([result], {}, "v").errors == 1


def test_repeats_give_mean_and_spread() -> None:
    calls = Counter[str]()

    def flaky(question: str) -> Answer:
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
