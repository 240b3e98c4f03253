"""A plain, textbook LlamaIndex RAG pipeline, used only as a baseline for the benchmarks.

VectorStoreIndex over a ChromaVectorStore with LlamaIndex's defaults (SentenceSplitter 1024/200 tokens,
similarity_top_k=2, the "compact" response mode and its default QA prompt), the SAME embedder as
article-qa (OnnxEmbedder wrapped as a LlamaIndex embedding) and the SAME local model server, spoken to
through the openai client. No citation checks, no refusal logic beyond what the default prompt asks.

Needs the `bench` extra (llama-index-core, llama-index-vector-stores-chroma). LlamaIndex's own OpenAI
LLM package pins openai<3, which clashes with our openai 3 pin, so the model is wrapped here as a
CustomLLM: a dozen lines that send the prompt to the same /v1/chat/completions endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import PrivateAttr

from benchmarks.baselines.langchain_rag import REFUSAL_RULE, BaselineAnswer
from qa.embeddings import Embedder
from qa.models import Document


class OnnxEmbedding(BaseEmbedding):
    """article-qa's embedder as a LlamaIndex embedding model."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(model_name=embedder.name, embed_batch_size=32, **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return list(self._embedder.embed([query])[0])

    def _get_text_embedding(self, text: str) -> list[float]:
        return list(self._embedder.embed([text])[0])

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self._embedder.embed(texts)]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class LocalChatLLM(CustomLLM):
    """The local OpenAI-compatible model server as a LlamaIndex LLM (chat endpoint, one user message)."""

    base_url: str
    context_window: int = 4096
    num_output: int = 400
    _client: Any = PrivateAttr()
    _usage: dict[str, int] = PrivateAttr(default_factory=dict)
    _first_token_at: float | None = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import openai

        self._client = openai.OpenAI(base_url=self.base_url, api_key="not-needed")

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.context_window, num_output=self.num_output, model_name="local")

    def take_usage(self) -> tuple[dict[str, int], float | None]:
        usage, first = self._usage, self._first_token_at
        self._usage, self._first_token_at = {}, None
        return usage, first

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = ""
        for part in self.stream_complete(prompt, formatted=formatted, **kwargs):
            text = part.text
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        stream = self._client.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": prompt}],
            temperature=0.0,
            max_tokens=self.num_output,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = ""
        for chunk in stream:
            if chunk.usage:
                self._usage = {
                    "prompt_tokens": int(chunk.usage.prompt_tokens or 0),
                    "completion_tokens": int(chunk.usage.completion_tokens or 0),
                }
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                if self._first_token_at is None:
                    self._first_token_at = time.perf_counter()
                text += delta
                yield CompletionResponse(text=text, delta=delta)


class LlamaIndexRAG:
    """VectorStoreIndex over Chroma with LlamaIndex's defaults; ask() streams the synthesized answer."""

    def __init__(self, embedder: Embedder, persist_dir: Path, *, base_url: str) -> None:
        import chromadb
        from llama_index.core import Settings as LISettings
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.llm = LocalChatLLM(base_url=base_url)
        LISettings.llm = self.llm
        LISettings.embed_model = OnnxEmbedding(embedder)
        client = chromadb.PersistentClient(path=str(persist_dir))
        collection = client.get_or_create_collection("llamaindex-baseline")
        self._collection = collection
        self._storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        self._index_cls = VectorStoreIndex
        self.index: Any = None
        self.engine: Any = None

    def ingest(self, docs: Sequence[Document]) -> int:
        """Split (SentenceSplitter defaults), embed and store; returns the number of chunks (nodes)."""
        from llama_index.core import Document as LIDocument

        li_docs = [LIDocument(text=d.text, metadata={"doc_id": d.doc_id, "title": d.title or ""}) for d in docs]
        self.index = self._index_cls.from_documents(li_docs, storage_context=self._storage)
        self.engine = self.index.as_query_engine(streaming=True)
        return int(self._collection.count())

    def ask(self, question: str) -> BaselineAnswer:
        """Retrieve (top 2), synthesize with the default prompt, streamed to time the first token."""
        from llama_index.core.schema import QueryBundle

        self.llm.take_usage()
        t0 = time.perf_counter()
        bundle = QueryBundle(question)
        nodes = self.engine.retrieve(bundle)
        retrieve_s = time.perf_counter() - t0
        response = self.engine.synthesize(bundle, nodes)
        text = "".join(response.response_gen)
        total = time.perf_counter() - t0
        usage, first = self.llm.take_usage()
        return BaselineAnswer(
            answer=text.strip(),
            refused=bool(REFUSAL_RULE.search(text)),
            retrieve_s=retrieve_s,
            first_token_s=(first - t0) if first is not None else None,
            total_s=total,
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )
