"""Eval cases: the JSONL eval-set format (one case a line, fields in evals/README.md, with an optional
``history`` of earlier turns for a follow-up), loading with every evidence quote checked against the corpus,
and stratified sampling. Fields the format does not name are kept, so nothing a benchmark carries is lost
on the way to the report.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa.errors import InputError

__all__ = [
    "EvalCase",
    "Evidence",
    "HistoryTurn",
    "check_quotes",
    "load_evalset",
    "normalize_match",
    "quote_in",
    "sample_cases",
]

_FORMAT_HINT = (
    'Each line must be one JSON object: {"id": str, "question": str, "answers": [str], '
    '"answerable": bool, "evidence": [{"doc_id": str, "quote": str}], "type": str}, '
    'optionally "history": [{"question": str, "answer": str}].'
)
# How many offending case ids an error message lists before it says "and N more".
_SHOW_IDS = 5


class Evidence(BaseModel):
    """Where the answer is written: a verbatim quote, a document, or both."""

    model_config = ConfigDict(extra="allow")

    doc_id: str | None = None
    quote: str | None = None
    also: list[str] = Field(
        default_factory=list,
        description="Other sentences of the document that state the same fact: citing one of them supports "
        "this item too. Retrieval is scored on ``quote`` alone.",
    )


class HistoryTurn(BaseModel):
    """An earlier turn of the conversation a follow-up case is asked in: the question and the answer shown."""

    # A misspelt key would silently change the conversation the model is shown, so it is an error.
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    answer: str = ""


class EvalCase(BaseModel):
    """One question with its acceptable answers, whether it can be answered, its evidence, and the
    earlier turns of the conversation it follows (none for a standalone case)."""

    model_config = ConfigDict(extra="allow")

    id: str
    question: str
    # Defaults keep hand-written unanswerable cases short; an answerable case without answers is
    # still run, but its answer correctness is not scored.
    answers: list[str] = Field(default_factory=list)
    answerable: bool
    evidence: list[Evidence] = Field(default_factory=list)
    type: str = "unknown"
    history: list[HistoryTurn] = Field(default_factory=list)
    # What a follow-up stands for on its own; only retrieval-only runs use it (a full run searches for
    # the system's own rewrite).
    standalone: str | None = None


_QUOTE_MAP = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "‑": "-"})
_SPACE = re.compile(r"\s+")


def normalize_match(s: str) -> str:
    """Fold case, straighten curly quotes, unify dashes and collapse whitespace, for quote matching."""
    return _SPACE.sub(" ", s.casefold().translate(_QUOTE_MAP)).strip()


def quote_in(quote: str, text: str) -> bool:
    """True when ``quote`` occurs in ``text`` after :func:`normalize_match`; an empty quote proves nothing."""
    q = normalize_match(quote)
    return bool(q) and q in normalize_match(text)


def _ids_text(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOW_IDS])
    return shown + (f" and {len(ids) - _SHOW_IDS} more" if len(ids) > _SHOW_IDS else "")


def _parse_line(path: Path, lineno: int, line: str) -> EvalCase:
    where = f"{path}:{lineno}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})", _FORMAT_HINT) from exc
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}", _FORMAT_HINT)
    try:
        return EvalCase.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'case'}: {err['msg']}" for err in exc.errors()[:3]
        )
        raise InputError(f"{where}: {problems}", _FORMAT_HINT) from exc


def load_evalset(path: Path, corpus: Mapping[str, str] | None = None) -> list[EvalCase]:
    """Read an evaluation set from JSONL, optionally checking every evidence quote against ``corpus``.

    ``corpus`` maps doc_id to the document's canonical text. Raises InputError when the file cannot be
    read, a line is malformed (message names file, line and problem), an id repeats, or a quote no
    longer occurs in its document (message lists the first case ids and how many).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read eval set {path}: {exc}", "Check the path and that it is UTF-8 JSONL.") from exc
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        case = _parse_line(path, lineno, line)
        if case.id in seen:
            # Results and baselines are keyed by id, so a repeat would silently overwrite a case.
            raise InputError(
                f"{path}:{lineno}: duplicate id {case.id!r} (first on line {seen[case.id]})",
                "Give every case a unique id.",
            )
        seen[case.id] = lineno
        cases.append(case)
    if corpus is not None:
        check_quotes(cases, corpus, source=str(path))
    return cases


def check_quotes(cases: Sequence[EvalCase], corpus: Mapping[str, str], *, source: str = "eval set") -> None:
    """Check that every evidence quote occurs in its document (any document when it names none).

    ``corpus`` maps doc_id to the document's text. Raises InputError naming ``source``, the number of
    stale quotes and the first case ids.
    """
    # Normalise each document once; a set has thousands of quotes over a few documents.
    texts = {doc_id: normalize_match(text) for doc_id, text in corpus.items()}
    stale_ids: list[str] = []
    stale_quotes = 0
    for case in cases:
        bad = 0
        for ev in case.evidence:
            for quote in (normalize_match(q) for q in [ev.quote or "", *ev.also]):
                if not quote:
                    continue
                if ev.doc_id is not None:
                    found = quote in texts.get(ev.doc_id, "")
                else:
                    found = any(quote in text for text in texts.values())
                bad += not found
        if bad:
            stale_ids.append(case.id)
            stale_quotes += bad
    if stale_ids:
        raise InputError(
            f"{source}: {stale_quotes} evidence quote(s) in {len(stale_ids)} case(s) do not occur "
            f"in the corpus: {_ids_text(stale_ids)}",
            "The articles changed or the doc_id is wrong; fix the quotes or rebuild the eval set.",
        )


def _allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    total = sum(sizes.values())
    exact = {t: n * size / total for t, size in sizes.items()}
    alloc = {t: math.floor(x) for t, x in exact.items()}
    # Largest remainders: the fractional parts sum to the seats left, so no group exceeds its size.
    left = n - sum(alloc.values())
    for t in sorted(sizes, key=lambda t: (alloc[t] - exact[t], t))[:left]:
        alloc[t] += 1
    if n >= len(sizes):
        # Every type gets a seat so a small sample still reports each type; taken from the group
        # that is most over its exact share among those that can spare one.
        for t in sorted(sizes):
            if alloc[t] == 0:
                donor = max((d for d in sizes if alloc[d] > 1), key=lambda d: (alloc[d] - exact[d], d))
                alloc[donor] -= 1
                alloc[t] = 1
    return alloc


def sample_cases(cases: Sequence[EvalCase], n: int, seed: int) -> list[EvalCase]:
    """A deterministic sample of ``n`` cases stratified by ``type``, in the original order.

    Allocation is proportional with largest remainders, and each type gets at least one case when
    ``n`` is at least the number of types. ``n >= len(cases)`` returns every case. Raises nothing.
    """
    if n >= len(cases):
        return list(cases)
    if n <= 0:
        return []
    groups: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        groups.setdefault(case.type, []).append(i)
    alloc = _allocate({t: len(ix) for t, ix in groups.items()}, n)
    rng = random.Random(seed)
    chosen: list[int] = []
    # Sorted type order makes the draw independent of the order types first appear in.
    for t in sorted(groups):
        chosen.extend(rng.sample(groups[t], alloc[t]))
    return [cases[i] for i in sorted(chosen)]
