"""Cutting documents into sentence-aligned, token-bounded chunks that point into the canonical text.

Every chunk is a contiguous slice ``doc.text[char_start:char_end]``, so a chunk never crosses a
heading line or an excluded debris span: both split the text into separately packed runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from qa.models import Chunk, Document, Span

# Words after which a period does not end a sentence (compared lowercased, without the period).
_ABBREVIATIONS = frozenset(
    {
        *("mr", "mrs", "ms", "mx", "dr", "prof", "rev", "fr", "hon", "amb", "atty", "jr", "sr"),
        *("gen", "lt", "col", "maj", "capt", "cmdr", "adm", "sgt", "cpl", "pvt"),
        *("sen", "rep", "gov", "pres", "supt", "insp", "det", "dept"),
        *("st", "mt", "ft", "ave", "blvd", "rd", "corp", "inc", "ltd", "co", "bros", "vs", "etc", "approx"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
# Period-words that are abbreviations only before a number: "No. 1", "Vol. 3".
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "vol", "art", "p", "pp", "fig"})
# After "a.m."/"p.m." a capitalised word usually starts a new sentence, unless it is a time zone.
_TIMES = frozenset({"a.m", "p.m"})
_TIME_ZONES = frozenset({"ET", "EST", "EDT", "CT", "CST", "CDT", "MT", "PT", "PST", "PDT", "GMT", "UTC", "BST"})

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_SENTENCE_END = re.compile(r"[.?!]+[\"'”’)\]]*(?=\s|$)")
_WORD = re.compile(r"\S+")
_MD_HEADING = re.compile(r"#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?")
_HEADING_MAX_CHARS = 80
_NO_HEADING_END = tuple('.?!:"”')


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (absolute, trimmed of whitespace) in ``text[start:end]``; a blank line always ends one.

    Raises nothing.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for para_start, para_end in _paragraphs(text, start, end):
        sent_start = para_start
        for match in _SENTENCE_END.finditer(text, para_start, para_end):
            if _ends_sentence(text, match, para_end):
                _add_trimmed(text, sent_start, match.end(), spans)
                sent_start = match.end()
        _add_trimmed(text, sent_start, para_end, spans)
    return spans


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    pos = start
    for brk in _PARAGRAPH_BREAK.finditer(text, start, end):
        bounds.append((pos, brk.start()))
        pos = brk.end()
    bounds.append((pos, end))
    return bounds


def _add_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def _ends_sentence(text: str, match: re.Match[str], limit: int) -> bool:
    following = _WORD.search(text, match.end(), limit)
    if following is None:
        return True
    nxt = following.group(0).lstrip("\"'“‘([")
    # A lowercase continuation means the punctuation was inside the sentence: "“Why?” she asked."
    if nxt[:1].islower():
        return False
    if match.group(0).rstrip("\"'”’)]") != ".":
        return True
    word_start = match.start()
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : match.start()].lstrip("\"'“‘([").lower()
    if word in _ABBREVIATIONS:
        return False
    if word in _NUMBER_ABBREVIATIONS:
        return not nxt[:1].isdigit()
    if len(word) == 1 and word.isalpha():  # an initial: "Harry S. Truman"
        return False
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):  # U.S., U.N., a.m., e.g.
        return word in _TIMES and nxt.rstrip(".,;") not in _TIME_ZONES
    return True


def find_headings(text: str, excluded: Sequence[Span] = ()) -> list[tuple[int, int, str]]:
    """Section headings as ``(line_start, line_end, heading)``: Markdown ``#`` lines, short standalone lines.

    Raises nothing. A standalone heading is at most 80 characters, has blank lines (or the start of
    the text) around it, no terminal punctuation, and is not inside an ``excluded`` span.
    """
    lines: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    last_text_line = max((i for i, (_, line) in enumerate(lines) if line.strip()), default=-1)
    headings: list[tuple[int, int, str]] = []
    for i, (start, line) in enumerate(lines):
        core = line.strip()
        if not core:
            continue
        lo = start + len(line) - len(line.lstrip())
        hi = lo + len(core)
        md = _MD_HEADING.fullmatch(core)
        if md and len(line) - len(line.lstrip(" ")) <= 3:
            title = md.group(1)
        elif (
            (i == 0 or not lines[i - 1][1].strip())
            and i < last_text_line
            and not lines[i + 1][1].strip()
            and len(core) <= _HEADING_MAX_CHARS
            and not core.endswith(_NO_HEADING_END)
            and any(c.isalpha() for c in core)
        ):
            title = core
        else:
            continue
        if not any(s.start < hi and lo < s.end for s in excluded):
            headings.append((lo, hi, title))
    return headings


class _Unit(NamedTuple):
    start: int
    end: int
    tokens: int


def chunk_document(
    doc: Document, max_tokens: int, overlap_tokens: int, count_tokens: Callable[[str], int]
) -> list[Chunk]:
    """Whole sentences of ``doc`` packed into chunks of at most ``max_tokens``, overlapping by sentences.

    Raises ValueError if ``max_tokens`` is below 1 or ``overlap_tokens`` is negative.
    """
    if max_tokens < 1 or overlap_tokens < 0:
        raise ValueError(f"need max_tokens >= 1 and overlap_tokens >= 0, got {max_tokens}, {overlap_tokens}")
    text = doc.text
    excluded = sorted(doc.excluded, key=lambda s: s.start)
    metadata = _flat_metadata(doc)
    prefix = f"{doc.doc_id}:{doc.content_hash[:12]}"
    chunks: list[Chunk] = []
    for heading, sec_start, sec_end in _sections(text, excluded):
        for run_start, run_end in _gaps(sec_start, sec_end, excluded):
            units = _units(text, run_start, run_end, max_tokens, count_tokens)
            for start, end, n_tokens in _pack(text, units, max_tokens, overlap_tokens, count_tokens):
                chunks.append(
                    Chunk(
                        chunk_id=f"{prefix}:{len(chunks)}",
                        doc_id=doc.doc_id,
                        index=len(chunks),
                        text=text[start:end],
                        char_start=start,
                        char_end=end,
                        heading=heading,
                        n_tokens=n_tokens,
                        metadata=dict(metadata),
                    )
                )
    return chunks


def _flat_metadata(doc: Document) -> dict[str, Any]:
    """Document fields a vector store can hold: only non-None strings, numbers and booleans."""
    flat: dict[str, Any] = {k: v for k, v in doc.metadata.items() if isinstance(v, str | int | float | bool)}
    for key in ("title", "url", "source", "published_at", "path"):
        value = getattr(doc, key)
        if value is not None:
            flat[key] = value
    return flat


def _sections(text: str, excluded: Sequence[Span]) -> list[tuple[str | None, int, int]]:
    sections: list[tuple[str | None, int, int]] = []
    heading: str | None = None
    pos = 0
    for lo, hi, title in find_headings(text, excluded):
        sections.append((heading, pos, lo))
        heading, pos = title, hi
    sections.append((heading, pos, len(text)))
    return sections


def _gaps(start: int, end: int, excluded: Sequence[Span]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` outside the (sorted) excluded spans."""
    gaps: list[tuple[int, int]] = []
    pos = start
    for span in excluded:
        if span.end <= pos or span.start >= end:
            continue
        if span.start > pos:
            gaps.append((pos, span.start))
        pos = max(pos, span.end)
    if pos < end:
        gaps.append((pos, end))
    return gaps


