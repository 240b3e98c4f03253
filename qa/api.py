"""The Python API: ``QA`` ingests articles and answers questions about them with verified citations.

from qa import QA
qa = QA()
qa.ingest(["evals/corpus"])
print(qa.ask("How many troops are going to Poland?").answer)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer import stream_answer
from qa.conversation import Rewrite, Turn
from qa.errors import ModelUnavailableError, QAError
from qa.ingest import Progress
from qa.models import Answer, Document, DocumentInfo, DocumentText, Filters, IngestReport, Passage
from qa.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from qa.embeddings import Embedder
    from qa.retrieval import Retriever
    from qa.store import Store


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
        from qa.documents import discover
        from qa.ingest import load_files

        files, failures = discover([Path(p) for p in paths], include, exclude)
        docs, bad = load_files(files, int(self.settings.ingest.max_file_mb * 1_000_000))
        report = self.ingest_documents(docs, rebuild=rebuild, progress=progress)
        report.failed = failures + bad + report.failed
        return report

    def ingest_documents(
        self, docs: Iterable[Document], *, rebuild: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Chunk, embed and store documents (qa.ingest): unchanged ones are skipped, changed ones replaced."""
        from qa.ingest import ingest_documents

        if rebuild:
            self.reset_store()
        report, lexical = ingest_documents(
            docs, self.store(create=True), self.embedder, self.settings, progress=progress
        )
        self.retriever.refresh_lexical(known=lexical)
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

    def document(self, doc_id: str) -> DocumentText:
        """One ingested document with its text (citation offsets point into it). Raises DocumentNotFoundError."""
        return self.store().document(doc_id)

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
            self.store().check_known(filters.doc_ids)
        return self.retriever.retrieve(question, k or self.settings.retrieval.k, filters)

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        """The question to search for, given the conversation so far: a follow-up ("Which unit are they
        from?") rewritten into a standalone question by one short model call, any other question as typed.

        Raises ModelError when the model can't be reached.
        """
        from qa.answer import check_question
        from qa.conversation import standalone_question

        check_question(question)
        for attempt in (1, 2):
            try:
                return standalone_question(lambda: self.chat_model, question, history)
            except ModelUnavailableError:
                if attempt == 2 or not self._may_restart_model():
                    raise
                self._chat = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _may_restart_model(self) -> bool:
        """The bundled server may have been stopped (idle timeout, `qa llm stop`) since the client was
        made: it may be started again. A configured endpoint's or an injected model's failure is reported."""
        return not (self.settings.llm.base_url or self._chat_injected)

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        doc_ids: list[str] | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Iterator[str | Rewrite | Answer]:
        """Yield answer text as it is generated, then the verified Answer (last).

        With ``history`` (the earlier turns of a conversation), a follow-up question is first rewritten
        into a standalone one (see ``rewrite``): the Rewrite is yielded first (``.rewritten`` says whether it
        changed the question), and the Answer carries the rewrite as ``standalone_question``.
        Raises NoDocumentsError, ModelError, InputError.
        """
        from qa.answer import check_question, refusal
        from qa.instructions import split_instructions

        t0 = time.perf_counter()
        check_question(question)  # before retrieval: the reranker's tokenizer can't take a 20,000-char text
        typed = question
        standalone: str | None = None
        if history:
            rw = self.rewrite(question, history)
            yield rw
            if rw.rewritten:
                question = standalone = rw.standalone
        asked, instructions = split_instructions(question)
        if asked is None:
            yield refusal(
                typed,
                [],
                "the question is an instruction to the assistant, not a question about the articles",
                ignored_instructions=instructions,
                standalone_question=standalone,
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
                        item.question = typed
                        item.standalone_question = standalone
                        item.ignored_instructions = instructions
                    started = True
                    yield item
                return
            except ModelUnavailableError:
                if attempt == 2 or started or not self._may_restart_model():
                    raise
                self._chat = None

    def reverify(
        self, question: str, passages: Sequence[Passage], raw_reply: str, recorded: dict[str, Any] | None = None
    ) -> Answer:
        """Check a recorded model reply again with the current settings (offline eval replay).

        ``recorded`` is the recording's ``checks``: its follow-up verdict ("confirm") is applied again, and
        its span confidence ("span_logprob") is a signal again.
        Raises ModelOutputError when ``raw_reply`` is not a reply of the expected shape.
        """
        from qa import second_look
        from qa.answer import apply_confirmation, parse_reply, verify
        from qa.evidence import build_evidence
        from qa.instructions import split_instructions

        asked, instructions = split_instructions(question)
        logprob = (recorded or {}).get("span_logprob")
        confidence = float(logprob) if isinstance(logprob, int | float) else None
        reply = parse_reply(raw_reply)
        answer = verify(asked or question, passages, reply, self.settings, self.scorer, confidence=confidence)
        if answer.answerable and recorded and "confirm" in recorded:
            answer = apply_confirmation(answer, recorded["confirm"], recorded.get("confirm_ids", []), self.settings)
        look = (recorded or {}).get("second_look")
        scorer = self.scorer
        if (
            isinstance(look, dict)
            and "reply" in look
            and scorer is not None
            and second_look.wanted(answer, self.settings, scorer)
        ):
            # The recorded second reply, checked again (it was given these sentences minus the refused ones).
            again = parse_reply(str(look["reply"]))
            sure = look.get("span_logprob")
            answer = second_look.settle(
                answer,
                asked or question,
                passages,
                build_evidence(passages),
                again,
                float(sure) if isinstance(sure, int | float) else None,
                self.settings,
                scorer,
            )
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
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """Answer a question with verified citations, or refuse with REFUSAL_TEXT.

        ``history``: the earlier turns of a conversation (``qa.Turn(question, answer)``), for follow-ups.
        Raises NoDocumentsError, ModelError, InputError.
        """
        for item in self.stream(question, k=k, filters=filters, doc_ids=doc_ids, history=history):
            if isinstance(item, Answer):
                return item
        raise QAError("the answer stream ended without an answer")  # pragma: no cover - stream_answer always yields one
