"""Sentence splitting, heading detection and sentence-aware chunking."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.chunking import chunk_document, find_headings, split_sentences
from qa.debris import find_debris
from qa.documents import load_file
from qa.models import Chunk, Document, Span

REFERENCE = Path(__file__).parent.parent / "evals/corpus/cnn-2022-02-02-us-troops-eastern-europe.txt"


def words(text: str) -> int:
    return len(text.split())


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


# --- sentences -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "The U.S. Army moved. Gen. Mark Milley and Dr. Jill Biden met Mr. and Mrs. Smith on Jan. 12.",
            [
                "The U.S. Army moved.",
                "Gen. Mark Milley and Dr. Jill Biden met Mr. and Mrs. Smith on Jan. 12.",
            ],
        ),
        (
            "It was the USS Harry S. Truman carrier. It sailed.",
            ["It was the USS Harry S. Truman carrier.", "It sailed."],
        ),
        (
            "About 1,700 troops and 3.5 tanks went. Then 2,000 more.",
            ["About 1,700 troops and 3.5 tanks went.", "Then 2,000 more."],
        ),
        (
            "Kirby said, “These forces are not going to fight.” Peskov disagreed.",
            ["Kirby said, “These forces are not going to fight.”", "Peskov disagreed."],
        ),
        ('He said "stop." She left.', ['He said "stop."', "She left."]),
        ("“Why?” she asked. “Because!” he said.", ["“Why?” she asked.", "“Because!” he said."]),
        (
            "They met at 9 a.m. ET on Friday. The talks ended at 5 p.m. Nobody spoke.",
            ["They met at 9 a.m. ET on Friday.", "The talks ended at 5 p.m.", "Nobody spoke."],
        ),
        (
            "He lives at No. 10 Downing St. in London. He said no. Then he left.",
            ["He lives at No. 10 Downing St. in London.", "He said no.", "Then he left."],
        ),
        ("A line without end\n\nNew paragraph. Second.", ["A line without end", "New paragraph.", "Second."]),
        ("Wrapped line that\ncontinues here. Next one.", ["Wrapped line that\ncontinues here.", "Next one."]),
        ("  \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_split_sentences_uses_absolute_offsets_in_a_range() -> None:
    text = "Skip this. Keep one. Keep two. Skip too."
    start, end = text.index("Keep one"), text.index(" Skip too")
    spans = split_sentences(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Keep one.", "Keep two."]
    assert spans[0][0] == start


# --- headings ------------------------------------------------------------------------------


def test_reference_headings() -> None:
    doc = load_file(REFERENCE)[0][0]
    found = find_headings(doc.text, doc.excluded)
    assert [h for _, _, h in found] == ["More US troops could be deployed", "Allies welcome announcement"]
    assert all(doc.text[s:e] == h for s, e, h in found)


def test_markdown_and_standalone_headings() -> None:
    text = "# Title\nIntro sentence.\n\n## Part two ##\n\nShort heading\n\nBody.\n\nNot a heading.\n\nQuestion?\n\nEnd."
    assert [h for _, _, h in find_headings(text)] == ["Title", "Part two", "Short heading"]
    assert find_headings("Last line alone\n\n") == []


# --- chunking ------------------------------------------------------------------------------


def reference_chunks(max_tokens: int = 96, overlap: int = 24) -> tuple[Document, list[Chunk]]:
    doc = load_file(REFERENCE)[0][0]
    return doc, chunk_document(doc, max_tokens, overlap, words)


def test_reference_chunks_skip_debris_and_carry_headings() -> None:
    doc, chunks = reference_chunks()
    joined = "\n".join(c.text for c in chunks)
    for debris in (
        "FILE - ",
        "Source: CNN",
        "How does Russia",
        "contributed reporting",
        "More US troops could",
    ):
        assert debris not in joined
    assert chunks[0].text.startswith("President Joe Biden has formally approved")
    assert chunks[-1].text.endswith("Stoltenberg said in a statement.")
    headings = [c.heading for c in chunks]
    assert headings[0] is None and headings[-1] == "Allies welcome announcement"
    assert "More US troops could be deployed" in headings
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.char_start : chunk.char_end]
        assert chunk.n_tokens == words(chunk.text) <= 96
        assert chunk.chunk_id == f"{doc.doc_id}:{doc.content_hash[:12]}:{chunk.index}"
        assert chunk.metadata == {"path": str(REFERENCE)}


def test_overlap_repeats_whole_trailing_sentences() -> None:
    text = " ".join(f"Sentence number {n} has six words." for n in range(10))
    doc = Document(doc_id="d", text=text)
    chunks = chunk_document(doc, 20, 7, words)
    assert [c.text.count("Sentence") for c in chunks] == [3, 3, 3, 3, 2]
    for first, second in itertools.pairwise(chunks):
        shared = text[second.char_start : first.char_end]
        assert shared.startswith("Sentence") and shared.endswith(".") and words(shared) == 6
    no_overlap = chunk_document(doc, 20, 0, words)
    assert all(a.char_end < b.char_start for a, b in itertools.pairwise(no_overlap))


def test_long_sentence_is_split_at_whitespace() -> None:
    text = "one two three four five six seven eight nine ten eleven."
    chunks = chunk_document(Document(doc_id="d", text=text), 4, 0, words)
    assert [c.text for c in chunks] == ["one two three four", "five six seven eight", "nine ten eleven."]


def test_overlong_word_becomes_its_own_chunk() -> None:
    def chars(text: str) -> int:
        return len(text)

    text = "tiny " + "x" * 50 + " end."
    chunks = chunk_document(Document(doc_id="d", text=text), 10, 0, chars)
    assert [c.text for c in chunks] == ["tiny", "x" * 50, "end."]


def test_metadata_is_flattened() -> None:
    doc = Document(
        doc_id="d",
        text="Hello there.",
        title="T",
        url=None,
        source="Wire",
        metadata={"encoding": "cp1252", "rank": 2, "score": 0.5, "flag": True, "tags": ["a"], "none": None},
    )
    [chunk] = chunk_document(doc, 10, 2, words)
    assert chunk.metadata == {
        "title": "T",
        "source": "Wire",
        "encoding": "cp1252",
        "rank": 2,
        "score": 0.5,
        "flag": True,
    }


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError):
        chunk_document(Document(doc_id="d", text="x."), 0, 0, words)


def test_one_megabyte_is_chunked_in_linear_work() -> None:
    # "Fast" without a stopwatch (which flakes on a busy machine): the token counter is the chunker's
    # costly step, and it must read each character about twice (a sentence, then a packed chunk), never a
    # share that grows with the document. 100 KB and 1 MB cost the same per character.
    base = REFERENCE.read_text(encoding="utf-8")

    def counted_chars_per_char(size: int) -> tuple[float, int]:
        text = (base + "\n\n") * (size // len(base) + 1)
        doc = Document(doc_id="big", text=text, excluded=find_debris(text))
        seen = [0]

        def counting_words(t: str) -> int:
            seen[0] += len(t)
            return words(t)

        chunks = chunk_document(doc, 96, 24, counting_words)
        return seen[0] / len(text), len(chunks)

    small, _ = counted_chars_per_char(100_000)
    large, n_chunks = counted_chars_per_char(1_000_000)
    assert n_chunks > 1000
    assert large <= 3.0, f"the token counter read {large:.1f} characters per character"
    assert large <= small * 1.1, f"work per character grew with size: {small:.2f} -> {large:.2f}"


# --- properties ----------------------------------------------------------------------------

WORDS = [
    "the",
    "troops",
    "U.S.",
    "Gen.",
    "Dr.",
    "1,700",
    "3.5",
    "“quoted",
    "word”",
    "a.m.",
    "S.",
    "NATO",
    "moved",
]


@st.composite
def sentence(draw: st.DrawFn) -> str:
    body = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
    end = draw(st.sampled_from([".", "?", "!", ".”", ""]))
    return " ".join([body[0].capitalize(), *body[1:]]) + end


@st.composite
def block(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["para", "para", "para", "heading", "caption", "video", "dateline", "long"]))
    if kind == "heading":
        return draw(st.sampled_from(["More troops", "# Markdown part", "Allies welcome announcement"]))
    if kind == "caption":
        return "FILE - Tanks " + draw(sentence()) + " (AP Photo/Evan Vucci)"
    if kind == "video":
        return draw(st.sampled_from(["How do armies compare?\n", ""])) + "02:25 - Source: CNN"
    if kind == "dateline":
        return draw(st.sampled_from(["CNN \u00a0— ", "WASHINGTON (AP) — " + draw(sentence())]))
    if kind == "long":
        return " ".join(["longword" * draw(st.integers(1, 3))] * draw(st.integers(20, 60))) + "."
    sep = draw(st.sampled_from([" ", "  ", "\n"]))
    return sep.join(draw(st.lists(sentence(), min_size=1, max_size=6)))


@st.composite
def document(draw: st.DrawFn) -> Document:
    blocks = draw(st.lists(block(), min_size=1, max_size=12))
    text = "".join(b + draw(st.sampled_from(["\n\n", "\n\n\n", "\n \n"])) for b in blocks)
    if draw(st.booleans()):
        text += "CNN’s Jane Doe contributed reporting."
    excluded = find_debris(text)
    if draw(st.booleans()) and len(text) > 2:
        start = draw(st.integers(0, len(text) - 2))
        excluded.append(Span(start=start, end=draw(st.integers(start + 1, len(text))), reason="random"))
    return Document(doc_id="doc", text=text, excluded=excluded)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=document(), max_tokens=st.integers(1, 40), overlap=st.integers(0, 20))
def test_chunking_properties(doc: Document, max_tokens: int, overlap: int) -> None:
    chunks = chunk_document(doc, max_tokens, overlap, words)
    text = doc.text
    covered = bytearray(len(text))
    for span in doc.excluded:
        covered[span.start : span.end] = b"\x01" * (span.end - span.start)
    for start, end, _ in find_headings(text, doc.excluded):
        covered[start:end] = b"\x01" * (end - start)
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert chunk.text.strip() == chunk.text != ""
        assert chunk.n_tokens == words(chunk.text)
        assert chunk.n_tokens <= max_tokens or len(chunk.text.split()) == 1
        assert not any(s.start < chunk.char_end and chunk.char_start < s.end for s in doc.excluded)
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    for before, after in itertools.pairwise(chunks):
        assert before.char_start < after.char_start and before.char_end < after.char_end
        if after.char_start < before.char_end:
            assert words(text[after.char_start : before.char_end]) <= overlap
    missed = [i for i, c in enumerate(text) if not covered[i] and not c.isspace()]
    assert missed == [], text[missed[0] : missed[0] + 40] if missed else ""
    ids = [c.chunk_id for c in chunks]
    assert len(set(ids)) == len(ids)
    assert ids == [c.chunk_id for c in chunk_document(doc, max_tokens, overlap, words)]
