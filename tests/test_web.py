"""The web page in a real browser: headless Debian Chromium driven by Playwright, against ``qa serve``'s app on
loopback (uvicorn in a thread), with the scripted fake model for speed and one real-model case.

Chromium comes from Debian's package (`make browser`, run by `make test`); nothing downloads a browser build.
Without it these tests fail, saying what is missing: they never skip silently.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from qa.api import QA
from qa.server.app import create_app
from qa.settings import ServeSettings, Settings
from tests.conftest import ARTICLE, ROOT, HashEmbedder
from tests.test_server import QUOTE, FixedChat, server_settings

CHROMIUM = Path("/usr/bin/chromium")
DOC_ID = "cnn-2022-02-02-us-troops-eastern-europe"
SCREENSHOTS = ROOT / "docs"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(qa: QA, settings: Settings) -> Iterator[str]:
    """The app on a loopback port, in a thread, for as long as the block runs; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(qa, settings), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
            "(`make browser`, i.e. apt-get install chromium chromium-driver)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: `pip install -e '.[dev]'` (make test does it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield b
        b.close()


def fake_app(tmp_path: Path, *, token: str | None = None, article: bool = True) -> tuple[QA, Settings]:
    settings = server_settings(tmp_path / "store")
    settings.serve = ServeSettings(token=token)
    qa = QA(settings, embedder=HashEmbedder(), chat_model=FixedChat())
    if article:
        qa.ingest([ARTICLE])
    return qa, settings


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    with serving(*fake_app(tmp_path)) as url:
        yield url


def ask(page: Any, question: str) -> Any:
    """Type the question, press Enter, and wait for the verified answer of this turn."""
    turns = page.locator(".turn")
    before = turns.count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    turn = turns.nth(before)
    turn.locator(".answer:not(.draft), .error").first.wait_for(timeout=120_000)
    return turn


def highlighted(page: Any) -> list[tuple[str, bool]]:
    return [
        (m.text_content(), "selected" in (m.get_attribute("class") or ""))
        for m in page.locator("#reader-text mark").all()
    ]


def test_ask_click_a_citation_and_see_the_quote_highlighted_in_its_article(browser: Any, site: str) -> None:
    page = browser.new_page()
    page.goto(site)
    turn = ask(page, "How many troops are going to Poland?")
    assert turn.locator(".answer").text_content() == "About 1,700 troops [1]."
    quote = turn.locator(".sources .quote").first.text_content()
    turn.locator("button.cite", has_text="[1]").click()
    page.locator("#reader-text mark.selected").wait_for()
    text = ARTICLE.read_text(encoding="utf-8")
    (mark, selected), *_ = highlighted(page)
    assert selected and f"“{mark}”" == quote and QUOTE in mark
    # the highlight sits at the citation's offsets of the stored article
    start = int(page.locator("#reader-text mark.selected").get_attribute("data-start"))
    assert text[start : start + len(mark)] == mark
    assert page.locator("#reader-title").text_content() == DOC_ID  # no title in a .txt article: its id
    page.keyboard.press("Escape")
    assert page.locator("#reader").is_hidden()


def test_every_citation_in_the_article_is_highlighted_and_the_chosen_one_stands_out(browser: Any, site: str) -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    first, second = "The US deployment to Poland", "There are about 300 service members"
    cites = [
        {
            "key": n,
            "doc_id": DOC_ID,
            "title": None,
            "quote": q,
            "char_start": text.index(q),
            "char_end": text.index(q) + len(q),
        }
        for n, q in ((1, first), (2, second))
    ]
    page = browser.new_page()
    page.goto(site)
    # the page's own openCitation, as the [2] button of an answer citing both sentences calls it
    page.evaluate("([result, cite]) => openCitation(result, cite)", [{"citations": cites}, cites[1]])
    page.locator("#reader-text mark.selected").wait_for()
    assert highlighted(page) == [(first, False), (second, True)]
    assert page.locator("#reader-text mark.selected").get_attribute("data-key") == "2"


def test_a_follow_up_keeps_the_conversation_and_shows_its_rewrite(browser: Any, site: str) -> None:
    page = browser.new_page()
    page.goto(site)
    ask(page, "Where are US troops being sent?")
    turn = ask(page, "How many of them go there?")
    assert turn.locator(".rewrite").text_content() == "→ How many troops are going to Poland?"
    assert turn.locator(".answer").text_content() == "About 1,700 troops [1]."


def test_a_refusal_says_why_and_its_closest_passages_open(browser: Any, tmp_path: Path) -> None:
    qa, settings = fake_app(tmp_path)
    qa._chat = FixedChat(text=json.dumps({"ids": [], "span": "", "verdict": "none", "answer": ""}))
    with serving(qa, settings) as url:
        page = browser.new_page()
        page.goto(url)
        turn = ask(page, "What is the population of Poland?")
        assert turn.locator(".answer").text_content() == "The ingested articles don't answer this question."
        assert turn.locator(".refusal-reason").text_content() == "Why: no sentence in the articles answers it."
        turn.locator(".passages button").first.click()
        page.locator("#reader-text mark").wait_for()
        (passage, _), *_ = highlighted(page)
        assert passage and passage in ARTICLE.read_text(encoding="utf-8")


