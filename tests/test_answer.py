from __future__ import annotations

import re
import string

import pytest

from qa.answer import (
    REFUSAL_TEXT,
    ModelAnswer,
    ModelCitation,
    _AnswerFieldStream,
    answer_type_mismatch,
    build_messages,
    load_prompt,
    stream_answer,
    verify,
)
from qa.errors import InputError, ModelOutputError
from qa.models import Answer, Passage
from qa.settings import Settings
from tests.fakes import ScriptedChat, reply

P1 = (
    "The US deployment to Poland consists of about 1,700 troops from an 82nd Airborne Division infantry brigade "
    "combat team based at Fort Bragg in North Carolina."
)
P2 = (
    "Kremlin spokesman Dmitry Peskov told CNN’s Matthew Chance that the “US de facto is continuing to pump up tension.”"
)
DOC_OFFSET = 1000


def passages() -> list[Passage]:
    return [
        Passage(key=1, chunk_id="d:h:0", doc_id="d", title="T", text=P1, char_start=DOC_OFFSET,
                char_end=DOC_OFFSET + len(P1), score=0.7),
        Passage(key=2, chunk_id="d:h:1", doc_id="d", title="T", text=P2, char_start=5000,
                char_end=5000 + len(P2), score=0.5),
    ]  # fmt: skip


def model(answer: str, cites: list[tuple[int, str]], answerable: bool = True) -> ModelAnswer:
    return ModelAnswer(
        answer=answer, citations=[ModelCitation(key=k, quote=q) for k, q in cites], answerable=answerable
    )


S = Settings()


def test_supported_answer_keeps_citation_with_document_offsets() -> None:
    a = verify(
        "How many troops are going to Poland?",
        passages(),
        model("About 1,700 troops [1].", [(1, "about 1,700 troops")]),
        S,
    )
    assert a.answerable and a.answer == "About 1,700 troops [1]."
    (c,) = a.citations
    # Short quotes are widened to their sentence so the reader sees the context.
    assert c.quote == P1
    assert (c.char_start, c.char_end) == (DOC_OFFSET, DOC_OFFSET + len(P1))
    assert c.doc_id == "d" and c.chunk_id == "d:h:0" and c.score == 0.7


def test_quote_from_the_wrong_passage_or_invented_is_dropped_and_counted() -> None:
    a = verify(
        "How many troops?",
        passages(),
        model(
            "About 1,700 troops [1].", [(2, "about 1,700 troops"), (1, "2,000 paratroopers"), (1, "about 1,700 troops")]
        ),
        S,
    )
    assert a.answerable and a.dropped_citations == 2
    assert [c.key for c in a.citations] == [1]


S_ALL = Settings(answer={"locate_support": "all"})
S_CITED = Settings(answer={"locate_support": "cited"})
S_OFF = Settings(answer={"locate_support": "off"})


def test_key_that_is_not_a_retrieved_passage_is_dropped() -> None:
    reply_ = model("About 1,700 troops [7].", [(7, "about 1,700 troops")])
    # By default code only looks inside the passages the model cited; key 7 wasn't retrieved: a refusal.
    a = verify("How many troops?", passages(), reply_, S)
    assert not a.answerable and a.dropped_citations == 1 and "verified" in (a.refusal_reason or "")
    # Searching every passage, the true claim finds the sentence that backs it.
    a = verify("How many troops?", passages(), reply_, S_ALL)
    assert a.answerable and a.dropped_citations == 1 and a.answer == "About 1,700 troops [1]."
    (c,) = a.citations
    assert c.located_by == "code" and c.quote == P1 and c.key == 1
    assert a.raw_citations == [{"key": 7, "quote": "about 1,700 troops"}]


def test_unverifiable_quote_and_unbacked_claim_is_a_refusal() -> None:
    a = verify("How many troops?", passages(), model("About 9,000 troops [7].", [(7, "about 9,000 troops")]), S)
    assert not a.answerable and a.answer == REFUSAL_TEXT
    assert a.dropped_citations == 1 and "verified" in (a.refusal_reason or "")


