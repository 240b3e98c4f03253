"""Scale-out: two `qa serve` processes share one Chroma server; what one ingests, the other answers from.

Real parts: `chroma run`, two `qa serve` workers with the ONNX embedder. The chat model is the stub
OpenAI-compatible server of tests/stub_llm.py (in this process), replying with a fixed cited answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import ARTICLE, own_home
from tests.stub_llm import stub_llm
from tests.test_integration import _free_port, chroma_server  # noqa: F401  (the fixture, used by name)

pytestmark = pytest.mark.integration
QUESTION = "How many troops are going to Poland?"
QUOTE = "about 1,700 troops"
# A fixed reply pointing at sentences 1..4 (the most the answer schema allows) with the answer span: when none
# of them holds the span, code cites the shown sentence that does, so the answer doesn't depend on how
# retrieval ranks the passages.
CITED_REPLY = json.dumps({"ids": [1, 2, 3, 4], "span": QUOTE, "verdict": "none", "answer": "About 1,700 troops."})


@contextmanager
def serve_process(tmp_path: Path, name: str, env: dict[str, str]) -> Iterator[str]:
    """`qa serve` in a subprocess on a free loopback port; yields its base URL, stops it afterwards.

    QA_HOME is the test's own data folder (conftest.qa_home) unless ``env`` names one."""
    port = _free_port()
    qa = Path(sys.executable).parent / "qa"
    log_path = tmp_path / f"serve-{name}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"QA_HOME": str(own_home())} | env
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(qa), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=tmp_path,  # no stray .env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"qa serve {name} did not start:\n{log_path.read_text()}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_two_workers_share_one_chroma_server(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    chroma_url = request.getfixturevalue("chroma_server")
    article = ARTICLE.read_text()
    with stub_llm(CITED_REPLY) as stub:
        env = {"QA_CHROMA_URL": chroma_url, "QA_LLM_BASE_URL": stub["url"], "QA_LLM_MAX_RETRIES": "0"}
        with serve_process(tmp_path, "a", env) as a, serve_process(tmp_path, "b", env) as b:
            # B has opened the (still empty) store before A creates it: it must notice the ingest anyway.
            assert httpx.get(f"{b}/documents", timeout=30).json() == []
            with ARTICLE.open("rb") as fh:
                up = httpx.post(f"{a}/documents", files={"files": (ARTICLE.name, fh, "text/plain")}, timeout=120)
            assert up.status_code == 200, up.text
            assert up.json()["added"] == [ARTICLE.stem]

            listed = httpx.get(f"{b}/documents", timeout=30).json()
            assert [d["doc_id"] for d in listed] == [ARTICLE.stem]
            assert httpx.get(f"{b}/health", timeout=30).json()["store"]["documents"] == 1

            resp = httpx.post(f"{b}/ask", json={"question": QUESTION}, timeout=120)
            assert resp.status_code == 200, resp.text
            answer = resp.json()
            assert answer["answerable"] is True, answer["refusal_reason"]
            assert answer["citations"] and all(c["quote"] in article for c in answer["citations"])
            assert any(QUOTE in c["quote"] for c in answer["citations"])
            for c in answer["citations"]:
                assert article[c["char_start"] : c["char_end"]] == c["quote"]

            streamed = httpx.post(
                f"{b}/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"}, timeout=120
            )
            assert streamed.status_code == 200 and "event: answer" in streamed.text

            assert httpx.delete(f"{b}/documents/{ARTICLE.stem}", timeout=30).status_code == 204
            assert httpx.get(f"{a}/documents", timeout=30).json() == []
        assert stub["requests"] >= 2
