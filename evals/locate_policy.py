"""Compare the QA_ANSWER_LOCATE_SUPPORT policies (off / repair / cited / all) offline, from one full eval run.

The model's reply does not depend on the policy (it only changes how the reply is verified), so the
replies recorded in an eval run's cases.jsonl (`raw_answer`, `raw_citations`) are re-verified here under
each policy, against the same passages (the top-k retrieved chunks, read back from the eval store).
Cases refused before any model call (no reply recorded) stay refused under every policy.

    .venv/bin/python evals/locate_policy.py evals/results/reference STORE

STORE is the eval store `qa eval --corpus` built (under .qa/eval-stores/; `qa eval` prints it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa import QA
from qa.answer import ModelAnswer, ModelCitation, verify
from qa.metrics import answer_correct
from qa.models import Passage
from qa.settings import Settings

POLICIES = ("off", "repair", "cited", "all")


def main(results: Path, store_dir: Path) -> None:
    report = json.loads((results / "report.json").read_text())
    k = int(report["k"])
    settings = Settings(store=store_dir)
    qa = QA(settings)
    chunks = qa.store()._chunks
    counts = {p: {"answerable_correct": 0, "answerable_refused": 0, "unanswerable_refused": 0} for p in POLICIES}
    n_ans = n_una = 0
    for line in (results / "cases.jsonl").read_text().splitlines():
        case = json.loads(line)
        n_ans += case["answerable"]
        n_una += not case["answerable"]
        model_said_no = case.get("refusal_reason") == "the model found no answer in the passages"
        replied = case.get("raw_answer") is not None and not model_said_no
        if replied:
            ids = case["retrieved"][:k]
            got = chunks.get(ids=ids, include=["documents", "metadatas"])
            by_id = {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
            passages = [
                Passage(
                    key=n + 1,
                    chunk_id=cid,
                    doc_id=str(by_id[cid][1]["doc_id"]),
                    text=by_id[cid][0],
                    char_start=int(by_id[cid][1].get("char_start", 0)),
                    char_end=int(by_id[cid][1].get("char_end", 0)),
                    score=0.5,
                )
                for n, cid in enumerate(ids)
            ]
            reply = ModelAnswer(
                answer=case["raw_answer"],
                citations=[ModelCitation(key=c["key"], quote=c["quote"]) for c in case.get("raw_citations", [])],
                answerable=True,
            )
        for policy in POLICIES:
            if replied:
                s = settings.model_copy(
                    update={"answer": settings.answer.model_copy(update={"locate_support": policy})}
                )
                a = verify(case["question"], passages, reply, s)
                refused = not a.answerable
                correct = not refused and answer_correct(a.answer, case["expected"], case["type"])
            else:
                refused, correct = case["refused"], bool(case.get("correct"))
            c = counts[policy]
            if case["answerable"]:
                c["answerable_correct"] += correct
                c["answerable_refused"] += refused
            else:
                c["unanswerable_refused"] += refused
    print(f"| policy | accuracy (n={n_ans}) | false refusal | refusal recall (n={n_una}) |")
    print("|---|---:|---:|---:|")
    for policy, c in counts.items():
        print(
            f"| `{policy}` | {c['answerable_correct'] / n_ans:.3f} | {c['answerable_refused'] / n_ans:.3f} | "
            f"{c['unanswerable_refused'] / max(1, n_una):.3f} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
