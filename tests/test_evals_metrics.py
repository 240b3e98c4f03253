"""Scoring functions on small hand-made cases whose values are worked out by hand."""

from __future__ import annotations

import pytest

from qa.evals.cases import EvalCase, Evidence
from qa.evals.metrics import (
    answer_correct,
    citation_precision,
    citation_recall,
    evidence_hit,
    is_refusal,
    mean_or_none,
    normalize_answer,
    percentile,
    quotes_overlap,
    recall_at_k,
    reciprocal_rank,
    token_f1,
    yes_no_verdict,
)
from qa.models import Answer, Citation, Passage

Q1 = "The Pentagon ordered 1,700 troops to Poland on Wednesday."
Q2 = "About 3,000 soldiers will move from Germany to Romania."


def passage(key: int, text: str, doc_id: str = "d1") -> Passage:
    return Passage(
        key=key,
        chunk_id=f"{doc_id}:{key}",
        doc_id=doc_id,
        text=text,
        char_start=0,
        char_end=len(text),
        score=0.5,
    )


def citation(key: int, passage_key: int, quote: str, doc_id: str = "d1") -> Citation:
    return Citation(
        key=key,
        passage_key=passage_key,
        doc_id=doc_id,
        chunk_id=f"{doc_id}:{passage_key}",
        quote=quote,
        char_start=0,
        char_end=len(quote),
        score=0.5,
    )


def case(evidence: list[Evidence], answers: list[str] | None = None) -> EvalCase:
    return EvalCase(id="c", question="q?", answers=answers or ["x"], answerable=True, evidence=evidence)


# --- answer normalisation and correctness


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("The 1,700 troops!", "1700 troops"),
        ("An apple a day, the doctor.", "apple day doctor"),
        ("five", "5"),
        ("Twelve Angry Men", "12 angry men"),
        ("São Paulo", "sao paulo"),
        ("1754–1763", "1754 1763"),
        ("1,700,000", "1700000"),
        ("1,70", "1 70"),
        ("  U.S.   forces ", "u s forces"),
    ],
)
def test_normalize_answer(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


@pytest.mark.parametrize(
    ("answer", "acceptable", "expected"),
    [
        ("The US sent about 1,700 troops.", ["1700"], True),
        ("The US sent 1700 troops.", ["1,700 troops"], True),
        ("The US sent 1700 troops.", ["170"], False),
        ("They moved 3,000 soldiers.", ["3000"], True),
        ("They moved 3000 soldiers.", ["8,500"], False),
        ("Five brigades were alerted.", ["5"], True),
        ("The Pentagon.", ["the pentagon", "DoD"], True),
        ("Pentagon officials", ["Department of Defense", "Pentagon"], True),
        ("", ["1700"], False),
        ("anything", [], False),
        ("Poland and Romania", ["Romania and Poland"], False),
    ],
)
def test_answer_correct_token_containment(answer: str, acceptable: list[str], expected: bool) -> None:
    assert answer_correct(answer, acceptable, "extractive") is expected


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("No, they did not.", "no"),
        ("The troops didn't go to Ukraine.", "no"),
        ("It does not say that.", "no"),
        ("Yes, although not all of them.", "yes"),
        ("Correct.", "yes"),
        ("The article is unclear about it.", None),
    ],
)
def test_yes_no_verdict(answer: str, verdict: str | None) -> None:
    assert yes_no_verdict(answer) == verdict


def test_yes_no_cases_judge_the_verdict() -> None:
    assert answer_correct("No, the troops did not enter Ukraine.", ["no"], "extractive")
    assert not answer_correct("Yes, they entered Ukraine.", ["no"], "extractive")
    # type yes_no with a long gold answer: the gold's verdict counts, not its words.
    assert answer_correct("Yes.", ["Yes, it did"], "yes_no")
    # No verdict at all is wrong rather than a guess.
    assert not answer_correct("Troops were deployed.", ["yes"], "extractive")


def test_token_f1_known_values() -> None:
    # pred {cat, sat}, gold {cat, sat, on, mat}: P=1, R=0.5, F1=2/3.
    assert token_f1("the cat sat", ["cat sat on mat"]) == pytest.approx(2 / 3)
    assert token_f1("the cat sat", ["dog", "cat sat"]) == 1.0
    assert token_f1("dog", ["cat"]) == 0.0
    assert token_f1("cat", []) == 0.0
    assert token_f1("", ["cat"]) == 0.0
    # Both normalise to nothing: a match by SQuAD's convention.
    assert token_f1("the", ["a"]) == 1.0
    # Repeated tokens count once each: pred {1700 x2}, gold {1700 troops}: P=1/2, R=1/2.
    assert token_f1("1,700 1700", ["1700 troops"]) == pytest.approx(0.5)


def test_list_cases_accept_items_in_any_order() -> None:
    gold = ["Poland, Germany and Romania"]
    assert answer_correct("Romania, Poland and Germany.", gold, "list")
    assert not answer_correct("Romania and Poland.", gold, "list")
    # Only list cases get the any-order rule.
    assert not answer_correct("Romania, Poland and Germany.", gold, "extractive")


# --- retrieval


