"""The textbook LangChain RAG baseline over a whole eval set, scored with article-qa's own metrics.

    python benchmarks/baseline_eval.py evals/reference.jsonl --corpus evals/corpus \\
        --out evals/results/baseline-langchain-reference
    python benchmarks/baseline_eval.py ../shared/benchmarks/squad_v2_dev/questions.jsonl \\
        --corpus ../shared/benchmarks/squad_v2_dev/corpus.jsonl --sample 60 --seed 1 \\
        --out evals/results/baseline-langchain-squad

Cases are loaded, quote-checked and sampled exactly as ``qa eval`` does (``qa.evals.load_evalset`` and
``sample_cases``, so ``--sample 60 --seed 1`` picks the same cases), and the corpus is read with the same
functions ``qa ingest`` uses. The corpus goes into a ``LangChainRAG`` (benchmarks/baselines/langchain_rag.py)
in a temporary Chroma folder, and every case is asked once. Scoring follows ``qa.evals.run``: an answerable case
is correct when the reply is not a refusal (the baseline's ``REFUSAL_RULE``) and
``qa.evals.metrics.answer_correct`` accepts it; an unanswerable case is correct when it is refused.

Without ``--base-url`` the model is the one ``qa`` would use: ``QA_LLM_BASE_URL`` when set, else the bundled
local server (started or reused through ``qa.llm.endpoint``). Writes DIR/cases.jsonl (one line per case,
written as the run goes, with the raw reply so it can be re-scored), DIR/report.json and DIR/summary.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.evals.cases import EvalCase
from qa.evals.metrics import answer_correct, mean_or_none, percentile, token_f1
from qa.models import Document

SYSTEM = "langchain-rag"
Json = dict[str, Any]


class Reply(Protocol):
    """What the scorer needs from one baseline reply (``BaselineAnswer`` has these)."""

    answer: str
    refused: bool
    total_s: float
    prompt_tokens: int
    completion_tokens: int


def score_reply(case: EvalCase, answer: str, refused: bool) -> tuple[bool | None, float | None]:
    """(correct, f1) of one reply, as ``qa.evals.run`` scores an attempt.

    Answerable with acceptable answers: correct when not refused and ``answer_correct`` accepts the text
    (yes/no cases are judged by the reply's first yes- or no-ish word there), F1 0 for a refusal.
    Answerable without answers: not scored (None, None). Unanswerable: correct when refused, no F1.
    """
    if not case.answerable:
        return refused, None
    if not case.answers:
        return None, None
    correct = not refused and answer_correct(answer, case.answers, case.type)
    return correct, 0.0 if refused else token_f1(answer, case.answers)


def run_cases(
    cases: Sequence[EvalCase],
    ask: Callable[[str], Reply],
    on_result: Callable[[int, int, Json], None] | None = None,
) -> list[Json]:
    """Ask every case once and score it; returns one record a case, in order.

    An exception from ``ask`` is recorded in the case's ``error`` and the case counts as failed (not
    refused; wrong when it would have been scored), as ``qa eval`` records a failed ask.
    ``on_result(done, total, record)`` is called after each case.
    """
    records: list[Json] = []
    for done, case in enumerate(cases, start=1):
        start = time.perf_counter()
        record: Json = {
            "id": case.id,
            "type": case.type,
            "question": case.question,
            "answerable": case.answerable,
            "expected": case.answers,
        }
        try:
            reply = ask(case.question)
        except Exception as exc:  # one failed reply is one failed case, not a lost run
            correct, f1 = score_reply(case, "", refused=False)
            record |= {
                "answer": None,
                "refused": False,
                "correct": correct,
                "f1": f1,
                "latency_s": time.perf_counter() - start,
                "prompt_tokens": None,
                "completion_tokens": None,
                "error": f"{type(exc).__name__}: {exc}",
            }
        else:
            correct, f1 = score_reply(case, reply.answer, reply.refused)
            record |= {
                "answer": reply.answer,
                "refused": reply.refused,
                "correct": correct,
                "f1": f1,
                "latency_s": reply.total_s,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "error": None,
            }
        records.append(record)
        if on_result is not None:
            on_result(done, len(cases), record)
    return records


def _median(values: Sequence[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def _group(records: Sequence[Json]) -> Json:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    scored = [r for r in answerable if r["correct"] is not None]
    latencies = [r["latency_s"] for r in records if r["latency_s"] is not None]
    return {
        "n": len(records),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "answerable_correct_count": sum(bool(r["correct"]) for r in scored),
        "unanswerable_refused_count": sum(bool(r["refused"]) for r in unanswerable),
        "errors": sum(r["error"] is not None for r in records),
        "answer": {
            "accuracy": mean_or_none([r["correct"] for r in scored]),
            "f1": mean_or_none([r["f1"] for r in scored]),
            "n_scored": len(scored),
        },
        "refusal": {
            "recall": mean_or_none([r["refused"] for r in unanswerable]),
            "false_rate": mean_or_none([r["refused"] for r in answerable]),
            "n_unanswerable": len(unanswerable),
            "n_answerable": len(answerable),
        },
        "latency": {
            "p50_s": percentile(latencies, 0.5),
            "p95_s": percentile(latencies, 0.95),
            "mean_s": mean_or_none(latencies),
        },
        "tokens": {
            "completion_median": _median([r["completion_tokens"] for r in records]),
            "prompt_median": _median([r["prompt_tokens"] for r in records]),
            "completion_mean": mean_or_none([r["completion_tokens"] for r in records]),
            "prompt_mean": mean_or_none([r["prompt_tokens"] for r in records]),
        },
    }


def build_report(records: Sequence[Json], info: Json | None = None) -> Json:
    """Overall and per-type scores. Metric paths follow ``qa eval``'s report.json where they exist
    (``answer.accuracy``, ``refusal.recall``, ``refusal.false_rate``, ``latency.p50_s``); a metric no case
    applies to is null, not 0. Raises nothing.
    """
    by_type: dict[str, list[Json]] = {}
    for r in records:
        by_type.setdefault(r["type"], []).append(r)
    return (
        {"system": SYSTEM}
        | _group(records)
        | {
            "by_type": {t: _group(rs) for t, rs in sorted(by_type.items())},
            "settings": info or {},
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_markdown(report: Json, label: str) -> str:
    """A one-row table with the columns of the "Where we stand" table in evals/README.md.

    Retrieval and citation cells are "–": the baseline neither exposes its ranking nor cites.
    """
    cells = [
        label,
        f"{report['n_answerable']} / {report['n_unanswerable']}",
        "–",
        "–",
        _fmt(report["answer"]["accuracy"]),
        _fmt(report["refusal"]["false_rate"]),
        _fmt(report["refusal"]["recall"]),
        "–",
        _fmt(report["latency"]["p50_s"], 1),
    ]
    s = report.get("settings", {})
    return "\n".join(
        [
            f"# {SYSTEM} baseline: {s.get('evalset', '')}",
            "",
            f"- {report['n']} cases, errors={report['errors']}, "
            f"correct answers {report['answerable_correct_count']}/{report['answer']['n_scored']}, "
            f"refused unanswerable {report['unanswerable_refused_count']}/{report['n_unanswerable']}, "
            f"completion tokens median {_fmt(report['tokens']['completion_median'], 0)}",
            f"- model {s.get('llm')} at {s.get('base_url')}, created {report['created_at']}",
            "",
            "| set | n (answerable / not) | R@5 | MRR | accuracy | false refusal | refusal recall "
            "| citation precision | p50 s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            "| " + " | ".join(cells) + " |",
            "",
        ]
    )


# -- the run --------------------------------------------------------------------------------------


def load_documents(paths: Sequence[Path], max_file_mb: float) -> list[Document]:
    """The corpus as ``qa ingest`` / ``qa eval --corpus`` read it: discover, load_file, unique ids.

    Files that can't be read are reported on stderr and left out, as ``qa`` leaves them out.
    """
    from qa.documents import discover, load_file, unique_documents
    from qa.errors import InputError
    from qa.models import IngestFailure

    files, failures = discover(list(paths))
    docs: list[Document] = []
    for path in files:
        try:
            found, bad = load_file(path, max_bytes=int(max_file_mb * 1_000_000))
        except InputError as exc:
            failures.append(IngestFailure(path=str(path), reason=exc.message, hint=exc.hint))
            continue
        docs.extend(found)
        failures.extend(bad)
    docs = unique_documents(docs, failures)
    for f in failures:
        print(f"corpus problem (left out): {f.path}: {f.reason}", file=sys.stderr)
    return docs


def _progress(done: int, total: int, r: Json) -> None:
    if r["error"]:
        verdict = "ERROR"
    elif r["correct"] is None:
        verdict = "refused" if r["refused"] else "unscored"
    else:
        verdict = ("ok" if r["correct"] else "wrong") + (" (refused)" if r["refused"] else "")
    shown = (r["answer"] or r["error"] or "").replace("\n", " ")
    shown = shown if len(shown) <= 70 else shown[:67] + "..."
    print(
        f"[{done:>{len(str(total))}}/{total}] {r['id']} {r['type']}: {verdict}, {r['latency_s']:.1f}s  {shown}",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("evalset", type=Path, help="eval set JSONL (format in evals/README.md)")
    p.add_argument("--corpus", type=Path, action="append", required=True, help="articles: folder or file; repeatable")
    p.add_argument("--sample", type=int, help="N cases stratified by type (same draw as `qa eval --sample`)")
    p.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0, as qa eval)")
    p.add_argument("--out", type=Path, required=True, help="folder for cases.jsonl, report.json, summary.md")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint; default: the model qa uses (local server)")
    p.add_argument("--limit", type=int, help="only the first N cases (after --sample): a quick check")
    p.add_argument("--label", help="first cell of the summary row (default: baseline + eval set name)")
    args = p.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        p.error("--sample must be at least 1")
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from benchmarks.baselines.langchain_rag import LangChainRAG
    from qa.embeddings import make_embedder
    from qa.errors import QAError
    from qa.evals import code_version, load_evalset, sample_cases
    from qa.settings import Settings

    settings = Settings()
    try:
        docs = load_documents(args.corpus, settings.ingest.max_file_mb)
        if not docs:
            raise SystemExit(f"no usable documents in {', '.join(map(str, args.corpus))}")
        # Evidence quotes are checked against the corpus as `qa eval` does, so a stale set fails here.
        cases = load_evalset(args.evalset, corpus={d.doc_id: d.text for d in docs})
        if args.sample:
            cases = sample_cases(cases, args.sample, args.seed)
        if args.limit:
            cases = cases[: args.limit]
        base_url = args.base_url
        llm = "(given by --base-url)"
        if base_url is None:
            from qa.llm import endpoint

            base_url, model, _key = endpoint(settings, progress=lambda m: print(m, file=sys.stderr, flush=True))
            llm = (settings.llm.base_url and settings.llm.model) or settings.llm.local_model
            if model != "local":
                print(f"note: the baseline always asks for model 'local', not {model!r}", file=sys.stderr)
        embedder = make_embedder(settings)
    except QAError as exc:
        raise SystemExit(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")) from exc

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qa-baseline-chroma-", ignore_cleanup_errors=True) as tmp:
        rag = LangChainRAG(embedder, Path(tmp), base_url=base_url)
        t0 = time.perf_counter()
        n_chunks = rag.ingest(docs)
        ingest_s = time.perf_counter() - t0
        print(f"ingested {len(docs)} documents as {n_chunks} chunks in {ingest_s:.1f}s", file=sys.stderr, flush=True)
        with (out / "cases.jsonl").open("w", encoding="utf-8") as fh:

            def record(done: int, total: int, r: Json) -> None:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                fh.flush()
                _progress(done, total, r)

            records = run_cases(cases, rag.ask, on_result=record)

    info = {
        "evalset": str(args.evalset),
        "corpus": [str(c) for c in args.corpus],
        "sample": args.sample,
        "seed": args.seed if args.sample else None,
        "limit": args.limit,
        "base_url": base_url,
        "llm": llm,
        "embeddings": embedder.name,
        "pipeline": "RecursiveCharacterTextSplitter(1000, 200) -> Chroma top-4 -> stuff prompt; refusal = REFUSAL_RULE",
        "k": rag.k,
        "documents": len(docs),
        "chunks": n_chunks,
        "ingest_s": round(ingest_s, 2),
        "code_version": code_version(),
    }
    report = build_report(records, info)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sampled = f", sample {args.sample} seed {args.seed}" if args.sample else ""
    limited = f", first {args.limit}" if args.limit else ""
    label = args.label or f"{SYSTEM} on `{args.evalset.parent.name}/{args.evalset.name}`{sampled}{limited}"
    summary = summary_markdown(report, label)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
