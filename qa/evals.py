"""Running an evaluation set through retrieval and answering, and reporting and comparing the scores.

The runner takes plain callables (``retrieve(question, depth)``, ``ask(question)``), so the CLI, tests
and notebooks can drive it with the real chain or a stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.errors import QAError
from qa.evalset import EvalCase
from qa.metrics import (
    answer_correct,
    citation_precision,
    citation_recall,
    is_refusal,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from qa.models import Answer, Passage

__all__ = [
    "AttemptResult",
    "CaseResult",
    "Difference",
    "EvalReport",
    "MetricGroup",
    "SpreadStat",
    "replay_eval",
    "run_eval",
]

RECALL_KS = (1, 3, 5, 10)
DEFAULT_TOLERANCE = 0.02
_SECTIONS = ("retrieval", "answer", "citation", "refusal", "latency", "tokens")
# Floating-point slack so a drop of exactly the tolerance does not count as a regression.
_EPS = 1e-9


class AttemptResult(BaseModel):
    """The answer side of one ask of a case (latency is retrieval time in retrieval-only runs)."""

    got: str | None = None
    refused: bool = False
    correct: bool | None = None
    f1: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    refusal_reason: str | None = None
    raw_answer: str | None = Field(default=None, description="The model's answer before verification.")
    raw_citations: list[dict[str, Any]] = Field(default_factory=list, description="The model's own citations.")
    cited: list[dict[str, Any]] = Field(
        default_factory=list, description="The citations shown: key, quote, and whether the model or code located it."
    )
    dropped_citations: int = 0
    raw_reply: str | None = Field(default=None, description="The model's structured reply, for offline replay.")
    passages: list[Passage] = Field(default_factory=list, description="The passages the answer was checked against.")
    checks: dict[str, Any] = Field(default_factory=dict, description="What the support checks measured.")


class CaseResult(AttemptResult):
    """Everything measured for one case: answer fields from the first attempt, ``repeats`` holds all."""

    id: str
    type: str
    question: str
    answerable: bool
    expected: list[str]
    asked: bool = Field(description="False in retrieval-only runs: the answer fields are unset.")
    k: int
    recall_at_k: dict[int, float | None]
    rr: float | None
    retrieved: list[str] = Field(default_factory=list, description="Chunk ids in rank order.")
    repeats: list[AttemptResult] = Field(default_factory=list)


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


class Difference(BaseModel):
    """One metric compared with a baseline."""

    path: str
    baseline: float
    current: float
    delta: float
    tolerance: float | None = Field(description="None for informational metrics, which never fail.")
    direction: Literal["higher", "lower", "info"]
    regressed: bool


def _describe(exc: QAError) -> str:
    return f"{type(exc).__name__}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")


def _failed(case: EvalCase, error: str, latency: float | None = None) -> AttemptResult:
    # An error is a failed case, not a skipped one, so a flaky backend shows up in the scores.
    scored = case.answerable and bool(case.answers)
    return AttemptResult(
        correct=False if scored or not case.answerable else None,
        f1=0.0 if scored else None,
        citation_recall=0.0 if case.evidence else None,
        latency_s=latency,
        error=error,
    )


def _attempt(case: EvalCase, ask: Callable[[str], Answer]) -> AttemptResult:
    start = time.perf_counter()
    try:
        answer = ask(case.question)
    except QAError as exc:
        return _failed(case, _describe(exc), time.perf_counter() - start)
    latency = time.perf_counter() - start
    refused = is_refusal(answer)
    correct: bool | None = refused
    f1: float | None = None
    if case.answerable:
        scored = bool(case.answers)
        correct = (not refused and answer_correct(answer.answer, case.answers, case.type)) if scored else None
        f1 = (0.0 if refused else token_f1(answer.answer, case.answers)) if scored else None
    # A refusal claims nothing, so citations it may carry are not judged.
    cited = answer.model_copy(update={"citations": []}) if refused else answer
    return AttemptResult(
        got=answer.answer,
        refused=refused,
        correct=correct,
        f1=f1,
        citation_precision=citation_precision(case, cited),
        citation_recall=citation_recall(case, cited),
        latency_s=latency,
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        refusal_reason=answer.refusal_reason,
        raw_answer=answer.raw_answer,
        raw_citations=answer.raw_citations,
        cited=[{"key": c.key, "quote": c.quote, "located_by": c.located_by} for c in answer.citations],
        dropped_citations=answer.dropped_citations,
        raw_reply=answer.raw_reply,
        passages=answer.passages,
        checks=answer.checks,
    )


def run_eval(
    cases: Sequence[EvalCase],
    *,
    retrieve: Callable[[str, int], list[Passage]],
    ask: Callable[[str], Answer] | None,
    k: int,
    retrieval_only: bool,
    repeat: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[CaseResult]:
    """Retrieve (depth ``max(k, 10)``) and, unless ``retrieval_only``, ask each case ``repeat`` times.

    QAErrors from ``retrieve`` or ``ask`` are recorded in the case's ``error`` and count as failures;
    other exceptions propagate. Raises ValueError for ``k`` or ``repeat`` below 1, or a missing ``ask``.
    """
    if k < 1 or repeat < 1:
        raise ValueError(f"k and repeat must be at least 1, got k={k}, repeat={repeat}")
    if ask is None and not retrieval_only:
        raise ValueError("ask is required unless retrieval_only is set")
    depth = max(k, *RECALL_KS)
    ks = sorted({*RECALL_KS, k})
    results: list[CaseResult] = []
    for done, case in enumerate(cases, start=1):
        error: str | None = None
        start = time.perf_counter()
        try:
            passages = retrieve(case.question, depth)
        except QAError as exc:
            passages, error = [], _describe(exc)
        retrieve_s = time.perf_counter() - start
        attempts: list[AttemptResult] = []
        if retrieval_only or ask is None:
            first = AttemptResult(latency_s=retrieve_s, error=error)
        else:
            # When retrieval failed the chain would fail the same way; don't spend model time on it.
            attempts = [_failed(case, error) if error else _attempt(case, ask) for _ in range(repeat)]
            first = attempts[0]
        data = first.model_dump() | {
            "id": case.id,
            "type": case.type,
            "question": case.question,
            "answerable": case.answerable,
            "expected": case.answers,
            "asked": not retrieval_only,
            "k": k,
            "recall_at_k": {kk: recall_at_k(case, passages, kk) for kk in ks},
            "rr": reciprocal_rank(case, passages),
            "retrieved": [p.chunk_id for p in passages],
            "repeats": attempts if repeat > 1 else [],
        }
        results.append(CaseResult.model_validate(data))
        if progress is not None:
            progress(done, len(cases))
    return results


def replay_eval(
    cases: Sequence[EvalCase],
    recorded: Sequence[CaseResult],
    reverify: Callable[[str, list[Passage], str, dict[str, Any]], Answer],
) -> list[CaseResult]:
    """Re-score a recorded run without the model: each recorded reply is checked again by ``reverify``.

    ``reverify(question, passages, raw_reply, recorded_checks)`` applies the current checks. Cases without a recorded
    reply (refused before the model, or failed) keep their recorded result; retrieval scores, latency
    and token counts are the recording's. Raises ValueError when a recorded case is not in ``cases``.
    """
    by_id = {c.id: c for c in cases}
    out: list[CaseResult] = []
    for rec in recorded:
        case = by_id.get(rec.id)
        if case is None:
            raise ValueError(f"recorded case {rec.id!r} is not in the eval set")
        if not rec.asked or rec.raw_reply is None or rec.error:
            out.append(rec)
            continue
        passages, raw, checks = list(rec.passages), rec.raw_reply, dict(rec.checks)

        def again(
            question: str, passages: list[Passage] = passages, raw: str = raw, checks: dict[str, Any] = checks
        ) -> Answer:
            return reverify(question, passages, raw, checks)

        attempt = _attempt(case, again)
        attempt.latency_s = rec.latency_s
        attempt.prompt_tokens = rec.prompt_tokens
        attempt.completion_tokens = rec.completion_tokens
        out.append(rec.model_copy(update=attempt.model_dump(exclude_unset=False) | {"repeats": []}))
    return out


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("article-qa")
    except PackageNotFoundError:
        ver = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        return f"{ver}+{commit}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return ver


def corpus_store_path(home: Path, files: Sequence[Path], fingerprint: str) -> Path:
    """A store folder keyed by the corpus files' content and the settings that shape the index."""
    import hashlib

    digest = hashlib.sha256(fingerprint.encode())
    for f in sorted(files):
        digest.update(f.name.encode())
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return home / "eval-stores" / digest.hexdigest()[:16]