def test_altered_quote_is_replaced_by_the_real_sentence() -> None:
    # Small models paraphrase while "quoting"; the citation shown must be the article's own words.
    a = verify(
        "Which division are the troops going to Poland from?",
        passages(),
        model(
            "They are from the 82nd Airborne Division.",
            [(1, "about 1,700 soldiers from an 82nd Airborne Division infantry brigade at Fort Bragg")],
        ),
        S,
    )
    assert a.answerable and a.dropped_citations == 0
    (c,) = a.citations
    assert c.located_by == "code" and c.quote == P1 and (c.char_start, c.char_end) == (DOC_OFFSET, DOC_OFFSET + len(P1))
    assert a.answer == "They are from the 82nd Airborne Division [1]."


def test_right_answer_with_a_quote_from_the_wrong_sentence_cites_the_right_one() -> None:
    two = "Peskov spoke to CNN on Tuesday. " + P1
    ps = [Passage(key=1, chunk_id="d:h:0", doc_id="d", text=two, char_start=0, char_end=len(two), score=0.7)]
    reply_ = model("Fort Bragg [1].", [(1, "Peskov spoke to CNN on Tuesday")])
    assert not verify("Where is the brigade combat team based?", ps, reply_, S).answerable  # default: repair only
    a = verify("Where is the brigade combat team based?", ps, reply_, S_CITED)
    assert a.answerable and a.answer == "Fort Bragg [1]."
    assert [(c.quote, c.located_by) for c in a.citations] == [(P1, "code")]
    # With code search off, the unbacked sentence is dropped and nothing is left.
    a = verify("Where is the brigade combat team based?", ps, reply_, S_OFF)
    assert not a.answerable and "no sentence" in (a.refusal_reason or "")


def test_support_in_a_passage_the_model_did_not_cite_counts_only_when_searching_all() -> None:
    reply_ = model("Fort Bragg [2].", [(2, "Kremlin spokesman Dmitry Peskov told CNN")])
    assert not verify("Where is the brigade combat team based?", passages(), reply_, S_CITED).answerable
    a = verify("Where is the brigade combat team based?", passages(), reply_, S_ALL)
    assert a.answerable and [(c.key, c.located_by) for c in a.citations] == [(1, "code")]


def test_code_cites_the_sentence_about_the_question_not_any_mention_of_the_name() -> None:
    text = (
        "Biden met Austin on Monday. Biden later spoke about trade. "
        "Biden called Article 5 a sacred obligation at the White House."
    )
    ps = [Passage(key=1, chunk_id="x:h:0", doc_id="x", text=text, char_start=0, char_end=len(text), score=0.6)]
    a = verify("Who called Article 5 a sacred obligation?", ps, model("Biden.", [(1, "Biden said so")]), S_CITED)
    assert a.answerable
    (c,) = a.citations
    assert c.quote == "Biden called Article 5 a sacred obligation at the White House."


def test_an_answer_that_only_restates_the_question_gets_no_code_citation() -> None:
    a = verify(
        "Did the Kremlin spokesman talk to CNN?",
        passages(),
        model("The Kremlin spokesman talked to CNN.", [(2, "the Kremlin spokesman talked to CNN")]),
        S,
    )
    assert not a.answerable and "verified" in (a.refusal_reason or "")


def test_model_saying_unanswerable_is_a_refusal() -> None:
    a = verify("Who won?", passages(), model("The passages do not say.", [(1, "about 1,700 troops")], False), S)
    assert not a.answerable and a.answer == REFUSAL_TEXT and a.citations == []


def test_claim_the_model_made_up_is_dropped_even_with_a_real_quote() -> None:
    # The classic failure: a true quote, then an answer from the model's own knowledge.
    a = verify(
        "When did Russia invade Ukraine?",
        passages(),
        model("Russia invaded on 24 February 2022 [1].", [(1, "about 1,700 troops")]),
        S,
    )
    assert not a.answerable and a.dropped_sentences == 1


