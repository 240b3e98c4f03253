"""The evidence a model answers from: retrieved passages as numbered sentences, each sentence once.

Retrieved chunks overlap (whole sentences are repeated at the start of the next chunk) and often
neighbour each other. Shown as they are, the same sentence appears under two numbers and a correct
pointer lands on the "wrong" one. Here chunks of one article that overlap or touch are merged into one
block, every sentence is listed once with a global number, and the model answers by pointing at those
numbers. Quotes and their offsets then come from the store by construction: the model never copies a
quote.

A sentence that reads as an instruction to an assistant (planted in an article) is left out of the
numbered list, so it can be neither obeyed nor cited; the sentences around it stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qa.chunking import split_sentences
from qa.models import Passage

# Chunks whose character ranges are at most this far apart (a paragraph break) are one block.
_TOUCH_CHARS = 3

# Instructions addressed to an assistant, as they are planted in articles. Narrower than the question
# guard (qa.instructions), which also sets aside role play ("imagine…"): news prose says "officials assume…".
_PLANTED = re.compile(
    r"""
    \b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules?|prompts?|guidelines|
        constraints|sources?|citations?|articles?|passages?|context|above)\b
    | \b(system|hidden|initial|developer)\s+(prompt|instructions?|message|mode|override)\b
    | \b(reveal|print|show|repeat|output|leak)\b.{0,30}\b(system\s+)?(prompt|instructions)\b
    | \byou\s+are\s+now\b
    | \b(tell|inform|assure|remind|convince)\s+(the\s+)?(user|reader|human)s?\b
    | \b(AI|language\s+model|assistant|chatbot|LLM)s?\b.{0,60}\b(must|should|shall|will|are\s+to)\s+
        (answer|reply|respond|say|state|claim|ignore|always|never|now)\b
    | \b(when|if)\s+(asked|questioned)\b.{0,80}\b(answer|reply|respond|say|state|claim)\b
    | \b(answer|reply|respond)\s+(only\s+)?with\b.{0,40}\b(instead|only|always)\b
    | \bcitations?\s+(are\s+)?(disabled|off|not\s+needed)\b
    | \bjailbreak\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_planted_instruction(sentence: str) -> bool:
    """True when an article sentence reads as an instruction to an AI assistant. Raises nothing."""
    return bool(_PLANTED.search(sentence))


@dataclass(frozen=True, eq=False)
class Sentence:
    """One numbered sentence: ``passage.text[start:end]``, the first retrieved passage holding it."""

    id: int
    block: int
    passage: Passage
    start: int
    end: int

    @property
    def text(self) -> str:
        """The sentence, exactly as in the article."""
        return self.passage.text[self.start : self.end]

    @property
    def doc_start(self) -> int:
        """Offset of the sentence in its document."""
        return self.passage.char_start + self.start

    @property
    def doc_end(self) -> int:
        """End offset of the sentence in its document."""
        return self.passage.char_start + self.end


@dataclass
class Block:
    """Merged, overlapping or touching passages of one article."""

    number: int
    title: str | None
    heading: str | None
    passages: list[Passage]
    sentences: list[Sentence] = field(default_factory=list)


@dataclass
class Evidence:
    """What the model is shown: blocks of numbered sentences, plus what was set aside."""

    blocks: list[Block]
    set_aside: list[str]

    @property
    def sentences(self) -> list[Sentence]:
        """Every numbered sentence, in number order."""
        return [s for b in self.blocks for s in b.sentences]

    def get(self, sentence_id: int) -> Sentence | None:
        """The sentence with this number, or None."""
        for b in self.blocks:
            for s in b.sentences:
                if s.id == sentence_id:
                    return s
        return None

    def without(self, ids: Iterable[int]) -> Evidence:
        """The same blocks and numbers with sentences ``ids`` left out (a second look elsewhere)."""
        drop = set(ids)
        blocks = [
            Block(b.number, b.title, b.heading, b.passages, [s for s in b.sentences if s.id not in drop])
            for b in self.blocks
        ]
        return Evidence(blocks=blocks, set_aside=list(self.set_aside))

    def block_of(self, sentence: Sentence) -> Block:
        """The block a sentence belongs to."""
        return self.blocks[sentence.block - 1]

    def render(self, template: str = "Passage {key}{source}:\n{text}") -> str:
        """The blocks as the model sees them: a header line, then one ``[n] sentence`` line each."""
        out = []
        for b in self.blocks:
            if not b.sentences:
                continue
            label = " / ".join(x for x in (b.title, b.heading) if x)
            lines = "\n".join(f"[{s.id}] {_one_line(s.text)}" for s in b.sentences)
            out.append(template.format(key=str(b.number), source=f" ({label})" if label else "", text=lines))
        return "\n\n".join(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _touch(a: Passage, b: Passage) -> bool:
    return (
        a.doc_id == b.doc_id and b.char_start <= a.char_end + _TOUCH_CHARS and a.char_start <= b.char_end + _TOUCH_CHARS
    )


def build_evidence(passages: Sequence[Passage]) -> Evidence:
    """Merge the passages into blocks and number their sentences; raises nothing.

    Blocks keep the rank order of their best passage (the first block holds the top passage), and
    sentences within a block follow the article. A sentence whose span overlaps one already listed
    (the chunk overlap) is listed once.
    """
    groups: list[list[Passage]] = []
    for p in passages:
        joined = [g for g in groups if any(_touch(p, q) for q in g)]
        if not joined:
            groups.append([p])
            continue
        first = joined[0]
        first.append(p)
        for g in joined[1:]:  # p bridges two groups: they become one, at the better-ranked place
            first.extend(g)
            groups.remove(g)
    blocks: list[Block] = []
    set_aside: list[str] = []
    next_id = 1
    for number, group in enumerate(groups, start=1):
        group = sorted(group, key=lambda p: (p.char_start, p.char_end))
        block = Block(number=number, title=group[0].title, heading=group[0].heading, passages=group)
        spans: list[tuple[int, int]] = []
        pending: list[tuple[int, Passage, int, int]] = []
        for p in group:
            for s, e in split_sentences(p.text):
                a, z = p.char_start + s, p.char_start + e
                if any(min(z, y) - max(a, x) > 0.5 * min(z - a, y - x) for x, y in spans):
                    continue
                spans.append((a, z))
                pending.append((a, p, s, e))
        for _, p, s, e in sorted(pending, key=lambda t: t[0]):
            text = p.text[s:e]
            if is_planted_instruction(text):
                set_aside.append(text)
                continue
            block.sentences.append(Sentence(id=next_id, block=number, passage=p, start=s, end=e))
            next_id += 1
        blocks.append(block)
    return Evidence(blocks=blocks, set_aside=set_aside)
