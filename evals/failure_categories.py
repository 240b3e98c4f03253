"""Count an eval run's failures by category, from its cases.jsonl (old and new refusal wordings).

    .venv/bin/python evals/failure_categories.py evals/results/reference [more runs...]

Prints one markdown table, a column per run, so runs before and after a change can be compared.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# (category, substrings of refusal reasons that belong to it), checked in order.
REFUSAL_CATEGORIES = [
    ("refused: the model itself found no answer", ["model found no"]),
    (
        "refused: quote or answer not backed by the cited text",
        [
            "no citation could be verified",
            "no sentence of the answer",
            "is not in the sentences it cites",
            "only repeats",
            "sentence numbers that were not shown",
        ],
    ),
    ("refused: missing-premise check", ["passages never mention"]),
    (
        "refused: cited sentences judged about something else",
        [
            "about something else",
            "asks what is not so",
            "never mention",
            "which the question is about",
            "the cited sentences speak of",
            "the answer speaks of",
            "the cited sentence's",
            "say it of",
            ": the opposite",
        ],
    ),
    ("refused: follow-up check said no", ["asked again"]),
    (
        "refused: answer type / yes-no checks",
        [
            "asks for a number",
            "asks how",
            "asks when",
            "asks who",
            "asks which",
            "asks what",
            "asks whom",
            "asks where",
            "own subject",
            "verdict",
            "negated",
            "says no",
        ],
    ),
    ("refused: no related passage", ["no passage is related", "no passages were retrieved"]),
]


def categorize(case: dict[str, object]) -> str | None:
    """The failure category of one case, or None when it was handled right."""
    if case.get("error"):
        return "error"
    if not case["answerable"]:
        return None if case["refused"] else "unanswerable: answered"
    if not case["refused"]:
        return None if case.get("correct") else "answerable: wrong answer shown"
    reason = str(case.get("refusal_reason") or "")
    for name, needles in REFUSAL_CATEGORIES:
        if any(n in reason for n in needles):
            return "answerable " + name
    return "answerable refused: other"


def main(runs: list[Path]) -> None:
    counts = []
    for run in runs:
        cases = [json.loads(line) for line in (run / "cases.jsonl").read_text().splitlines() if line.strip()]
        c = Counter(cat for cat in map(categorize, cases) if cat)
        c["(answerable / unanswerable)"] = 0
        counts.append((c, sum(x["answerable"] for x in cases), sum(not x["answerable"] for x in cases)))
    names = sorted({k for c, _, _ in counts for k in c if not k.startswith("(")})
    print("| category | " + " | ".join(str(r) for r in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    print("| cases (answerable / unanswerable) | " + " | ".join(f"{a} / {u}" for _, a, u in counts) + " |")
    for name in names:
        print(f"| {name} | " + " | ".join(str(c.get(name, 0)) for c, _, _ in counts) + " |")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
