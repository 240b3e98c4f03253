"""Whether cited sentences are about what the question asks, and finding the shown sentence that is
(qa.relation)."""

from __future__ import annotations

from collections.abc import Sequence

from qa.evidence import Evidence, build_evidence
from qa.models import Passage
from qa.relation import Scorer, nearby_reason, relation, relocate_span
from qa.settings import Settings

CFG = Settings().answer
TEXT = (
    "Biden met with Defense Secretary Lloyd Austin at the White House on Tuesday. "
    "About 1,700 troops from the 82nd Airborne Division will go to Poland. "
    "Another 300 troops from Fort Bragg will go to Germany."
)


def evidence() -> Evidence:
    p = Passage(key=1, chunk_id="a:h:0", doc_id="a", text=TEXT, char_start=0, char_end=len(TEXT), score=0.6)
    return build_evidence([p])


def scores(value: float) -> Scorer:
    def scorer(question: str, texts: Sequence[str]) -> list[float]:
        return [value for _ in texts]

    return scorer


def test_related_by_the_questions_terms_or_by_the_cross_encoder() -> None:
    sentence = ["About 1,700 troops from the 82nd Airborne Division will go to Poland."]
    related, coverage, _, asks_about = relation("How many troops will go to Poland?", sentence, sentence, CFG, None)
    assert related and asks_about and coverage == 1.0
    # none of the question's terms: only a cross-encoder that vouches for the sentence relates it
    question = "Who commands the brigade?"
    assert not relation(question, sentence, sentence, CFG, None)[0]
    assert not relation(question, sentence, sentence, CFG, scores(-3.0))[0]
    assert relation(question, sentence, sentence, CFG, scores(3.0))[0]


def test_a_span_found_one_sentence_off_is_cited_where_it_is() -> None:
    ev = evidence()
    moved = relocate_span("300 troops", ev, "How many troops go to Germany?")
    assert [s.text for s in moved] == ["Another 300 troops from Fort Bragg will go to Germany."]
    assert relocate_span("Hanks", ev, "Who commands?") == []


def test_an_answer_about_something_nearby_is_named() -> None:
    ev = evidence()
    cited = [s for s in ev.sentences if "Austin" in s.text]

    def why(question: str) -> str | None:
        texts = [s.text for s in cited]
        return nearby_reason(question, "Lloyd Austin", "Lloyd Austin", True, cited, texts, ev, CFG, {})

    # "who wasn't…" answered from a sentence saying who was
    reason = why("Who wasn't at the White House meeting?")
    assert reason is not None and "not so" in reason
    assert why("Who was at the White House meeting?") is None
