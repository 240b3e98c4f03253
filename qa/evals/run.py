"""Running an eval set: each case retrieved for, asked (a follow-up after its earlier turns) and scored; a
recorded run checked again without the model; and ``evaluate()``, the whole of ``qa eval`` as one library
call. The runners take plain callables (``retrieve(question, depth)``, ``ask(question, history)``), so
tests and notebooks can drive them with the real chain or a stand-in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from qa.conversation import Turn
from qa.errors import ConfigError, QAError
from qa.evals.cases import EvalCase, HistoryTurn, check_quotes, load_evalset, sample_cases
from qa.evals.metrics import (
    RECALL_KS,
    answer_correct,
    citation_precision,
    citation_recall,
    is_refusal,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from qa.evals.provenance import code_version, corpus_store
from qa.evals.report import EvalReport, build_report
from qa.models import Answer, Filters, IngestReport, Passage
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.api import QA

__all__ = [
    "AttemptResult",
    "CaseResult",
    "Evaluation",
    "evaluate",
    "load_recorded",
    "replay_eval",
    "run_eval",
]

#: ``retrieve(question, depth)``: the passages for a question, best first.
Retrieve = Callable[[str, int], list[Passage]]
#: ``ask(question, history)``: the answer to a question asked after the earlier turns (none: standalone).
Ask = Callable[[str, Sequence[Turn]], Answer]
#: ``reverify(question, passages, raw_reply, recorded_checks)``: a recorded reply checked again.
Reverify = Callable[[str, list[Passage], str, dict[str, Any]], Answer]


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
    standalone_question: str | None = Field(
        default=None, description="The follow-up as rewritten from the conversation: what was searched and checked."
    )
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
    history: list[HistoryTurn] = Field(default_factory=list, description="The conversation the question followed.")
    answerable: bool
    expected: list[str]
    asked: bool = Field(description="False in retrieval-only runs: the answer fields are unset.")
    k: int
    recall_at_k: dict[int, float | None]
    rr: float | None
    retrieved: list[str] = Field(default_factory=list, description="Chunk ids in rank order.")
    repeats: list[AttemptResult] = Field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` returns: one result per case (``cases.jsonl``) and the report over them."""

    results: list[CaseResult]
    report: EvalReport


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


def _attempt(case: EvalCase, call: Callable[[], Answer]) -> AttemptResult:
    """Score the answer ``call()`` gives to ``case`` (a QAError it raises is a failed attempt)."""
    start = time.perf_counter()
    try:
        answer = call()
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
        standalone_question=answer.standalone_question,
        raw_answer=answer.raw_answer,
        raw_citations=answer.raw_citations,
        cited=[{"key": c.key, "quote": c.quote, "located_by": c.located_by} for c in answer.citations],
        dropped_citations=answer.dropped_citations,
        raw_reply=answer.raw_reply,
        passages=answer.passages,
        checks=answer.checks,
    )


def _retrieve(retrieve: Retrieve, question: str, depth: int) -> tuple[list[Passage], str | None, float]:
    start = time.perf_counter()
    try:
        return retrieve(question, depth), None, time.perf_counter() - start
    except QAError as exc:
        return [], _describe(exc), time.perf_counter() - start


