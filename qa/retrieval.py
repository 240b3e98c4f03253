"""Finding passages for a question: one method, ``retrieve(question, k, filters)``.

The default is hybrid: dense (embedding) and lexical (BM25) candidates fused by reciprocal rank,
near-duplicates removed, and every passage scored by its cosine similarity to the question so the
relevance checks downstream see one comparable number.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from qa.embeddings import Embedder
from qa.errors import ConfigError, NoDocumentsError
from qa.lexical import LexicalIndex, mmr, near_duplicate, rrf, shingles
from qa.models import Filters, Passage
from qa.rerank import CrossEncoder
from qa.settings import Settings
from qa.store import Store, published_ts, to_passage


def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    """The Chroma ``where`` clause for ``filters`` (None when unrestricted)."""
    if filters is None or filters.is_empty():
        return None
    conds: list[dict[str, Any]] = []
    if filters.doc_ids:
        conds.append({"doc_id": {"$in": list(filters.doc_ids)}})
    if filters.source:
        conds.append({"source": {"$eq": filters.source}})
    if filters.title:
        conds.append({"title": {"$eq": filters.title}})
    for value, op in ((filters.published_after, "$gte"), (filters.published_before, "$lte")):
        if value:
            ts = published_ts(value)
            if ts is None:
                raise ConfigError(f"not a date: {value!r}", hint="use ISO format, e.g. 2022-02-02")
            if op == "$lte" and len(value) <= 10:
                ts += 86_399  # a bare date includes the whole day
            conds.append({"published_ts": {op: ts}})
    return conds[0] if len(conds) == 1 else {"$and": conds}


def matches(meta: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Evaluate the subset of Chroma's ``where`` language that chroma_where produces, in Python."""
    if not where:
        return True
    if "$and" in where:
        return all(matches(meta, c) for c in where["$and"])
    ((field, cond),) = where.items()
    value = meta.get(field)
    ((op, want),) = cond.items()
    if op == "$in":
        return value in want
    if op == "$eq":
        return bool(value == want)
    if value is None:
        return False
    return bool(value >= want) if op == "$gte" else bool(value <= want)


