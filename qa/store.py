"""The vector store: Chroma embedded (PersistentClient) by default, a Chroma server via QA_CHROMA_URL.

Two collections: ``<name>-chunks`` (vectors, chunk text, offsets) and ``<name>-docs`` (one record per
document with its canonical text). Writes are ordered so that a document is either fully in or not at
all: the document record first marks the new version as *pending*, then its chunks are written, then
the record is committed and the old version's chunks deleted. Readers only see chunks whose version is
the committed one, and the next writer cleans up what an interrupted one left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from qa.errors import DocumentNotFoundError, NoDocumentsError, StoreError, StoreMismatchError
from qa.models import Chunk, Document, DocumentInfo, DocumentText, Passage
from qa.settings import Settings, redact_url

log = logging.getLogger(__name__)

# Chroma refuses batches above its max_batch_size (5,461 in 1.5.9); stay well below it.
_WRITE_BATCH = 2_000
_DOC_VECTOR = [1.0]


def _clean_meta(meta: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """Chroma metadata values must be scalars and not None."""
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}


_PASSAGE_FIELDS = {"doc_id", "doc_hash", "char_start", "char_end", "heading", "title"}
# A chunk's text is kept in its metadata under this key rather than as a Chroma "document": Chroma
# full-text indexes documents, which doubled the store's write time, and nothing here searches it (BM25
# lives in qa.lexical). Stores written before keep their texts as documents, and both are read.
_TEXT = "text"


def chunk_text(meta: dict[str, Any], document: str | None) -> str:
    """A stored chunk's text, taken out of ``meta`` (new layout) or from its Chroma document (old one)."""
    text = meta.pop(_TEXT, None)
    return str(text if text is not None else document or "")


def to_passage(key: int, chunk_id: str, text: str, meta: Mapping[str, Any], score: float) -> Passage:
    """A stored chunk as a Passage shown under ``key``."""
    return Passage(
        key=key,
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        title=meta.get("title"),
        text=text,
        char_start=int(meta["char_start"]),
        char_end=int(meta["char_end"]),
        heading=meta.get("heading"),
        score=round(score, 6),
        metadata={k: v for k, v in meta.items() if k not in _PASSAGE_FIELDS},
    )


def published_ts(value: str | None) -> int | None:
    """Seconds since the epoch for an ISO date/time, for numeric date-range filters; None if unparsable."""
    from datetime import UTC, datetime

    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