def _units(text: str, start: int, end: int, max_tokens: int, count_tokens: Callable[[str], int]) -> list[_Unit]:
    """Sentences of ``text[start:end]`` with their token counts; over-long ones cut at whitespace."""
    units: list[_Unit] = []
    for s_start, s_end in split_sentences(text, start, end):
        n = count_tokens(text[s_start:s_end])
        if n <= max_tokens:
            units.append(_Unit(s_start, s_end, n))
        else:
            units.extend(
                _Unit(m.start(), m.end(), count_tokens(m.group(0))) for m in _WORD.finditer(text, s_start, s_end)
            )
    return units


def _pack(
    text: str, units: list[_Unit], max_tokens: int, overlap_tokens: int, count_tokens: Callable[[str], int]
) -> list[tuple[int, int, int]]:
    """Greedy packing of consecutive units into ``(start, end, tokens)`` with a trailing-sentence overlap."""
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < len(units):
        j, total = i + 1, units[i].tokens
        while j < len(units) and total + units[j].tokens <= max_tokens:
            total += units[j].tokens
            j += 1
        # The sum of unit counts is the bound; a tokenizer that counts the joined text higher still
        # gets its bound, by giving back units (never below one).
        n = count_tokens(text[units[i].start : units[j - 1].end])
        while n > max_tokens and j - i > 1:
            j -= 1
            n = count_tokens(text[units[i].start : units[j - 1].end])
        out.append((units[i].start, units[j - 1].end, n))
        if j == len(units):
            break
        # Carry trailing units into the next chunk, but never all of this one (progress) and never
        # so many that the next new unit no longer fits beside them.
        budget = min(overlap_tokens, max_tokens - units[j].tokens)
        k, carried = j, 0
        while k - 1 > i and carried + units[k - 1].tokens <= budget:
            carried += units[k - 1].tokens
            k -= 1
        i = k
    return out
