from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from qa.embeddings import OnnxEmbedder, OpenAIEmbedder, make_embedder, tokenizer_for
from qa.errors import ModelUnavailableError
from qa.settings import Settings


@pytest.fixture(scope="module")
def onnx(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    from tests.conftest import make_home

    emb = make_embedder(Settings(home=make_home(tmp_path_factory.mktemp("onnx"))))
    assert isinstance(emb, OnnxEmbedder)
    return emb


def test_local_embedder_gives_unit_vectors_in_input_order(onnx: OnnxEmbedder) -> None:
    texts = ["short", "a much longer sentence about troops deploying to Poland and Germany", "Romania"]
    vecs = np.array(onnx.embed(texts))
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    single = np.array(onnx.embed([texts[1]]))[0]
    assert np.allclose(single, vecs[1], atol=1e-4)  # batching and sorting don't change results


def test_local_embedder_ranks_related_text_higher(onnx: OnnxEmbedder) -> None:
    q, related, unrelated = onnx.embed(
        ["How many soldiers go to Poland?", "About 1,700 troops will deploy to Poland.", "The recipe needs two eggs."]
    )
    assert np.dot(q, related) > np.dot(q, unrelated) + 0.2


def test_token_counts_ignore_the_128_token_padding(onnx: OnnxEmbedder) -> None:
    assert onnx.count_tokens("Hello world") == 2
    assert onnx.count_tokens_batch(["Hello world", "a " * 300]) == [2, 300]


def test_token_counter_counts_as_the_embedder_while_it_embeds_on_another_thread(onnx: OnnxEmbedder) -> None:
    # Ingest chunks on a second thread while the embedder runs, each with its own tokenizer.
    texts = ["Hello world", "About 1,700 troops will deploy to Poland.", "word " * 300, "Kadamovskiy said so."] * 25
    counter = tokenizer_for(onnx)
    assert counter.count_tokens(texts[1]) == onnx.count_tokens(texts[1])
    expected = [onnx.count_tokens(t) for t in texts]
    vectors = onnx.embed(texts[:8])
    got: list[int] = []
    worker = threading.Thread(target=lambda: got.extend(counter.count_tokens(t) for t in texts))
    worker.start()
    again = onnx.embed(texts[:8])
    worker.join()
    assert got == expected
    assert np.allclose(np.array(again), np.array(vectors), atol=1e-5)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(body["input"])
        ]
        out = json.dumps(
            {
                "object": "list",
                "data": data[::-1],
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embeddings_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_openai_embedder_batches_normalises_and_keeps_order(embeddings_server: str) -> None:
    emb = OpenAIEmbedder(model="m", base_url=embeddings_server, api_key=None, batch_size=2)
    vecs = emb.embed(["a", "bbb", "cc"])
    assert emb.dim == 3 and emb.name == "openai:m"
    expected = [np.array([n, 1.0, 0.0]) / np.linalg.norm([n, 1.0, 0.0]) for n in (1, 3, 2)]
    assert all(np.allclose(v, e) for v, e in zip(vecs, expected, strict=True))


def test_openai_embedder_unreachable_is_a_clear_error() -> None:
    emb = OpenAIEmbedder(model="m", base_url="http://127.0.0.1:9/v1", api_key=None, timeout_s=2)
    emb.client = emb.client.with_options(max_retries=0)
    with pytest.raises(ModelUnavailableError, match="embedding endpoint failed"):
        emb.embed(["x"])