def run_eval(
    cases: Sequence[EvalCase],
    *,
    retrieve: Retrieve,
    ask: Ask | None,
    k: int,
    retrieval_only: bool,
    repeat: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[CaseResult]:
    """Retrieve (depth ``max(k, 10)``) and, unless ``retrieval_only``, ask each case ``repeat`` times.

    A case with ``history`` is asked with its earlier turns (``ask(question, [Turn, ...])``; others get
    an empty history), and its retrieval is scored for what the system searched: the first attempt's
    ``standalone_question`` when it rewrote the follow-up, else the question as typed. In retrieval-only
    runs no rewrite exists, so a follow-up is retrieved for as its case's ``standalone`` field, or as
    typed: its retrieval scores mean something only in a full run. ``progress(done, total)`` is called
    before the first case and after each. QAErrors from ``retrieve`` or ``ask`` are recorded in the
    case's ``error`` and count as failures; other exceptions propagate. Raises ValueError for ``k`` or
    ``repeat`` below 1, or a missing ``ask``.
    """
    if k < 1 or repeat < 1:
        raise ValueError(f"k and repeat must be at least 1, got k={k}, repeat={repeat}")
    if ask is None and not retrieval_only:
        raise ValueError("ask is required unless retrieval_only is set")
    depth = max(k, *RECALL_KS)
    ks = sorted({*RECALL_KS, k})
    results: list[CaseResult] = []
    if progress is not None:
        progress(0, len(cases))
    for done, case in enumerate(cases, start=1):
        history = [Turn(question=t.question, answer=t.answer) for t in case.history]
        attempts: list[AttemptResult] = []
        if retrieval_only or ask is None:
            passages, error, retrieve_s = _retrieve(retrieve, case.standalone or case.question, depth)
            first = AttemptResult(latency_s=retrieve_s, error=error)
        elif history:
            # Only the answer tells what a follow-up was searched as, so it is asked first.
            attempts = [_attempt(case, partial(ask, case.question, history)) for _ in range(repeat)]
            first = attempts[0]
            passages, error, _ = _retrieve(retrieve, first.standalone_question or case.question, depth)
            if error and not first.error:
                first = first.model_copy(update={"error": error})
        else:
            passages, error, _ = _retrieve(retrieve, case.question, depth)
            # When retrieval failed the chain would fail the same way; don't spend model time on it.
            attempts = [
                _failed(case, error) if error else _attempt(case, partial(ask, case.question, history))
                for _ in range(repeat)
            ]
            first = attempts[0]
        data = first.model_dump() | {
            "id": case.id,
            "type": case.type,
            "question": case.question,
            "history": case.history,
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


def replay_eval(cases: Sequence[EvalCase], recorded: Sequence[CaseResult], reverify: Reverify) -> list[CaseResult]:
    """Re-score a recorded run without the model: each recorded reply is checked again by ``reverify``.

    ``reverify(question, passages, raw_reply, recorded_checks)`` applies the current checks; the question
    is the one the reply was checked against: the recorded ``standalone_question`` of a rewritten
    follow-up, else the case's question. Cases without a recorded reply (refused before the model, or
    failed) keep their recorded result; retrieval scores, the rewrite, latency and token counts are the
    recording's. Raises ValueError when a recorded case is not in ``cases``.
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
        checked = rec.standalone_question or case.question
        attempt = _attempt(case, partial(reverify, checked, list(rec.passages), rec.raw_reply, dict(rec.checks)))
        attempt.standalone_question = rec.standalone_question
        attempt.latency_s = rec.latency_s
        attempt.prompt_tokens = rec.prompt_tokens
        attempt.completion_tokens = rec.completion_tokens
        # Validated, not model_copy(update=...): the passages must come back as Passage objects.
        out.append(CaseResult.model_validate(rec.model_dump() | attempt.model_dump() | {"repeats": []}))
    return out


def load_recorded(run_dir: Path) -> tuple[list[CaseResult], dict[str, Any]]:
    """The case results and the settings record of a run written by ``qa eval --out``.

    Raises ConfigError when the folder holds no run, or a run without model replies to replay.
    """
    cases_file = run_dir / "cases.jsonl"
    report_file = run_dir / "report.json"
    if not cases_file.exists() or not report_file.exists():
        raise ConfigError(f"{run_dir} holds no recorded run", hint="point --replay at a `qa eval --out` folder")
    recorded = [CaseResult.model_validate_json(line) for line in cases_file.read_text().splitlines() if line.strip()]
    if not any(r.raw_reply for r in recorded):
        raise ConfigError(
            f"{cases_file} has no recorded model replies", hint="rerun `qa eval --out` with this version to record them"
        )
    return recorded, dict(json.loads(report_file.read_text()).get("settings", {}))


def evaluate(
    cases: Path | Sequence[EvalCase],
    qa: QA | Settings | None = None,
    *,
    k: int | None = None,
    retrieval_only: bool = False,
    sample: int | None = None,
    seed: int = 0,
    repeat: int = 1,
    corpus: Sequence[Path] = (),
    filters: Filters | None = None,
    replay: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    status: Callable[[str], None] | None = None,
    on_ingest: Callable[[IngestReport], None] | None = None,
) -> Evaluation:
    """Score an eval set (a JSONL path or loaded cases) with ``qa`` and report it: what ``qa eval`` runs.

    ``qa`` is a QA, or the Settings to build one from (default: the environment's). ``corpus`` (files or
    folders of articles) is ingested into a store of its own, ``<home>/eval-stores/<key>``, keyed by the
    articles' content and the index settings so a rerun starts at once; it needs Settings, not a QA.
    Every evidence quote is checked against the store's documents, then ``sample`` cases are drawn
    (stratified by type, ``seed``), then each case is retrieved for and, unless ``retrieval_only``, asked
    ``repeat`` times with ``k`` passages (default the settings' k) within ``filters`` (see ``run_eval``).

    ``replay``: a ``qa eval --out`` folder whose recorded replies are checked again under ``qa``'s
    settings, without the model (see ``replay_eval``); its cases, passages and retrieval scores are
    reused, so ``k``, ``sample``, ``repeat``, ``retrieval_only``, ``corpus`` and ``filters`` don't apply.

    ``progress(done, total)`` follows the cases; ``status`` gets the start-up messages of a QA built here;
    ``on_ingest`` gets the corpus ingest report when it added or updated articles. Raises ConfigError (a
    corpus or replay folder problem, a filtered doc_id not in the store), InputError (a malformed set, a
    stale quote), ValueError (``k`` or ``repeat`` below 1, a corpus with a QA), and errors from opening
    the store or ingesting.
    """
    from qa.api import QA

    if replay is not None:
        recorded, info = load_recorded(replay)
        runner = qa if isinstance(qa, QA) else QA(qa)
        info |= {"replayed_from": str(replay), "answer": runner.settings.answer.model_dump()}
        results = replay_eval(load_evalset(cases) if isinstance(cases, Path) else cases, recorded, runner.reverify)
        return Evaluation(results, build_report(results, info, code_version()))
    if corpus and isinstance(qa, QA):
        raise ValueError("a corpus gets a store of its own: pass Settings, not a QA, with corpus")
    if isinstance(qa, QA):
        runner = qa
    else:
        settings = qa or Settings()
        if corpus:
            settings = settings.model_copy(update={"store": corpus_store(settings, corpus)})
        runner = QA(settings, status=status)
    settings = runner.settings
    if corpus:
        ingested = runner.ingest(list(corpus))
        if on_ingest is not None and (ingested.added or ingested.updated):
            on_ingest(ingested)
    texts = {d.doc_id: runner.store().document_text(d.doc_id) for d in runner.documents()}
    if isinstance(cases, Path):
        chosen = load_evalset(cases, corpus=texts)
    else:
        chosen = list(cases)
        check_quotes(chosen, texts, source="eval cases")
    if sample:
        chosen = sample_cases(chosen, sample, seed)
    k_eff = k or settings.retrieval.k
    unknown = [d for d in (filters.doc_ids or []) if d not in texts] if filters else []
    if unknown:
        raise ConfigError(f"--doc {', '.join(unknown)}: no such document in the store", hint="`qa docs` lists them")

    def ask(question: str, history: Sequence[Turn]) -> Answer:
        return runner.ask(question, k=k_eff, filters=filters, history=list(history) or None)

    results = run_eval(
        chosen,
        retrieve=lambda q, depth: runner.retrieve(q, depth, filters=filters),
        ask=None if retrieval_only else ask,
        k=k_eff,
        retrieval_only=retrieval_only,
        repeat=repeat,
        progress=progress,
    )
    info = {
        "evalset": str(cases) if isinstance(cases, Path) else None,
        "corpus": [str(c) for c in corpus],
        "sample": sample,
        "seed": seed if sample else None,
        "repeat": repeat,
        "k": k_eff,
        "filters": filters.model_dump() if filters else None,
        "llm": None if retrieval_only else (settings.llm.base_url and settings.llm.model) or settings.llm.local_model,
        "embeddings": settings.embeddings.model,
        "chunking": settings.chunking.model_dump(),
        "retrieval": settings.retrieval.model_dump(),
        "answer": settings.answer.model_dump(),
    }
    return Evaluation(results, build_report(results, info, code_version()))