class Retriever:
    """Dense, lexical or hybrid retrieval over a Store, as configured in ``settings.retrieval``."""

    def __init__(self, store: Store, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.lexical = LexicalIndex(lexical_path(settings))
        self._loaded = False
        self._reranker: CrossEncoder | None = None
        self._lock = threading.Lock()

    @property
    def reranker(self) -> CrossEncoder:
        """The bundled cross-encoder (loaded on first use); raises ModelFetchError."""
        if self._reranker is None:
            from qa.rerank import make_reranker

            self._reranker = make_reranker(self.settings)
        return self._reranker

    def refresh_lexical(self, force: bool = False, known: Mapping[str, str] | None = None) -> LexicalIndex:
        """Make the lexical index match the store, rebuilding it when the store changed; returns it.

        A rebuild reuses the tokens of chunks the previous index (in memory or saved) already had, plus
        ``known`` (text → joined tokens, from ingest); ``force`` rebuilds everything from the texts.
        Thread-safe: a rebuilt index replaces the old one in one assignment, so a concurrent search
        sees either the old or the new index, never a half-built one.
        """
        stamp = self.store.stamp()
        with self._lock:
            if not force and self.lexical.stamp == stamp:
                return self.lexical
            fresh = LexicalIndex(self.lexical.path)
            previous = self.lexical
            if not force and not self._loaded:
                self._loaded = True
                if fresh.load():
                    if fresh.stamp == stamp:
                        self.lexical = fresh
                        return fresh
                    previous = fresh  # stale, but its tokens are still good for the chunks it has
                    fresh = LexicalIndex(self.lexical.path)
            if force:
                fresh.build(self.store.committed_records(), stamp)
            else:
                fresh.build(self._records_since(previous), stamp, {**previous.known_tokens(), **(known or {})})
            fresh.save()
            self.lexical = fresh
            return fresh

    def _records_since(self, previous: LexicalIndex) -> list[tuple[str, str, dict[str, Any]]]:
        """The store's committed records, reading from it only documents ``previous`` doesn't hold as committed.

        The store's list of committed versions is the truth: a document whose version ``previous`` indexed
        is still the committed one keeps its records (a version's chunks never change), the others are read
        from the store. Adding one article to a 100k-chunk store reads its chunks, not all 100k.
        """
        committed = self.store.committed_hashes()
        kept: list[tuple[str, str, dict[str, Any]]] = []
        held: set[str] = set()
        for cid, text, meta in zip(previous.ids, previous.texts, previous.metas, strict=True):
            doc_id = str(meta.get("doc_id"))
            if committed.get(doc_id) == meta.get("doc_hash"):
                kept.append((cid, text, meta))
                held.add(doc_id)
        missing = [d for d in committed if d not in held]
        if not kept or len(missing) > 500:  # nothing to keep, or a big change: one pass over the store
            return self.store.committed_records(committed=committed)
        return kept + self.store.committed_records(missing, committed=committed)

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]:
        """The k best passages, keyed 1..k; raises NoDocumentsError on an empty store."""
        cfg = self.settings.retrieval
        where = chroma_where(filters)
        vector = self.embedder.embed([question])[0]
        n = max(cfg.candidates, k)
        if cfg.mode == "dense":
            return self._finish(question, self.store.search(vector, n, where=where), k)
        lexical = self.refresh_lexical()
        lex = lexical.search(question, n, allowed=lambda m: matches(m, where))
        dense = self.store.search(vector, n, where=where) if cfg.mode == "hybrid" else []
        if not lex and not dense:
            if not lexical.ids and cfg.mode == "lexical":
                raise NoDocumentsError("no documents have been ingested yet", hint="run `qa ingest PATH...` first")
            return []
        by_id = {p.chunk_id: p for p in dense}
        fused = rrf(
            [[p.chunk_id for p in dense], [cid for cid, _ in lex]],
            [cfg.dense_weight, cfg.lexical_weight],
            k=cfg.rrf_k,
        )
        missing = [cid for cid, _ in fused if cid not in by_id][:n]
        if missing:
            vecs = self.store.vectors(missing)
            q = np.asarray(vector)
            for cid in missing:
                i = lexical.position(cid)
                if cid in vecs and i is not None:
                    score = float(np.dot(q, np.asarray(vecs[cid])))
                    by_id[cid] = to_passage(0, cid, lexical.texts[i], lexical.metas[i], score)
        ranked = [by_id[cid] for cid, _ in fused if cid in by_id]
        return self._finish(question, ranked, k)

    def _finish(self, question: str, ranked: list[Passage], k: int) -> list[Passage]:
        """Drop near-duplicates, rerank the best candidates if configured, renumber keys 1..k."""
        cfg = self.settings.retrieval
        if not cfg.rerank:
            return self._dedupe(ranked, k)
        candidates = self._dedupe(ranked, max(cfg.rerank_candidates, k))
        scores = self.reranker.score(question, [p.text for p in candidates])
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        if cfg.mmr_lambda is not None:
            picked = mmr([scores[i] for i in order], [shingles(candidates[i].text) for i in order], k, cfg.mmr_lambda)
            order = [order[i] for i in picked]
        order = order[:k]
        return [
            candidates[i].model_copy(update={"key": n, "rerank_score": round(scores[i], 4)})
            for n, i in enumerate(order, start=1)
        ]

    def _dedupe(self, ranked: list[Passage], k: int) -> list[Passage]:
        """Keep the first of near-identical passages, renumber keys 1..k."""
        kept: list[Passage] = []
        seen: list[set[tuple[str, ...]]] = []
        for p in ranked:
            sh = shingles(p.text)
            if any(near_duplicate(sh, other, self.settings.retrieval.duplicate_threshold) for other in seen):
                continue
            seen.append(sh)
            kept.append(p.model_copy(update={"key": len(kept) + 1}))
            if len(kept) == k:
                break
        return kept


def lexical_path(settings: Settings) -> Any:
    """Where the lexical index of this store lives (next to an embedded store; under home for a server)."""
    import re

    if settings.chroma_url:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", settings.chroma_url).strip("-")
        return settings.home / "lexical" / f"{slug}-{settings.collection}"
    return settings.store_path / f"lexical-{settings.collection}"
