"""The Python API: ``QA`` ingests articles and answers questions about them with verified citations.

from qa import QA
qa = QA()
qa.ingest(["evals/corpus"])
print(qa.ask("How many troops are going to Poland?").answer)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer import stream_answer
from qa.errors import DocumentNotFoundError, InputError, ModelUnavailableError, QAError
from qa.models import Answer, Chunk, Document, DocumentInfo, Filters, IngestFailure, IngestReport, Passage
from qa.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from qa.embeddings import Embedder
    from qa.retrieval import Retriever
    from qa.store import Store

#: progress(done, total, label) for long operations.
Progress = Callable[[int, int, str], None]


class QA:
    """Articles in, cited answers out. Heavy parts (embedder, store, model server) load on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        chat_model: BaseChatModel | None = None,
        status: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._chat = chat_model
        self._chat_injected = chat_model is not None
        self._store: Store | None = None
        self._retriever: Retriever | None = None
        self._status = status or (lambda _m: None)

    # -- components, built lazily so `qa docs` doesn't load models -------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder (loaded on first use)."""
        if self._embedder is None:
            from qa.embeddings import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    def store(self, create: bool = False) -> Store:
        """The vector store; raises StoreMismatchError if it was built with other settings."""
        # A store that didn't exist when opened may have been created since, by us or another process.
        if self._store is None or not self._store.exists:
            from qa.store import Store

            emb = self.embedder
            self._store = Store(self.settings, embedder_name=emb.name, dim=emb.dim, create=create)
            self._retriever = None  # it held the previous Store object
        return self._store

    @property
    def chat_model(self) -> BaseChatModel:
        """The chat model client (starts the local model server on first use)."""
        if self._chat is None:
            from qa.llm import make_chat_model

            self._chat = make_chat_model(self.settings, progress=self._status)
        return self._chat

    # -- ingest ----------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest files and folders. Bad files are listed in the report; good ones still go in.

        Raises StoreError / StoreMismatchError when the store can't be used.
        """
        from qa.documents import discover, load_file

        files, failures = discover([Path(p) for p in paths], include, exclude)
        docs: list[Document] = []
        for path in files:
            try:
                found, bad = load_file(path, max_bytes=int(self.settings.ingest.max_file_mb * 1_000_000))
            except InputError as exc:
                failures.append(IngestFailure(path=str(path), reason=exc.message, hint=exc.hint))
                continue
            docs.extend(found)
            failures.extend(bad)
        report = self.ingest_documents(docs, rebuild=rebuild, progress=progress)
        report.failed = failures + report.failed
        return report

    def ingest_documents(
        self, docs: Iterable[Document], *, rebuild: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Chunk, embed and store documents: unchanged ones are skipped, changed ones replaced."""
        from qa.chunking import chunk_document
        from qa.documents import unique_documents
        from qa.embeddings import tokenizer_for
        from qa.lexical import joined_tokens

        t0 = time.perf_counter()
        if rebuild:
            self.reset_store()
        store = self.store(create=True)
        store.recover()
        counter = tokenizer_for(self.embedder)
        report = IngestReport()
        docs = list(docs)
        committed = store.committed_hashes()
        docs = unique_documents(docs, report.failed)
        batch: list[tuple[Document, list[Chunk]]] = []
        # Store writes run on one background thread, overlapped with embedding the next batch; at most
        # one write is in flight, and its errors surface at the next flush or at the end.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-store-writer")
        in_flight: list[Future[None]] = []
        lexical: dict[str, str] = {}  # text → BM25 tokens, worked out on the writer thread meanwhile

        def write(items: list[tuple[Document, list[Chunk], list[list[float]]]]) -> None:
            store.put_documents(items)
            for doc, chunks, _ in items:
                (report.updated if doc.doc_id in committed else report.added).append(doc.doc_id)
                report.chunks += len(chunks)
                lexical.update((c.text, joined_tokens(c.text)) for c in chunks)

        def wait_for_writes() -> None:
            while in_flight:
                in_flight.pop(0).result()

        def flush() -> None:
            # One embedder call and one batched store write for many small documents.
            texts = [c.text for _, chunks in batch for c in chunks]
            vectors = self.embedder.embed(texts)
            items = []
            at = 0
            for doc, chunks in batch:
                items.append((doc, chunks, vectors[at : at + len(chunks)]))
                at += len(chunks)
            batch.clear()
            wait_for_writes()
            in_flight.append(writer.submit(write, items))

        def chunk(doc: Document) -> list[Chunk]:
            return chunk_document(
                doc,
                max_tokens=self.settings.chunking.max_tokens,
                overlap_tokens=self.settings.chunking.overlap_tokens,
                count_tokens=counter.count_tokens,
            )

        # Chunking runs one step ahead on its own thread, so it overlaps the embedder (which releases the
        # GIL) instead of pausing it; the look-ahead of one batch of documents keeps memory bounded.
        chunker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-chunker")
        ahead: dict[int, Future[list[Chunk]]] = {}
        queued = 0

        def look_ahead(i: int) -> None:
            nonlocal queued
            while queued < len(docs) and queued <= i + self.settings.ingest.batch_chunks:
                d = docs[queued]
                if committed.get(d.doc_id) != d.content_hash:
                    ahead[queued] = chunker.submit(chunk, d)
                queued += 1

        try:
            for i, doc in enumerate(docs):
                if progress:
                    progress(i, len(docs), doc.doc_id)
                look_ahead(i)
                if i not in ahead:
                    report.skipped.append(doc.doc_id)
                    continue
                chunks = ahead.pop(i).result()
                if not chunks:
                    report.failed.append(
                        IngestFailure(path=doc.path or doc.doc_id, reason="no article text left after cleaning")
                    )
                    continue
                batch.append((doc, chunks))
                # one store transaction per batch, not per document: thousands of short files were write-bound
                if sum(len(c) for _, c in batch) >= self.settings.ingest.batch_chunks:
                    flush()
            if batch:
                flush()
            wait_for_writes()
        finally:
            chunker.shutdown(wait=True, cancel_futures=True)
            # On an interrupt, let the write in flight finish (each document stays all-or-nothing anyway).
            writer.shutdown(wait=True)
        if progress:
            progress(len(docs), len(docs), "")
        self.retriever.refresh_lexical(known=lexical)
        report.seconds = round(time.perf_counter() - t0, 3)
        return report

    def reset_store(self) -> None:
        """Delete every document and the collections, so the store is rebuilt with current settings."""
        from qa.store import Store

        Store.drop(self.settings)
        self._store = None
        self._retriever = None

    def documents(self) -> list[DocumentInfo]:
        """Every ingested document."""
        return self.store().documents()

    def remove(self, doc_id: str) -> int:
        """Remove one document; returns its chunk count. Raises DocumentNotFoundError, StoreError."""
        path = self.settings.store_path
        if not self.settings.chroma_url and not path.exists():
            from qa.errors import StoreError

            # Opening would create an empty store just to find nothing in it.
            raise StoreError(f"no store at {path}", hint="check --store / QA_STORE; `qa ingest` creates one")
        n = self.store().remove(doc_id)
        self.retriever.refresh_lexical()
        return n

    # -- questions -------------------------------------------------------------------------------

    @property
    def retriever(self) -> Retriever:
        """The configured retriever (dense, lexical or hybrid)."""
        from qa.retrieval import Retriever

        if self._retriever is None:
            self._retriever = Retriever(self.store(), self.embedder, self.settings)
        return self._retriever

    @property
    def scorer(self) -> Callable[[str, Sequence[str]], list[float]] | None:
        """The cross-encoder as a (question, texts) → scores function, or None when reranking is off."""
        return self.retriever.reranker.score if self.settings.retrieval.rerank else None

    def reindex(self) -> int:
        """Rebuild the lexical index from the store; returns the number of chunks indexed."""
        return len(self.retriever.refresh_lexical(force=True).ids)

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        *,
        filters: Filters | None = None,
        doc_ids: list[str] | None = None,
    ) -> list[Passage]:
        """The passages that would be shown to the model for ``question``, best first.

        Raises NoDocumentsError on an empty store, ConfigError for a bad filter date.
        """
        if doc_ids:
            filters = (filters or Filters()).model_copy(update={"doc_ids": list(dict.fromkeys(doc_ids))})
        if filters and filters.doc_ids:
            known = self.store().committed_hashes(filters.doc_ids)
            unknown = [d for d in filters.doc_ids if d not in known]
            if unknown:
                raise DocumentNotFoundError(
                    f"no document {', '.join(map(repr, unknown))} in the store", hint="`qa docs` lists them"
                )
        return self.retriever.retrieve(question, k or self.settings.retrieval.k, filters)

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        doc_ids: list[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the verified Answer (last).

        Raises NoDocumentsError, ModelError, InputError.
        """
        from qa.answer import check_question, refusal
        from qa.guard import split_instructions

        t0 = time.perf_counter()
        check_question(question)  # before retrieval: the reranker's tokenizer can't take a 20,000-char text
        asked, instructions = split_instructions(question)
        if asked is None:
            yield refusal(
                question,
                [],
                "the question is an instruction to the assistant, not a question about the articles",
                ignored_instructions=instructions,
            )
            return
        passages = self.retrieve(asked, k, filters=filters, doc_ids=doc_ids) if asked.strip() else []
        retrieve_s = time.perf_counter() - t0
        for attempt in (1, 2):
            started = False
            try:
                for item in stream_answer(
                    lambda: self.chat_model,
                    asked,
                    passages,
                    self.settings,
                    retrieve_s=retrieve_s,
                    scorer=self.scorer,
                ):
                    if isinstance(item, Answer):
                        item.question = question
                        item.ignored_instructions = instructions
                    started = True
                    yield item
                return
            except ModelUnavailableError:
                # The bundled server may have been stopped (idle timeout, `qa server stop`) since the
                # client was made: start it again once. A configured endpoint's failure is reported.
                if attempt == 2 or started or self.settings.llm.base_url or self._chat_injected:
                    raise
                self._chat = None

    def reverify(
        self, question: str, passages: Sequence[Passage], raw_reply: str, recorded: dict[str, Any] | None = None
    ) -> Answer:
        """Check a recorded model reply again with the current settings (offline eval replay).

        ``recorded`` is the recording's ``checks``: its follow-up verdict ("confirm") is applied again.
        Raises ModelOutputError when ``raw_reply`` is not a reply of the expected shape.
        """
        from qa.answer import apply_confirmation, parse_reply, verify
        from qa.guard import split_instructions

        asked, instructions = split_instructions(question)
        answer = verify(asked or question, passages, parse_reply(raw_reply), self.settings, self.scorer)
        if answer.answerable and recorded and "confirm" in recorded:
            answer = apply_confirmation(answer, recorded["confirm"], recorded.get("confirm_ids", []), self.settings)
        answer.question = question
        answer.ignored_instructions = instructions
        answer.raw_reply = raw_reply
        return answer

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        doc_ids: list[str] | None = None,
    ) -> Answer:
        """Answer a question with verified citations, or refuse with REFUSAL_TEXT.

        Raises NoDocumentsError, ModelError, InputError.
        """
        for item in self.stream(question, k=k, filters=filters, doc_ids=doc_ids):
            if isinstance(item, Answer):
                return item
        raise QAError("the answer stream ended without an answer")  # pragma: no cover - stream_answer always yields one
