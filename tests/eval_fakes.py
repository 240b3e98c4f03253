"""A small scripted eval: three sentences, six cases, a fixed retrieval and scripted answers (no model, no store)."""

from __future__ import annotations

from collections.abc import Sequence

from qa.conversation import Turn
from qa.errors import ModelUnavailableError
from qa.evals import CaseResult, EvalCase, Evidence, run_eval
from qa.models import Answer, Citation, Passage, Usage

DOC = (
    "The Pentagon ordered 1,700 troops to Poland on Wednesday. "
    "About 3,000 soldiers will move from Germany to Romania. "
    "Officials said the troops won’t fight in Ukraine."
)
S1, S2, S3 = (s + "." for s in DOC.rstrip(".").split(". "))


def passage(key: int, text: str) -> Passage:
    return Passage(key=key, chunk_id=f"d1:{key}", doc_id="d1", text=text, char_start=0, char_end=len(text), score=0.9)


PASSAGES = [passage(1, S1), passage(2, S2), passage(3, S3)]
CASES = [
    EvalCase(id="troops", question="How many troops to Poland?", answers=["1,700"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S1)], type="extractive"),
    EvalCase(id="romania", question="How many to Romania?", answers=["3000"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S2)], type="extractive"),
    EvalCase(id="refused", question="Who fights in Ukraine?", answers=["nobody"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S3)], type="extractive"),
    EvalCase(id="price", question="What did it cost?", answers=[], answerable=False, type="unanswerable"),
    EvalCase(id="ships", question="How many ships?", answers=[], answerable=False, type="unanswerable"),
    EvalCase(id="broken", question="Model down?", answers=["x"], answerable=True,
             evidence=[Evidence(doc_id="d1", quote=S1)], type="extractive"),
]  # fmt: skip


def fake_retrieve(question: str, depth: int) -> list[Passage]:
    assert depth == 10
    return list(PASSAGES)


def cite(key: int) -> Citation:
    p = PASSAGES[key - 1]
    return Citation(key=1, passage_key=key, doc_id="d1", chunk_id=p.chunk_id, quote=p.text,
                    char_start=0, char_end=len(p.text), score=0.9)  # fmt: skip


def fake_ask(question: str, history: Sequence[Turn] = ()) -> Answer:
    usage = Usage(prompt_tokens=100, completion_tokens=10)
    if question.startswith("How many troops"):
        return Answer(question=question, answer="1700 troops [1]", answerable=True, citations=[cite(1)],
                      passages=PASSAGES, usage=usage)  # fmt: skip
    if question.startswith("How many to Romania"):  # wrong, and cites the wrong passage
        return Answer(question=question, answer="1,700 [1]", answerable=True, citations=[cite(1)],
                      passages=PASSAGES, usage=usage)  # fmt: skip
    if question.startswith("How many ships"):  # answers an unanswerable question
        return Answer(question=question, answer="Five ships.", answerable=True, usage=usage)
    if question.startswith("Model down"):
        raise ModelUnavailableError("the model server is not running", "start it")
    return Answer(question=question, answer="The articles do not say.", answerable=False, usage=usage)


def full_run(repeat: int = 1) -> list[CaseResult]:
    return run_eval(CASES, retrieve=fake_retrieve, ask=fake_ask, k=4, retrieval_only=False, repeat=repeat)
