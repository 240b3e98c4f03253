"""The HTTP API in-process (FastAPI TestClient) with the fake embedder and fake chat models: fast, offline."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from langchain_core.messages import AIMessage, AIMessageChunk
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from qa import QA, Answer
from qa.server.app import create_app
from qa.server.guard import check_bind, is_loopback
from qa.server.service import upload_name
from qa.settings import ServeSettings, Settings
from tests.conftest import ARTICLE, HashEmbedder, make_home, own_home
from tests.fakes import reply
from tests.test_cli import run

QUESTION = "How many troops are going to Poland?"
QUOTE = "about 1,700 troops"
DOC_ID = "cnn-2022-02-02-us-troops-eastern-europe"
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")


class FixedChat:
    """A well-behaved model for any number of calls (ScriptedChat pops one reply per call).

    By default it cites ``quote`` under the key of whichever prompt passage contains it, so answers stay
    verifiable whatever the retrieval order; ``text`` fixes the reply instead. ``invoke`` (the follow-up
    rewrite) returns ``rewrite``. Calls are recorded.
    """

    model_name = "fixed"

    def __init__(self, text: str | None = None, piece: int = 7, rewrite: str = QUESTION) -> None:
        self.text = text
        self.piece = piece
        self.rewrite = rewrite
        self.calls: list[tuple[str, list[Any]]] = []

    def reply_for(self, messages: list[Any]) -> str:
        if self.text is not None:
            return self.text
        prompt = str(messages[-1].content)
        blocks = re.finditer(r"^\[(\d+)\] (.*?)(?=^\[\d+\] |\Z)", prompt, re.M | re.S)
        key = next((int(b.group(1)) for b in blocks if QUOTE in b.group(2)), 1)
        return reply("About 1,700 troops.", [key], QUOTE)

    def stream(self, messages: list[Any], **kwargs: Any) -> Iterator[AIMessageChunk]:
        self.calls.append(("stream", messages))
        text = self.reply_for(messages)
        for i in range(0, len(text), self.piece):
            yield AIMessageChunk(content=text[i : i + self.piece])

    def invoke(self, messages: list[Any], **kwargs: Any) -> AIMessage:
        self.calls.append(("invoke", messages))
        return AIMessage(content=self.rewrite)


class BlockingChat(FixedChat):
    """Streams ``before`` pieces, then waits for ``release`` before the rest. ``done`` is set once the stream
    has ended or been closed (after ``release``, or when the 30 s hang guard gives up)."""

    def __init__(self, release: threading.Event, before: int = 0) -> None:
        super().__init__()
        self.release = release
        self.before = before
        self.entered = threading.Event()
        self.done = threading.Event()

    def stream(self, messages: list[Any], **kwargs: Any) -> Iterator[AIMessageChunk]:
        try:
            for n, chunk in enumerate(super().stream(messages, **kwargs)):
                if n == self.before:
                    self.entered.set()
                    assert self.release.wait(30), "the test never released the model"
                yield chunk
        finally:
            self.done.set()


class ExplodingEmbedder(HashEmbedder):
    """A bug in our own code path: raises a plain RuntimeError for texts containing 'boom'."""

    def embed(self, texts: Any) -> list[list[float]]:
        if any("boom" in t for t in texts):
            raise RuntimeError("secret internal detail /srv/private/path")
        return super().embed(texts)


def server_settings(store: Path, home: Path | None = None) -> Settings:
    """The test's own data folder (conftest.qa_home, models from the repo's, never fetched here), the store in
    a temp folder, no cross-encoder reranking (these tests are about the HTTP layer, not ranking; an unknown
    setting would simply be ignored)."""
    return Settings(home=home or own_home(), store=store, retrieval={"rerank": False})


def make_client(
    tmp_path: Path,
    chat: Any = None,
    *,
    ingest: bool = True,
    embedder: HashEmbedder | None = None,
    llm_base_url: str | None = None,
    raise_server_exceptions: bool = True,
    **serve: Any,
) -> TestClient:
    settings = server_settings(tmp_path / "store")
    settings.llm.base_url = llm_base_url
    settings.llm.max_retries = 0
    qa = QA(settings, embedder=embedder or HashEmbedder(), chat_model=chat if chat is not None else FixedChat())
    if ingest:
        qa.ingest([ARTICLE])
    settings.serve = ServeSettings(**serve)
    app = create_app(qa, settings)
    return TestClient(app, raise_server_exceptions=raise_server_exceptions)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    body = resp.json()
    assert set(body["error"]) == {"code", "message", "hint"} and body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body)


def sse_events(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[len("event: ") :] for line in lines if line.startswith("event: "))
        data = "\n".join(line[len("data: ") :] for line in lines if line.startswith("data: "))
        events.append((name, data))
    return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- /ask ---------------------------------------------------------------------------------------------------


def test_ask_json_returns_the_answer_of_qa_ask_json(client: TestClient) -> None:
    resp = client.post("/ask", json={"question": QUESTION})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    answer = Answer.model_validate(resp.json())
    assert answer.answerable and re.fullmatch(r"About 1,700 troops \[\d\]\.", answer.answer)
    text = ARTICLE.read_text()
    (cite,) = answer.citations
    assert text[cite.char_start : cite.char_end] == cite.quote and "1,700" in cite.quote
    assert set(resp.json()) == set(Answer.model_fields)


def test_ask_streams_tokens_then_the_same_answer(client: TestClient) -> None:
    plain = client.post("/ask", json={"question": QUESTION}).json()
    resp = client.post("/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"token"} and len(names) > 2
    streamed = "".join(json.loads(data)["text"] for name, data in events if name == "token")
    final = json.loads(events[-1][1])
    # the model's words stream as written; the verified answer adds the citation markers
    assert streamed == final["raw_answer"] == "About 1,700 troops."
    assert final["answer"] == "About 1,700 troops [1]."
    assert set(final) == set(plain)
    drop = ("timings",)
    assert {k: v for k, v in final.items() if k not in drop} == {k: v for k, v in plain.items() if k not in drop}


def test_history_rewrites_a_follow_up_with_the_chat_rewrite(tmp_path: Path) -> None:
    chat = FixedChat(rewrite=QUESTION)
    history = [
        {"role": "user", "content": "Where are US troops being sent?"},
        {"role": "assistant", "content": "To Poland, Germany and Romania [1]."},
    ]
    with make_client(tmp_path, chat) as c:
        resp = c.post("/ask", json={"question": "How many of them go there?", "history": history})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["question"] == "How many of them go there?" and body["standalone_question"] == QUESTION
    assert body["answerable"]
    assert [kind for kind, _ in chat.calls] == ["invoke", "stream"]
    rewrite_prompt = str(chat.calls[0][1][0].content)
    assert "Where are US troops being sent?" in rewrite_prompt and "How many of them go there?" in rewrite_prompt
    assert "To Poland" not in rewrite_prompt  # the earlier question said who "them" is; no answer shown


def test_streamed_follow_up_shows_its_rewrite_before_the_answer(tmp_path: Path) -> None:
    chat = FixedChat(rewrite=QUESTION)
    history = [
        {"role": "user", "content": "Where are US troops being sent?"},
        {"role": "assistant", "content": "To Poland, Germany and Romania [1]."},
    ]
    with make_client(tmp_path, chat) as c:
        resp = c.post(
            "/ask",
            json={"question": "How many of them go there?", "history": history},
            headers={"Accept": "text/event-stream"},
        )
    events = sse_events(resp.text)
    assert events[0][0] == "rewrite" and events[-1][0] == "answer"
    assert json.loads(events[0][1]) == {
        "question": QUESTION,
        "rewritten": True,
        "reason": "rewritten from the earlier questions",
    }
    assert json.loads(events[-1][1])["standalone_question"] == QUESTION


def test_standalone_question_with_history_is_not_rewritten(tmp_path: Path) -> None:
    chat = FixedChat()
    history = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hi."}]
    with make_client(tmp_path, chat) as c:
        resp = c.post("/ask", json={"question": QUESTION, "history": history})
    assert resp.status_code == 200 and [kind for kind, _ in chat.calls] == ["stream"]


@pytest.mark.parametrize(
    "body",
    [{}, {"question": ""}, {"question": "x", "k": 0}, {"question": "x", "extra": 1}, {"question": "x" * 2001}],
)
def test_invalid_ask_is_422_bad_input(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/ask", json=body), 422, "bad_input")


def test_blank_question_is_400_bad_input(client: TestClient) -> None:
    assert_error(client.post("/ask", json={"question": "   "}), 400, "bad_input")


def test_lone_surrogate_is_refused_not_crashing(client: TestClient) -> None:
    resp = client.post("/ask", content=b'{"question": "troops \\ud800?"}', headers={"Content-Type": "application/json"})
    assert_error(resp, 422, "bad_input")


def test_doc_ids_limit_the_search_and_unknown_ones_are_404(client: TestClient) -> None:
    resp = client.post("/ask", json={"question": QUESTION, "doc_ids": [DOC_ID]})
    assert resp.status_code == 200 and {p["doc_id"] for p in resp.json()["passages"]} == {DOC_ID}
    body = assert_error(
        client.post("/ask", json={"question": QUESTION, "doc_ids": [DOC_ID, "nope"]}), 404, "document_not_found"
    )
    assert "'nope'" in body["error"]["message"]
    assert_error(client.post("/ask", json={"question": QUESTION, "doc_ids": [""]}), 422, "bad_input")


def test_source_title_and_date_filters_limit_the_search(client: TestClient) -> None:
    wire = {
        "id": "wire-1",
        "title": "Wire copy",
        "source": "Wire",
        "published_at": "2021-05-01",
        "text": "Wire copy: about 1,700 troops are going to Poland, the agency reported in May.",
    }
    assert client.post("/documents", json={"articles": [wire]}).status_code == 200
    for body, expected in [
        ({"source": "Wire"}, {"wire-1"}),
        ({"title": "Wire copy"}, {"wire-1"}),
        ({"published_before": "2021-12-31"}, {"wire-1"}),
        ({"published_after": "2022-01-01"}, set()),
    ]:
        resp = client.post("/ask", json={"question": QUESTION, **body})
        assert resp.status_code == 200, resp.text
        assert {p["doc_id"] for p in resp.json()["passages"]} == expected, body
    assert_error(client.post("/ask", json={"question": QUESTION, "published_after": "May"}), 422, "bad_input")


def test_no_documents_is_409(tmp_path: Path) -> None:
    with make_client(tmp_path, ingest=False) as c:
        assert_error(c.post("/ask", json={"question": QUESTION}), 409, "no_documents")
        sse = c.post("/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"})
        assert_error(sse, 409, "no_documents")


def test_first_upload_makes_a_store_that_answered_409_usable(tmp_path: Path) -> None:
    with make_client(tmp_path, ingest=False) as c:
        assert_error(c.post("/ask", json={"question": QUESTION}), 409, "no_documents")
        assert c.post("/documents", files={"files": ("a.txt", ARTICLE.read_bytes())}).status_code == 200
        assert c.post("/ask", json={"question": QUESTION}).json()["answerable"] is True


def test_model_unavailable_is_503_without_a_traceback(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with make_client(tmp_path, chat=None, llm_base_url=dead) as c:
        c.app.state.context.service.qa._chat = None  # type: ignore[attr-defined]  # the real ChatOpenAI client
        body = assert_error(c.post("/ask", json={"question": QUESTION}), 503, "model_unavailable")
        assert dead in body["error"]["message"] and body["error"]["hint"]
        resp = c.post("/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"})
        assert_error(resp, 503, "model_unavailable")
        assert resp.headers["retry-after"]


def test_unusable_model_reply_is_502_model_output(tmp_path: Path) -> None:
    with make_client(tmp_path, FixedChat('{"answer": "1,700", "citat')) as c:
        assert_error(c.post("/ask", json={"question": QUESTION}), 502, "model_output")


def test_a_bug_is_500_internal_logged_not_leaked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with make_client(tmp_path, embedder=ExplodingEmbedder(), raise_server_exceptions=False) as c:
        with caplog.at_level(logging.ERROR, logger="qa.server"):
            resp = c.post("/ask", json={"question": "boom?"})
        body = assert_error(resp, 500, "internal")
        assert "secret" not in resp.text and "/srv" not in resp.text and body["error"]["hint"]
        assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)
        sse = c.post("/ask", json={"question": "boom?"}, headers={"Accept": "text/event-stream"})
        assert_error(sse, 500, "internal")


# -- limits: overload, timeout, body size -------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_overload_gets_503_with_retry_after(tmp_path: Path) -> None:
    release = threading.Event()
    chat = BlockingChat(release)
    with (
        make_client(tmp_path, chat, max_concurrent=1, max_queue=1, retry_after_s=7) as c,
        ThreadPoolExecutor(2) as pool,
    ):
        gens = c.app.state.context.generations  # type: ignore[attr-defined]
        try:
            first = pool.submit(c.post, "/ask", json={"question": QUESTION})
            assert chat.entered.wait(60)
            second = pool.submit(c.post, "/ask", json={"question": QUESTION})  # waits in the queue
            wait_for(lambda: gens.waiting == 1)
            third = c.post("/ask", json={"question": QUESTION})
            assert_error(third, 503, "overloaded")
            assert third.headers["retry-after"] == "7"
            metrics = c.get("/metrics").text
            assert "qa_generations_in_flight 1" in metrics and "qa_generations_queued 1" in metrics
        finally:
            release.set()
        assert first.result(60).status_code == 200 and second.result(60).status_code == 200
    assert gens.running == 0 and gens.waiting == 0


def test_second_ask_is_refused_when_one_runs_and_the_queue_is_zero(tmp_path: Path) -> None:
    release = threading.Event()
    chat = BlockingChat(release)
    with make_client(tmp_path, chat, max_concurrent=1, max_queue=0) as c, ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(c.post, "/ask", json={"question": QUESTION})
            assert chat.entered.wait(60)
            resp = c.post("/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"})
            assert_error(resp, 503, "overloaded")
            assert int(resp.headers["retry-after"]) > 0
        finally:
            release.set()
        assert first.result(60).status_code == 200


def test_slow_answer_times_out_with_504_and_frees_the_slot(tmp_path: Path) -> None:
    release = threading.Event()
    chat = BlockingChat(release)
    with make_client(tmp_path, chat, ask_timeout_s=0.5) as c:
        gens = c.app.state.context.generations  # type: ignore[attr-defined]
        try:
            body = assert_error(c.post("/ask", json={"question": QUESTION}), 504, "timeout")
            assert "0.5 s" in body["error"]["message"]
            # answered while the model was still held: the 504 did not wait for the model to finish
            assert not chat.done.is_set()
        finally:
            release.set()
        wait_for(lambda: gens.running == 0)  # the worker stops at the next token
        assert chat.done.wait(30)  # and closes the model's stream


def test_stream_that_stalls_ends_with_a_timeout_event(tmp_path: Path) -> None:
    release = threading.Event()
    # enough pieces to pass the evidence fields and reach the answer text, which is what streams
    with make_client(tmp_path, BlockingChat(release, before=12), ask_timeout_s=1.5) as c:
        c.app.state.context.service.qa.retrieve(QUESTION)  # type: ignore[attr-defined]  # warm up the lexical index
        try:
            resp = c.post("/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"})
        finally:
            release.set()
    assert resp.status_code == 200
    events = sse_events(resp.text)
    assert events[0][0] == "token" and events[-1][0] == "error"
    assert json.loads(events[-1][1])["error"]["code"] == "timeout" and "Traceback" not in resp.text


def test_body_over_the_json_limit_is_413(tmp_path: Path) -> None:
    with make_client(tmp_path, max_json_mb=0.001) as c:
        assert_error(c.post("/ask", json={"question": "x" * 1500}), 413, "too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            yield b'{"question": "'
            for _ in range(20):
                yield b"x" * 100
            yield b'"}'

        resp = c.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in resp.request.headers
        assert_error(resp, 413, "too_large")
        assert c.post("/ask", json={"question": QUESTION}).status_code == 200


def test_upload_over_the_upload_limit_is_413(tmp_path: Path) -> None:
    with make_client(tmp_path, ingest=False, max_upload_mb=0.01) as c:
        files = [("files", ("a.txt", ARTICLE.read_bytes())), ("files", ("b.txt", b"more text " * 600))]
        assert_error(c.post("/documents", files=files), 413, "too_large")
        assert c.get("/documents").json() == []


# -- /documents ---------------------------------------------------------------------------------------------


def test_upload_mixed_files_good_in_bad_listed(tmp_path: Path) -> None:
    files = [
        ("files", ("good.txt", ARTICLE.read_bytes(), "text/plain")),
        ("files", ("notes.md", b"# Harbours\n\nShips unload grain at the harbour every morning.", "text/markdown")),
        ("files", ("empty.txt", b"", "text/plain")),
        ("files", ("binary.txt", bytes(range(256)) * 40, "application/octet-stream")),
        ("files", ("program.exe", b"MZ\x90\x00", "application/octet-stream")),
        ("files", ("lines.jsonl", b'{"id": "line-1", "text": "Trains run late in winter."}\nnot json\n', "text/plain")),
    ]
    with make_client(tmp_path, ingest=False) as c:
        resp = c.post("/documents", files=files)
        assert resp.status_code == 200, resp.text
        report = resp.json()
        assert sorted(report["added"]) == ["good", "line-1", "notes"]
        failed = {f["path"].split(":")[0]: f["reason"] for f in report["failed"]}
        assert set(failed) == {"empty.txt", "binary.txt", "program.exe", "lines.jsonl"}
        assert "empty" in failed["empty.txt"] and "binary" in failed["binary.txt"]
        assert "qa-upload" not in resp.text  # no private temp path leaks into the report
        listed = c.get("/documents").json()
        assert [d["doc_id"] for d in listed] == ["good", "line-1", "notes"]
        assert listed[0]["path"] == "upload:good.txt"
        again = c.post("/documents", files=files[:1]).json()
        assert again["skipped"] == ["good"] and again["added"] == []


def test_upload_of_only_bad_files_is_422_with_the_report(tmp_path: Path) -> None:
    with make_client(tmp_path, ingest=False) as c:
        resp = c.post("/documents", files=[("files", ("e.txt", b"")), ("files", ("x.pdf", b"%PDF"))])
        body = assert_error(resp, 422, "bad_input")
        assert len(body["report"]["failed"]) == 2 and body["report"]["added"] == []


def test_path_traversal_filenames_are_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    import tempfile

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(uploads))
    names = ["../../evil.txt", "..\\..\\evil-win.txt", "/etc/cron.d/evil-abs.txt", "../.. ../.txt", "....txt"]
    files = [("files", (name, b"An article about harbours and grain ships.")) for name in names]
    resp = client.post("/documents", files=files)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    for doc_id in report["added"]:
        assert SLUG.fullmatch(doc_id), doc_id
    assert {"evil", "evil-win", "evil-abs"} <= set(report["added"])
    assert {f["path"] for f in report["failed"]} == {"../.. ../.txt", "....txt"}
    assert list(uploads.iterdir()) == []  # the private temp dir is gone, nothing was left next to it
    written = [p for p in tmp_path.rglob("*evil*")]
    assert written == [], written
    assert not Path("/etc/cron.d/evil-abs.txt").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../x.txt", "x.txt"),
        ("C:\\Users\\a\\Report 2024.HTML", "report-2024.html"),
        ("notes.md", "notes.md"),
        ("archive.tar.gz", None),
        ("noext", None),
        (None, None),
        ("..", None),
        (".hidden.txt", "hidden.txt"),
        ("a" * 400 + ".txt", "a" * 100 + ".txt"),
    ],
)
def test_upload_names(given: str | None, expected: str | None) -> None:
    assert upload_name(given)[1] == expected


def test_json_articles_list_and_delete(client: TestClient) -> None:
    body = {
        "articles": [
            {"id": "harbour", "text": "Ships unload grain at the harbour.", "title": "Harbour", "source": "Test"},
            {"text": "Trains run late in winter because of snow."},
            {"id": "blank", "text": "   "},
        ]
    }
    resp = client.post("/documents", json=body)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert "harbour" in report["added"] and len(report["added"]) == 2
    assert [f["path"] for f in report["failed"]] == ["blank"]
    generated = next(d for d in report["added"] if d != "harbour")
    assert generated.startswith("article-")
    docs = {d["doc_id"]: d for d in client.get("/documents").json()}
    assert set(docs) == {DOC_ID, "harbour", generated} and docs["harbour"]["title"] == "Harbour"
    assert client.delete("/documents/harbour").status_code == 204
    assert_error(client.delete("/documents/harbour"), 404, "document_not_found")
    assert "harbour" not in {d["doc_id"] for d in client.get("/documents").json()}


@pytest.mark.parametrize(
    "body",
    [{}, {"articles": []}, {"articles": [{"title": "no text"}]}, {"articles": [{"text": "x", "id": "\x00"}]}],
)
def test_invalid_json_articles_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/documents", json=body), 422, "bad_input")


def test_other_content_types_are_415(client: TestClient) -> None:
    resp = client.post("/documents", content=b"text", headers={"Content-Type": "text/plain"})
    assert_error(resp, 415, "bad_input")
    assert_error(client.post("/documents", files={"other": ("a.txt", b"x")}), 400, "bad_input")


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.put("/ask"), 405, "method_not_allowed")
    assert_error(client.delete("/documents/"), 404, "document_not_found")


# -- /health, /metrics, OpenAPI ----------------------------------------------------------------------------


def test_health_reports_each_part_without_starting_a_model(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with make_client(tmp_path, llm_base_url=dead) as c:
        health = c.get("/health").json()
    assert health["store"] == {"ok": True, "location": "store", "documents": 1, "error": None}
    assert health["embedder"]["name"] == "hash-test" and health["embedder"]["dim"] == 64
    assert health["model"]["base_url"] == dead and health["model"]["reachable"] is False
    assert health["status"] == "degraded"
    from qa.localserver import status

    # The test's own data folder (conftest.qa_home): no local server runs for it, and /health must not start one.
    assert status(server_settings(tmp_path)) is None
    with make_client(tmp_path / "local") as c:  # no base URL: the local server, which must not be started
        health = c.get("/health").json()
    assert health["model"]["local"] is True and health["model"]["reachable"] is False
    assert health["status"] == "ok" and status(server_settings(tmp_path)) is None


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse_metrics(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"not Prometheus text format: {line!r}"
        name = match.group(1)
        assert name in typed or name.removesuffix("_sum").removesuffix("_count") in typed, name
        samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_metrics_in_prometheus_text_format(client: TestClient) -> None:
    for _ in range(3):
        client.post("/ask", json={"question": QUESTION})
    client.post("/ask", json={"question": "What is the population of Poland?"})
    client.post("/ask", json={})
    client.post("/documents", json={"articles": [{"id": "m", "text": "Metrics article about trains."}]})
    client.delete("/documents/nope")
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = parse_metrics(resp.text)
    assert m['qa_http_requests_total{endpoint="/ask",method="POST",status="200"}'] == 4
    assert m['qa_http_requests_total{endpoint="/ask",method="POST",status="422"}'] == 1
    assert m['qa_http_requests_total{endpoint="/documents",method="POST",status="200"}'] == 1
    assert m['qa_http_requests_total{endpoint="/documents/{doc_id}",method="DELETE",status="404"}'] == 1
    assert m['qa_answers_total{outcome="answerable"}'] + m['qa_answers_total{outcome="refused"}'] == 4
    assert m['qa_answers_total{outcome="answerable"}'] >= 3
    assert m["qa_ask_latency_seconds_count"] == 4
    p50, p95 = m['qa_ask_latency_seconds{quantile="0.5"}'], m['qa_ask_latency_seconds{quantile="0.95"}']
    assert 0 < p50 <= p95
    assert m["qa_ingested_documents_total"] == 1
    assert m["qa_generations_in_flight"] == 0 and m["qa_generations_queued"] == 0
    # this process's memory, for watching a worker over time (the embedder alone is ~100 MB)
    assert 50e6 < m["process_resident_memory_bytes"] < 20e9


def test_openapi_schema_describes_the_endpoints(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/ask", "/documents", "/documents/{doc_id}", "/health", "/metrics"} <= set(schema["paths"])
    ask = schema["paths"]["/ask"]["post"]
    assert ask["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Answer")
    body = schema["paths"]["/documents"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)


# -- auth, binding, CORS --------------------------------------------------------------------------------------


def test_bearer_token_is_required_when_set(tmp_path: Path) -> None:
    with make_client(tmp_path, token="s3cret-token") as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
            resp = c.get("/documents", headers=headers)
            assert_error(resp, 401, "unauthorized")
            assert resp.headers["www-authenticate"].startswith("Bearer")
        assert_error(c.post("/ask", json={"question": QUESTION}), 401, "unauthorized")
        assert_error(c.get("/openapi.json"), 401, "unauthorized")
        ok = {"Authorization": "Bearer s3cret-token"}
        assert c.get("/documents", headers=ok).status_code == 200
        assert c.post("/ask", json={"question": QUESTION}, headers=ok).status_code == 200
        metrics = c.get("/metrics", headers=ok).text
        assert 'endpoint="/documents",method="GET",status="401"} 3' in metrics


def test_binding_beyond_loopback_needs_a_token() -> None:
    from pydantic import SecretStr

    from qa.errors import ConfigError

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="without a token") as err:
            check_bind(host, None)
        assert "QA_SERVE_TOKEN" in err.value.hint
        check_bind(host, SecretStr("t"))


def test_cors_is_off_by_default_and_opt_in(tmp_path: Path) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with make_client(tmp_path / "a") as c:
        assert (
            "access-control-allow-origin" not in c.get("/documents", headers={"Origin": "https://app.example"}).headers
        )
        assert "access-control-allow-origin" not in c.options("/ask", headers=preflight).headers
    with make_client(tmp_path / "b", cors_origins=["https://app.example"], token="t") as c:
        resp = c.options("/ask", headers={**preflight, "Access-Control-Request-Headers": "authorization"})
        assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "https://app.example"
        other = c.options("/ask", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_serve_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_SERVE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("QA_SERVE_TOKEN", "")
    monkeypatch.setenv("QA_SERVE_MAX_CONCURRENT", "2")
    serve = Settings().serve
    assert serve.cors_origins == ["https://a.example", "https://b.example"]
    assert serve.token is None and serve.max_concurrent == 2
    assert all(field.description for field in ServeSettings.model_fields.values())


def test_serve_refuses_a_public_host_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("must not start"))
    code, _, err = run(["serve", "--host", "0.0.0.0"], capsys)
    assert code == 2 and "refusing to listen on 0.0.0.0 without a token" in err and "hint: set QA_SERVE_TOKEN" in err


def test_serve_command_runs_uvicorn_with_the_app(
    tmp_path: Path, qa_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from fastapi import FastAPI

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("QA_HOME", str(qa_home))
    monkeypatch.setenv("QA_SERVE_TOKEN", "t0ken")
    code, _, err = run(["serve", "--host", "0.0.0.0", "--port", "8123", "--store", str(tmp_path / "s")], capsys)
    assert code == 0, err
    assert isinstance(seen["app"], FastAPI) and seen["host"] == "0.0.0.0" and seen["port"] == 8123
    assert "bearer token required" in err


def test_serve_help_teaches_with_curl(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["serve", "--help"], capsys)
    assert code == 0 and "curl" in out and "--host" in out and "QA_SERVE_TOKEN" in out
    code, out, _ = run(["--help"], capsys)
    assert "serve" in out


# -- schemathesis: generated requests from the OpenAPI schema never get a 5xx -------------------------------


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("schema")
    settings = server_settings(folder / "store", make_home(folder))  # shared by this module's tests
    qa = QA(settings, embedder=HashEmbedder(), chat_model=FixedChat())  # type: ignore[arg-type]
    qa.ingest([ARTICLE])
    settings.serve = ServeSettings(max_queue=50)
    app = create_app(qa, settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


VALID, INVALID = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [
    ("POST", "/ask", VALID),
    ("POST", "/ask", INVALID),
    ("POST", "/documents", VALID),
    ("POST", "/documents", INVALID),
    ("GET", "/documents", VALID),
    ("DELETE", "/documents/{doc_id}", VALID),
    ("GET", "/health", VALID),
    ("GET", "/metrics", VALID),
]


# schemathesis.pytest.from_fixture needs a pytest internal that pytest 9 removed, so the strategies are
# driven with hypothesis directly: bounded (max_examples), derandomized (a fixed seed), no example database.
# Invalid-data generation only for the operations with a body (there is nothing to break in the others).
@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS, ids=lambda v: getattr(v, "value", v))
def test_generated_requests_never_get_a_server_error(api_schema: Any, method: str, path: str, mode: Any) -> None:
    strategy = api_schema[path][method].as_strategy(generation_mode=mode)
    examples = 20 if (method, path) == ("POST", "/documents") else 40  # each valid upload is a real ingest

    @given(case=strategy)
    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    check()


def test_an_app_serves_again_after_a_lifespan_ended(tmp_path: Path) -> None:
    # Each TestClient context runs the app's startup and shutdown; a second server (or a test client per
    # request, as schemathesis uses) must get a working generation pool, not "the server is shutting down".
    settings = server_settings(tmp_path / "store")
    qa = QA(settings, embedder=HashEmbedder(), chat_model=FixedChat())  # type: ignore[arg-type]
    qa.ingest([ARTICLE])
    app = create_app(qa, settings)
    for _ in range(2):
        with TestClient(app) as c:
            resp = c.post("/ask", json={"question": QUESTION})
            assert resp.status_code == 200 and resp.json()["answerable"], resp.text
