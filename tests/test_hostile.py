"""Hostile and odd input (issue #14): each case a user met, kept fixed. More rows to come."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa import QA
from qa.errors import InputError
from qa.settings import Settings
from tests.conftest import ARTICLE, HashEmbedder, own_home
from tests.fakes import ScriptedChat
from tests.test_server import DOC_ID, QUESTION, FixedChat, assert_error, make_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def make_qa(tmp_path: Path, chat: object) -> QA:
    qa = QA(Settings(home=own_home(), store=tmp_path / "store"), embedder=HashEmbedder(), chat_model=chat)  # type: ignore[arg-type]
    qa.ingest([ARTICLE])
    return qa


def test_the_same_document_id_twice_is_folded_not_a_server_error(tmp_path: Path, client: TestClient) -> None:
    resp = client.post("/ask", json={"question": QUESTION, "doc_ids": [DOC_ID, DOC_ID]})
    assert resp.status_code == 200, resp.text
    assert {p["doc_id"] for p in resp.json()["passages"]} == {DOC_ID}
    qa = make_qa(tmp_path, FixedChat())
    assert {p.doc_id for p in qa.retrieve(QUESTION, doc_ids=[DOC_ID, DOC_ID])} == {DOC_ID}


@pytest.mark.parametrize("k", [True, "5", 2.5])
def test_k_must_be_a_real_integer(client: TestClient, k: object) -> None:
    assert_error(client.post("/ask", json={"question": QUESTION, "k": k}), 422, "bad_input")


def test_a_huge_question_gets_the_length_error_before_retrieval(tmp_path: Path) -> None:
    chat = ScriptedChat()
    qa = make_qa(tmp_path, chat)
    for size in (2_001, 20_000):
        with pytest.raises(InputError, match=f"the question is {size} characters long"):
            qa.ask("w" * size)
    assert chat.calls == []


def test_a_fifo_is_listed_as_failed_and_never_opened(tmp_path: Path) -> None:
    import os
    import threading

    from qa.documents import discover, load_file

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "good.txt").write_text("Harbour workers unloaded 40 tonnes of grain on Monday, officials said.")
    os.mkfifo(folder / "pipe.txt")
    files, failures = discover([folder])
    assert [f.name for f in files] == ["good.txt", "pipe.txt"] and not failures
    done: list[str] = []

    def read() -> None:
        try:
            load_file(folder / "pipe.txt")
        except InputError as exc:
            done.append(exc.message)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout=30)  # only a real hang takes this long
    assert done and "not a regular file" in done[0]  # an open() would have blocked forever


def test_an_unreadable_subfolder_or_parent_is_reported_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where permissions don't bite; the OS errors are raised as a normal user gets them.
    import os

    from qa import documents

    folder = tmp_path / "d"
    (folder / "locked").mkdir(parents=True)
    (folder / "good.txt").write_text("text")
    real_walk = os.walk

    def walk(top: str | os.PathLike[str], onerror: object = None, **kw: object) -> object:
        for root, dirs, files in real_walk(top):
            if Path(root).name == "locked" and callable(onerror):
                onerror(PermissionError(13, "Permission denied", str(root)))
                continue
            yield root, dirs, files

    monkeypatch.setattr(documents.os, "walk", walk)
    files, failures = documents.discover([folder])
    assert [f.name for f in files] == ["good.txt"]
    (bad,) = failures
    assert bad.path.endswith("locked") and "permission denied" in bad.reason and "folder" in bad.reason

    def exists(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "exists", exists)
    files, failures = documents.discover([folder / "x.txt"])
    assert files == [] and "permission denied" in failures[0].reason and failures[0].hint


def test_removing_from_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    from qa.errors import StoreError

    missing = tmp_path / "does" / "not" / "exist"
    qa = QA(Settings(home=own_home(), store=missing), embedder=HashEmbedder())
    with pytest.raises(StoreError, match="no store at"):
        qa.remove("x")
    assert not (tmp_path / "does").exists()


SECRET_URL = "http://user:secret@127.0.0.1:9/v1?key=abc"


def test_credentials_in_urls_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.llm import translate_error
    from qa.settings import redact_url

    assert redact_url(SECRET_URL) == "http://***@127.0.0.1:9/v1?***"
    assert redact_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    monkeypatch.setenv("QA_LLM_BASE_URL", SECRET_URL)
    monkeypatch.setenv("QA_CHROMA_URL", "http://admin:pw@127.0.0.1:8000")
    settings = Settings()
    shown = str(settings.masked()) + translate_error(TimeoutError("slow"), settings).message
    assert "secret" not in shown and "key=abc" not in shown and "pw@" not in shown
    assert "127.0.0.1:9/v1" in shown
    monkeypatch.delenv("QA_CHROMA_URL")
    with make_client(tmp_path, llm_base_url=SECRET_URL) as c:
        health = c.get("/health").text
    assert "secret" not in health and "key=abc" not in health and "127.0.0.1:9" in health


def test_tokens_in_query_strings_never_reach_the_access_log(tmp_path: Path) -> None:
    import logging

    from qa.server.guard import redact_query

    assert redact_query("/ask?token=abc&k=3") == "/ask?token=***&k=3"
    assert redact_query("/health?api_key=s3cret") == "/health?api_key=***"
    assert redact_query("/documents?limit=5") == "/documents?limit=5"
    with make_client(tmp_path):  # the app's startup installs the filter on uvicorn's access logger
        pass
    logger = logging.getLogger("uvicorn.access")
    record = logger.makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5555", "GET", "/documents?token=hunter2", "1.1", 401), None,
    )  # fmt: skip
    assert all(f.filter(record) for f in logger.filters)
    assert "hunter2" not in record.getMessage() and "token=***" in record.getMessage()


@pytest.mark.parametrize("bad_id", ["x" * 10_000, "nul\u0000id", "evil\u202eid"])
def test_an_uploaded_jsonl_id_follows_the_same_rules_as_every_other_route(tmp_path: Path, bad_id: str) -> None:
    import json as _json

    lines = _json.dumps({"id": bad_id, "text": "Trains run late in winter."}) + "\n"
    lines += _json.dumps({"id": "fine", "text": "Ships unload grain every morning."}) + "\n"
    with make_client(tmp_path, ingest=False) as c:
        resp = c.post("/documents", files=[("files", ("lines.jsonl", lines.encode(), "text/plain"))])
        assert resp.status_code == 200, resp.text
        report = resp.json()
        assert report["added"] == ["fine"] and len(report["failed"]) == 1 and '"id"' in report["failed"][0]["reason"]
        # and the JSON route says no to the same id
        assert c.post("/documents", json={"articles": [{"id": bad_id, "text": "x y z"}]}).status_code == 422


def test_a_file_rewritten_while_it_is_read_is_read_again_or_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from qa import documents

    f = tmp_path / "a.txt"
    f.write_text("The first version of the article, long enough to be kept as text.")
    real = documents._load_file_once
    rewrites = {"left": 1}

    def rewriting(path: Path, max_bytes: int) -> object:
        out = real(path, max_bytes)
        if rewrites["left"]:
            rewrites["left"] -= 1
            n = rewrites["left"]
            path.write_text("The second version of the article, written while the first was being read." + "!" * n)
            os.utime(path, ns=(n + 1, n + 1))
        return out

    monkeypatch.setattr(documents, "_load_file_once", rewriting)
    (doc,), _ = documents.load_file(f)
    assert doc.text.startswith("The second version")  # read again, whole
    rewrites["left"] = 5
    with pytest.raises(InputError, match="changed while it was being read"):
        documents.load_file(f)


def test_server_paths_stay_server_side(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:  # ARTICLE ingested from its absolute path
        listed = c.get("/documents").json()
        answer = c.post("/ask", json={"question": QUESTION}).text
        health = c.get("/health").text
    assert listed[0]["path"] == ARTICLE.name
    for shown in (str(listed), answer, health):
        assert str(ARTICLE.parent) not in shown and str(tmp_path) not in shown
    with make_client(tmp_path / "empty", ingest=False) as c:
        body = assert_error(c.post("/ask", json={"question": QUESTION}), 409, "no_documents")
    assert str(tmp_path) not in str(body) and "qa " not in str(body) and "POST /documents" in str(body)


def test_an_upload_past_the_chunk_budget_is_413_before_anything_is_embedded(tmp_path: Path) -> None:
    import json as _json

    huge = _json.dumps({"id": "huge", "text": "Ships unload grain at the harbour every morning. " * 3_000}) + "\n"
    with make_client(tmp_path, ingest=False, max_upload_chunks=50) as c:
        resp = c.post("/documents", files=[("files", ("dump.jsonl", huge.encode(), "text/plain"))])
        body = assert_error(resp, 413, "too_large")
        assert "QA_SERVE_MAX_UPLOAD_CHUNKS" in body["error"]["hint"]
        assert c.get("/documents").json() == []
        small = c.post("/documents", json={"articles": [{"id": "s", "text": "Ships unload grain every day."}]})
        assert small.status_code == 200 and small.json()["added"] == ["s"]


def test_an_upload_whose_client_left_is_not_ingested(tmp_path: Path) -> None:
    import asyncio

    from qa.errors import ClientGoneError
    from qa.server.documents import _while_connected
    from qa.server.service import Article

    with make_client(tmp_path, ingest=False) as c:
        service = c.app.state.context.service  # type: ignore[attr-defined]
        articles = [Article(id=f"a{i}", text=f"Article {i}: ships unload grain.") for i in range(3)]
        with pytest.raises(ClientGoneError):
            service.ingest_articles(articles, cancelled=lambda: True)
        assert c.get("/documents").json() == []

        class Gone:  # a request whose client has disconnected
            async def is_disconnected(self) -> bool:
                return True

        seen: list[bool] = []

        def work(arg: object, cancelled: Callable[[], bool]) -> object:
            import time

            deadline = time.monotonic() + 30  # the watcher polls every 0.25 s; only a hang takes 30 s
            while not cancelled() and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(cancelled())
            return arg

        asyncio.run(_while_connected(Gone(), work, "x"))  # type: ignore[arg-type]
        assert seen == [True]
