"""Reporting eval results: the report with its metric paths (overall and per case type), the Markdown
summary and failure listing, and the files a run writes (the comparison with a baseline: qa.evals.diff).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from qa.evals.metrics import RECALL_KS, mean_or_none, percentile

if TYPE_CHECKING:
    from qa.evals.run import CaseResult

__all__ = [
    "EvalReport",
    "MetricGroup",
    "SpreadStat",
    "build_report",
    "failures_listing",
    "report_markdown",
    "write_outputs",
]

SECTIONS = ("retrieval", "answer", "citation", "refusal", "latency", "tokens")
# Cases of this type follow a conversation but stand alone: rewriting them is a failure.
NOT_REWRITTEN_TYPE = "followup_standalone"


class RetrievalMetrics(BaseModel):
    """Evidence found by retrieval: recall@k (keys "1","3","5","10") and MRR."""

    recall_at_k: dict[str, float | None]
    recall_at_k_default: float | None
    mrr: float | None
    n_with_evidence: int


class AnswerMetrics(BaseModel):
    """Answer correctness over answerable cases with acceptable answers; a refusal is wrong."""

    accuracy: float | None
    f1: float | None
    n_scored: int


class CitationMetrics(BaseModel):
    """How well the verified citations point at the evidence (means over cases)."""

    precision: float | None
    recall: float | None


class RefusalMetrics(BaseModel):
    """Refusals: wanted on unanswerable cases, unwanted on answerable ones."""

    recall: float | None = Field(description="Share of unanswerable cases refused.")
    false_rate: float | None = Field(description="Share of answerable cases refused (lower is better).")
    n_unanswerable: int
    n_answerable: int


class LatencyMetrics(BaseModel):
    """Seconds per case: the full chain, or retrieval alone in retrieval-only runs."""

    p50_s: float | None
    p95_s: float | None
    mean_s: float | None


class TokenMetrics(BaseModel):
    """Token use reported by the model endpoint."""

    prompt: float | None = Field(description="Mean prompt tokens per answered case.")
    completion: float | None = Field(description="Mean completion tokens per answered case.")


class MetricGroup(BaseModel):
    """The scores of a set of cases; a metric no case applies to is null, not 0."""

    n: int
    retrieval: RetrievalMetrics
    answer: AnswerMetrics
    citation: CitationMetrics
    refusal: RefusalMetrics
    latency: LatencyMetrics
    tokens: TokenMetrics


class SpreadStat(BaseModel):
    """One run-level metric across repeats."""

    mean: float
    min: float
    max: float
    stdev: float


class EvalReport(MetricGroup):
    """Overall and per-type scores of one run, with what produced them."""

    by_type: dict[str, MetricGroup]
    retrieval_only: bool
    k: int | None
    repeat: int
    errors: int = Field(description="Cases where retrieval or any ask raised an error.")
    settings: dict[str, Any]
    code_version: str
    created_at: str
    spread: dict[str, SpreadStat] | None = Field(
        default=None, description="Per metric path, the run-level value across repeats."
    )


Key = tuple[str, ...]


def _group(results: Sequence[CaseResult], k: int | None) -> dict[str, Any]:
    asked = [r for r in results if r.asked]
    scored = [r for r in asked if r.answerable and r.correct is not None]
    unanswerable = [r for r in asked if not r.answerable]
    answerable = [r for r in asked if r.answerable]
    latencies = [r.latency_s for r in results if r.latency_s is not None]
    return {
        "n": len(results),
        "retrieval": {
            "recall_at_k": {str(kk): mean_or_none([r.recall_at_k.get(kk) for r in results]) for kk in RECALL_KS},
            "recall_at_k_default": mean_or_none([r.recall_at_k.get(k) for r in results]) if k else None,
            "mrr": mean_or_none([r.rr for r in results]),
            "n_with_evidence": sum(r.rr is not None for r in results),
        },
        "answer": {
            "accuracy": mean_or_none([r.correct for r in scored]),
            "f1": mean_or_none([r.f1 for r in scored]),
            "n_scored": len(scored),
        },
        "citation": {
            "precision": mean_or_none([r.citation_precision for r in asked]),
            "recall": mean_or_none([r.citation_recall for r in asked]),
        },
        "refusal": {
            "recall": mean_or_none([r.refused for r in unanswerable]),
            "false_rate": mean_or_none([r.refused for r in answerable]),
            "n_unanswerable": len(unanswerable),
            "n_answerable": len(answerable),
        },
        "latency": {
            "p50_s": percentile(latencies, 0.5),
            "p95_s": percentile(latencies, 0.95),
            "mean_s": mean_or_none(latencies),
        },
        "tokens": {
            "prompt": mean_or_none([r.prompt_tokens for r in asked]),
            "completion": mean_or_none([r.completion_tokens for r in asked]),
        },
    }


def _scores(results: Sequence[CaseResult], k: int | None) -> dict[str, Any]:
    by_type: dict[str, list[CaseResult]] = {}
    for r in results:
        by_type.setdefault(r.type, []).append(r)
    return _group(results, k) | {"by_type": {t: _group(rs, k) for t, rs in sorted(by_type.items())}}


def flatten_paths(data: Mapping[str, Any], prefix: Key = ()) -> dict[Key, Any]:
    flat: dict[Key, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat |= flatten_paths(value, (*prefix, str(key)))
        else:
            flat[(*prefix, str(key))] = value
    return flat


def _unflatten(flat: Mapping[Key, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return nested


def _combine_repeats(runs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, SpreadStat]]:
    flats = [flatten_paths(run) for run in runs]
    combined: dict[Key, Any] = {}
    spread: dict[str, SpreadStat] = {}
    for path, first in flats[0].items():
        values = [flat[path] for flat in flats]
        rates = [float(v) for v in values if isinstance(v, float)]
        if not rates or isinstance(first, int):
            combined[path] = first  # counts are the same in every repeat
            continue
        combined[path] = statistics.fmean(rates)
        stdev = statistics.stdev(rates) if len(rates) > 1 else 0.0
        spread[".".join(path)] = SpreadStat(mean=combined[path], min=min(rates), max=max(rates), stdev=stdev)
    return _unflatten(combined), spread


def build_report(results: Sequence[CaseResult], settings_info: dict[str, Any], code_version: str) -> EvalReport:
    """Aggregate case results into overall and per-type scores; repeats give means and a spread.

    Raises nothing.
    """
    k = results[0].k if results else None
    repeat = max((len(r.repeats) for r in results), default=0) or 1
    spread: dict[str, SpreadStat] | None = None
    if repeat > 1:
        # Each repeat is scored as a whole run, so the spread is that of the run-level metric.
        runs = [
            _scores(
                [r.model_copy(update=r.repeats[i].model_dump()) if i < len(r.repeats) else r for r in results],
                k,
            )
            for i in range(repeat)
        ]
        scores, spread = _combine_repeats(runs)
    else:
        scores = _scores(results, k)
    errors = sum(bool(r.error or any(a.error for a in r.repeats)) for r in results)
    return EvalReport.model_validate(
        scores
        | {
            "retrieval_only": bool(results) and not any(r.asked for r in results),
            "k": k,
            "repeat": repeat,
            "errors": errors,
            "settings": settings_info,
            "code_version": code_version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "spread": spread,
        }
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _row(name: str, g: MetricGroup) -> str:
    r = g.retrieval
    cells = [name, str(g.n), *(_fmt(r.recall_at_k.get(str(kk))) for kk in RECALL_KS), _fmt(r.mrr)]
    cells += [_fmt(g.answer.accuracy), _fmt(g.answer.f1), _fmt(g.citation.precision), _fmt(g.citation.recall)]
    cells += [_fmt(g.refusal.recall), _fmt(g.refusal.false_rate)]
    cells += [_fmt(g.latency.p50_s, 2), _fmt(g.latency.p95_s, 2)]
    return "| " + " | ".join(cells) + " |"


def report_markdown(report: EvalReport) -> str:
    """A Markdown summary: run facts, then one table row for all cases and one per type. Raises nothing."""
    mode = "retrieval only" if report.retrieval_only else "retrieval + answers"
    lines = [
        "# Evaluation summary",
        "",
        f"- {report.n} cases, {mode}, k={report.k}, repeat={report.repeat}, errors={report.errors}",
        f"- code {report.code_version}, created {report.created_at}",
        "",
        "| cases | n | R@1 | R@3 | R@5 | R@10 | MRR | accuracy | F1 | cit. P | cit. R "
        "| refusal recall | false refusal | p50 s | p95 s |",
        "|---|" + "---:|" * 14,
        _row("**all**", report),
        *(_row(t, g) for t, g in report.by_type.items()),
    ]
    if report.spread:
        # Only what moved: retrieval is deterministic and would fill the table with zeros.
        varied = {p: s for p, s in report.spread.items() if s.max > s.min and not p.startswith("by_type.")}
        lines += ["", f"## Spread across {report.repeat} repeats", ""]
        if not varied:
            lines.append("No overall metric varied across repeats.")
        else:
            lines += ["| metric | mean | min | max | stdev |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {p} | {s.mean:.3f} | {s.min:.3f} | {s.max:.3f} | {s.stdev:.3f} |" for p, s in varied.items()]
    return "\n".join(lines) + "\n"


def _reasons(r: CaseResult) -> list[str]:
    reasons: list[str] = []
    attempts = r.repeats or ([r] if r.asked else [])
    tally: dict[str, int] = {}
    for a in attempts:
        if a.error:
            why = f"error: {a.error}"
        elif r.answerable and a.refused:
            why = f"refused an answerable question ({a.refusal_reason}; model said: {a.raw_answer!r})"
        elif r.answerable and a.correct is False:
            why = "wrong answer"
        elif not r.answerable and not a.refused:
            why = "answered an unanswerable question"
        elif not a.refused and a.citation_recall == 0.0:
            why = "no citation supports the evidence"
        else:
            continue
        tally[why] = tally.get(why, 0) + 1
    for why, count in tally.items():
        reasons.append(why if len(attempts) == 1 else f"{why} ({count}/{len(attempts)} repeats)")
    if r.type == NOT_REWRITTEN_TYPE and r.standalone_question:
        reasons.append("rewritten, though it stands alone")
    if r.error and not attempts:
        reasons.append(f"error: {r.error}")
    recall = r.recall_at_k.get(r.k)
    if recall is not None and recall < 1.0:
        reasons.append(f"evidence missed in top {r.k} (recall@{r.k} = {recall:.2f})")
    return reasons


def failures_listing(results: Sequence[CaseResult]) -> str:
    """A Markdown list of failed cases: the earlier turns of a follow-up, question, its rewrite, expected,
    got, refusal, retrieved chunks and why.

    Raises nothing.
    """
    failed = [(r, why) for r in results if (why := _reasons(r))]
    lines = [f"# Failures ({len(failed)} of {len(results)} cases)", ""]
    for r, why in failed:
        got = "–" if r.got is None else (r.got if len(r.got) <= 400 else r.got[:400] + "…")
        expected = " | ".join(r.expected) if r.answerable else "(unanswerable: should refuse)"
        lines += [
            f"## {r.id} ({r.type})",
            "",
            *(f"- earlier: {t.question} → {t.answer or '–'}" for t in r.history),
            f"- question: {r.question}",
            *([f"- rewritten: {r.standalone_question}"] if r.standalone_question else []),
            f"- expected: {expected or '–'}",
            f"- got: {got}" + (" (refused)" if r.refused else ""),
            f"- retrieved: {', '.join(r.retrieved) or '–'}",
            f"- why: {'; '.join(why)}",
            "",
        ]
    return "\n".join(lines)


def write_outputs(report: EvalReport, results: Sequence[CaseResult], out_dir: Path) -> None:
    """Write report.json, summary.md, failures.md and cases.jsonl into ``out_dir`` (created if missing).

    Raises OSError when the folder or a file cannot be written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out_dir / "summary.md").write_text(report_markdown(report), encoding="utf-8")
    (out_dir / "failures.md").write_text(failures_listing(results), encoding="utf-8")
    cases = "".join(r.model_dump_json() + "\n" for r in results)
    (out_dir / "cases.jsonl").write_text(cases, encoding="utf-8")
