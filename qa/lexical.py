"""Lexical (BM25) search beside the dense one.

Names, numbers and rare words ("stryker", "Kadamovskiy", "El Pais") are where embeddings are weakest
and word matching is strongest. The index is derived data: it is built from the store's committed
chunks, saved next to the store with the store's change stamp, and rebuilt whenever that stamp
differs, so it can never be silently stale.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.citations import STOPWORDS, words

Record = tuple[str, str, dict[str, Any]]  # chunk_id, text, metadata


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased words without stopwords, numbers canonical (1,700 → 1700), crudely stemmed."""
    out = []
    for w in words(text):
        if w in STOPWORDS:
            continue
        # A 6-letter prefix folds deploy/deployed/deployment; numbers are kept whole.
        out.append(w if w[0].isdigit() else w[:6])
    return out


def joined_tokens(text: str) -> str:
    """``lexical_tokens(text)`` as one space-joined string: compact to keep and to save."""
    return " ".join(lexical_tokens(text))


class Bm25:
    """Okapi BM25 (Lucene's idf and length normalisation, k1 1.5, b 0.75) as a token → postings matrix.

    Built with a few vectorised passes instead of per-document Python loops: 100k chunks (3.7M tokens) in
    about a second, where bm25s took ~3.5 s. Its arithmetic follows bm25s's step for step, and it
    reproduces bm25s's scores bit for bit (tests/test_retrieval.py checks), so rankings did not change.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        self.n_docs = 0
        self.indptr = np.zeros(1, dtype=np.int64)  # postings of token t: docs/vals[indptr[t]:indptr[t+1]]
        self.docs = np.zeros(0, dtype=np.int32)
        self.vals = np.zeros(0, dtype=np.float32)

    def index(self, corpus: Sequence[Sequence[str]]) -> None:
        """Index documents given as token lists (each non-empty)."""
        import math

        vocab: dict[str, int] = {}
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for doc in corpus for t in doc), dtype=np.int64, count=-1)
        lengths = np.fromiter((len(doc) for doc in corpus), dtype=np.int64, count=len(corpus))
        n, v = len(corpus), len(vocab)
        doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        pairs, tf = np.unique(ids * n + doc_of, return_counts=True)  # sorted by token, then document
        tokens, docs = pairs // n, pairs % n
        df = np.bincount(tokens, minlength=v)
        idf = np.array([math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=np.float32)
        # As bm25s computes it: the length norm and tf part in float64, the product stored as float32.
        norm = self.k1 * ((1 - self.b) + self.b * lengths / lengths.mean())
        tf64 = tf.astype(np.float32).astype(np.float64)
        self.vals = (idf[tokens].astype(np.float64) * (tf64 / (norm[docs] + tf64))).astype(np.float32)
        self.docs = docs.astype(np.int32)
        self.indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self.vocab, self.n_docs = vocab, n

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for a query's tokens (repeats count again, unknown ones not at all)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for t in tokens:
            i = self.vocab.get(t)
            if i is not None:
                lo, hi = self.indptr[i], self.indptr[i + 1]
                out[self.docs[lo:hi]] += self.vals[lo:hi]  # a document occurs once per token's postings
        return out

    def save(self, folder: Path) -> None:
        """Write the matrix (npz) and the vocabulary (JSON, in id order) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "bm25.npz", indptr=self.indptr, docs=self.docs, vals=self.vals, n_docs=self.n_docs)
        (folder / "vocab.json").write_text(json.dumps(list(self.vocab)))

    @classmethod
    def load(cls, folder: Path) -> Bm25:
        """Read what ``save`` wrote; raises OSError, ValueError or KeyError when it can't."""
        bm25 = cls()
        with np.load(folder / "bm25.npz") as z:
            bm25.indptr, bm25.docs, bm25.vals = z["indptr"], z["docs"], z["vals"]
            bm25.n_docs = int(z["n_docs"])
        bm25.vocab = {t: i for i, t in enumerate(json.loads((folder / "vocab.json").read_text()))}
        return bm25


