"""Shared helpers for the benchmarks: data loading, perturbed corpora, cached embeddings, timing, memory."""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import chunk_document, split_sentences
from qa.models import Chunk, Document
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SQUAD = Path(os.environ.get("BENCH_SQUAD_DIR", "/work/shared/benchmarks/squad_v2_dev"))
MODELS = ROOT / ".qa" / "models"
CACHE = ROOT / "benchmarks" / "results" / ".cache"


def load_corpus(path: Path = SQUAD / "corpus.jsonl") -> list[Document]:
    """The SQuAD dev articles as Documents."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out.append(Document(doc_id=r["id"], text=r["text"], title=r.get("title"), url=r.get("url")))
    return out


def bundled_corpus() -> list[Document]:
    """The reference article shipped in evals/corpus, cut into three documents (for --smoke: no outside data)."""
    out = []
    for path in sorted((ROOT / "evals" / "corpus").glob("*.txt")):
        paras = [p for p in path.read_text().split("\n\n") if p.strip()]
        third = max(1, len(paras) // 3)
        for i in range(3):
            part = paras[i * third : (i + 1) * third] if i < 2 else paras[2 * third :]
            if part:
                out.append(Document(doc_id=f"{path.stem}-{i}", text="\n\n".join(part)))
    return out


def bundled_questions(n: int) -> list[str]:
    """The first ``n`` questions of the hand-written eval set (for --smoke)."""
    lines = (ROOT / "evals" / "reference.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:n]


def load_questions(path: Path = SQUAD / "questions.jsonl") -> list[dict[str, Any]]:
    """The SQuAD dev questions (dicts with question, answers, answerable, type)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sample_questions(n_answerable: int, n_unanswerable: int, seed: int = 7) -> list[dict[str, Any]]:
    """A fixed-seed sample of answerable and unanswerable SQuAD dev questions."""
    qs = load_questions()
    rng = random.Random(seed)
    ans = rng.sample([q for q in qs if q["answerable"]], n_answerable)
    una = rng.sample([q for q in qs if not q["answerable"]], n_unanswerable)
    return ans + una


def perturb(doc: Document, variant: int) -> Document:
    """A real-text variant of ``doc``: sentences shuffled within each paragraph and ~12% of words dropped."""
    rng = random.Random(f"{doc.doc_id}-{variant}")
    paragraphs = []
    for para in doc.text.split("\n\n"):
        sents = [para[a:b] for a, b in split_sentences(para)]
        rng.shuffle(sents)
        words = " ".join(sents).split()
        kept = [w for w in words if rng.random() > 0.12] or words
        paragraphs.append(" ".join(kept))
    return Document(doc_id=f"{doc.doc_id}-v{variant}", text="\n\n".join(paragraphs), title=doc.title, url=doc.url)


def chunk_all(docs: Sequence[Document], settings: Settings, count_tokens: Callable[[str], int]) -> list[list[Chunk]]:
    """Chunks of every document, exactly as ingest cuts them."""
    return [
        chunk_document(
            d,
            max_tokens=settings.chunking.max_tokens,
            overlap_tokens=settings.chunking.overlap_tokens,
            count_tokens=count_tokens,
        )
        for d in docs
    ]


def corpus_of_size(
    n_chunks: int, settings: Settings, count_tokens: Callable[[str], int], base: Sequence[Document] | None = None
) -> list[tuple[Document, list[Chunk]]]:
    """The real corpus, then perturbed copies, whole documents at a time, until at least ``n_chunks`` chunks."""
    base = list(base) if base is not None else load_corpus()
    out: list[tuple[Document, list[Chunk]]] = []
    total = 0
    variant = 0
    while total < n_chunks:
        docs = base if variant == 0 else [perturb(d, variant) for d in base]
        for doc, chunks in zip(docs, chunk_all(docs, settings, count_tokens), strict=True):
            out.append((doc, chunks))
            total += len(chunks)
            if total >= n_chunks:
                break
        variant += 1
    return out


def cached_embed(
    texts: Sequence[str], embed: Callable[[Sequence[str]], list[list[float]]], cache_dir: Path = CACHE
) -> np.ndarray:
    """Embeddings of ``texts``, cached on disk by content (each text is embedded once across runs)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    path = cache_dir / "embeddings.npz"
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as z:
            cache = dict(zip(z["keys"].tolist(), z["vecs"], strict=True))
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
    step, save_every = 512, 8192  # embed in small batches; rewrite the (up to ~150 MB) cache file less often
    for start in range(0, len(todo), step):
        part = todo[start : start + step]
        for (k, _), v in zip(part, embed([t for _, t in part]), strict=True):
            cache[k] = np.asarray(v, dtype=np.float32)
        end = start + step >= len(todo)
        if end or (start + step) % save_every == 0:
            tmp = cache_dir / "embeddings.tmp.npz"
            np.savez(tmp, keys=np.array(list(cache)), vecs=np.stack(list(cache.values())))
            tmp.replace(path)
    return np.stack([cache[k] for k in keys])


@contextmanager
def temp_home(prefix: str = "qa-bench-") -> Iterator[Path]:
    """A throwaway QA home whose models folder points at the project's fetched models."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (home / "models").symlink_to(MODELS)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def dir_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean of durations, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(pct(ms, 0.5), 2),
        "p95_ms": round(pct(ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else 0.0,
        "n": len(ms),
    }


class Clock:
    """perf_counter stopwatch: ``with Clock() as c: ...; c.s``."""

    def __enter__(self) -> Clock:
        self.t0 = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.t0
