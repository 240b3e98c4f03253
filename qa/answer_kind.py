"""Whether an answer is the kind of thing its question asks for.

"How many" wants a number, "how long" an amount, "when" a time, "who" a name the question doesn't hold;
a year the cited sentences never name, a count of other things, the question's own subject with a word
added, or the one who acts where the question asks whom he acts on, answer nothing (qa.verify withholds
them). An "X or Y?" question is answered by one of its choices.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.citations import STOPWORDS, content_words, is_number, locate_quote, stem, words
from qa.terms import ALTERNATIVE, MARKER, NAME, new_facts, stems, stems_of

# "Who is X going to meet?", "Whom did X thank?": the question's subject acts, the answer is acted on.
_WHOM_QUESTION = re.compile(
    r"\s*(?:who|whom)\s+(?:(?:did|does|do|will|would|can|could|should|has|have|had)\b|"
    r"(?:is|are|was|were)\b(?=.*\bgoing\s+to\b))(?P<rest>.*)$",
    re.I,
)


# Words between a subject and its verb in active voice ("Rau will meet"); "was" / "is" would make it passive.
_ACTIVE_AUX = frozenset(
    "will would did does do has have had can could should may might must to also then later soon".split()  # noqa: SIM905
)


# What a span says instead of naming anyone: "a handful of allies" for "Which other allies…?".
_VAGUE = frozenset(
    """handful some several many few number various other others couple dozens numerous lot lots plenty
    certain more most multiple variety range series host""".split()  # noqa: SIM905
)


_YEAR = re.compile(r"(?<![\d,.])\b(1[0-9]{3}|20[0-9]{2})(s?)\b(?![,.]?\d)")


def another_year(question: str, texts: Sequence[str]) -> tuple[str, str] | None:
    """(the question's year, a year of ``texts``) when the question names a year ("in 1970", "the 1970s")
    that ``texts`` never mention while they name another one: what they say holds for another time."""
    asked = [(m.group(1), bool(m.group(2))) for m in _YEAR.finditer(question)]
    if not asked:
        return None
    given = [m.group(1) for t in texts for m in _YEAR.finditer(t)]
    if not given:
        return None
    numbers = {w for t in texts for w in words(t) if is_number(w)}
    if any(y in numbers for y, _ in asked):  # "the 1500 troops" ← "1,500 troops": there, as a count
        return None
    for year, decade in asked:
        if any(g == year or (decade and g[:3] == year[:3]) for g in given):
            return None
    return asked[0][0] + ("s" if asked[0][1] else ""), given[0]


_MONTHS = "january february march april may june july august september october november december"


_TEMPORAL = re.compile(
    r"\b(?:\d{4}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    r"week|weeks|month|months|year|years|day|days|morning|evening|night|hour|hours|ago|since|until|"
    r"soon|coming|recent|recently|later|earlier|now|then|dec|nov|oct|sept|sep|aug|jul|jun|apr|mar|feb|jan|"
    r"century|centuries|decade|decades|\d+s|" + "|".join(_MONTHS.split()) + r")\b"
)


# A question that asks for a time in any words; any other question is not answered by a time alone.
_ASKS_TIME = re.compile(
    r"\b(?:when|years?|days?|dates?|time|months?|centur(?:y|ies)|decades?|period|era|age|how long|how recent(?:ly)?|"
    r"seasons?|weeks?|hours?|until|since|ago|schedule|deadline|term)\b",
    re.I,
)


_TIME_WORD = re.compile(
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    + "|".join(_MONTHS.split())
    + r"|weeks?|months?|years?|days?|morning|evening|night|ago|last|next|coming|earlier|later|recent(?:ly)?|"
    r"decades?|centur(?:y|ies)|\d{4}s?|\d{1,2}(?:st|nd|rd|th)?)"
)


# "How long / far / old …?" asks for an amount; an answer without a number or a word of one gives none.
_HOW_MEASURE = re.compile(
    r"\bhow\s+(long|far|old|tall|big|large|often|high|deep|wide|heavy|fast|early|late|soon)\b", re.I
)


_MEASURE = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundreds?|"
    r"thousands?|millions?|billions?|dozens?|half|few|several|many|once|twice|since|until|till|ago|centur(?:y|ies)|"
    r"decades?|years?|months?|weeks?|days?|hours?|minutes?|seconds?|annually|daily|weekly|monthly|yearly|always|"
    r"never|long|short|brief|age|aged)\b",
    re.I,
)


_SPAN_WORDS = re.compile(
    r"\b(?:since|until|till|from|to|through|between|ago|for|years?|decades?|centur(?:y|ies)|months?)\b|[–—-]\s*\d", re.I
)


def _only_a_year(answer: str) -> bool:
    """True when the answer's only numbers are years ("1796"), with no word that makes a stretch of time
    of them ("until 1796", "1870 to 1939", "1970s")."""
    numbers = re.findall(r"\d[\d,.]*\d|\d", answer)
    years = [m for m in _YEAR.finditer(answer) if not m.group(2)]
    return bool(numbers) and len(years) == len(numbers) and not _SPAN_WORDS.search(answer)


def _only_a_time(answer: str) -> bool:
    """True for an answer that is a time and nothing else: "Friday", "last week"."""
    found = content_words(MARKER.sub(" ", answer))
    return any(re.search("[a-z]", w) for w in found) and all(_TIME_WORD.fullmatch(w) for w in found)


def answer_type_mismatch(question: str, answer: str) -> str | None:
    """A reason when the answer is not the kind the question asks for (a count, a time), else None.

    A small model asked "When did X happen?" about an article that doesn't say will often restate a
    nearby sentence; the restatement is supported but answers nothing.
    """
    q = question.lower()
    a = answer.lower()
    if re.search(r"\bhow (many|much)\b", q) and not re.search(
        r"\d(?![\d,]*(?:st|nd|rd|th)\b)|\b(one|two|three|four|five|six|seven|eight|"
        r"nine|ten|eleven|twelve|dozen|dozens|hundred|hundreds|thousand|thousands|million|billion|"
        r"none|no|several|few|handful|couple|once|twice|thrice)\b",
        a,
    ):
        return "the question asks for a number and the supported answer contains none"
    how = _HOW_MEASURE.search(q)
    if how and not _MEASURE.search(a):
        # "How long has the Pentagon press secretary held that job?" → "John Kirby".
        return f"the question asks how {how.group(1)} and the supported answer gives no amount"
    if how and how.group(1).lower() == "long" and _only_a_year(a):
        # "How long was Warsaw the capital of the Duchy Commonwealth?" → "1796": when, not for how long
        # ("until 1796" or "1870 to 1939" do say how long).
        return "the question asks how long, and the answer only names a year"
    if re.match(r"\s*(when|what (year|day|date|time|month|century|decade))\b", q) and not _TEMPORAL.search(a):
        return "the question asks when and the supported answer names no time"
    if not re.search(r"\bhow (many|much)\b", q):
        facts, others = new_facts(answer, question)
        if not facts and others and all(w in _VAGUE for w in others):
            return "the question asks which, and the answer only says how many"
    if not _ASKS_TIME.search(q) and _only_a_time(answer):
        # "What is on the agenda for Rau's meeting?" → "Friday": when it is, not what.
        return "the question asks what, and the answer only says when"
    if re.match(r"\s*(who|whom)\b", q) and not _names_beyond(answer, question):
        return "the question asks who and the supported answer names nobody the question doesn't"
    return None


# A large count ("366,273", "12,000"), not a year or a small number that many things share.
_COUNT = re.compile(r"[($]?(\d{1,3}(?:,\d{3})+|\d{5,})[)%.,;:]?")


# Words that may follow a count in a question without naming what is counted ("the 8,500 already on alert").
_NOT_COUNTED = frozenset("already still more less only just total in of".split())  # noqa: SIM905


def counts_other_things(question: str, texts: Sequence[str]) -> tuple[str, str, str] | None:
    """(number, what a text counts, what the question counts) when the question counts one thing with a
    large number ("366,273 people") and a cited sentence gives the same number for another ("366,273
    households"); None otherwise."""
    q = question.split()
    for i, tok in enumerate(q[:-1]):
        m = _COUNT.fullmatch(tok)
        what = re.sub(r"[^\w-]", "", q[i + 1]).lower()
        if not m or not what.isalpha() or what in STOPWORDS or what in _NOT_COUNTED:
            continue
        number = m.group(1).replace(",", "")
        for text in texts:
            t = text.split()
            for j, x in enumerate(t):
                n = _COUNT.fullmatch(x)
                if n is None or n.group(1).replace(",", "") != number or j + 1 >= len(t):
                    continue
                after = [re.sub(r"[^\w-]", "", y) for y in t[j + 1 : j + 4]]
                first = after[0]
                if not first.isalpha() or first[0].isupper() or first.lower() in STOPWORDS:
                    continue  # "8,500 US troops": a name first, the thing counted comes later
                if stem(what) not in {stem(a.lower()) for a in after if a}:
                    return m.group(1), first, what
    return None


_AUX = r"(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might)"


# "What style were the blocks designed in?": what is asked ("style") before the verb, the subject after it.
_WHAT_ASKED = re.compile(r"\s*(?:what|which)\s+(?P<asked>.*?)\b" + _AUX + r"\b(?P<rest>.*)$", re.I)


# "What is the name of Sky Q's router?": the words after "name of" are what the answer restates.
_NAME_OF = re.compile(r"\s*(?:the\s+|a\s+)?(?:names?|types?|kinds?|sort|form|title|term|word)\s+(?:of|for)\b", re.I)


def _alternatives(question: str) -> list[str]:
    """The words on either side of each "or" of ``question``: the choices it offers ("adults", "juveniles")."""
    found: list[str] = []
    for m in ALTERNATIVE.finditer(question):
        before = [w for w in words(question[: m.start()]) if w not in STOPWORDS]
        after = [w for w in words(question[m.end() :]) if w not in STOPWORDS]
        found += [w for w in (before[-1:] + after[:1]) if w not in found]
    return found


def picked_alternative(question: str, answer: str, texts: Sequence[str]) -> str | None:
    """The one choice of an "X or Y?" question that ``answer`` names and the cited ``texts`` name too, or
    None when it names none, or more than one."""
    said, cited = stems(answer), stems_of(texts)
    named = [w for w in _alternatives(question) if stem(w) in said]
    return named[0] if len(named) == 1 and stem(named[0]) in cited else None


def restates_subject(question: str, answer: str) -> bool:
    """True when ``answer`` is the question's own subject with one word added: "What do epithelial cells have at
    the oral end?" → "adhesive epithelial cells". Only for "what/which … <verb> <subject> …?" questions that
    don't ask for a name or kind ("What type of number generators…?" → "pseudorandom number generators" is
    an answer); flags 1 of the 1,707 gold answers of the answerable SQuAD 2.0 dev questions."""
    m = _WHAT_ASKED.match(question)
    if not m or _NAME_OF.match(m.group("rest")):
        return False
    asked = {stem(w) for w in content_words(m.group("asked"))}
    q = {stem(w) for w in content_words(question)}
    said = content_words(MARKER.sub(" ", answer))
    restated = [w for w in said if stem(w) in q and stem(w) not in asked]
    added = [w for w in said if stem(w) not in q]
    return len(added) == 1 and len(restated) >= 2


def actor_for_object(question: str, span: str, texts: Sequence[str]) -> str | None:
    """The question's verb when ``span`` is who does it in ``texts`` while the question asks whom it is done
    to: "Who is the Polish foreign minister going to meet?" ← "Rau will meet Secretary of State Antony
    Blinken". None otherwise (a passive "Blinken was met by" is not matched)."""
    m = _WHOM_QUESTION.match(question)
    if not m:
        return None
    rest = [w for w in words(m.group("rest")) if w not in STOPWORDS]
    verbs = {stem(w) for w in rest[1:]}  # past the subject's first word
    for text in texts:
        at = locate_quote(span, text)
        if at is None:
            continue
        titled = _titled_as(text[: at[0]], rest)
        if titled:
            # "Who is the Polish foreign minister going to meet?" → "Zbigniew Rau" from "Polish Foreign
            # Minister Zbigniew Rau visits…": the sentence introduces the span with the question's subject.
            return titled
        for w in words(text[at[1] :])[:3]:
            if w in _ACTIVE_AUX:
                continue
            if w not in STOPWORDS and stem(w) in verbs:
                return w
            break
    return None


def _titled_as(before: str, rest: list[str]) -> str | None:
    """The question's verb when the capitalised words right before a name are the first two or more of the
    question's, its subject's ("Polish Foreign Minister" before "Zbigniew Rau" for "the Polish foreign
    minister going to meet"; not "BSkyB competed" before "ONdigital"), else None."""
    title = re.findall(r"[\w'’.-]+", before)
    trailing = []  # the capitalised words (stopwords between them allowed) that end ``before``, stemmed
    for w in reversed(title):
        if not (w[:1].isupper() or w.lower() in STOPWORDS):
            break
        if w.lower() not in STOPWORDS:
            trailing.append(stem(w.lower()))
    said = trailing[::-1]
    asked = [stem(w) for w in rest]
    for n in range(min(len(said), len(asked) - 1), 1, -1):
        if said[-n:] == asked[:n]:
            return next((w for w in rest[n:] if w != "going"), None)
    return None


# "Who commands the 82nd Airborne brigade…?": the question's verb right after "who", then what it acts on.
_WHO_DOES = re.compile(r"\s*who\s+(?!" + _AUX + r"\b|must\b|has\b|'s\b)(?P<verb>[a-z]+)\s+(?P<object>\S.*)$", re.I)


def names_the_object(question: str, span: str) -> str | None:
    """The question's verb when ``span`` names what the question says is acted on, not who acts: "Who commands
    the 82nd Airborne brigade being sent to Poland?" → "82nd Airborne Division infantry brigade combat team".
    The span holds two or more of the object's words and names nobody new (a capitalised word it adds only
    extends a name the question gives, "Airborne Division"); "Polish army commander Jan Nowak" for "Who led
    the Polish army?" names someone. Flags none of the gold answers of the 51 answerable SQuAD 2.0 dev
    questions of this form."""
    m = _WHO_DOES.match(question)
    if not m:
        return None
    target = {stem(w) for w in content_words(m.group("object"))}
    if len([w for w in content_words(span) if stem(w) in target]) < 2:
        return None
    asked = stems(question)
    extends = False  # the word before continues the question's own name
    for token in re.findall(r"[\w'’.-]+", MARKER.sub(" ", span)):
        given = any(stem(w) in asked for w in words(token))
        if token[:1].isupper() and not given and not extends:
            return None
        extends = given or (extends and (token[:1].isupper() or token[:1].isdigit()))
    return m.group("verb")


# "Where exactly in Romania…?": the question places its answer in a named place and asks where in it.
_WHERE_IN = re.compile(
    r"\s*(?i:where)(?:\s+(?i:exactly|precisely|specifically|else|abouts))?\s+(?i:in)\s+(?:the\s+)?"
    r"(?P<place>[A-Z][\w'’.-]*(?:\s+(?:of\s+)?[A-Z][\w'’.-]*)*)"
)


def place_given_back(question: str, span: str) -> str | None:
    """The place when ``question`` asks where in a named place ("Where exactly in Romania…?") and ``span``
    only gives that place back ("Romania"): the question already says as much. None otherwise."""
    m = _WHERE_IN.match(question)
    if not m:
        return None
    place = {stem(w) for w in content_words(m.group("place"))}
    said = {stem(w) for w in content_words(MARKER.sub(" ", span))}
    return m.group("place") if said and said <= place else None


def _names_beyond(answer: str, question: str) -> list[str]:
    """Capitalised words of ``answer`` (past its first word) that ``question`` doesn't hold."""
    q = stems(question)
    body = MARKER.sub(" ", answer).strip()
    found = []
    for m in NAME.finditer(body):
        if m.start() == 0 and m.group(0).lower() in STOPWORDS | {"yes", "no"}:
            continue
        found += [w for w in words(m.group(0)) if w not in STOPWORDS and stem(w) not in q]
    return found
