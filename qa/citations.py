"""Checking what the model says against what the passages say.

Everything here is decided in code: a quote counts only if it occurs in the passage it cites (after
normalising case, whitespace, quote characters and dashes), and an answer sentence counts only if
the verified quotes contain its content words and every number in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CHAR_MAP = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    # Models swap double and single quotes freely when copying, so all quote marks are one.
    '"': "'",
    "\u201c": "'",
    "\u201d": "'",
    "\u201e": "'",
    "\u2033": "'",
    "`": "'",
    "\u00ab": "'",
    "\u00bb": "'",
    "\u2013": "-",
    "\u2014": "-",
    "\u2011": "-",
    "\u2212": "-",
    "\u00a0": " ",
}


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Normalise for matching and return, for each output character, its index in ``text``.

    Case is folded, every quote mark becomes ', dashes become -, and whitespace runs become one space.
    """
    out: list[str] = []
    index: list[int] = []
    prev_space = True  # also drops leading whitespace
    for i, ch in enumerate(text):
        ch = _CHAR_MAP.get(ch, ch)
        if ch.isspace():
            if prev_space:
                continue
            out.append(" ")
            index.append(i)
            prev_space = True
            continue
        prev_space = False
        for low in ch.casefold():
            out.append(low)
            index.append(i)
    if out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


_TRANSLATE = str.maketrans(_CHAR_MAP)
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The matching form of ``text``: the same string as ``normalize_with_map(text)[0]``, without the map.

    The hot path of lexical indexing and quote checks, so it is built from whole-string operations
    rather than a character loop (about 10x faster).
    """
    return _SPACES.sub(" ", text.translate(_TRANSLATE)).strip().casefold()


_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_TRIM = " \t\n\"'“”‘’.,;:…{}[]()"


def locate_quote(quote: str, passage: str) -> tuple[int, int] | None:
    """Where ``quote`` occurs in ``passage`` as (start, end) offsets into ``passage``, or None.

    A quote with an ellipsis matches when its fragments occur in order. Surrounding quote marks and
    punctuation the model adds are ignored.
    """
    fragments = [f.strip(_TRIM) for f in _ELLIPSIS.split(quote)]
    fragments = [normalize(f) for f in fragments if f.strip(_TRIM)]
    if not fragments:
        return None
    norm, index = normalize_with_map(passage)
    pos = 0
    first = last = -1
    for frag in fragments:
        found = norm.find(frag, pos)
        if found < 0:
            return None
        if first < 0:
            first = found
        last = found + len(frag)
        pos = last
    return index[first], index[last - 1] + 1


_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(?=\s)|\n\s*\n")


def expand_to_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to the sentence(s) of ``text`` that contain it."""
    s = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        s = m.end()
    m2 = _SENTENCE_END.search(text, max(end - 1, start))
    e = m2.end() if m2 else len(text)
    if m2 and text[m2.start()] == "\n":
        e = m2.start()
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "said",
        "same",
        "says",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "according",
        "article",
        "articles",
        "passage",
        "passages",
        "yes",
        "one",
        "also",
        "per",
        "via",
    ]
)

_WORD = re.compile(r"[0-9][0-9,.]*[0-9]|[0-9]|[^\W_]+(?:['’][^\W_]+)*")
_ABBREV = re.compile(r"\b[A-Za-z](?:\.[A-Za-z])+\.?")
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip


def canonical_number(token: str) -> str:
    """'1,700' → '1700', '2.0' stays '2.0', 'five' → '5'."""
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
        return token.replace(",", "")
    return token.rstrip(".,")


def words(text: str) -> list[str]:
    """Lower-cased word tokens with numbers canonicalised and possessives removed."""
    out = []
    # "U.S." and "US" must meet: drop the dots of single-letter abbreviations first.
    text = _ABBREV.sub(lambda m: m.group(0).replace(".", ""), text)
    for m in _WORD.finditer(normalize(text)):
        w = m.group(0)
        w = re.sub(r"'s$", "", w)
        out.append(canonical_number(w))
    return out


def is_number(token: str) -> bool:
    """True for a canonical numeric token."""
    return bool(re.fullmatch(r"\d+(?:\.\d+)?", token))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: not stopwords, not citation markers."""
    return [w for w in words(re.sub(r"\[\d+\]", " ", text)) if w not in STOPWORDS]


def content_words_beyond(text: str, ignore: Iterable[str]) -> list[str]:
    """The content words of ``text`` whose stems are not among ``ignore``'s (e.g. the question's)."""
    ignored = {stem(w) for w in ignore}
    return [w for w in content_words(text) if stem(w) not in ignored]


def stem(word: str) -> str:
    """The matching stem of a word token: numbers whole, words cut to 5 letters."""
    # A 5-letter prefix is a crude but language-agnostic stem: deploy/deployed/deployment, Romania/Romanian.
    return word if is_number(word) else word[:5]


def support(claim: str, evidence: Iterable[str], ignore: Iterable[str] = ()) -> tuple[float, list[str]]:
    """How much of ``claim`` the ``evidence`` texts contain: (share of content words found, missing numbers).

    Words in ``ignore`` (typically the question's) don't count either way.
    """
    ignored = {stem(w) for w in ignore}
    ev_words = {stem(w) for text in evidence for w in words(text)}
    ev_numbers = {w for text in evidence for w in words(text) if is_number(w)}
    claim_words = [w for w in content_words(claim) if stem(w) not in ignored]
    missing_numbers = [w for w in claim_words if is_number(w) and w not in ev_numbers]
    if not claim_words:
        return 1.0, missing_numbers
    found = sum(1 for w in claim_words if stem(w) in ev_words)
    return found / len(claim_words), missing_numbers


#: Words a question is phrased with rather than about (question words, auxiliaries, "tell", "list"…).
QUESTION_SKIP = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "has",
        "have",
        "had",
        "the",
        "a",
        "an",
        "in",
        "on",
        "of",
        "according",
        "tell",
        "please",
        "list",
        "name",
        "give",
        "i",
    ]
)


def unsupported_premises(question: str, passages: Iterable[str]) -> list[str]:
    """Names and numbers the question takes for granted that no passage mentions.

    A name is a capitalised word not at the start of the question; a 5-letter prefix match counts
    (Romanian/Romania). Numbers must match exactly after canonicalisation (1,700 = 1700).
    """
    text_words = [w for p in passages for w in words(p)]
    stems = {stem(w) for w in text_words}
    numbers = {w for w in text_words if is_number(w)}
    missing: list[str] = []
    raw_tokens = re.findall(r"[0-9][0-9,.]*[0-9]|[0-9]|[A-Za-z][A-Za-z'’.-]*", question)
    for pos, raw in enumerate(raw_tokens):
        tok = raw.rstrip(".,'’").removesuffix("'s").removesuffix("’s")
        if not tok:
            continue
        if tok[0].isdigit():
            num = canonical_number(tok)
            if num not in numbers:
                missing.append(tok)
            continue
        if pos == 0 or not tok[0].isupper() or tok.lower() in QUESTION_SKIP:
            continue
        for part in words(tok):
            if part not in STOPWORDS and stem(part) not in stems:
                missing.append(tok)
                break
    return missing