def test_evidence_hit_by_quote_and_by_doc() -> None:
    ev = Evidence(doc_id="d1", quote="The Pentagon ordered 1,700 troops to Poland")
    assert evidence_hit(ev, passage(1, "Intro. " + Q1.upper()))
    assert not evidence_hit(ev, passage(1, Q2))
    # A quote that runs across a chunk boundary: the chunk lies inside the quote.
    assert evidence_hit(ev, passage(1, "1,700 troops to Poland"))
    # Curly quotes and dashes are matched straight.
    curly = Evidence(quote="the ‘rapid’ force — 8,500 strong")
    assert evidence_hit(curly, passage(1, "They put the 'rapid' force - 8,500 strong - on alert."))
    assert evidence_hit(Evidence(doc_id="d2"), passage(1, "anything", doc_id="d2"))
    assert not evidence_hit(Evidence(doc_id="d2"), passage(1, "anything", doc_id="d1"))
    assert not evidence_hit(Evidence(), passage(1, "anything"))


def test_recall_at_k_and_reciprocal_rank() -> None:
    c = case([Evidence(quote=Q1), Evidence(quote=Q2)])
    ranked = [passage(1, "noise"), passage(2, Q2), passage(3, "more noise"), passage(4, Q1), passage(5, "x")]
    assert recall_at_k(c, ranked, 1) == 0.0
    assert recall_at_k(c, ranked, 3) == 0.5
    assert recall_at_k(c, ranked, 5) == 1.0
    assert recall_at_k(c, ranked, 10) == 1.0
    assert reciprocal_rank(c, ranked) == 0.5
    assert reciprocal_rank(c, [passage(1, "noise")]) == 0.0
    assert recall_at_k(c, [], 3) == 0.0


def test_retrieval_metrics_are_none_without_evidence() -> None:
    c = case([])
    assert recall_at_k(c, [passage(1, Q1)], 5) is None
    assert reciprocal_rank(c, [passage(1, Q1)]) is None
    with pytest.raises(ValueError):
        recall_at_k(c, [], 0)


# --- citations


def test_quotes_overlap_needs_five_shared_tokens_or_containment() -> None:
    assert quotes_overlap("ordered 1,700 troops to Poland on Wednesday", Q1)  # containment
    assert quotes_overlap("Officials said 1,700 troops to Poland on short notice", Q1)  # 5-token run
    assert not quotes_overlap("Officials said 1,700 troops to Germany", Q1)  # only 3 in a row
    assert not quotes_overlap("", Q1)


def test_citation_precision_and_recall() -> None:
    c = case([Evidence(quote=Q1), Evidence(quote=Q2)])
    passages = [passage(1, Q1), passage(2, "Unrelated text about weather."), passage(3, "Intro. " + Q2)]
    answer = Answer(
        question="q?",
        answer="1,700 [1]",
        answerable=True,
        passages=passages,
        citations=[
            citation(1, 1, "1,700 troops to Poland on Wednesday"),  # overlaps Q1
            citation(2, 2, "Unrelated text about weather."),  # supports nothing
        ],
    )
    assert citation_precision(c, answer) == 0.5
    assert citation_recall(c, answer) == 0.5
    # A short quote from a passage that holds the evidence counts through the passage.
    via_passage = answer.model_copy(update={"citations": [citation(1, 3, "Intro.")]})
    assert citation_precision(c, via_passage) == 1.0
    assert citation_recall(c, via_passage) == 0.5


def test_citation_metrics_without_citations_or_evidence() -> None:
    no_cites = Answer(question="q?", answer="I don't know.", answerable=False)
    assert citation_precision(case([Evidence(quote=Q1)]), no_cites) is None
    assert citation_recall(case([Evidence(quote=Q1)]), no_cites) == 0.0
    cited = Answer(question="q?", answer="a", answerable=True, citations=[citation(1, 1, Q1)])
    assert citation_precision(case([]), cited) is None
    assert citation_recall(case([]), cited) is None
    # Evidence without a quote is supported by a citation from the same document.
    assert citation_recall(case([Evidence(doc_id="d1")]), cited) == 1.0


def test_refusal_and_aggregates() -> None:
    assert is_refusal(Answer(question="q", answer="", answerable=False))
    assert not is_refusal(Answer(question="q", answer="x", answerable=True))
    assert mean_or_none([None, None]) is None
    assert mean_or_none([True, False, None, 1.0]) == pytest.approx(2 / 3)
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)


def test_another_sentence_stating_the_same_fact_supports_the_item_but_is_not_retrieval_gold() -> None:
    # The article says "1,000 troops from Germany to Romania" twice; citing either one is right.
    again = "And the US is moving a stryker squadron of about 3,000 soldiers from Germany to Romania."
    c = case([Evidence(quote=Q2, also=[again])])
    cited = Answer(
        question="q?",
        answer="3,000 [1]",
        answerable=True,
        passages=[passage(1, again)],
        citations=[citation(1, 1, again)],
    )
    assert citation_precision(c, cited) == 1.0 and citation_recall(c, cited) == 1.0
    assert citation_precision(case([Evidence(quote=Q2)]), cited) == 0.0
    # retrieval is still scored on the quote: the passage holding only the other sentence is no hit
    assert not evidence_hit(c.evidence[0], passage(1, again))
