"""Embedders: one method, ``embed(texts) -> vectors``. Local ONNX MiniLM by default, OpenAI by setting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.errors import ConfigError, ModelUnavailableError
from qa.settings import Settings

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class Embedder(Protocol):
    """Turns texts into unit-length vectors. ``name`` and ``dim`` are recorded in the store."""

    @property
    def name(self) -> str:
        """Identifies the model; a store built with another name refuses to open."""
        ...

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in order; raises ModelError when the model fails."""
        ...


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) run in-process on the CPU: mean pooling, then L2 normalisation."""

    dim = 384

    def __init__(
        self, model_path: Path, tokenizer_path: Path, *, name: str, batch_size: int = 32, threads: int = 2
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.batch_size = batch_size
        self.max_length = 256
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads every input to 128 and truncates at 128; MiniLM was trained to 256
        # and batch-longest padding is much faster on short chunks.
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens in ``text`` without the [CLS]/[SEP] pair (no truncation)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        """Token counts for many texts at once (the tokenizer runs them in parallel)."""
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        try:
            encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        finally:
            self.tokenizer.enable_truncation(self.max_length)
            self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        return [len(e.ids) for e in encs]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in batches; returns L2-normalised 384-d vectors."""
        out: list[list[float]] = []
        # Sorting by length keeps padding per batch small; results are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, i in enumerate(idx):
                vectors[i] = pooled[row]
        for v in vectors:
            assert v is not None
            out.append(v.astype(float).tolist())
        return out


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/embeddings`` endpoint, through the ``openai`` client."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        dim: int | None = None,
    ) -> None:
        import openai

        self.name = f"openai:{model}"
        self.model = model
        self.batch_size = batch_size
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s)
        self._dim = dim

    @property
    def dim(self) -> int:
        """Vector size, learned from the first call when not given."""
        if self._dim is None:
            self._dim = len(self.embed(["dimension probe"])[0])
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in batches; raises ModelUnavailableError when the endpoint fails."""
        import openai

        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                resp = self.client.embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as exc:
                raise ModelUnavailableError(
                    f"embedding endpoint failed: {exc}",
                    hint="check QA_EMBEDDINGS_BASE_URL, QA_EMBEDDINGS_MODEL and the API key",
                ) from exc
            for item in sorted(resp.data, key=lambda d: d.index):
                vec = np.asarray(item.embedding, dtype=np.float64)
                out.append((vec / max(float(np.linalg.norm(vec)), 1e-12)).tolist())
        if out and self._dim is None:
            self._dim = len(out[0])
        return out


class WordCounter:
    """Token counting for embedders that don't expose a tokenizer: words x 4/3, a common rule of thumb."""

    def count_tokens(self, text: str) -> int:
        """Approximate token count."""
        return (len(text.split()) * 4 + 2) // 3


class TokenCounter:
    """Counts tokens with its own copy of an embedder's tokenizer, so it can run on another thread."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # same settings, no shared state

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens in ``text`` without the [CLS]/[SEP] pair, as OnnxEmbedder.count_tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)


def tokenizer_for(embedder: Embedder) -> TokenCounter | WordCounter:
    """A fresh object whose ``count_tokens`` bounds chunk sizes for this embedder (safe on any one thread)."""
    return TokenCounter(embedder.tokenizer) if isinstance(embedder, OnnxEmbedder) else WordCounter()


def make_embedder(settings: Settings) -> Embedder:
    """Build the configured embedder; raises ConfigError or ModelFetchError."""
    emb = settings.embeddings
    if emb.provider == "openai":
        if emb.model == "all-MiniLM-L6-v2-int8":
            raise ConfigError(
                "QA_EMBEDDINGS_PROVIDER=openai needs an embedding model name",
                hint="set QA_EMBEDDINGS_MODEL, e.g. text-embedding-3-small",
            )
        key = emb.api_key.get_secret_value() if emb.api_key else None
        return OpenAIEmbedder(model=emb.model, base_url=emb.base_url, api_key=key, batch_size=emb.batch_size)
    from qa.weights import fetch

    try:
        model = fetch(emb.model, settings.models_dir)
        tok = fetch("all-MiniLM-L6-v2-tokenizer", settings.models_dir)
    except OSError as exc:
        raise ModelUnavailableError(f"cannot prepare the local embedder: {exc}") from exc
    return OnnxEmbedder(model, tok, name=emb.model, batch_size=emb.batch_size, threads=emb.threads)