def test_unsupported_sentence_is_removed_and_supported_one_kept() -> None:
    a = verify(
        "Where are the Poland troops from?",
        passages(),
        model(
            "They are from the 82nd Airborne Division at Fort Bragg [1]. They will parachute into Kyiv next week [1].",
            [(1, "82nd Airborne Division infantry brigade combat team based at Fort Bragg")],
        ),
        S,
    )
    assert a.answerable and a.dropped_sentences == 1
    assert "Kyiv" not in a.answer and "Fort Bragg [1]" in a.answer


def test_sentence_without_marker_gets_the_marker_of_its_quote() -> None:
    a = verify(
        "Who is the Kremlin spokesman?",
        passages(),
        model("Dmitry Peskov is the Kremlin spokesman.", [(2, "Kremlin spokesman Dmitry Peskov told CNN")]),
        S,
    )
    assert a.answer == "Dmitry Peskov is the Kremlin spokesman [2]."
    assert re.findall(r"\[(\d+)\]", a.answer) == [str(c.key) for c in a.citations]


def test_marker_of_a_dropped_citation_is_removed_from_the_text() -> None:
    a = verify(
        "Who is the Kremlin spokesman?",
        passages(),
        model("Dmitry Peskov [2] [1].", [(2, "Kremlin spokesman Dmitry Peskov"), (1, "not in the passage")]),
        S,
    )
    assert a.answer == "Dmitry Peskov [2]." and {c.key for c in a.citations} == {2}


def test_a_yes_whose_quote_says_not_is_refused() -> None:
    text = "Kirby said the moves were not permanent. These forces are not going to fight in Ukraine, he said."
    ps = [Passage(key=1, chunk_id="k:h:0", doc_id="k", text=text, char_start=0, char_end=len(text), score=0.6)]
    q = "Will these US troops fight in Ukraine?"
    a = verify(q, ps, model("Yes, the US troops will fight in Ukraine [1].", [(1, "not going to fight in Ukraine")]), S)
    assert not a.answerable and "negated" in (a.refusal_reason or "")
    a = verify(
        q, ps, model("No, they are not going to fight in Ukraine [1].", [(1, "not going to fight in Ukraine")]), S
    )
    assert a.answerable
    # a contradictory "yes" that negates itself is refused too
    q2 = "Are the deployments meant to be permanent?"
    a = verify(q2, ps, model("Yes, the moves are not permanent [1].", [(1, "the moves were not permanent")]), S)
    assert not a.answerable
    # a plain, backed yes stays
    t2 = "The troops will arrive in Poland this week."
    p2 = [Passage(key=1, chunk_id="p:h:0", doc_id="p", text=t2, char_start=0, char_end=len(t2), score=0.6)]
    a = verify("Will the troops arrive in Poland?", p2, model("Yes, this week [1].", [(1, t2)]), S)
    assert a.answerable


def test_answer_type_checks() -> None:
    assert answer_type_mismatch("How many troops?", "The 82nd Airborne.") is not None
    assert answer_type_mismatch("How many troops?", "About 1,700 [1].") is None
    assert answer_type_mismatch("When did they meet?", "At the White House [1].") is not None
    assert answer_type_mismatch("When did they meet?", "On Tuesday morning [1].") is None
    assert answer_type_mismatch("Who spoke?", "Kirby [1].") is None


def test_prompt_placeholders_are_all_filled() -> None:
    msgs = build_messages("How many troops?", passages())
    text = "\n".join(str(m.content) for m in msgs)
    assert not re.search(r"\{[a-z_]+\}", text)
    assert "[1] (T) The US deployment" in text and text.rstrip().endswith("Question: How many troops?")
    for name in ("answer_system", "answer_user", "passage", "repair", "condense"):
        fields = {f for _, f, _, _ in string.Formatter().parse(load_prompt(name)) if f}
        expected = {
            "answer_system": set(),
            "answer_user": {"passages", "question"},
            "passage": {"key", "source", "text"},
            "repair": {"error"},
            "condense": {"history", "question"},
        }[name]
        assert fields == expected, name