def test_documents_upload_a_good_and_a_binary_file_then_delete_one(browser: Any, tmp_path: Path, site: str) -> None:
    good = tmp_path / "harbour.txt"
    good.write_text("Harbour opens\n\nThe new harbour in Gdansk opens on Monday, the port authority said.\n")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    page = browser.new_page()
    page.goto(site)
    page.click("#docs-toggle")
    page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"]').wait_for()
    page.set_input_files("#upload-files", [str(good), str(binary)])
    page.click("#upload-form button[type=submit]")
    page.locator(".report-summary").wait_for()
    assert page.locator(".report-summary").text_content() == "Added 1, updated 0, unchanged 0, failed 1."
    failed = page.locator(".report-failed").text_content()
    assert failed.startswith("photo.txt: ") and "binary" in failed
    page.locator('#doc-list li[data-doc-id="harbour"]').wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('#doc-list li[data-doc-id="harbour"] button.delete').click()
    page.locator('#doc-list li[data-doc-id="harbour"]').wait_for(state="detached")
    assert page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"]').count() == 1
    # declining the confirmation deletes nothing
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"] button.delete').click()
    page.wait_for_timeout(300)
    assert page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"]').count() == 1


def test_the_document_list_is_replaced_in_one_step_never_left_empty_or_doubled(browser: Any, site: str) -> None:
    # Seen in a full run: right after a delete, the list stood empty while the new one was read, so the
    # remaining article was missing for a moment; two loads at once could each append their items.
    page = browser.new_page()
    page.goto(site)
    page.click("#docs-toggle")
    page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"]').wait_for()
    page.evaluate(
        """() => {
          const list = document.getElementById("doc-list");
          window.emptied = 0;
          new MutationObserver(() => { if (!list.children.length) window.emptied++; })
            .observe(list, { childList: true });
        }"""
    )
    page.click("#docs-toggle")  # two reloads at once
    page.click("#docs-toggle")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    assert page.evaluate("window.emptied") == 0
    assert page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"]').count() == 1


def test_a_hostile_article_is_shown_as_text_and_runs_nothing(browser: Any, tmp_path: Path) -> None:
    qa, settings = fake_app(tmp_path, article=False)
    hostile = (
        "Troops <script>window.__pwned = 1</script> arrive. "
        'About 1,700 troops <img src=x onerror="window.__pwned = 2"> are going to Poland.'
    )
    with serving(qa, settings) as url:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        resp = page.request.post(
            f"{url}/documents",
            data={"articles": [{"id": "hostile", "title": "<img src=x onerror=alert(1)>Title", "text": hostile}]},
        )
        assert resp.ok, resp.text()
        turn = ask(page, "How many troops are going to Poland?")
        assert turn.locator(".sources button").first.text_content() == "<img src=x onerror=alert(1)>Title"
        turn.locator("button.cite").first.click()
        page.locator("#reader-text mark").wait_for()
        body = page.locator("#reader-text").text_content()
        assert "<script>window.__pwned = 1</script>" in body and '<img src=x onerror="window.__pwned = 2">' in body
        assert page.locator("#reader img, #reader script, .turn img").count() == 0
        assert page.evaluate("window.__pwned") is None and errors == []


def test_with_a_token_the_page_asks_for_it_once_and_sends_it(browser: Any, tmp_path: Path) -> None:
    with serving(*fake_app(tmp_path, token="s3cret")) as url:
        page = browser.new_page()
        sent: list[str | None] = []
        page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/documents" in r.url else None)
        page.goto(url)
        page.click("#docs-toggle")
        page.locator("#token-dialog[open]").wait_for()
        page.fill("#token-input", "s3cret")
        page.press("#token-input", "Enter")
        page.locator(f'#doc-list li[data-doc-id="{DOC_ID}"]').wait_for()
        turn = ask(page, "How many troops are going to Poland?")
        assert turn.locator(".answer").text_content() == "About 1,700 troops [1]."
        assert page.locator("#token-dialog[open]").count() == 0  # asked once, then kept
        assert sent[0] is None and sent[-1] == "Bearer s3cret"


def test_narrow_window_and_dark_scheme_keep_the_pane_readable(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 420, "height": 800}, color_scheme="dark")
    page.goto(site)
    turn = ask(page, "How many troops are going to Poland?")
    turn.locator("button.cite").first.click()
    page.locator("#reader-text mark.selected").wait_for()
    box = page.locator("#reader").bounding_box()
    assert box is not None and box["width"] <= 420 and box["x"] == 0  # the pane covers the narrow window
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(21, 23, 26)"
    page.keyboard.press("Escape")
    assert page.locator("#reader").is_hidden()


@pytest.mark.integration
def test_real_model_answer_highlighted_in_its_article(browser: Any, tmp_path: Path, local_llm: Settings) -> None:
    """The whole chain: real embedder, store, reranker and local model; screenshots for README.md."""
    settings = Settings(home=local_llm.home, store=tmp_path / "store")
    qa = QA(settings)
    qa.ingest([ARTICLE])
    with serving(qa, settings) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        turn = ask(page, "How many troops are going to Poland?")
        answer = turn.locator(".answer").text_content()
        assert "1,700" in answer and "[1]" in answer
        quote = turn.locator(".sources .quote").first.text_content()
        turn.locator("button.cite", has_text="[1]").first.click()
        page.locator("#reader-text mark.selected").wait_for()
        mark = page.locator("#reader-text mark.selected")
        start = int(mark.get_attribute("data-start"))
        text = qa.store().document_text(DOC_ID)
        assert f"“{mark.text_content()}”" == quote
        assert text[start : start + len(mark.text_content())] == mark.text_content()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "web-answer.png"))
        page.keyboard.press("Escape")
        page.click("#new-conversation")
        turn = ask(page, "What is the population of Poland?")
        assert turn.locator(".answer").text_content() == "The ingested articles don't answer this question."
        page.screenshot(path=str(SCREENSHOTS / "web-refusal.png"))
    shutil.rmtree(tmp_path / "store", ignore_errors=True)
