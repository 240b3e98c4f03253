"""What the HTTP endpoints do with the QA object: answers, uploads, listing, removal, health.

All methods block and are called from worker threads. Writes (ingest, remove) go one at a time, in
batches of BATCH documents, so a large upload commits as it goes; reads take no lock: the retriever
swaps in a rebuilt lexical index at once, so questions and listing run beside a write.

Uploaded files never keep their client-given names: each is written under a generated folder as
``<slug><suffix>`` with the suffix from a whitelist, inside a private temporary directory that is
deleted afterwards.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from qa.api import QA
from qa.conversation import Rewrite, turns_from_messages
from qa.documents import MAX_DOC_ID_CHARS, check_doc_id, unique_documents
from qa.errors import QAError
from qa.models import Answer, Document, DocumentInfo, DocumentText, Filters, IngestFailure, IngestReport
from qa.settings import Settings, redact_url

if TYPE_CHECKING:
    from qa.server.metrics import ServerMetrics
    from qa.server.pool import Generations

_MAX_NAME = 100
#: Documents ingested per hold of the write lock.
BATCH = 16


def _clean_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (lone surrogate)") from None
    return value


def _clean_id(value: str) -> str:
    _clean_text(value)
    return check_doc_id(value)  # the same rule as for ids in uploaded JSONL and on the CLI


Text = Annotated[str, AfterValidator(_clean_text)]
DocId = Annotated[str, AfterValidator(_clean_id), Field(min_length=1, max_length=MAX_DOC_ID_CHARS)]


class HistoryTurn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=20_000)


class StoreHealth(BaseModel):
    ok: bool
    location: str
    documents: int | None = None
    error: str | None = None


class EmbedderHealth(BaseModel):
    ok: bool
    name: str | None = None
    dim: int | None = None
    error: str | None = None


class ModelHealth(BaseModel):
    base_url: str | None = Field(description="The chat model endpoint; null for the local server when not running.")
    local: bool = Field(description="True for the bundled local model server (started on the first question).")
    reachable: bool
    detail: str = ""


class Health(BaseModel):
    """Whether each part is usable. ``status``: ok, degraded (model unreachable) or down (store unusable)."""

    status: Literal["ok", "degraded", "down"]
    store: StoreHealth
    embedder: EmbedderHealth
    model: ModelHealth
    generations_in_flight: int
    generations_queued: int


class Article(BaseModel):
    """One article sent as JSON."""

    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, description="The article text.")
    id: DocId | None = Field(default=None, description="Document id; default: article-<hash of the text>.")
    title: Text | None = Field(default=None, max_length=1000)
    url: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=200)
    published_at: Text | None = Field(default=None, max_length=100)


class Articles(BaseModel):
    """The JSON body of POST /documents."""

    model_config = ConfigDict(extra="forbid")
    articles: list[Article] = Field(min_length=1, max_length=1000)


class Upload(Protocol):
    """What is needed of starlette's UploadFile."""

    filename: str | None
    file: BinaryIO


def upload_name(filename: str | None) -> tuple[str, str | None]:
    """(name to show, safe file name to write or None when the type is not accepted).

    Only the last path component of the client's name is looked at; its suffix must be a supported
    one and its stem becomes a slug of ``[a-z0-9._-]``, so "../../x.txt" is written as "x.txt".
    """
    from qa.documents import SUPPORTED_SUFFIXES, slugify

    given = (filename or "").replace("\x00", "")
    shown = given if len(given) <= 255 else given[:200] + "…" + given[-50:]
    shown = shown or "(unnamed)"
    base = re.split(r"[\\/]", given)[-1]
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED_SUFFIXES or not stem.strip(". "):
        return shown, None
    slug = slugify(stem)[:_MAX_NAME].strip(".-") or "upload-" + hashlib.sha1(stem.encode()).hexdigest()[:8]
    return shown, slug + suffix


def _article_document(article: Article) -> Document:
    from qa.debris import find_debris

    text = article.text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    doc_id = article.id or "article-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    doc = Document(
        doc_id=doc_id,
        text=text,
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at,
        path=f"api:{doc_id}",
    )
    doc.excluded = find_debris(doc.text)
    return doc


