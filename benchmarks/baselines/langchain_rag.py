"""A plain, textbook LangChain RAG pipeline, used only as a baseline for the benchmarks.

RecursiveCharacterTextSplitter(1000, 200) → Chroma (langchain_chroma) with the SAME embedder as article-qa
(OnnxEmbedder wrapped as a LangChain ``Embeddings``) → top-4 similarity search → the classic "stuff" prompt
→ the same local model through ChatOpenAI. No citation checks, no refusal logic beyond what the prompt asks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings

from qa.embeddings import Embedder
from qa.models import Document

STUFF_PROMPT = (
    "Use the following pieces of context to answer the question at the end. "
    "If you don't know the answer, just say that you don't know, don't try to make up an answer.\n\n"
    "{context}\n\nQuestion: {question}\nHelpful Answer:"
)

#: A baseline answer counts as a refusal when it says it doesn't know / the context doesn't say.
REFUSAL_RULE = re.compile(
    r"\b(i\s+(do\s+not|don't|cannot|can't)\s+know"
    r"|(does\s+not|doesn't|do\s+not|don't|not)\s+(contain|mention|provide|specify|say|state|include|give)"
    r"|no\s+(information|mention)|not\s+(mentioned|provided|specified|stated|available)"
    r"|(cannot|can't|unable\s+to)\s+(answer|determine|find))",
    re.IGNORECASE,
)


class OnnxEmbeddings(Embeddings):
    """article-qa's embedder as a LangChain Embeddings."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0]


@dataclass
class BaselineAnswer:
    """One baseline reply with its cost."""

    answer: str
    refused: bool
    retrieve_s: float
    first_token_s: float | None
    total_s: float
    prompt_tokens: int
    completion_tokens: int


class LangChainRAG:
    """Split, embed, store in Chroma; retrieve 4; stuff them into one prompt."""

    def __init__(self, embedder: Embedder, persist_dir: Path, *, base_url: str | None = None, k: int = 4) -> None:
        from langchain_chroma import Chroma

        self.k = k
        self.store = Chroma(
            collection_name="langchain-baseline",
            embedding_function=OnnxEmbeddings(embedder),
            persist_directory=str(persist_dir),
        )
        self.base_url = base_url
        self._chat: Any = None

    def ingest(self, docs: Sequence[Document]) -> int:
        """Split and add the documents; returns the number of chunks."""
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        pieces = splitter.split_documents(
            [LCDocument(page_content=d.text, metadata={"doc_id": d.doc_id, "title": d.title or ""}) for d in docs]
        )
        self.store.add_documents(pieces)
        return len(pieces)

    @property
    def chat(self) -> Any:
        if self._chat is None:
            from langchain_openai import ChatOpenAI
            from pydantic import SecretStr

            self._chat = ChatOpenAI(
                base_url=self.base_url,
                api_key=SecretStr("not-needed"),
                model="local",
                temperature=0.0,
                max_completion_tokens=400,
                stream_usage=True,
            )
        return self._chat

    def ask(self, question: str) -> BaselineAnswer:
        """Retrieve, stuff, generate (streamed, to time the first token)."""
        t0 = time.perf_counter()
        hits = self.store.similarity_search(question, k=self.k)
        retrieve_s = time.perf_counter() - t0
        prompt = STUFF_PROMPT.format(context="\n\n".join(h.page_content for h in hits), question=question)
        first: float | None = None
        text = ""
        prompt_tokens = completion_tokens = 0
        for chunk in self.chat.stream(prompt):
            piece = chunk.content if isinstance(chunk.content, str) else ""
            if piece and first is None:
                first = time.perf_counter() - t0
            text += piece
            um = getattr(chunk, "usage_metadata", None)
            if um:
                prompt_tokens = int(um.get("input_tokens", 0))
                completion_tokens = int(um.get("output_tokens", 0))
        return BaselineAnswer(
            answer=text.strip(),
            refused=bool(REFUSAL_RULE.search(text)),
            retrieve_s=retrieve_s,
            first_token_s=first,
            total_s=time.perf_counter() - t0,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
