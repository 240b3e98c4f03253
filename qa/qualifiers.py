"""Swapped qualifiers: a cited sentence about another name's thing than the one the question asks about.

"What is FMCG's economy characterized by?" cited to "Warsaw's economy … is characterised by FMCG
manufacturing": the sentence does hold the question's words, but the economy it speaks of is Warsaw's,
not FMCG's. The question pairs a name with a noun ("FMCG's economy", "Filipino population"); the sentence
has the same noun qualified by another name the question never mentions, and never puts the question's
name in front of that noun. Such a sentence answers a different question.

Deliberately narrow (measured on the 1,707 answerable SQuAD 2.0 dev questions: it flags under 1% of the
sentences that hold the gold answer): only a capitalised word or possessive directly before a lowercase
noun counts as a qualifier, a sentence's first word is not taken for a name, and near spellings
("Celeron" / "Céloron") and demonyms ("Poland" / "Polish") count as the same name.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence

from qa.citations import stem

_WORD = re.compile(r"[^\W_][\w-]*(?:'s)?")
# Words that start a question or sentence in capitals, or can't qualify a noun.
_NOT_NAMES = frozenset(
    """what which who whom whose how when where why the a an did does do is are was were in of and or to
    for on at by with from has have had can could will would should it its this that these those i if as
    but not no yes he she they his her their each every all some most many much more other""".split()  # noqa: SIM905
)
_AUXILIARIES = frozenset("do does did will would can could should may might must shall".split())  # noqa: SIM905
# The question's name counts as present when it stands this many words or fewer before the noun.
_WINDOW = 3
_SIMILAR = 0.8
# Demonyms and short forms an article and a question use interchangeably.
SAME_NAME = {
    "american": "us", "americans": "us", "america": "us", "united": "us", "usa": "us",
    "british": "uk", "britain": "uk", "briton": "uk", "britons": "uk", "english": "uk",
}  # fmt: skip


def _fold(word: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    return ascii_.lower().removesuffix("'s")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.replace("’", "'"))


def _qualified(words: Sequence[str]) -> list[tuple[str, str, str]]:
    """(folded name, noun, name as written) for each capitalised word or possessive directly before a
    lowercase noun."""
    out = []
    for i in range(len(words) - 1):
        name, noun = words[i], words[i + 1]
        if i == 0 and not name.endswith("'s"):
            continue  # a sentence's first word is capitalised anyway
        if i > 0 and words[i - 1].lower() in _AUXILIARIES:
            continue  # "Which countries does Latvia border?": a verb follows the name
        if not name[0].isupper() or _fold(name) in _NOT_NAMES:
            continue
        if not noun[0].islower() or noun in _NOT_NAMES or len(noun) < 3 or noun.endswith(("'s", "ed", "ly")):
            continue  # "Warsaw ranked", "DECnet originally": a verb or adverb, not a noun
        out.append((_fold(name), noun.lower(), name.removesuffix("'s")))
    return out


def _same(a: str, b: str) -> bool:
    """One name in two spellings: "Celeron" / "Céloron", "Apple" / "AppleTalk", "Poland" / "Polish"."""
    if a == b or a.startswith(b) or b.startswith(a) or SAME_NAME.get(a, a) == SAME_NAME.get(b, b):
        return True
    if min(len(a), len(b)) >= 5 and a[:3] == b[:3]:
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= _SIMILAR


def swapped_qualifiers(question: str, texts: Sequence[str], answer: str = "") -> list[tuple[str, str, str]]:
    """(question's name, noun, sentence's name), as written, for each noun the question ties to one name and a text
    ties to another name that neither the question nor the answer mentions ("What is the name of the
    Egyptian papyrus?" → "the Rhind papyrus" asks for that other name), without the question's name
    before it; [] if none. Raises nothing."""
    q_words = _words(question)
    q_names = [_fold(w) for w in q_words + _words(answer)]
    asked = _qualified(q_words)
    found: list[tuple[str, str, str]] = []
    for text in texts:
        words = _words(text)
        folded = [_fold(w) for w in words]
        theirs = _qualified(words)
        for name, noun, written in asked:
            at = [i for i, w in enumerate(folded) if w == noun]
            if not at or any(_same(name, w) for i in at for w in folded[max(0, i - _WINDOW) : i]):
                continue
            for other, their_noun, other_written in theirs:
                if their_noun == noun and not any(_same(other, w) for w in q_names):
                    found.append((written, noun, other_written))
    return list(dict.fromkeys(found))


# "Why does Fresno only have UHF stations?" may be answered with a contrast ("to avoid VHF stations"), and
# "What is the name of the Egyptian papyrus?" with the other name itself: neither question asks for a thing
# of the question's own name, so the answer's own qualifier is not weighed for them.
_EXPLAINS = re.compile(r"\s*(why|how)\b(?!\s+(many|much)\b)", re.I)
_ASKS_NAME = re.compile(r"\bname[sd]?\b|\b(what|which)\s+(?:\w+\s+)?$", re.I)


def swapped_in_answer(question: str, answer: str) -> list[tuple[str, str, str]]:
    """(question's name, noun, answer's name), as written, for each noun the question ties to one name and
    the answer itself ties to another the question never mentions: "What is the precise number of Russian
    troops…?" → "3,000 US troops" counts other troops. [] if none, and always for "why"/"how" questions
    and for a noun whose name the question asks for ("What is the name of the Egyptian papyrus?").
    Raises nothing."""
    if _EXPLAINS.match(question):
        return []
    q_words = _words(question)
    q_names = [_fold(w) for w in q_words]
    a_words = _words(answer)
    a_folded = [_fold(w) for w in a_words]
    found: list[tuple[str, str, str]] = []
    for name, noun, written in _qualified(q_words):
        before = question[: question.find(written)] if written in question else question
        if _ASKS_NAME.search(before):
            continue
        at = [i for i, w in enumerate(a_folded) if w == noun]
        if any(_same(name, w) for i in at for w in a_folded[max(0, i - _WINDOW) : i]):
            continue
        # an answer's first word is a name only when it is an acronym ("US troops", not "Several troops")
        lead = ["…"] if a_words and len(a_words[0]) > 1 and a_words[0].isupper() else []
        for other, their_noun, other_written in _qualified([*lead, *a_words]):
            if their_noun == noun and not any(_same(other, w) for w in q_names):
                found.append((written, noun, other_written))
    return list(dict.fromkeys(found))


# Words between a subject and its verb ("Warsaw also produces", "Rau will meet").
_BETWEEN = frozenset("also still only then now already will would has have had is are was were to".split())  # noqa: SIM905


def swapped_subject(question: str, texts: Sequence[str], answer: str = "") -> list[tuple[str, str, str]]:
    """(question's name, verb, sentence's name), as written, when the question asks what a name does ("How
    much of Poland's national income does Srodmiescie produce?") and a text that never mentions that name says
    another name does it ("Warsaw produces 12% of Poland's national income"): the text answers for someone
    else. Only "<auxiliary> <Name> <verb>" questions; the other name must be capitalised, not the question's
    or the answer's, and stand right before the verb (a few words like "also", "will" between), and no text may
    name the question's name. Flags 1 of the
    1,707 gold sentences of the answerable SQuAD 2.0 dev questions (a question that misspells the name).
    [] if none; raises nothing."""
    q_words = _words(question)
    q_all = [_fold(w) for w in q_words + _words(answer)]
    text_words = [_words(text) for text in texts]
    folded = {_fold(w) for words in text_words for w in words}
    found: list[tuple[str, str, str]] = []
    for i in range(1, len(q_words) - 1):
        if q_words[i - 1].lower() not in _AUXILIARIES or not q_words[i][0].isupper() or _fold(q_words[i]) in _NOT_NAMES:
            continue
        j = i
        while j + 1 < len(q_words) and q_words[j + 1][0].isupper():
            j += 1
        if j + 1 >= len(q_words) or not q_words[j + 1][0].islower():
            continue
        names = [_fold(w) for w in q_words[i : j + 1]]
        verb = stem(q_words[j + 1].lower())
        if any(_same(n, w) for n in names for w in folded):
            continue
        for words in text_words:
            for k in range(1, len(words)):
                if stem(words[k].lower()) != verb:
                    continue
                m = k - 1
                while m > 0 and words[m].lower() in _BETWEEN:
                    m -= 1
                other = words[m]
                if other.endswith("'s"):
                    continue  # "along Ukraine's border": a noun, not what Ukraine does
                if (
                    other[0].isupper()
                    and _fold(other) not in _NOT_NAMES
                    and not any(_same(_fold(other), w) for w in q_all)
                ):
                    found.append((" ".join(q_words[i : j + 1]), q_words[j + 1], other.removesuffix("'s")))
    return list(dict.fromkeys(found))