class Service:
    """The QA operations behind the endpoints, safe to call from several threads."""

    def __init__(self, qa: QA, settings: Settings, metrics: ServerMetrics) -> None:
        self.qa = qa
        self.settings = settings
        self.serve = settings.serve
        self.metrics = metrics
        # Writes go one batch at a time; reads need no lock (Retriever swaps its lexical index atomically).
        self._lock = threading.RLock()

    # -- questions ------------------------------------------------------------------------------------

    def answer_items(
        self,
        question: str,
        k: int | None,
        doc_ids: list[str] | None,
        history: Sequence[HistoryTurn],
        filters: Filters | None = None,
    ) -> Iterator[str | Rewrite | Answer]:
        """qa.stream with the conversation so far (a follow-up is rewritten first); runs in a generation worker."""
        return self.qa.stream(
            question,
            k=k,
            doc_ids=list(doc_ids) if doc_ids else None,
            filters=filters if filters and not filters.is_empty() else None,
            history=turns_from_messages((t.role, t.content) for t in history),
        )

    # -- documents ----------------------------------------------------------------------------------------

    def ingest_uploads(self, uploads: Sequence[Upload], cancelled: Callable[[], bool] = lambda: False) -> IngestReport:
        """Write uploads under safe names in a private temp dir, load them, ingest the good ones.

        ``cancelled`` (the client went away) is checked before each document is written: what was not yet
        committed is dropped. Raises TooLargeError past QA_SERVE_MAX_UPLOAD_CHUNKS.
        """
        from qa.ingest import load_files

        max_bytes = int(self.settings.ingest.max_file_mb * 1_000_000)
        failures: list[IngestFailure] = []
        shown_as: dict[Path, str] = {}
        with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
            for i, upload in enumerate(uploads):
                shown, name = upload_name(upload.filename)
                if name is None:
                    failures.append(
                        IngestFailure(
                            path=shown,
                            reason="unsupported file type or name",
                            hint="upload .txt, .md, .markdown, .html, .htm or .jsonl files",
                        )
                    )
                    continue
                folder = Path(tmp) / str(i)
                folder.mkdir()
                path = folder / name
                with path.open("xb") as out:
                    shutil.copyfileobj(upload.file, out, 1 << 20)
                shown_as[path] = shown
            docs, bad = load_files(shown_as, max_bytes, shown=lambda p: shown_as[p])
        for doc in docs:
            doc.path = f"upload:{Path(doc.path or '').name}"
        failures += bad
        return self._ingest(docs, failures, cancelled)

    def ingest_articles(
        self, articles: Sequence[Article], cancelled: Callable[[], bool] = lambda: False
    ) -> IngestReport:
        """Ingest JSON articles; blank ones are listed as failures. Cancellation and budget as for uploads."""
        docs: list[Document] = []
        failures: list[IngestFailure] = []
        for i, article in enumerate(articles):
            if not article.text.strip():
                where = article.id or f"articles[{i}]"
                failures.append(IngestFailure(path=where, reason="the text is blank", hint="send the article text"))
                continue
            docs.append(_article_document(article))
        return self._ingest(docs, failures, cancelled)

    def _ingest(
        self, docs: list[Document], failures: list[IngestFailure], cancelled: Callable[[], bool]
    ) -> IngestReport:
        t0 = time.perf_counter()
        report = IngestReport(failed=list(failures))
        docs = unique_documents(docs, report.failed)
        self._check_budget(docs)
        from qa.errors import ClientGoneError

        def check(_done: int, _total: int, _label: str) -> None:
            if cancelled():
                raise ClientGoneError("the client disconnected; the rest of the upload was not ingested")

        for batch in _batches(docs, BATCH):
            check(0, 0, "")
            with self._lock:
                part = self.qa.ingest_documents(batch, progress=check)
            report.added += part.added
            report.updated += part.updated
            report.skipped += part.skipped
            report.failed += part.failed
            report.chunks += part.chunks
        report.seconds = round(time.perf_counter() - t0, 3)
        self.metrics.ingest(len(report.added) + len(report.updated), len(report.failed))
        return report

    def _check_budget(self, docs: Sequence[Document]) -> None:
        """Raise TooLargeError when the documents would make more chunks than one request may add."""
        from qa.embeddings import tokenizer_for
        from qa.errors import TooLargeError
        from qa.ingest import chunk

        budget = self.serve.max_upload_chunks
        counter = tokenizer_for(self.qa.embedder)
        total = 0
        for doc in docs:
            total += len(chunk(doc, self.settings, counter.count_tokens))
            if total > budget:
                raise TooLargeError(
                    f"the upload would add more than {budget} chunks (QA_SERVE_MAX_UPLOAD_CHUNKS)",
                    hint="send the articles in smaller requests, or raise QA_SERVE_MAX_UPLOAD_CHUNKS",
                )

    def documents(self) -> list[DocumentInfo]:
        return [d.model_copy(update={"path": public_path(d.path)}) for d in self.qa.documents()]

    def document(self, doc_id: str) -> DocumentText:
        doc = self.qa.document(doc_id)
        return doc.model_copy(update={"path": public_path(doc.path)})

    def remove(self, doc_id: str) -> int:
        with self._lock:
            return self.qa.remove(doc_id)

    # -- health ---------------------------------------------------------------------------------------------

    def health(self, gens: Generations) -> Health:
        """Each part's status; never starts the local model server."""
        try:
            emb = self.qa.embedder
            embedder = EmbedderHealth(ok=True, name=emb.name, dim=emb.dim)
        except QAError as exc:
            embedder = EmbedderHealth(ok=False, error=exc.message)
        # The server's own folders stay server-side: the store's folder name, or the Chroma URL redacted.
        location = redact_url(self.settings.chroma_url) if self.settings.chroma_url else self.settings.store_path.name
        try:
            store = StoreHealth(ok=True, location=location, documents=len(self.qa.documents()))
        except QAError as exc:
            store = StoreHealth(ok=False, location=location, error=exc.message)
        model = self._model_health()
        status = "down" if not (store.ok and embedder.ok) else "ok" if model.reachable or model.local else "degraded"
        return Health(
            status=status,
            store=store,
            embedder=embedder,
            model=model,
            generations_in_flight=gens.running,
            generations_queued=gens.waiting,
        )

    def _model_health(self) -> ModelHealth:
        base_url = self.settings.llm.base_url
        if not base_url:
            from qa.localserver import status

            info = status(self.settings)
            if info is None:
                return ModelHealth(
                    base_url=None, local=True, reachable=False, detail="not running; starts on the first question"
                )
            return ModelHealth(base_url=info.base_url, local=True, reachable=True, detail=f"model {info.model}")
        import httpx

        try:
            resp = httpx.get(base_url.rstrip("/") + "/models", timeout=self.serve.health_timeout_s)
        except httpx.HTTPError as exc:
            return ModelHealth(base_url=redact_url(base_url), local=False, reachable=False, detail=type(exc).__name__)
        return ModelHealth(
            base_url=redact_url(base_url), local=False, reachable=True, detail=f"GET /models: HTTP {resp.status_code}"
        )


def _batches(docs: list[Document], size: int) -> Iterator[list[Document]]:
    for start in range(0, len(docs), size):
        yield docs[start : start + size]


def public_path(path: str | None) -> str | None:
    """A document's path as API clients see it: the file name of a server path; "upload:…"/"api:…" as is."""
    if not path or path.startswith(("upload:", "api:")):
        return path
    return Path(path).name


def public_answer(answer: Answer) -> Answer:
    """``answer`` without server paths in its passages' metadata."""
    passages = [
        p.model_copy(update={"metadata": {**p.metadata, "path": public_path(str(p.metadata["path"]))}})
        if p.metadata.get("path")
        else p
        for p in answer.passages
    ]
    return answer.model_copy(update={"passages": passages})
