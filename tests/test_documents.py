"""Loading article files into canonical text and discovering them (debris: tests/test_debris.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qa.documents import SUPPORTED_SUFFIXES, discover, load_file, slugify
from qa.errors import InputError

REFERENCE = Path(__file__).parent.parent / "evals/corpus/cnn-2022-02-02-us-troops-eastern-europe.txt"

NEWS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harbour bridge reopens after repairs | Example Gazette</title>
<meta property="og:title" content="Harbour bridge reopens after repairs">
<meta property="og:site_name" content="Example Gazette">
<meta property="article:published_time" content="2023-05-04T09:30:00Z">
<link rel="canonical" href="https://gazette.example/local/harbour-bridge-reopens">
</head>
<body>
<header><a href="/">Example Gazette</a>
<nav class="main-nav"><ul>
<li><a href="/local">Local</a></li><li><a href="/world">World</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe today and save</a></li>
</ul></nav></header>
<main><article>
<h1>Harbour bridge reopens after repairs</h1>
<p>The Harbour Bridge reopened to traffic on Thursday morning after eight months of repairs, the city
council said.</p>
<p>Engineers replaced 140 steel cables and resurfaced the deck, at a cost of about $12.5 million.
"It is good to have it back," said Mayor Jane Doe.</p>
<h2>Traffic expected to ease</h2>
<p>Commuters had faced detours of up to 40 minutes while the bridge was closed. The council expects
congestion in the city centre to ease within weeks.</p>
</article></main>
<aside><h3>Most read</h3><ul><li><a href="/a">Local cat wins award</a></li></ul></aside>
<footer><p>Copyright 2023 Example Gazette Ltd. All rights reserved.</p>
<p><a href="/terms">Terms of use</a> | <a href="/privacy">Privacy policy</a></p></footer>
</body>
</html>
"""


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        path.write_bytes(data)
    return path


def load_one(path: Path, **kwargs: int) -> object:
    docs, failures = load_file(path, **kwargs)
    assert failures == [] and len(docs) == 1
    return docs[0]


# --- formats -------------------------------------------------------------------------------


def test_txt_keeps_text_and_normalises_only_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path / "My Story (Final)!.txt", "First line.\r\nSecond\u00a0 line —  “quoted”.\rThird.\n")
    docs, failures = load_file(path)
    assert failures == []
    [doc] = docs
    assert doc.doc_id == "my-story-final"
    assert doc.text == "First line.\nSecond\u00a0 line —  “quoted”.\nThird.\n"
    assert doc.title is None
    assert doc.path == str(path)
    assert doc.metadata == {}


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfHello world.")
    docs, _ = load_file(path)
    assert docs[0].text == "Hello world."
    assert "encoding" not in docs[0].metadata


def test_markdown_title_is_first_h1(tmp_path: Path) -> None:
    path = write(tmp_path / "note.md", "Intro line.\n\n## Not this\n\n# The Title #\n\nBody text.\n")
    doc = load_file(path)[0][0]
    assert doc.title == "The Title"
    assert doc.doc_id == "note"
    assert doc.text.startswith("Intro line.")


def test_slugify() -> None:
    assert slugify("CNN 2022_02 Story.v2") == "cnn-2022_02-story.v2"
    assert slugify("Ünïcode   name") == "n-code-name"
    assert slugify("日本").startswith("doc-")


def test_html_is_extracted_with_trafilatura(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "bridge.html", NEWS_PAGE))[0][0]
    assert "reopened to traffic on Thursday morning" in doc.text
    assert "Commuters had faced detours" in doc.text
    for boilerplate in ("Subscribe today and save", "All rights reserved", "Privacy policy", "Local cat"):
        assert boilerplate not in doc.text
    assert doc.title == "Harbour bridge reopens after repairs"
    assert doc.url == "https://gazette.example/local/harbour-bridge-reopens"
    assert doc.source == "Example Gazette"
    assert doc.published_at == "2023-05-04"
    assert "\n\nTraffic expected to ease\n\n" in doc.text


