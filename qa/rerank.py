"""Reranking candidates with a cross-encoder that reads the question and each passage together.

A bi-encoder (the embedder) compares two separately made vectors; a cross-encoder attends across
question and passage, so it tells "which passage answers this" much better, at the cost of one model
call per candidate. It runs in-process on the CPU (ms-marco-MiniLM-L-12-v2, int8 ONNX).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.settings import Settings

RERANKER = "ms-marco-MiniLM-L-12-v2-int8"


class CrossEncoder:
    """Scores (question, passage) pairs: higher means the passage is more likely to answer the question."""

    def __init__(self, model_path: Path, tokenizer_path: Path, *, threads: int = 2, max_length: int = 320) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer: Any = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer pads every input to 512; pad per batch instead.
        self.tokenizer.no_padding()
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer.enable_truncation(max_length, strategy="only_second")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """One relevance logit per passage, in input order."""
        if not passages:
            return []
        encs = self.tokenizer.encode_batch([(question, p) for p in passages])
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        logits = self.session.run(None, feeds)[0]
        return [float(x) for x in np.asarray(logits).reshape(len(passages), -1)[:, 0]]


def make_reranker(settings: Settings) -> CrossEncoder:
    """The bundled cross-encoder, fetched and verified on first use; raises ModelFetchError."""
    from qa.weights import fetch

    model = fetch(RERANKER, settings.models_dir)
    tok = fetch("ms-marco-MiniLM-L-12-v2-tokenizer", settings.models_dir)
    return CrossEncoder(model, tok, threads=settings.embeddings.threads)
