"""Scraped-article debris: photo captions, video teasers, datelines and contributor credits.

Debris is marked with spans (``Document.excluded``), never cut out, so every citation offset still points
into the text as loaded. Conservative: only a line matching a named rule is marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.models import Span

_CREDIT = (
    r"(?:\((?:AP|AFP|EPA|Reuters)?\s?Photos?\b[^()]{0,80}\)"  # (AP Photo, File), (Photo by X/Getty Images)
    r"|\([^()]{0,80}Getty Images\)"
    # An agency and a photographer's name, nothing after it: "REUTERS/Kevin Lamarque/File Photo".
    r"|\b(?:REUTERS|Reuters|AFP|EPA-EFE|EPA)/(?:[A-Z][\w'’-]*\.?\s)*[A-Z][\w'’-]*(?:/File Photo)?"
    r"|/Getty Images)"
)
_AGENCY = r"\((?:AP|Reuters|AFP|CNN|UPI|Bloomberg|dpa)\)"
_PLACE = r"(?:[A-Z0-9][\w.'’-]*,?\s+)"


@dataclass(frozen=True)
class _Rule:
    reason: str
    pattern: re.Pattern[str]
    #: Also take a short title line directly above (no blank line between), as video teasers have.
    title_above: bool = False


# Each pattern is matched against one line with surrounding whitespace removed; a match excludes the line.
_LINE_RULES = (
    _Rule("photo caption", re.compile(r"^(?:FILE\s?[-–—]\s|FILE PHOTO\b)")),
    _Rule("photo caption", re.compile(_CREDIT + r"$")),
    _Rule("video teaser", re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?\s*[-–—]\s*Source:\s*\S.{0,60}$"), True),
    _Rule("dateline", re.compile(rf"^{_PLACE}{{1,5}}(?:{_AGENCY}\s*)?[—–-]{{1,2}}$")),
)
# Only at the very end of an article, so a sentence mentioning reporting in the body is safe.
_TAIL_RULES = (
    _Rule(
        "contributor credit",
        re.compile(
            r"^.{0,300}\bcontributed (?:reporting|to this (?:report|story|article))(?: from [^.]{1,80})?\.?$"
            # Wire footers name people, never end in a full stop: "Reporting by A; Editing by B".
            r"|^(?:Additional reporting|Reporting|Writing|Editing) by [A-Z][^!?]{0,300}(?<!\.)$"
        ),
    ),
)
# A dateline opening a paragraph of real text: only this prefix is debris.
_DATELINE_PREFIX = re.compile(
    rf"^(?:{_PLACE}{{0,4}}{_AGENCY}\s*[—–-]{{1,2}}|{_PLACE}{{0,2}}CNN(?: Business)?\s+[—–])\s+(?=\S)"
)
_VIDEO_TITLE_MAX = 120


def find_debris(text: str) -> list[Span]:
    """Spans of scraped debris (captions, video teasers, datelines, credits) in ``text``, in order.

    Raises nothing. Conservative: only lines matching a named rule are marked; the text is unchanged.
    """
    lines = _stripped_lines(text)
    marked: dict[int, Span] = {}
    for i, (lo, core) in enumerate(lines):
        rule = next((r for r in _LINE_RULES if core and r.pattern.search(core)), None)
        if rule is None:
            prefix = _DATELINE_PREFIX.match(core)
            if prefix:
                marked[i] = Span(start=lo, end=lo + len(prefix.group(0).rstrip()), reason="dateline")
            continue
        marked[i] = Span(start=lo, end=lo + len(core), reason=rule.reason)
        above_lo, above = lines[i - 1] if i > 0 else (0, "")
        if rule.title_above and i - 1 not in marked and _is_title(above):
            marked[i] = Span(start=above_lo, end=lo + len(core), reason=rule.reason)
    for i in range(len(lines) - 1, -1, -1):
        lo, core = lines[i]
        rule = next((r for r in _TAIL_RULES if core and r.pattern.search(core)), None)
        if rule is not None:
            marked[i] = Span(start=lo, end=lo + len(core), reason=rule.reason)
        elif core and i not in marked:
            break
    return sorted(marked.values(), key=lambda s: s.start)


def _is_title(line: str) -> bool:
    return bool(line) and len(line) <= _VIDEO_TITLE_MAX and not line.endswith(".")


def _stripped_lines(text: str) -> list[tuple[int, str]]:
    """Each line as (offset of its first non-space character, the line without surrounding whitespace)."""
    out: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        core = line.strip()
        out.append((pos + len(line) - len(line.lstrip()), core))
        pos += len(line) + 1
    return out
