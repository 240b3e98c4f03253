"""Finding passages for a question: one method, ``retrieve(question, k)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qa.embeddings import Embedder
from qa.models import Passage
from qa.store import Store


def doc_filter(doc_ids: list[str] | None) -> dict[str, Any] | None:
    """A Chroma ``where`` clause restricting search to some documents, or None for all."""
    if not doc_ids:
        return None
    return {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}


class DenseRetriever:
    """Nearest chunks by embedding cosine similarity."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def retrieve(self, question: str, k: int, where: Mapping[str, Any] | None = None) -> list[Passage]:
        """The k best passages, keyed 1..k; raises NoDocumentsError on an empty store."""
        vector = self.embedder.embed([question])[0]
        return self.store.search(vector, k, where=where)