class LexicalIndex:
    """BM25 over chunk texts; ``search`` returns (chunk_id, score) best first."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stamp: str | None = None
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metas: list[dict[str, Any]] = []
        self.tokens: list[str] = []  # lexical_tokens of each text, space-joined (tokens hold no spaces)
        self._bm25: Bm25 | None = None
        self._positions: dict[str, int] | None = None

    def position(self, chunk_id: str) -> int | None:
        """Where ``chunk_id`` is in ids/texts/metas (a map built once per index, not per query)."""
        if self._positions is None:
            self._positions = {cid: i for i, cid in enumerate(self.ids)}
        return self._positions.get(chunk_id)

    def known_tokens(self) -> dict[str, str]:
        """text → its joined tokens, for reuse by the next build."""
        return dict(zip(self.texts, self.tokens, strict=False))

    def build(self, records: Sequence[Record], stamp: str, known: Mapping[str, str] | None = None) -> None:
        """Index ``records`` and remember which store state they came from.

        ``known`` holds already-computed tokens by text (the previous index's, or those ingest worked
        out while the embedder ran), so a rebuild after adding a few documents tokenizes only those.
        """
        known = known or {}
        self.ids = [r[0] for r in records]
        self.texts = [r[1] for r in records]
        self.metas = [r[2] for r in records]
        self.tokens = [known[t] if t in known else joined_tokens(t) for t in self.texts]
        self.stamp = stamp
        self._bm25 = None
        if records:
            bm25 = Bm25()
            # Every document needs a token; "_" never matches a query token.
            bm25.index([t.split() or ["_"] for t in self.tokens])
            self._bm25 = bm25

    def save(self) -> None:
        """Write the index to ``path`` (replacing the previous one atomically)."""
        if self.path is None:
            return
        import os
        import uuid

        # Unique names: several workers sharing one Chroma server may save at the same moment.
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.path.with_name(f"{self.path.name}.tmp-{tag}")
        tmp.mkdir(parents=True)
        try:
            if self._bm25 is not None:
                self._bm25.save(tmp / "bm25")
            (tmp / "records.json").write_text(
                json.dumps(
                    {
                        "stamp": self.stamp,
                        "ids": self.ids,
                        "texts": self.texts,
                        "metas": self.metas,
                        "tokens": self.tokens,
                    }
                )
            )
            old = self.path.with_name(f"{self.path.name}.old-{tag}")
            if self.path.exists():
                self.path.rename(old)
            tmp.rename(self.path)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            # Another process won the race; its index describes the same store state or a newer one,
            # and a stale one is rebuilt on the next search because its stamp differs.
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def load(self) -> bool:
        """Read the saved index; False when there is none or it can't be read (then it is rebuilt)."""
        if self.path is None or not (self.path / "records.json").is_file():
            return False
        try:
            data = json.loads((self.path / "records.json").read_text())
            bm25 = Bm25.load(self.path / "bm25") if data["ids"] else None
        except (OSError, ValueError, KeyError):
            return False
        self.stamp, self.ids, self.texts, self.metas = data["stamp"], data["ids"], data["texts"], data["metas"]
        self.tokens = data.get("tokens") or []  # indexes saved before tokens were kept have none
        self._bm25 = bm25
        return True

    def search(
        self, query: str, n: int, allowed: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` best chunks for ``query`` with a positive BM25 score, optionally filtered."""
        if self._bm25 is None:
            return []
        tokens = [t for t in lexical_tokens(query) if t in self._bm25.vocab]
        if not tokens:
            return []
        scores = self._bm25.scores(tokens)
        # Only chunks with a positive score can be returned: sort those, not the whole store.
        positive = np.flatnonzero(scores > 0)
        order = positive[np.argsort(-scores[positive], kind="stable")]
        out: list[tuple[str, float]] = []
        for i in order:
            if allowed is None or allowed(self.metas[i]):
                out.append((self.ids[i], float(scores[i])))
                if len(out) == n:
                    break
        return out


def rrf(rankings: Sequence[Sequence[str]], weights: Sequence[float], k: float = 60.0) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each list adds weight / (k + rank) to its items; best first, ties by first seen."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


_SHINGLE = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    """Word n-grams, the unit of near-duplicate detection."""
    toks = _SHINGLE.findall(text.lower())
    return {tuple(toks[i : i + n]) for i in range(max(len(toks) - n + 1, 1))}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Share of shingles two texts have in common."""
    return len(a & b) / len(a | b) if a and b else 0.0


def mmr(relevance: Sequence[float], shingle_sets: Sequence[set[tuple[str, ...]]], k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: pick k indices, trading relevance against overlap with those picked.

    Relevance is min-max scaled to [0, 1] so it is comparable with the Jaccard overlap.
    """
    if not relevance:
        return []
    lo, hi = min(relevance), max(relevance)
    rel = [(r - lo) / (hi - lo) if hi > lo else 1.0 for r in relevance]
    chosen: list[int] = []
    left = list(range(len(rel)))
    while left and len(chosen) < k:
        best = max(
            left,
            key=lambda i: (
                lam * rel[i] - (1 - lam) * max((jaccard(shingle_sets[i], shingle_sets[j]) for j in chosen), default=0.0)
            ),
        )
        chosen.append(best)
        left.remove(best)
    return chosen


def near_duplicate(a: set[tuple[str, ...]], b: set[tuple[str, ...]], threshold: float = 0.8) -> bool:
    """Jaccard similarity of shingle sets at or above ``threshold`` (wire copies, re-published updates)."""
    return jaccard(a, b) >= threshold