def test_html_without_article_text_is_rejected(tmp_path: Path) -> None:
    nav_only = NEWS_PAGE.split("<main>")[0] + "</body></html>"
    with pytest.raises(InputError, match="no article text") as err:
        load_file(write(tmp_path / "nav.html", nav_only))
    assert err.value.hint


def test_truncated_html_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no article text"):
        load_file(write(tmp_path / "cut.htm", "<html><head><title>Harbour bri"))


# --- JSONL ---------------------------------------------------------------------------------


def test_jsonl_fields_and_metadata(tmp_path: Path) -> None:
    lines = [
        {
            "id": 7,
            "text": "Seven.",
            "title": "T7",
            "url": "https://x/7",
            "source": "Wire",
            "published_at": "2022",
        },
        {"text": "No id here.", "section": "world", "tags": ["a", "b"], "rank": 3},
        {"id": "abc", "text": "Third.\r\nLine.", "metadata": {"lang": "en"}},
    ]
    path = write(tmp_path / "Feed.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    docs, failures = load_file(path)
    assert failures == []
    assert [d.doc_id for d in docs] == ["7", "feed-2", "abc"]
    first, second, third = docs
    assert (first.title, first.url, first.source, first.published_at) == ("T7", "https://x/7", "Wire", "2022")
    assert first.metadata == {}
    assert second.metadata == {"section": "world", "tags": ["a", "b"], "rank": 3}
    assert third.metadata == {"lang": "en"}
    assert third.text == "Third.\nLine."
    assert all(d.path == str(path) for d in docs)


def test_jsonl_bad_lines_are_reported_and_good_lines_load(tmp_path: Path) -> None:
    long_text = "x" * 400
    content = "\n".join(
        [
            json.dumps({"id": "ok1", "text": "Good one."}),
            "{not json",
            "",
            json.dumps(["a", "list"]),
            json.dumps({"id": "no-text"}),
            json.dumps({"text": "   "}),
            json.dumps({"id": "big", "text": long_text}),
            "   ",
            json.dumps({"id": "ok1", "text": "Duplicate id."}),
            json.dumps({"id": "ok2", "text": "Good two."}),
        ]
    )
    path = write(tmp_path / "mixed.jsonl", content)
    docs, failures = load_file(path, max_bytes=300)
    assert [d.doc_id for d in docs] == ["ok1", "ok2"]
    by_line = {f.path: f.reason for f in failures}
    assert set(by_line) == {f"{path}:{n}" for n in (2, 4, 5, 6, 7, 9)}
    assert "invalid JSON" in by_line[f"{path}:2"]
    assert "object" in by_line[f"{path}:4"]
    assert "text" in by_line[f"{path}:5"] and "text" in by_line[f"{path}:6"]
    assert "longer than" in by_line[f"{path}:7"]
    assert "duplicate" in by_line[f"{path}:9"]


def test_jsonl_with_no_good_line_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"title": "no text"}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1"):
        load_file(path)


# --- whole-file problems -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), [("e.txt", b""), ("w.md", b"  \n\t\r\n  "), ("e.jsonl", b"\n \n")])
def test_empty_and_whitespace_files_are_rejected(tmp_path: Path, name: str, data: bytes) -> None:
    with pytest.raises(InputError, match=r"empty|whitespace") as err:
        load_file(write(tmp_path / name, data))
    assert name in str(err.value) and err.value.hint


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", bytes(range(1, 9)) * 50 + b"some text"],
)
def test_binary_files_are_rejected(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputError, match="binary"):
        load_file(write(tmp_path / "image.txt", data))


def test_binary_jsonl_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="binary"):
        load_file(write(tmp_path / "blob.jsonl", b'{"text": "a"}\n\x00\x01\x02'))


