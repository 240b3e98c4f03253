"""The web page's server side: the page and its files, their security headers, and GET /documents/{id}.

What the page does in a browser is tested in tests/test_web.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ARTICLE
from tests.test_server import DOC_ID, QUESTION, assert_error, make_client


def test_the_page_and_its_files_are_served_with_a_strict_content_security_policy(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        page = c.get("/")
        js = c.get("/static/app.js")
        css = c.get("/static/app.css")
    assert page.status_code == js.status_code == css.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert js.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    for resp in (page, js, css):
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
    # no inline script and no inline handlers: the CSP would block them
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
    assert not re.search(r"\son[a-z]+=", page.text)
    # the script never parses server text as HTML
    assert "innerHTML" not in js.text and "insertAdjacentHTML" not in js.text and "eval(" not in js.text


def test_the_page_loads_without_the_token_but_the_data_needs_it(tmp_path: Path) -> None:
    with make_client(tmp_path, token="s3cret") as c:
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        assert_error(c.get("/documents"), 401, "unauthorized")
        assert_error(c.get(f"/documents/{DOC_ID}"), 401, "unauthorized")
        assert_error(c.post("/", json={}), 401, "unauthorized")  # only GET of the shell is open
        ok = c.get(f"/documents/{DOC_ID}", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_a_document_comes_with_the_text_its_citations_point_into(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        answer = c.post("/ask", json={"question": QUESTION}).json()
        doc = c.get(f"/documents/{DOC_ID}").json()
        assert_error(c.get("/documents/nope"), 404, "document_not_found")
    assert doc["doc_id"] == DOC_ID and doc["chunks"] > 0 and doc["path"] == ARTICLE.name
    assert doc["text"] == c.app.state.context.qa.store().document_text(DOC_ID)  # type: ignore[attr-defined]
    (cite,) = answer["citations"]
    assert doc["text"][cite["char_start"] : cite["char_end"]] == cite["quote"]