def test_question_comes_last_so_the_prefix_is_cacheable() -> None:
    a = build_messages("first question?", passages())
    b = build_messages("second question?", passages())
    ta, tb = a[1].content, b[1].content
    assert isinstance(ta, str) and isinstance(tb, str)
    common = len(ta) - len("first question?")
    assert ta[:common] == tb[:common]


def test_field_stream_handles_escapes_split_across_pieces() -> None:
    s = _AnswerFieldStream()
    text = json_text = '{"answer": "He said \\"no\\" \\u2014 twice\\n[1]", "citations": []}'
    out = "".join(s.feed(json_text[i : i + 3]) for i in range(0, len(text), 3))
    assert out == 'He said "no" \u2014 twice\n[1]'


def _run(chat: ScriptedChat, question: str, ps: list[Passage] | None = None) -> list[str | Answer]:
    return list(stream_answer(lambda: chat, question, passages() if ps is None else ps, S))  # type: ignore[arg-type,return-value]


def test_stream_yields_text_then_the_verified_answer() -> None:
    chat = ScriptedChat(reply("About 1,700 troops [1].", [(1, "about 1,700 troops")]))
    items = _run(chat, "How many troops are going to Poland?")
    assert isinstance(items[-1], Answer) and all(isinstance(i, str) for i in items[:-1])
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == "About 1,700 troops [1]."
    final = items[-1]
    assert final.answerable and final.usage.prompt_tokens == 100 and final.model == "scripted"
    assert final.timings.first_token_s is not None and final.timings.total_s >= final.timings.generate_s


def test_broken_json_gets_one_repair_attempt() -> None:
    chat = ScriptedChat('{"answer": "About 1,700', reply("About 1,700 troops [1].", [(1, "about 1,700 troops")]))
    final = _run(chat, "How many troops are going to Poland?")[-1]
    assert isinstance(final, Answer) and final.answerable
    assert len(chat.calls) == 2 and "not valid JSON" in str(chat.calls[1][-1].content)


def test_broken_json_twice_is_a_clear_error() -> None:
    chat = ScriptedChat('{"answer": "About', "still not json")
    with pytest.raises(ModelOutputError, match="not the expected JSON"):
        _run(chat, "How many troops are going to Poland?")


def test_unrelated_passages_refuse_without_calling_the_model() -> None:
    chat = ScriptedChat()
    low = [p.model_copy(update={"score": 0.05}) for p in passages()]
    final = _run(chat, "What is the capital of Peru?", low)[-1]
    assert isinstance(final, Answer) and not final.answerable and chat.calls == []
    assert "related" in (final.refusal_reason or "")


def test_false_premise_refuses_without_calling_the_model() -> None:
    chat = ScriptedChat()
    final = _run(chat, "Why are 1,700 troops going to Lithuania?")[-1]
    assert isinstance(final, Answer) and not final.answerable and "Lithuania" in (final.refusal_reason or "")
    assert chat.calls == []


def test_premise_check_modes() -> None:
    from qa.answer import precheck

    def check(question: str, mode: str) -> str | None:
        return precheck(question, passages(), Settings(answer={"premise_check": mode}))

    assert "Lithuania" in (check("Why are 1,700 troops going to Lithuania?", "names_and_numbers") or "")
    # numbers only: a missing name is left to the model and the quote checks; a missing number still refuses
    assert check("Why are 1,700 troops going to Lithuania?", "numbers") is None
    assert "2,500" in (check("Why are 2,500 troops going to Poland?", "numbers") or "")
    assert check("Why are 2,500 troops going to Poland?", "off") is None


def test_empty_and_huge_questions_are_input_errors() -> None:
    with pytest.raises(InputError, match="empty"):
        _run(ScriptedChat(), "   ")
    with pytest.raises(InputError, match="characters long"):
        _run(ScriptedChat(), "why " * 1000)