def test_oversized_file_names_size_limit_and_setting(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "word " * 100)
    with pytest.raises(InputError) as err:
        load_file(path, max_bytes=100)
    assert "500 bytes" in str(err.value) and "100 bytes" in str(err.value)
    assert "QA_INGEST_MAX_FILE_MB" in err.value.hint


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("The “deployments” were not permanent — café owners in Kraków agreed, it’s said.\n" * 3, "cp1252"),
        ("Café crème brûlée à la française. Le garçon est allé au marché.\n", "latin-1"),
    ],
)
def test_legacy_encodings_are_detected_and_recorded(tmp_path: Path, text: str, codec: str) -> None:
    doc = load_file(write(tmp_path / "legacy.txt", text.encode(codec)))[0][0]
    assert doc.text == text
    assert doc.metadata["encoding"] in {"cp1252", "latin_1", "iso8859_1", "iso8859_15"}


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "wide.txt", "Hello, wide world.".encode("utf-16")))[0][0]
    assert doc.text == "Hello, wide world."
    assert doc.metadata["encoding"] == "utf-16"


def test_undecodable_garbage_is_rejected(tmp_path: Path) -> None:
    rng = random.Random(1)
    garbage = bytes(rng.randrange(0x80, 0x100) for _ in range(300))
    with pytest.raises(InputError, match="encoding") as err:
        load_file(write(tmp_path / "junk.txt", garbage))
    assert "UTF-8" in err.value.hint


def test_utf8_with_stray_bytes_is_rejected_not_misdetected(tmp_path: Path) -> None:
    data = REFERENCE.read_bytes()
    with pytest.raises(InputError, match=r"invalid byte.*offset 3000"):
        load_file(write(tmp_path / "stray.txt", data[:3000] + b"\x92" + data[3000:]))


def test_unsupported_suffix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unsupported") as err:
        load_file(write(tmp_path / "report.pdf", b"%PDF-1.4"))
    assert ".jsonl" in err.value.hint


def test_folder_named_like_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "looks.txt").mkdir()
    with pytest.raises(InputError, match="folder"):
        load_file(tmp_path / "looks.txt")


def test_broken_symlink_is_rejected(tmp_path: Path) -> None:
    link = tmp_path / "gone.txt"
    link.symlink_to(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="does not exist"):
        load_file(link)


def test_permission_denied_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "secret.txt", "text")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(InputError, match="permission denied") as err:
        load_file(path)
    assert "chmod" in err.value.hint


# --- discovery -----------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ["b.md", "a.txt", "drafts/c.txt", "sub/z.jsonl", "sub/page.HTML", ".hidden/d.txt", ".e.txt"]:
        write(tmp_path / "corpus" / rel, "text")
    write(tmp_path / "corpus" / "notes.pdf", b"%PDF")
    return tmp_path / "corpus"


def rels(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_discover_walks_folders_sorted_skipping_hidden_and_unsupported(tree: Path) -> None:
    found, failures = discover([tree])
    assert failures == []
    assert rels(found, tree) == ["a.txt", "b.md", "drafts/c.txt", "sub/page.HTML", "sub/z.jsonl"]


def test_discover_include_and_exclude(tree: Path) -> None:
    assert rels(discover([tree], exclude=["drafts/*"])[0], tree) == [
        "a.txt",
        "b.md",
        "sub/page.HTML",
        "sub/z.jsonl",
    ]
    assert rels(discover([tree], include=["*.txt"])[0], tree) == ["a.txt", "drafts/c.txt"]
    assert rels(discover([tree], include=["sub/*"], exclude=["*.jsonl"])[0], tree) == ["sub/page.HTML"]


def test_discover_reports_missing_and_unsupported_paths(tree: Path) -> None:
    found, failures = discover([tree / "nope", tree / "notes.pdf", tree / "a.txt", tree / "a.txt"])
    assert found == [tree / "a.txt"]
    assert [f.path for f in failures] == [str(tree / "nope"), str(tree / "notes.pdf")]
    assert "does not exist" in failures[0].reason
    assert all(s in failures[1].hint for s in SUPPORTED_SUFFIXES)
