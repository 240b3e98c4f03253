"""Whether a cited sentence says the opposite of what a question asks about: "What was the UK's least
popular TV service?" ← "…the UK's most popular digital TV service", "How are the packets forwarded
synchronously?" ← "…forwarded asynchronously". The answer then is about the other thing.

A question word counts as opposed when the sentence lacks it (and every word that starts with it) but holds
its antonym from a short list, or the same adjective or adverb with or without a negating prefix
("asynchronously", "unpopular"), within a few words of another of the question's terms. Names are never
weighed, nor are yes/no questions (a "no" may rest on the very opposite). Against the 1,707 gold sentences
of the answerable SQuAD 2.0 dev questions it flags 1 ("…integrated into New Zealand public schools" ←
"…decline in private school numbers", which the gold counts as the answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.citations import STOPWORDS, stem
from qa.terms import is_yes_no

_PAIRS = """most least | largest smallest | large small | larger smaller | biggest smallest | first last |
    before after | increase decrease | increased decreased | high low | higher lower | highest lowest |
    north south | east west | northern southern | eastern western | early late | earliest latest |
    earlier later | more less | maximum minimum | best worst | better worse | win lose | won lost |
    success failure | successful unsuccessful | popular unpopular | longest shortest | long short |
    oldest youngest | older younger | positive negative | inside outside | upper lower | major minor |
    majority minority | public private | wealthy poor | open closed | legal illegal | common rare"""
ANTONYMS: dict[str, frozenset[str]] = {}
for _pair in _PAIRS.split("|"):
    _a, _b = _pair.split()
    ANTONYMS[_a] = ANTONYMS.get(_a, frozenset()) | {_b}
    ANTONYMS[_b] = ANTONYMS.get(_b, frozenset()) | {_a}

# Prefixes that turn an adjective or adverb into its opposite ("asynchronously", "unpopular"); only words
# longer than _MIN_STEM letters with such an ending take them, so "amassed", "informed" or "discovered" are
# never read as the opposite of "massed", "formed" or "covered".
_PREFIXES = ("a", "un", "in", "non", "dis", "im", "ir", "il")
_MIN_STEM = 5
_NEGATABLE = re.compile(r"(?:ly|ous|al|ive|able|ible|ic|ent|ant|ful|ar|ary)$")
# How many words either side of the opposite word another of the question's terms must stand.
_NEAR = 3

_TOKEN = re.compile(r"[A-Za-z][A-Za-z-]*")


def _opposites(word: str) -> set[str]:
    out = set(ANTONYMS.get(word, ()))
    if not _NEGATABLE.search(word):
        return out
    if len(word) > _MIN_STEM:
        out |= {p + word for p in _PREFIXES}
    out |= {word[len(p) :] for p in _PREFIXES if word.startswith(p) and len(word) - len(p) > _MIN_STEM}
    return out


def says_the_opposite(question: str, texts: Sequence[str]) -> list[tuple[str, str]]:
    """(question's word, the texts' opposite of it) for each opposed word, as in the module docstring; []
    if none. Raises nothing."""
    if is_yes_no(question):
        return []
    tokens = _TOKEN.findall(question)
    asked = [t.lower() for i, t in enumerate(tokens) if (i == 0 or not t[0].isupper()) and t.lower() not in STOPWORDS]
    terms = {stem(w) for w in asked}
    q_words = {t.lower() for t in tokens}
    opposites = {word: _opposites(word) - q_words for word in asked}
    found: list[tuple[str, str]] = []
    for text in texts:
        words = [t.lower() for t in _TOKEN.findall(text)]
        for word, opposite in opposites.items():
            if not opposite or any(w == word or w.startswith(word) or stem(w) == stem(word) for w in words):
                continue
            for i, w in enumerate(words):
                if w not in opposite:
                    continue
                around = [x for x in words[max(0, i - _NEAR) : i] + words[i + 1 : i + 1 + _NEAR] if x not in STOPWORDS]
                if w.endswith(word) or word.endswith(w) or any(stem(x) in terms for x in around):
                    found.append((word, w))
    return list(dict.fromkeys(found))
