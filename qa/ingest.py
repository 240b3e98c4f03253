"""The ingest pipeline: files in, documents loaded, chunked, embedded and stored.

``load_files`` is the one file-loading loop (the CLI, the Python API and HTTP uploads all use it): bad
files become IngestFailures and the good ones still load. ``ingest_documents`` chunks, embeds and
writes documents: unchanged ones (same content hash) are skipped, changed ones replaced. Chunking runs
one step ahead on its own thread and store writes on another, so the embedder (which releases the GIL)
is never paused for them; each document is written all-or-nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import InputError
from qa.models import Chunk, Document, IngestFailure, IngestReport
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.embeddings import Embedder
    from qa.store import Store

#: progress(done, total, label) for long operations.
Progress = Callable[[int, int, str], None]


def load_files(
    files: Iterable[Path], max_bytes: int, *, shown: Callable[[Path], str] = str
) -> tuple[list[Document], list[IngestFailure]]:
    """Load each file into documents; a file that can't be read is a failure, the rest still load.

    ``shown`` names a file in failures (an upload shows its uploaded name, not the server's temp path).
    """
    from qa.documents import load_file

    docs: list[Document] = []
    failures: list[IngestFailure] = []
    for path in files:
        name = shown(path)
        try:
            found, bad = load_file(path, max_bytes=max_bytes)
        except InputError as exc:
            failures.append(IngestFailure(path=name, reason=exc.message.replace(str(path), name), hint=exc.hint))
            continue
        docs.extend(found)
        failures.extend(
            IngestFailure(path=f.path.replace(str(path), name), reason=f.reason.replace(str(path), name), hint=f.hint)
            for f in bad
        )
    return docs, failures


def chunk(doc: Document, settings: Settings, count_tokens: Callable[[str], int]) -> list[Chunk]:
    """``doc``'s chunks under the chunking settings, sized by the embedder's tokenizer."""
    from qa.chunking import chunk_document

    return chunk_document(
        doc,
        max_tokens=settings.chunking.max_tokens,
        overlap_tokens=settings.chunking.overlap_tokens,
        count_tokens=count_tokens,
    )


def ingest_documents(
    docs: Iterable[Document],
    store: Store,
    embedder: Embedder,
    settings: Settings,
    *,
    progress: Progress | None = None,
) -> tuple[IngestReport, dict[str, str]]:
    """Chunk, embed and store ``docs``; returns the report and the new chunks' BM25 tokens (text → tokens)
    for the lexical index. Raises StoreError when a write fails (what was committed stays)."""
    from qa.documents import unique_documents

    t0 = time.perf_counter()
    store.recover()
    report = IngestReport()
    committed = store.committed_hashes()
    todo = unique_documents(list(docs), report.failed)
    pipeline = _Pipeline(store, embedder, settings, committed, report)
    pipeline.run(todo, progress)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report, pipeline.lexical


class _Pipeline:
    """Chunk one batch ahead, embed a batch at a time, write on a background thread (one write in flight)."""

    def __init__(
        self, store: Store, embedder: Embedder, settings: Settings, committed: dict[str, str], report: IngestReport
    ) -> None:
        from qa.embeddings import tokenizer_for

        self.store, self.embedder, self.settings = store, embedder, settings
        self.committed, self.report = committed, report
        self.counter = tokenizer_for(embedder)
        self.batch: list[tuple[Document, list[Chunk]]] = []
        self.in_flight: list[Future[None]] = []
        self.lexical: dict[str, str] = {}  # text → BM25 tokens, worked out on the writer thread meanwhile
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-store-writer")
        self.chunker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-chunker")

    def run(self, docs: Sequence[Document], progress: Progress | None) -> None:
        ahead: dict[int, Future[list[Chunk]]] = {}
        queued = 0
        try:
            for i, doc in enumerate(docs):
                if progress:
                    progress(i, len(docs), doc.doc_id)
                # Look ahead by one batch of documents: chunking overlaps the embedder, memory stays bounded.
                while queued < len(docs) and queued <= i + self.settings.ingest.batch_chunks:
                    d = docs[queued]
                    if self.committed.get(d.doc_id) != d.content_hash:
                        ahead[queued] = self.chunker.submit(self._chunk, d)
                    queued += 1
                if i not in ahead:
                    self.report.skipped.append(doc.doc_id)
                    continue
                chunks = ahead.pop(i).result()
                if not chunks:
                    self.report.failed.append(
                        IngestFailure(path=doc.path or doc.doc_id, reason="no article text left after cleaning")
                    )
                    continue
                self.batch.append((doc, chunks))
                # one store transaction per batch, not per document: thousands of short files were write-bound
                if sum(len(c) for _, c in self.batch) >= self.settings.ingest.batch_chunks:
                    self._flush()
            if self.batch:
                self._flush()
            self._wait_for_writes()
        finally:
            self.chunker.shutdown(wait=True, cancel_futures=True)
            # On an interrupt, let the write in flight finish (each document stays all-or-nothing anyway).
            self.writer.shutdown(wait=True)
        if progress:
            progress(len(docs), len(docs), "")

    def _chunk(self, doc: Document) -> list[Chunk]:
        return chunk(doc, self.settings, self.counter.count_tokens)

    def _flush(self) -> None:
        """One embedder call and one batched store write for many small documents."""
        texts = [c.text for _, chunks in self.batch for c in chunks]
        vectors = self.embedder.embed(texts)
        items = []
        at = 0
        for doc, chunks in self.batch:
            items.append((doc, chunks, vectors[at : at + len(chunks)]))
            at += len(chunks)
        self.batch.clear()
        self._wait_for_writes()  # errors of the previous write surface here
        self.in_flight.append(self.writer.submit(self._write, items))

    def _write(self, items: list[tuple[Document, list[Chunk], list[list[float]]]]) -> None:
        from qa.lexical import joined_tokens

        self.store.put_documents(items)
        for doc, chunks, _ in items:
            (self.report.updated if doc.doc_id in self.committed else self.report.added).append(doc.doc_id)
            self.report.chunks += len(chunks)
            self.lexical.update((c.text, joined_tokens(c.text)) for c in chunks)

    def _wait_for_writes(self) -> None:
        while self.in_flight:
            self.in_flight.pop(0).result()