class Store:
    """Chunks and documents in Chroma, tagged with the embedder and chunking that built them."""

    def __init__(self, settings: Settings, *, embedder_name: str, dim: int, create: bool = True) -> None:
        self.settings = settings
        self.manifest: dict[str, str | int] = {
            "qa_embedder": embedder_name,
            "qa_dim": dim,
            "qa_chunk_max_tokens": settings.chunking.max_tokens,
            "qa_chunk_overlap_tokens": settings.chunking.overlap_tokens,
            "qa_format": 1,
        }
        self.client = self._connect(settings)
        self.location = settings.chroma_url or str(settings.store_path)
        self._chunks_name = f"{settings.collection}-chunks"
        self._docs_name = f"{settings.collection}-docs"
        self._chunks: Any = None
        self._docs: Any = None
        self._open(create)

    @staticmethod
    def _connect(settings: Settings) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                if not url.hostname:
                    raise StoreError(
                        f"QA_CHROMA_URL {redact_url(settings.chroma_url)!r} has no host",
                        hint="use e.g. http://127.0.0.1:8000",
                    )
                return chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
            settings.store_path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(settings.store_path), settings=chroma_settings)
        except StoreError:
            raise
        except Exception as exc:
            where = redact_url(settings.chroma_url) if settings.chroma_url else settings.store_path
            raise StoreError(
                f"cannot open the Chroma store at {where}: {exc}",
                hint="start the server with `chroma run --path DIR --host 127.0.0.1 --port 8000`"
                if settings.chroma_url
                else "check the folder is writable, or choose another with --store / QA_STORE",
            ) from exc

    def _open(self, create: bool) -> None:
        names = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        if self._chunks_name in names:
            chunks = self.client.get_collection(self._chunks_name, embedding_function=None)
            self._check_manifest(dict(chunks.metadata or {}))
            self._chunks = chunks
            self._docs = self.client.get_or_create_collection(
                self._docs_name, embedding_function=None, metadata={"qa_format": 1}
            )
        elif create:
            self._chunks = self.client.create_collection(
                self._chunks_name,
                embedding_function=None,
                metadata=dict(self.manifest),
                configuration={"hnsw": {"space": "cosine"}},
            )
            self._docs = self.client.get_or_create_collection(
                self._docs_name, embedding_function=None, metadata={"qa_format": 1}
            )

    def _check_manifest(self, found: dict[str, Any]) -> None:
        diffs = [
            f"{key.removeprefix('qa_')}: store has {found.get(key)!r}, settings give {want!r}"
            for key, want in self.manifest.items()
            if found.get(key) != want
        ]
        if diffs:
            raise StoreMismatchError(
                f"the store at {self.location} was built with other settings ({'; '.join(diffs)})",
                hint="rebuild it with `qa ingest --rebuild PATH...`, or point --store / QA_STORE at another folder",
            )

    @staticmethod
    def drop(settings: Settings) -> None:
        """Delete the collections of ``settings.collection`` (all documents), whatever built them."""
        client = Store._connect(settings)
        names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
        for suffix in ("chunks", "docs"):
            if f"{settings.collection}-{suffix}" in names:
                client.delete_collection(f"{settings.collection}-{suffix}")

    @property
    def exists(self) -> bool:
        """True when the store has its collections (something may have been ingested)."""
        return self._chunks is not None

    # -- documents -------------------------------------------------------------------------

    def committed_hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id → content hash of the committed version, for the given documents or all."""
        if self._docs is None or (doc_ids is not None and not doc_ids):
            return {}
        # Chroma rejects a repeated id (DuplicateIDError); the same document asked for twice is one.
        ids = list(dict.fromkeys(doc_ids)) if doc_ids is not None else None
        got = self._docs.get(ids=ids, include=["metadatas"])
        out: dict[str, str] = {}
        for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            h = (meta or {}).get("content_hash")
            if h:
                out[doc_id] = str(h)
        return out

    def documents(self) -> list[DocumentInfo]:
        """Every committed document, sorted by id."""
        if self._docs is None:
            return []
        got = self._docs.get(include=["metadatas"])
        infos = []
        for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            meta = meta or {}
            if not meta.get("content_hash"):
                continue
            infos.append(_info(doc_id, meta))
        return sorted(infos, key=lambda d: d.doc_id)

    def check_known(self, doc_ids: Sequence[str]) -> None:
        """Raise DocumentNotFoundError naming the ids that are not committed (a store never written has none
        and raises nothing: asking it is NoDocumentsError's business)."""
        if self._docs is None:
            return
        known = self.committed_hashes(list(dict.fromkeys(doc_ids)))
        missing = [d for d in dict.fromkeys(doc_ids) if d not in known]
        if missing:
            raise not_found(missing)

    def document(self, doc_id: str) -> DocumentText:
        """A committed document's text and metadata; raises DocumentNotFoundError."""
        got = self._docs.get(ids=[doc_id], include=["documents", "metadatas"]) if self._docs else None
        meta = (got["metadatas"][0] or {}) if got and got["ids"] else {}
        if got is None or not meta.get("content_hash"):
            raise not_found([doc_id])
        return DocumentText(**_info(doc_id, meta).model_dump(), text=str(got["documents"][0]))

    def document_text(self, doc_id: str) -> str:
        """The canonical text of a committed document; raises DocumentNotFoundError."""
        return self.document(doc_id).text

    def recover(self) -> int:
        """Remove what interrupted writes left behind; returns how many documents were repaired."""
        if self._docs is None:
            return 0
        got = self._docs.get(where={"pending_hash": {"$ne": ""}}, include=["metadatas"])
        repaired = 0
        for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            meta = dict(meta or {})
            pending = meta.get("pending_hash")
            if not pending:
                continue
            if pending != meta.get("content_hash"):
                self._chunks.delete(where={"$and": [{"doc_id": doc_id}, {"doc_hash": pending}]})
            if meta.get("content_hash"):
                meta["pending_hash"] = ""
                self._docs.update(ids=[doc_id], metadatas=[meta])
            else:
                self._docs.delete(ids=[doc_id])
            repaired += 1
        return repaired

    def put_document(self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Write a document and its chunks, replacing any older version, all or nothing for readers."""
        self.put_documents([(doc, chunks, vectors)])

    def put_documents(self, items: Sequence[tuple[Document, Sequence[Chunk], Sequence[Sequence[float]]]]) -> None:
        """Write documents with their chunks, each all or nothing for readers, in a few batched writes.

        The protocol per document: mark the new version pending (readers still see the old one, or
        nothing), write its chunks, commit, then drop the old version's chunks. A crash anywhere leaves
        pending marks that `recover` undoes. Batching many small documents into one pass matters: each
        Chroma write is a transaction, and per-document writes made a folder of 3,000 short files take
        minutes.
        """
        for doc, chunks, vectors in items:
            if len(chunks) != len(vectors):
                raise StoreError(f"{doc.doc_id}: {len(chunks)} chunks but {len(vectors)} vectors")
        if len({doc.doc_id for doc, _, _ in items}) != len(items):
            raise StoreError("a batch holds the same document twice")
        if not items:
            return
        ids = [doc.doc_id for doc, _, _ in items]
        old = self._docs.get(ids=ids, include=["metadatas"])
        old_metas = {i: dict(m or {}) for i, m in zip(old["ids"], old["metadatas"] or [], strict=False)}
        # 1. mark the new versions pending; a replaced document keeps its committed text and metadata
        # until step 3, so readers (and `recover` after a crash) still see the old version whole.
        replaced = [doc for doc, _, _ in items if doc.doc_id in old_metas]
        fresh = [doc for doc, _, _ in items if doc.doc_id not in old_metas]
        if replaced:
            self._docs.update(
                ids=[doc.doc_id for doc in replaced],
                metadatas=[{**old_metas[doc.doc_id], "pending_hash": doc.content_hash} for doc in replaced],
            )
        if fresh:
            self._docs.upsert(
                ids=[doc.doc_id for doc in fresh],
                embeddings=[_DOC_VECTOR] * len(fresh),
                metadatas=[{"pending_hash": doc.content_hash, "content_hash": ""} for doc in fresh],
            )
        # 2. the chunks of the new versions
        rows = [(doc, c, v) for doc, chunks, vectors in items for c, v in zip(chunks, vectors, strict=True)]
        for start in range(0, len(rows), _WRITE_BATCH):
            batch = rows[start : start + _WRITE_BATCH]
            self._chunks.upsert(
                ids=[c.chunk_id for _, c, _ in batch],
                embeddings=[list(v) for _, _, v in batch],
                metadatas=[
                    _clean_meta(
                        {
                            **c.metadata,
                            _TEXT: c.text,
                            "doc_id": c.doc_id,
                            "doc_hash": doc.content_hash,
                            "index": c.index,
                            "char_start": c.char_start,
                            "char_end": c.char_end,
                            "heading": c.heading,
                            "published_ts": published_ts(doc.published_at),
                        }
                    )
                    for doc, c, _ in batch
                ],
            )
        # 3. commit
        self._docs.upsert(
            ids=ids,
            embeddings=[_DOC_VECTOR] * len(items),
            documents=[doc.text for doc, _, _ in items],
            metadatas=[
                {
                    **_clean_meta(
                        {
                            "title": doc.title,
                            "source": doc.source,
                            "url": doc.url,
                            "published_at": doc.published_at,
                            "path": doc.path,
                            "chunks": len(chunks),
                            "chars": len(doc.text),
                        }
                    ),
                    "content_hash": doc.content_hash,
                    "pending_hash": "",
                }
                for doc, chunks, _ in items
            ],
        )
        # 4. drop the chunks of replaced versions (only documents that existed can have any)
        for doc, _, _ in items:
            if doc.doc_id in old_metas:
                self._chunks.delete(where={"$and": [{"doc_id": doc.doc_id}, {"doc_hash": {"$ne": doc.content_hash}}]})
        self._touch()

    def remove(self, doc_id: str) -> int:
        """Delete a document and its chunks; returns the number of chunks removed. Raises DocumentNotFoundError."""
        if self._docs is None or not self._docs.get(ids=[doc_id])["ids"]:
            raise not_found([doc_id])
        n = len(self._chunks.get(where={"doc_id": doc_id}, include=[])["ids"])
        # Uncommit first so a crash in between never leaves a half-removed document visible.
        self._docs.delete(ids=[doc_id])
        self._chunks.delete(where={"doc_id": doc_id})
        self._touch()
        return n

    def _touch(self) -> None:
        """Record that the committed content changed, for derived indexes (see qa.lexical)."""
        import uuid

        self._docs.modify(metadata={"qa_format": 1, "qa_stamp": uuid.uuid4().hex})

    def stamp(self) -> str:
        """Changes whenever a document is committed or removed, in this process or another."""
        if self._docs is None:
            return "empty"
        fresh = self.client.get_collection(self._docs_name, embedding_function=None)
        return str((fresh.metadata or {}).get("qa_stamp", "initial"))

    def committed_records(
        self, doc_ids: Sequence[str] | None = None, *, committed: Mapping[str, str] | None = None, page: int = 5_000
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(chunk_id, text, metadata) of every chunk of every committed document version (or of ``doc_ids``).

        ``committed`` is the doc_id → hash map to go by, when the caller has just read it.
        """
        if self._chunks is None or (doc_ids is not None and not doc_ids):
            return []
        committed = self.committed_hashes() if committed is None else committed
        where = {"doc_id": {"$in": list(doc_ids)}} if doc_ids is not None else None
        out: list[tuple[str, str, dict[str, Any]]] = []
        offset = 0
        while True:
            got = self._chunks.get(where=where, include=["documents", "metadatas"], limit=page, offset=offset)
            documents = got["documents"] or [None] * len(got["ids"])
            for cid, document, meta in zip(got["ids"], documents, got["metadatas"] or [], strict=False):
                meta = dict(meta or {})
                text = chunk_text(meta, document)
                if committed.get(str(meta.get("doc_id"))) == meta.get("doc_hash"):
                    out.append((cid, text, meta))
            if len(got["ids"]) < page:
                return out
            offset += page

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of some chunks."""
        if not chunk_ids:
            return {}
        got = self._chunks.get(ids=list(chunk_ids), include=["embeddings"])
        return {cid: list(map(float, vec)) for cid, vec in zip(got["ids"], got["embeddings"], strict=False)}

    def chunk_count(self) -> int:
        """Number of chunk records (all versions)."""
        return int(self._chunks.count()) if self._chunks is not None else 0

    # -- search ----------------------------------------------------------------------------

    def _empty_error(self) -> NoDocumentsError:
        return NoDocumentsError(
            f"no documents have been ingested into {self.location} yet",
            hint="run `qa ingest PATH...` first (e.g. `qa ingest evals/corpus`)",
        )

    def search(self, vector: Sequence[float], k: int, *, where: Mapping[str, Any] | None = None) -> list[Passage]:
        """The k committed chunks nearest to ``vector``, best first; raises NoDocumentsError on an empty store."""
        if self._chunks is None:
            raise self._empty_error()
        # Over-fetch a little: chunks of an uncommitted or superseded version are filtered out below.
        n = k + 8
        res = self._chunks.query(
            query_embeddings=[list(vector)],
            n_results=n,
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        ids = res["ids"][0]
        # count() costs ~10 ms at 100k chunks, so it is asked only when nothing matched.
        if not ids and self._chunks.count() == 0:
            raise self._empty_error()
        metas = res["metadatas"][0] if res["metadatas"] else []
        docs = (res["documents"][0] if res["documents"] else None) or [None] * len(ids)
        dists = res["distances"][0] if res["distances"] else []
        committed = self.committed_hashes(sorted({str(m["doc_id"]) for m in metas}))
        passages: list[Passage] = []
        for chunk_id, meta, document, dist in zip(ids, metas, docs, dists, strict=False):
            if committed.get(str(meta["doc_id"])) != meta.get("doc_hash"):
                continue
            row = dict(meta)
            text = chunk_text(row, document)
            passages.append(to_passage(len(passages) + 1, chunk_id, text, row, 1.0 - float(dist)))
            if len(passages) == k:
                break
        return passages


def not_found(doc_ids: Sequence[str]) -> DocumentNotFoundError:
    """The one DocumentNotFoundError: names up to five missing ids."""
    shown = ", ".join(repr(d) for d in doc_ids[:5]) + (" …" if len(doc_ids) > 5 else "")
    return DocumentNotFoundError(f"no document {shown} in the store", hint="`qa docs` lists them")


def _info(doc_id: str, meta: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=doc_id,
        title=meta.get("title"),
        source=meta.get("source"),
        url=meta.get("url"),
        published_at=meta.get("published_at"),
        path=meta.get("path"),
        content_hash=str(meta["content_hash"]),
        chunks=int(meta.get("chunks", 0)),
        chars=int(meta.get("chars", 0)),
    )
