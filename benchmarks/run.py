"""article-qa benchmarks: ingest, retrieval, answering, a LangChain baseline and a profile.

    python benchmarks/run.py            # everything (needs the local model; ~20-30 min on 2 cores)
    python benchmarks/run.py --smoke    # tiny sizes, no LLM, a few seconds (CI)
    python benchmarks/run.py --only ingest,retrieval

Every speed figure is also given as a ratio to a reference measured in the same run (the machine is noisy).
Results go to <out>/*.json (one per stage plus summary.json), charts to <out>/*.png, and the report to
BENCHMARKS.md (or <out>/BENCHMARKS.md when --out is given).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    ROOT,
    Clock,
    bundled_corpus,
    bundled_questions,
    cached_embed,
    chunk_all,
    corpus_of_size,
    dir_bytes,
    load_corpus,
    peak_rss_mib,
    rss_mib,
    sample_questions,
    summary_ms,
    temp_home,
)
from qa.models import Document
from qa.settings import RetrievalSettings, Settings

STAGES = ("ingest", "profile", "answering", "sidebyside", "retrieval")
MODES: dict[str, dict[str, Any]] = {
    "dense": {"mode": "dense", "rerank": False},
    "hybrid": {"mode": "hybrid", "rerank": False},
    "hybrid+rerank": {"mode": "hybrid", "rerank": True},
}
Json = dict[str, Any]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def settings_for(home: Path, **retrieval: Any) -> Settings:
    return Settings(home=home, retrieval=RetrievalSettings(**retrieval))


def tiny_corpus() -> list[Document]:
    """The bundled reference article in three parts (~30 chunks): smoke runs need no outside data."""
    return bundled_corpus()


# -- 1. ingest ----------------------------------------------------------------------------------


def bench_ingest(smoke: bool) -> Json:
    from qa import QA

    docs = tiny_corpus() if smoke else load_corpus()
    with temp_home() as home:
        qa = QA(settings_for(home))
        emb = qa.embedder
        emb.embed(["warm-up so that session creation is not timed"])
        import chromadb  # noqa: F401  # module import is process start-up, not ingest work

        from qa.embeddings import tokenizer_for

        texts = [c.text for chunks in chunk_all(docs, qa.settings, tokenizer_for(emb).count_tokens) for c in chunks]
        # raw, ingest, raw, ingest, ... raw: each ingest (into an empty store) is bracketed by raw-embedder
        # runs on the same texts, so drifting load hits both sides of its ratio; the median of the rounds
        # is reported, as single rounds on this shared machine scatter by several percent.
        rounds = 1 if smoke else 3
        raws: list[float] = []
        ingests: list[float] = []
        with Clock() as c:
            emb.embed(texts)
        raws.append(c.s)
        for _ in range(rounds):
            qa.reset_store()
            qa = QA(settings_for(home), embedder=emb)
            with Clock() as c:
                report = qa.ingest_documents(docs)
            ingests.append(c.s)
            with Clock() as c:
                emb.embed(texts)
            raws.append(c.s)
        with Clock() as again:
            report2 = qa.ingest_documents(docs)
        store_bytes = dir_bytes(qa.settings.store_path)
    assert report.chunks == len(texts), (report.chunks, len(texts))
    ratios = [(raws[i] + raws[i + 1]) / 2 / ingests[i] for i in range(rounds)]
    ing_s = statistics.median(ingests)
    raw_s = statistics.median(raws)
    return {
        "documents": len(docs),
        "chunks": len(texts),
        "batch_size": qa.settings.embeddings.batch_size,
        "rounds": rounds,
        "ingest_s": round(ing_s, 3),
        "ingest_s_rounds": [round(x, 3) for x in ingests],
        "ingest_chunks_per_s": round(len(texts) / ing_s, 2),
        "ingest_docs_per_s": round(len(docs) / ing_s, 3),
        "raw_embed_s": [round(x, 3) for x in raws],
        "raw_embed_chunks_per_s": round(len(texts) / raw_s, 2),
        "ratio_to_raw_embedder": round(statistics.median(ratios), 3),
        "ratio_rounds": [round(r, 3) for r in ratios],
        "reingest_s": round(again.s, 4),
        "reingest_skipped": len(report2.skipped),
        "reingest_fraction_of_first": round(again.s / ing_s, 5),
        "store_bytes": store_bytes,
    }


# -- 5. profile ---------------------------------------------------------------------------------


def _frame_seconds(frame: Any, names: set[str], acc: dict[str, float]) -> None:
    """Sum time of the outermost frames whose function is in ``names``."""
    if frame.function in names:
        acc[frame.function] = acc.get(frame.function, 0.0) + frame.time
        return
    for child in frame.children:
        _frame_seconds(child, names, acc)


def bench_profile(smoke: bool, out: Path) -> Json:
    """pyinstrument over one ingest of a few articles: where does the time go?"""
    from pyinstrument import Profiler

    from qa import QA

    docs = tiny_corpus() if smoke else load_corpus()[:4]
    with temp_home() as home:
        qa = QA(settings_for(home))
        qa.embedder.embed(["warm-up"])
        profiler = Profiler(interval=0.005)
        profiler.start()
        report = qa.ingest_documents(docs)
        profiler.stop()
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    total = root.time if root else 0.0
    acc: dict[str, float] = {}
    if root:
        # Chunking and store writes run on their own threads, which this profile of the main thread does
        # not sample; the time the main thread spends blocked on the writer shows as wait_for_writes.
        _frame_seconds(
            root,
            {"embed", "wait_for_writes", "refresh_lexical", "recover", "committed_hashes", "store"},
            acc,
        )
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    (out / "profile_ingest.txt").write_text(text)
    shares = {k: round(v / total, 3) for k, v in sorted(acc.items(), key=lambda kv: -kv[1])} if total else {}
    return {
        "target": "QA.ingest_documents",
        "documents": len(docs),
        "chunks": report.chunks,
        "total_s": round(total, 3),
        "share_of_time": shares,
        "text": "profile_ingest.txt",
    }


# -- 2. retrieval -------------------------------------------------------------------------------


def build_store(home: Path, n_chunks: int, cache_dir: Path, smoke: bool = False) -> Json:
    """A store of >= n_chunks real and perturbed chunks, written with cached vectors."""
    from qa import QA
    from qa.embeddings import tokenizer_for

    qa = QA(settings_for(home))
    emb = qa.embedder
    pairs = corpus_of_size(n_chunks, qa.settings, tokenizer_for(emb).count_tokens, tiny_corpus() if smoke else None)
    texts = [c.text for _, chunks in pairs for c in chunks]
    with Clock() as embed_clock:
        vecs = cached_embed(texts, emb.embed, cache_dir)
    store = qa.store(create=True)
    i = 0
    with Clock() as write_clock:
        batch: list[tuple[Document, Any, Any]] = []
        for n, (doc, chunks) in enumerate(pairs):
            batch.append((doc, chunks, vecs[i : i + len(chunks)].tolist()))
            i += len(chunks)
            if sum(len(c) for _, c, _ in batch) >= 256 or n == len(pairs) - 1:
                store.put_documents(batch)  # batched as ingest does
                batch = []
    with Clock() as lexical_clock:
        qa.retriever.refresh_lexical()  # from scratch: every text tokenized here
    return {
        "chunks": len(texts),
        "documents": len(pairs),
        "embed_s_cached_or_not": round(embed_clock.s, 2),
        "store_write_s": round(write_clock.s, 2),
        "store_write_chunks_per_s": round(len(texts) / write_clock.s, 1),
        "lexical_build_s": round(lexical_clock.s, 2),
    }


def retrieval_worker(home: Path, n_queries: int, seed: int, smoke: bool = False) -> Json:
    """Runs in its own process per store size so that RSS starts clean: modes in order of growing footprint."""
    from qa import QA

    questions = (
        bundled_questions(n_queries)
        if smoke
        else [q["question"] for q in sample_questions(n_queries - n_queries // 2, n_queries // 2, seed)]
    )
    out: Json = {"rss_start_mib": rss_mib(), "modes": {}}
    qa_any: QA | None = None
    for name, cfg in MODES.items():
        qa = QA(settings_for(home, **cfg), embedder=qa_any.embedder if qa_any else None)
        qa_any = qa
        for q in questions[:3]:  # warm-up: model sessions, lexical index load, first HNSW touch
            qa.retrieve(q)
        times = []
        for q in questions:
            with Clock() as c:
                qa.retrieve(q)
            times.append(c.s)
        out["modes"][name] = {**summary_ms(times), "rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()}
    # What one more article costs once the store is this big: embedding its chunks, two store commits,
    # and bringing the BM25 index up to date (tokens of the chunks already indexed are reused).
    assert qa_any is not None
    article = sorted((ROOT / "evals" / "corpus").glob("*.txt"))[0]
    extra = Document(doc_id="bench-one-more", text=article.read_text())
    with Clock() as add:
        report = qa_any.ingest_documents([extra])
    out["add_one_article"] = {"chunks": report.chunks, "s": round(add.s, 3)}
    return out


def bench_retrieval(smoke: bool, cache_dir: Path, sizes: list[int] | None = None) -> Json:
    sizes = [60] if smoke else (sizes or [1_000, 10_000, 100_000])
    n_queries = 6 if smoke else 50
    result: Json = {"queries_per_setting": n_queries, "sizes": {}}
    for size in sizes:
        with temp_home() as home:
            log(f"retrieval: building a {size}-chunk store")
            built = build_store(home, size, cache_dir, smoke)
            store_bytes = dir_bytes(home / "store")
            log(f"retrieval: timing {n_queries} queries x {len(MODES)} modes")
            if smoke:
                worker = retrieval_worker(home, n_queries, seed=11, smoke=True)
            else:
                proc = subprocess.run(
                    [sys.executable, __file__, "--retrieval-worker", str(home), "--queries", str(n_queries)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                worker = json.loads(proc.stdout)
        result["sizes"][str(size)] = {
            **built,
            "store_bytes": store_bytes,
            "store_bytes_per_chunk": round(store_bytes / built["chunks"]),
            **worker,
        }
    result["growth"] = {}
    for a, b in itertools.pairwise(sizes):
        small, big = result["sizes"][str(a)], result["sizes"][str(b)]
        result["growth"][f"{a}->{b}"] = {
            m: {
                "chunks_x": round(big["chunks"] / small["chunks"], 2),
                "p50_x": round(big["modes"][m]["p50_ms"] / small["modes"][m]["p50_ms"], 2),
                "p95_x": round(big["modes"][m]["p95_ms"] / small["modes"][m]["p95_ms"], 2),
                "rss_x": round(big["modes"][m]["rss_mib"] / small["modes"][m]["rss_mib"], 2),
            }
            for m in MODES
        }
    return result


# -- 3. answering -------------------------------------------------------------------------------


def _answer_row(ans: Any) -> Json:
    t = ans.timings
    return {
        "question": ans.question,
        "answerable": ans.answerable,
        "answer": ans.answer,
        "retrieve_s": round(t.retrieve_s, 3),
        "ttft_s": round(t.retrieve_s + t.first_token_s, 3) if t.first_token_s is not None else None,
        "generate_s": round(t.generate_s, 3),
        "verify_s": round(t.verify_s, 4),
        "total_s": round(t.total_s, 3),
        "prompt_tokens": ans.usage.prompt_tokens,
        "cached_prompt_tokens": ans.usage.cached_prompt_tokens,
        "completion_tokens": ans.usage.completion_tokens,
    }


def bench_answering(home: Path, n: int = 5) -> Json:
    from qa import QA, localserver
    from qa.errors import QAError

    refs = [json.loads(line) for line in (ROOT / "evals" / "reference.jsonl").read_text().splitlines() if line]
    refs = [r for r in refs if r.get("answerable")][: n + 1]
    settings = settings_for(home)
    qa = QA(settings)
    qa.ingest([ROOT / "evals" / "corpus"])
    qa.retrieve(refs[0]["question"])  # load the reranker and lexical index before timing
    # Cold start: our own server (this run's QA home), never the shared one other work is using.
    localserver.stop(settings)
    with Clock() as cold:
        with Clock() as load:
            localserver.ensure_running(settings)
        first = qa.ask(refs[-1]["question"])
    log(f"answering: cold start {cold.s:.1f}s (server load {load.s:.1f}s)")
    rows: list[Json] = []
    errors: list[str] = []
    for r in refs[:n]:
        try:
            a1 = _answer_row(qa.ask(r["question"]))
            a2 = _answer_row(qa.ask(r["question"]))  # the same prompt again: llama.cpp reuses its KV cache
        except QAError as exc:  # a model server dying mid-run loses one question, not the stage
            errors.append(f"{r['id']}: {exc}")
            log(f"answering: {r['id']} failed: {exc}")
            continue
        rows.append({"first": a1, "second": a2})
        log(f"answering: {r['id']} ttft {a1['ttft_s']} → {a2['ttft_s']} s")
    firsts = [x["first"] for x in rows]
    seconds = [x["second"] for x in rows]

    def med(key: str, xs: list[Json]) -> float:
        vals = [x[key] for x in xs if x[key] is not None]
        return round(statistics.median(vals), 3) if vals else 0.0

    ttft_pairs = [
        (a["ttft_s"], b["ttft_s"]) for a, b in zip(firsts, seconds, strict=True) if a["ttft_s"] and b["ttft_s"]
    ]
    return {
        "model": settings.llm.local_model,
        "questions": n,
        "cold_start_s": round(cold.s, 2),
        "cold_server_load_s": round(load.s, 2),
        "cold_first_answer": _answer_row(first),
        "warm": {
            k: med(k, firsts)
            for k in ("retrieve_s", "ttft_s", "generate_s", "verify_s", "total_s", "prompt_tokens", "completion_tokens")
        },
        "repeat": {k: med(k, seconds) for k in ("ttft_s", "total_s", "cached_prompt_tokens")},
        "warm_cached_prompt_tokens_median": med("cached_prompt_tokens", firsts),
        "second_pass_ttft_ratio": round(statistics.median(b / a for a, b in ttft_pairs), 3) if ttft_pairs else None,
        "rows": rows,
        "errors": errors,
    }


# -- 4. side by side ----------------------------------------------------------------------------


def bench_sidebyside(home: Path, n_answerable: int, n_unanswerable: int, partial: Path) -> Json:
    """The same SQuAD dev sample answered by article-qa and by textbook LangChain and LlamaIndex pipelines."""
    from benchmarks.baselines.langchain_rag import BaselineAnswer, LangChainRAG
    from qa import QA, localserver
    from qa.evals.metrics import answer_correct

    questions = sample_questions(n_answerable, n_unanswerable, seed=7)
    docs = load_corpus()
    # Same QA home (models, model server) as the answering stage, its own stores.
    settings = Settings(home=home, store=home / "sbs-store")
    qa = QA(settings)
    base_url = localserver.ensure_running(settings).base_url

    def qa_ask(question: str) -> BaselineAnswer:
        a = qa.ask(question)
        return BaselineAnswer(
            answer=a.answer,
            refused=not a.answerable,
            retrieve_s=a.timings.retrieve_s,
            first_token_s=a.timings.first_token_s,
            total_s=a.timings.total_s,
            prompt_tokens=a.usage.prompt_tokens,
            completion_tokens=a.usage.completion_tokens,
        )

    def qa_ingest(d: list[Document]) -> int:
        qa.ingest_documents(d)
        return qa.store().chunk_count()

    systems_in: list[tuple[str, Callable[[list[Document]], int], Callable[[str], BaselineAnswer]]] = [
        ("article-qa", qa_ingest, qa_ask)
    ]
    lc = LangChainRAG(qa.embedder, home / "langchain-chroma", base_url=base_url)
    systems_in.append(("langchain-rag", lc.ingest, lc.ask))
    llamaindex_note = "measured"
    try:
        from benchmarks.baselines.llamaindex_rag import LlamaIndexRAG

        li = LlamaIndexRAG(qa.embedder, home / "llamaindex-chroma", base_url=base_url)
        systems_in.append(("llamaindex-rag", li.ingest, li.ask))
    except ImportError as exc:
        llamaindex_note = f"not installed ({exc}); `pip install -e '.[bench]'`"
        log(f"side by side: LlamaIndex skipped: {exc}")

    all_rows: Json = {}
    systems: Json = {}
    # One system after the other (not interleaved) so that none wipes another's KV cache.
    errors: list[str] = []
    for name, ingest, ask in systems_in:
        try:
            with Clock() as ingest_clock:
                chunks = ingest(docs)
        except Exception as exc:  # a baseline that breaks is reported, not allowed to sink the others
            errors.append(f"{name} ingest: {type(exc).__name__}: {exc}")
            log(f"side by side: {name} ingest failed: {exc}")
            continue
        rows = []
        for q in questions:
            try:
                b = ask(q["question"])
            except Exception as exc:
                errors.append(f"{name} {q['id']}: {type(exc).__name__}: {exc}")
                log(f"side by side: {name} {q['id']} failed: {exc}")
                continue
            rows.append(
                {
                    "id": q["id"],
                    "answerable_gold": q["answerable"],
                    "answer": b.answer,
                    "retrieve_s": round(b.retrieve_s, 3),
                    "ttft_s": round(b.first_token_s, 3) if b.first_token_s is not None else None,
                    "total_s": round(b.total_s, 3),
                    "prompt_tokens": b.prompt_tokens,
                    "completion_tokens": b.completion_tokens,
                    "correct": bool(
                        q["answerable"] and not b.refused and answer_correct(b.answer, q["answers"], q["type"])
                    ),
                    "refused": b.refused,
                }
            )
            all_rows[name] = rows
            partial.write_text(json.dumps(all_rows, indent=1))  # survives a killed run
        log(f"side by side: {name} done")
        if not rows:
            continue
        ans = [r for r in rows if r["answerable_gold"]]
        una = [r for r in rows if not r["answerable_gold"]]
        called = [r["prompt_tokens"] for r in rows if r["prompt_tokens"]]
        systems[name] = {
            "ingest_s": round(ingest_clock.s, 2),
            "chunks": chunks,
            "query_p50_s": round(statistics.median(r["total_s"] for r in rows), 2),
            "query_mean_s": round(statistics.fmean(r["total_s"] for r in rows), 2),
            "ttft_p50_s": round(statistics.median(r["ttft_s"] for r in rows if r["ttft_s"] is not None), 2)
            if any(r["ttft_s"] is not None for r in rows)
            else None,
            "prompt_tokens_mean": round(statistics.fmean(called), 1) if called else 0,
            "model_calls": len(called),
            "accuracy_answerable": f"{sum(r['correct'] for r in ans)}/{len(ans)}",
            "false_refusals": f"{sum(r['refused'] for r in ans)}/{len(ans)}",
            "refusal_unanswerable": f"{sum(r['refused'] for r in una)}/{len(una)}",
            "rows": rows,
        }
    ours = systems.get("article-qa", {})
    ratios = (
        {}
        if not ours
        else {
            other: {
                key: round(ours[key] / systems[other][key], 2) if systems[other][key] else None
                for key in ("ingest_s", "query_p50_s", "prompt_tokens_mean")
            }
            for other in systems
            if other != "article-qa"
        }
    )
    return {
        "questions": len(questions),
        "seed": 7,
        "systems": systems,
        "ratios_article_qa_to": ratios,
        "llamaindex": llamaindex_note,
        "errors": errors,
    }


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, no LLM (CI)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--only", default="", help=f"comma-separated stages of {','.join(STAGES)}")
    p.add_argument("--answer-n", type=int, default=5, help="answering: questions from evals/reference.jsonl")
    p.add_argument("--sbs", default="10,5", help="side by side: answerable,unanswerable question counts")
    p.add_argument("--sizes", default="1000,10000,100000", help="retrieval: store sizes in chunks")
    p.add_argument("--retrieval-worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--queries", type=int, default=50, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.retrieval_worker:
        print(json.dumps(retrieval_worker(args.retrieval_worker, args.queries, seed=11)))
        return 0
    out: Path = args.out or ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stages = [s for s in (args.only.split(",") if args.only else STAGES) if s]
    if args.smoke:
        stages = [s for s in stages if s in ("ingest", "profile", "retrieval")]
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    summary_path = out / "summary.json"
    summary: Json = json.loads(summary_path.read_text()) if summary_path.exists() and args.only else {}
    summary["meta"] = {
        "smoke": args.smoke,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    n_ans, n_una = (int(x) for x in args.sbs.split(","))
    runners: dict[str, Callable[[Path], Json]] = {
        "ingest": lambda _h: bench_ingest(args.smoke),
        "profile": lambda _h: bench_profile(args.smoke, out),
        "retrieval": lambda _h: bench_retrieval(args.smoke, out / ".cache", [int(x) for x in args.sizes.split(",")]),
        "answering": lambda h: bench_answering(h, args.answer_n),
        "sidebyside": lambda h: bench_sidebyside(h, n_ans, n_una, out / "sidebyside.partial.json"),
    }
    from qa import localserver

    with temp_home("qa-bench-llm-") as home:
        try:
            for stage in stages:
                log(f"stage {stage}")
                with Clock() as c:
                    summary[stage] = runners[stage](home)
                summary[stage]["stage_s"] = round(c.s, 1)
                (out / f"{stage}.json").write_text(json.dumps(summary[stage], indent=2, ensure_ascii=False))
                summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        finally:
            localserver.stop(settings_for(home))  # only the server this run started (its own QA home)
    from benchmarks.report import write_report

    md = (args.out / "BENCHMARKS.md") if args.out else ROOT / "BENCHMARKS.md"
    write_report(summary, out, md)
    log(f"wrote {summary_path} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
