"""The support rules: what of a model's reply is shown, decided in code (qa.verify)."""

from __future__ import annotations

from collections.abc import Sequence

from qa.answer import REFUSAL_TEXT, verify
from qa.models import Passage
from qa.settings import Settings
from qa.verify import ModelReply

ARTICLE = (
    "Biden met with Defense Secretary Lloyd Austin and Gen. Mark Milley at the White House on Tuesday. "
    "The US deployment to Poland consists of about 1,700 troops from an 82nd Airborne Division infantry brigade "
    "combat team based at Fort Bragg in North Carolina. "
    "Another 300 troops from Fort Bragg will go to Germany. "
    "These forces are not going to fight in Ukraine, Pentagon press secretary John Kirby said."
)
S = Settings()


def vouches(question: str, texts: Sequence[str]) -> list[float]:
    """A cross-encoder that reads every text as on topic (as the bundled one did in the measured cases)."""
    return [3.0 for _ in texts]


def one_passage(text: str, doc: str) -> list[Passage]:
    """``text`` as the one retrieved passage, of document ``doc``."""
    return [Passage(key=1, chunk_id=f"{doc}:h:0", doc_id=doc, text=text, char_start=0, char_end=len(text), score=0.6)]


def passages() -> list[Passage]:
    mid = ARTICLE.index("Another 300")
    return [
        Passage(key=1, chunk_id="d:h:0", doc_id="d", title="Troops", text=ARTICLE[:mid].strip(), char_start=0,
                char_end=len(ARTICLE[:mid].strip()), score=0.7),
        Passage(key=2, chunk_id="d:h:1", doc_id="d", title="Troops", text=ARTICLE[mid:], char_start=mid,
                char_end=len(ARTICLE), score=0.6),
    ]  # fmt: skip


def ask(question: str, ids: list[int], span: str, answer: str, verdict: str = "none", **kw: object):  # type: ignore[no-untyped-def]
    reply = ModelReply(ids=ids, span=span, verdict=verdict, answer=answer)  # type: ignore[arg-type]
    return verify(question, passages(), reply, S, **kw)  # type: ignore[arg-type]


def test_a_supported_answer_cites_the_article_sentence_with_exact_offsets() -> None:
    a = ask("How many troops are going to Poland?", [2], "about 1,700 troops", "About 1,700 troops are going.")
    assert a.answerable and a.answer == "About 1,700 troops are going [1]."
    (c,) = a.citations
    assert c.quote.startswith("The US deployment to Poland") and ARTICLE[c.char_start : c.char_end] == c.quote
    assert c.passage_key == 1 and c.chunk_id == "d:h:0"


def test_invented_name_is_refused_the_hanks_regression() -> None:
    # Measured with the local model: "Who commands the 82nd Airborne Division?" (the article never says)
    # was answered with a made-up commander, cited to the sentence about the brigade.
    hanks = (
        "Hanks, who is the commander of the 82nd Airborne Division Infantry Brigade Combat Team based at Fort Bragg."
    )
    for span in ("Hanks", "82nd Airborne Division", "infantry brigade combat team"):
        a = ask("Who commands the 82nd Airborne Division?", [2], span, hanks)
        assert not a.answerable and a.answer == REFUSAL_TEXT, span
        assert a.citations == []


def test_invented_number_or_date_in_the_answer_is_not_shown() -> None:
    a = ask("How many troops are going to Poland?", [2], "2,500 troops", "2,500 troops.")
    assert not a.answerable
    # the answer sentence invents a date, but the span is verified: the span is shown instead
    a = ask("How many troops are going to Poland?", [2], "about 1,700 troops", "About 1,700 troops arrive on 24 March.")
    assert a.answerable and a.answer == "about 1,700 troops [1]." and "March" not in a.answer


def test_pointing_one_sentence_off_is_corrected_by_the_span() -> None:
    a = ask("Where is the brigade combat team based?", [1], "Fort Bragg", "At Fort Bragg.")
    assert a.answerable and a.evidence_ids == [2]
    (c,) = a.citations
    assert "Fort Bragg in North Carolina" in c.quote


def test_a_true_sentence_about_something_else_is_withheld() -> None:
    # Nearby but not an answer: a real quote, a backed span, and none of what the question asks about.
    a = ask("What French general led the invasion?", [1], "Gen. Mark Milley", "Gen. Mark Milley.")
    assert not a.answerable and "something else" in (a.refusal_reason or "")


def test_the_cross_encoder_can_vouch_for_a_paraphrase() -> None:
    q = "From which post in the Tar Heel State are the paratroopers leaving?"
    assert not ask(q, [2], "Fort Bragg", "Fort Bragg.").answerable  # few shared words

    def scorer(question: str, texts: Sequence[str]) -> list[float]:
        return [3.0 for _ in texts]

    a = ask(q, [2], "Fort Bragg", "Fort Bragg.", scorer=scorer)
    assert a.answerable and a.checks["relevance"] == 3.0


def test_answers_from_two_sentences_cite_both() -> None:
    a = ask(
        "How many troops from Fort Bragg are going to Poland and Germany?",
        [2, 3],
        "1,700",
        "About 1,700 go to Poland and another 300 to Germany.",
    )
    assert a.answerable and [c.key for c in a.citations] == [1, 2]
    assert a.answer.endswith("[1] [2].")


def test_yes_no_verdict_leads_and_a_yes_on_a_negated_sentence_is_not_shown() -> None:
    q = "Will these troops fight in Ukraine?"
    a = ask(q, [4], "not going to fight in Ukraine", "They are not going to fight in Ukraine.", verdict="no")
    assert a.answerable and a.answer.startswith("No, they are not going")
    # a "yes" on the sentence that says "not going to fight in Ukraine": the evidence says no
    a = ask(q, [4], "fight in Ukraine", "They will fight in Ukraine.", verdict="yes")
    assert a.answerable and a.answer == "No [1]." and "not going to fight" in a.citations[0].quote
    # a "yes" on a negated sentence that denies something else is refused, not turned into a "no"
    a = ask("Will these forces be based at Fort Bragg?", [4], "forces", "Yes.", verdict="yes", scorer=vouches)
    assert not a.answerable and "negated" in (a.refusal_reason or "")
    a = ask(q, [4], "fight in Ukraine", "No, they will not.", verdict="yes")
    assert not a.answerable and "disagree" in (a.refusal_reason or "")


def test_empty_ids_unknown_ids_and_restating_answers_are_refusals() -> None:
    assert "no sentence" in (ask("Who won?", [], "", "").refusal_reason or "")
    a = ask("Who won?", [9], "Biden", "Biden.")
    assert not a.answerable and a.dropped_citations == 1
    a = ask("Where exactly in Poland will the troops go?", [2], "Poland", "The troops will go to Poland.")
    assert not a.answerable


def test_who_questions_need_a_name_the_question_does_not_hold() -> None:
    a = ask("Who met Biden at the White House?", [1], "Lloyd Austin and Gen. Mark Milley", "Austin and Milley.")
    assert a.answerable and "Austin" in a.answer
    a = ask("Who is being deployed to Poland?", [2], "about 1,700 troops", "About 1,700 troops.")
    assert not a.answerable and "who" in (a.refusal_reason or "")


def test_premise_check_modes() -> None:
    s_on = Settings(answer={"premise_check": "on"})
    reply = ModelReply(ids=[2], span="1,700", verdict="none", answer="About 1,700.")
    q = "How many troops are going to Lithuania?"
    assert "Lithuania" in (verify(q, passages(), reply, s_on).refusal_reason or "")
    assert verify(q, passages(), reply, S).refusal_reason is None or "Lithuania" not in (
        verify(q, passages(), reply, S).refusal_reason or ""
    )
    assert "2,500" in (verify("Why are 2,500 troops going?", passages(), reply, S).refusal_reason or "")
    # a demonym is the same name: "American" troops are the "US" troops of the article
    assert "American" not in (verify("How many American troops go?", passages(), reply, s_on).refusal_reason or "")


def test_a_negated_question_needs_a_negated_sentence() -> None:
    # "Who wasn't…" answered from a sentence saying who was: a true sentence, the wrong answer.
    a = ask("Who wasn't at the White House meeting on Tuesday?", [1], "Lloyd Austin", "Lloyd Austin.")
    assert not a.answerable and "not so" in (a.refusal_reason or "")
    # a negation inside a description in the question is not the question's own
    a = ask(
        "What is the job title of the official who said the forces are not going to fight?",
        [4],
        "Pentagon press secretary",
        "Pentagon press secretary.",
    )
    assert a.answerable


def test_a_yes_no_answer_that_leaves_the_verdict_out_gets_it_from_its_first_word() -> None:
    q = "Will these troops fight in Ukraine?"
    a = ask(q, [4], "not going to fight", "No, they are not going to fight in Ukraine.")
    assert a.answerable and a.answer.startswith("No, they are not going")


def test_the_hanks_reply_through_a_scripted_model_is_refused() -> None:
    from qa.answer import stream_answer
    from qa.models import Answer
    from tests.fakes import ScriptedChat, reply

    hanks = reply(
        "Hanks, who is the commander of the 82nd Airborne Division Infantry Brigade Combat Team based at Fort "
        "Bragg in North Carolina [1].",
        [2],
        "82nd Airborne Division",
    )
    chat = ScriptedChat(hanks)
    final = list(stream_answer(lambda: chat, "Who commands the 82nd Airborne Division?", passages(), S))[-1]  # type: ignore[arg-type]
    assert isinstance(final, Answer) and not final.answerable and final.answer == REFUSAL_TEXT
    assert "Hanks" not in final.answer and final.citations == []


def test_names_alone_do_not_make_a_sentence_about_the_question() -> None:
    # "What is the population of Poland?" against a sentence about troops going to Poland: half the
    # question's terms match, but not what it asks about.
    a = ask("What is the population of Poland?", [2], "about 1,700 troops", "About 1,700 troops.")
    assert not a.answerable and "'population'" in (a.refusal_reason or "")


def test_a_fact_taken_from_a_cited_sentence_about_another_event_is_refused() -> None:
    # Measured: "When did Russia launch its invasion?" → "…on Friday", "Friday" coming from a sentence
    # about a meeting; pointing at several sentences must not let facts wander between them.
    text = (
        "On Friday, Rau will meet Blinken at the State Department. "
        "Russia has continued to build up forces near Ukraine, sparking fears of an invasion."
    )
    ps = one_passage(text, "r")
    reply = ModelReply(ids=[1, 2], span="Friday", verdict="none", answer="Russia launched its invasion on Friday.")
    a = verify("When did Russia launch its full-scale invasion of Ukraine?", ps, reply, S)
    assert not a.answerable and "friday" in (a.refusal_reason or "")


def _quoted(between: str) -> list[Passage]:
    text = (
        "“It’s consistent with what I told Putin,” Biden said in the East Room."
        + between
        + "“Article V is a sacred obligation.”"
    )
    return one_passage(text, "q")


def test_a_quotation_continued_over_sentences_takes_its_speaker_from_the_sentence_before() -> None:
    # Measured: "Who described Article V as a sacred obligation?" → "Biden", citing the quotation's second
    # sentence; the speaker is named only in the first. Both sentences are cited, with exact offsets.
    reply = ModelReply(ids=[2], span="Article V", verdict="none", answer="Biden")
    a = verify('Who described Article V as "a sacred obligation"?', _quoted(" "), reply, S)
    assert a.answerable and a.answer == "Biden [1] [2]."
    assert [c.quote.split()[0] for c in a.citations] == ["“It’s", "“Article"]
    text = _quoted(" ")[0].text
    assert all(text[c.char_start : c.char_end] == c.quote for c in a.citations)
    # a new paragraph is a new attribution: the speaker of the one before is not borrowed
    a = verify('Who described Article V as "a sacred obligation"?', _quoted("\n\n"), reply, S)
    assert not a.answerable
    # nor is a name taken from the sentence before a sentence that is not a quotation
    plain = "Biden spoke in the East Room. Article V is a sacred obligation, the treaty says."
    ps = one_passage(plain, "p")
    assert not verify('Who described Article V as "a sacred obligation"?', ps, reply, S).answerable


def test_a_no_rests_on_the_sentence_that_denies_what_is_asked() -> None:
    # Measured: "Will these US troops fight in Ukraine?" → "No", cited to the sentence about the 1,700
    # troops. The answer was right, its citation backed nothing; the sentence that says "not going to fight"
    # is cited instead.
    q = "Will these troops fight in Ukraine?"
    a = ask(q, [2], "troops", "No.")
    assert a.answerable and a.answer.startswith("No")
    (c,) = a.citations
    assert "not going to fight in Ukraine" in c.quote and ARTICLE[c.char_start : c.char_end] == c.quote
    # nothing shown denies it: a "no" has nothing to rest on
    a = ask("Will these troops be based at Fort Bragg?", [2], "Fort Bragg", "No.")
    assert not a.answerable and "says no" in (a.refusal_reason or "")


def test_a_yes_on_a_sentence_that_sets_the_thing_apart_becomes_no() -> None:
    # Measured: "Are the troops being deployed part of the 8,500 on alert?" → "Yes", cited to "the troops
    # being deployed were separate from the 8,500 US troops on heightened alert" (refused until 12-07; the
    # right answer, which the sentence gives, is no).
    text = (
        "Last week, the US placed 8,500 troops on heightened alert. "
        "Kirby said that the troops being deployed were separate from the 8,500 US troops on heightened alert."
    )
    ps = one_passage(text, "k")
    reply = ModelReply(ids=[2], span="8,500 US troops", verdict="yes", answer="Yes, they are.")
    a = verify("Are the troops being deployed part of the 8,500 already on heightened alert?", ps, reply, S)
    assert a.answerable and a.answer == "No [1]."
    (c,) = a.citations
    assert c.quote.startswith("Kirby said") and text[c.char_start : c.char_end] == c.quote


def test_a_yes_no_question_left_without_verdict_is_answered_no_by_the_sentence_that_denies_it() -> None:
    # Measured (follow-up set): "Did the Pentagon press secretary say the moves are permanent?" → verdict
    # "none", pointed at a sentence about Putin; refused, though a shown sentence says "not permanent".
    text = (
        "The move is the most significant sign to date that the US is preparing for an invasion. "
        "Kirby said the moves, which would happen in the coming days, were not permanent."
    )
    ps = one_passage(text, "p")

    def on_moves(question: str, texts: Sequence[str]) -> list[float]:  # the cross-encoder, as measured
        return [2.0 if "moves" in t else -8.9 for t in texts]

    reply = ModelReply(ids=[1], span="significant sign", verdict="none", answer="The most significant sign.")
    a = verify("Did the Pentagon press secretary say the moves are permanent?", ps, reply, S, scorer=on_moves)
    assert a.answerable and a.answer == "No [1]."
    (c,) = a.citations
    assert c.quote.startswith("Kirby said") and text[c.char_start : c.char_end] == c.quote
    # nothing shown denies what is asked: still refused
    a = verify("Did the Pentagon press secretary say the moves are cheap?", ps, reply, S, scorer=on_moves)
    assert not a.answerable and a.answer == REFUSAL_TEXT


def test_with_or_without_denies_nothing() -> None:
    # SQuAD 2.0 dev, unanswerable: "Can packets ever collide in route?" would have been answered "No" from
    # "… implemented with or without intermediate forwarding nodes (packet switches or routers)".
    text = (
        "Packet mode communication may be implemented with or without intermediate forwarding nodes "
        "(packet switches or routers)."
    )
    reply = ModelReply(ids=[1], span="packet switches", verdict="none", answer="Packet switches.")
    a = verify("Can packets ever collide in route?", one_passage(text, "n"), reply, S, scorer=vouches)
    assert not a.answer.startswith("No")
    reply = ModelReply(ids=[1], span="routers", verdict="no", answer="No.")
    assert not verify("Can packets be routed?", one_passage(text, "n"), reply, S).answerable


def test_a_which_of_two_question_is_not_answered_yes() -> None:
    text = "Juveniles luminesce more brightly for their size than adults do."
    ps = one_passage(text, "j")
    reply = ModelReply(ids=[1], span="Juveniles", verdict="yes", answer="Yes, juveniles luminesce more brightly.")
    a = verify("Do adults or juveniles luminesce more brightly?", ps, reply, S)
    assert a.answerable and a.answer.startswith("Juveniles") and not a.answer.lower().startswith("yes")
    # "No" as a word of the answer stays
    reply = ModelReply(
        ids=[1], span="Juveniles", verdict="none", answer="No adults; juveniles luminesce more brightly."
    )
    assert verify("Do adults or juveniles luminesce more brightly?", ps, reply, S).answer.startswith("No adults")


def test_the_choice_an_x_or_y_question_offers_is_the_answer() -> None:
    # SQuAD 2.0 dev: "Do adults or juveniles secretions luminesce brighter?" was answered "juveniles" with the
    # span "luminescence"; the span replaced the answer, and "luminescence" answers no "which of the two".
    text = (
        "Juveniles will luminesce more brightly in relation to their body size than adults, whose "
        "luminescence is diffused over their bodies."
    )
    ps = one_passage(text, "j")
    question = "Do adults or juveniles secretions luminesce brighter?"
    reply = ModelReply(ids=[1], span="luminescence", verdict="none", answer="juveniles")
    a = verify(question, ps, reply, S)
    assert a.answerable and a.answer.lower().startswith("juveniles")
    assert a.checks["answer_picks"] == "juveniles"
    # a choice the cited sentence doesn't name is not taken on the model's word: the span stands
    other = one_passage("Adults diffuse their luminescence over their bodies.", "a")
    a = verify("Do larvae or juveniles glow brighter?", other, reply, S)
    assert "answer_picks" not in a.checks and not a.answer.lower().startswith("juveniles")
    # naming both choices picks neither
    reply = ModelReply(ids=[1], span="luminescence", verdict="none", answer="adults and juveniles")
    assert "answer_picks" not in verify(question, ps, reply, S).checks


def test_a_sentence_about_another_names_thing_is_refused() -> None:
    # SQuAD 2.0's adversarial "What is FMCG's economy characterized by?" (the text says Warsaw's economy
    # is characterised by FMCG manufacturing) was answered "FMCG manufacturing".
    text = (
        "Warsaw's economy, by a wide variety of industries, is characterised by FMCG manufacturing and food processing."
    )
    ps = one_passage(text, "w")
    reply = ModelReply(ids=[1], span="FMCG manufacturing", verdict="none", answer="FMCG manufacturing.")
    a = verify("What is FMCG's economy characterized by?", ps, reply, S)
    assert not a.answerable and "Warsaw's economy" in (a.refusal_reason or "")
    # the same sentence asked about Warsaw's economy is an answer
    a = verify("What is Warsaw's economy characterized by?", ps, reply, S)
    assert a.answerable and "FMCG manufacturing" in a.answer


def test_a_sentence_saying_another_name_does_it_is_refused() -> None:
    # SQuAD 2.0's adversarial "How much of Poland's national income does Srodmiescie produce?" was answered
    # "12% of Poland's national income" from a sentence saying Warsaw produces it.
    text = "Warsaw produces 12% of Poland's national income, which in 2008 was 305.1% of the Polish average."
    ps = one_passage(text, "w")
    reply = ModelReply(ids=[1], span="12%", verdict="none", answer="12% of Poland's national income")
    a = verify("How much of Poland's national income does Srodmiescie produce?", ps, reply, S, scorer=vouches)
    assert not a.answerable and a.checks.get("subject_swapped") == [["Srodmiescie", "produce", "Warsaw"]]
    a = verify("How much of Poland's national income does Warsaw produce?", ps, reply, S, scorer=vouches)
    assert a.answerable and a.answer.startswith("12%")


def test_a_swap_is_weighed_on_the_sentence_the_span_comes_from() -> None:
    text = (
        "Warsaw's economy is characterised by FMCG manufacturing. "
        "FMCG's economy, a Warsaw district's, is characterised by trade and services."
    )
    ps = one_passage(text, "w")
    reply = ModelReply(ids=[1, 2], span="trade and services", verdict="none", answer="Trade and services.")
    a = verify("What is FMCG's economy characterized by?", ps, reply, S)
    assert a.answerable and "Trade and services" in a.answer


def test_a_sentence_that_negates_what_a_yes_no_question_asks_about_answers_it() -> None:
    # Measured: "Are the deployments meant to be permanent?" with "Kirby said the moves … were not
    # permanent" was refused: "moves" for "deployments" left the sentence few of the question's words.
    text = "Kirby said the moves, which would happen in the coming days, were not permanent."
    ps = one_passage(text, "m")
    reply = ModelReply(ids=[1], span="not permanent", verdict="no", answer="No, the moves were not permanent.")
    a = verify("Are the deployments meant to be permanent?", ps, reply, S)
    assert a.answerable and a.answer.startswith("No") and a.checks.get("denies_what_is_asked")
    # a negation of something else in the sentence doesn't make it about the question
    text = "Kirby said the moves would not happen before Friday."
    ps = one_passage(text, "m")
    reply = ModelReply(ids=[1], span="not happen", verdict="no", answer="No.")
    assert not verify("Are the deployments meant to be permanent?", ps, reply, S).answerable


def test_an_answer_that_counts_another_names_things_is_refused() -> None:
    # Measured: "What is the precise number of Russian troops massed on Ukraine's border?" (the article gives
    # none) → "3,000 US troops", from the sentence that also mentions the Russian troops.
    text = (
        "Biden approved the deployment of 3,000 US troops to Poland, with tens of thousands of Russian troops "
        "amassed along Ukraine's border."
    )
    ps = one_passage(text, "r")
    reply = ModelReply(ids=[1], span="3,000", verdict="none", answer="3,000 US troops")
    a = verify("What is the precise number of Russian troops massed on Ukraine's border?", ps, reply, S)
    assert not a.answerable and "US troops" in (a.refusal_reason or "")
    # asked about the US troops, the same reply answers
    a = verify("How many US troops did Biden approve?", ps, reply, S)
    assert a.answerable and "3,000" in a.answer


def test_a_vague_quantity_does_not_answer_which() -> None:
    # Measured: "Which other NATO allies were in talks with the US…?" → "a handful of allies".
    text = "The US was in talks with a handful of allies about sending more troops east."
    ps = one_passage(text, "h")
    reply = ModelReply(ids=[1], span="a handful of allies", verdict="none", answer="a handful of allies")
    a = verify("Which other NATO allies were in talks with the US about sending more troops?", ps, reply, S)
    assert not a.answerable and "how many" in (a.refusal_reason or "")
    assert verify("How many allies was the US in talks with about sending more troops?", ps, reply, S).answerable


def test_a_time_alone_does_not_answer_what() -> None:
    # Measured: "What is on the agenda for Rau's meeting with Blinken?" (not said) → "Friday".
    text = "On Friday, Rau will meet Secretary of State Antony Blinken at the State Department."
    ps = one_passage(text, "f")
    reply = ModelReply(ids=[1], span="Friday", verdict="none", answer="Friday")
    a = verify("What is on the agenda for Rau's meeting with Blinken?", ps, reply, S, scorer=vouches)
    assert not a.answerable and "when" in (a.refusal_reason or "")
    assert verify("What day will Rau meet Blinken?", ps, reply, S, scorer=vouches).answerable


def test_the_questions_own_subject_is_not_whom_it_meets() -> None:
    # Measured: "Who is the Polish foreign minister going to meet at the State Department?" → "Rau" (he is
    # the minister), from "Rau will meet Secretary of State Antony Blinken".
    text = "On Friday, Rau will meet Secretary of State Antony Blinken at the State Department."
    ps = one_passage(text, "f")
    reply = ModelReply(ids=[1], span="Rau", verdict="none", answer="Rau")
    q = "Who is the Polish foreign minister going to meet at the State Department?"
    a = verify(q, ps, reply, S, scorer=vouches)
    assert not a.answerable and a.checks.get("answer_is_actor") == "meet"
    reply = ModelReply(ids=[1], span="Antony Blinken", verdict="none", answer="Secretary of State Antony Blinken")
    a = verify(q, ps, reply, S, scorer=vouches)
    assert a.answerable and "Blinken" in a.answer
    # a passive sentence keeps its object first: "Blinken was met by Rau" answers "Whom did Rau meet?"
    ps = one_passage("On Friday, Blinken was met by Rau at the State Department.", "p")
    reply = ModelReply(ids=[1], span="Blinken", verdict="none", answer="Blinken")
    assert verify("Whom did Rau meet at the State Department?", ps, reply, S, scorer=vouches).answerable


def test_a_name_the_sentence_titles_as_the_questions_subject_is_not_whom_it_meets() -> None:
    # Measured on a second look: the same question → "Zbigniew Rau", from "Polish Foreign Minister Zbigniew
    # Rau visits Washington…": the sentence introduces him with the question's own subject.
    text = (
        "Polish Foreign Minister Zbigniew Rau visits Washington beginning Thursday, and he will meet with White "
        "House officials and lawmakers, the Polish diplomat said."
    )
    reply = ModelReply(ids=[1], span="Zbigniew Rau", verdict="none", answer="Zbigniew Rau")
    q = "Who is the Polish foreign minister going to meet at the State Department?"
    a = verify(q, one_passage(text, "t"), reply, S, scorer=vouches)
    assert not a.answerable and a.checks.get("answer_is_actor") == "meet"
    # Capitalised words that are the question's subject and verb are no title: "BSkyB competed with ONdigital".
    text = "Now called Sky Active, BSkyB competed with the ONdigital terrestrial offering and cable services."
    reply = ModelReply(ids=[1], span="ONdigital", verdict="none", answer="ONdigital")
    assert verify("Who did BSkyB compete with initially?", one_passage(text, "b"), reply, S, scorer=vouches).answerable


def test_the_unit_a_who_question_names_is_not_who_commands_it() -> None:
    # Measured: "Who commands the 82nd Airborne brigade being sent to Poland?" (the article never says) →
    # "82nd Airborne Division infantry brigade combat team based at Fort Bragg…": the brigade itself.
    q = "Who commands the 82nd Airborne brigade being sent to Poland?"
    span = "82nd Airborne Division infantry brigade combat team"
    a = ask(q, [2], span, span + " based at Fort Bragg in North Carolina", scorer=vouches)
    assert not a.answerable and a.answer == REFUSAL_TEXT and a.checks.get("span_is_object") == "commands"
    a = ask("Who said these forces are not going to fight in Ukraine?", [4], "John Kirby", "John Kirby", scorer=vouches)
    assert a.answerable and "John Kirby" in a.answer


def test_the_place_a_where_in_question_names_is_no_answer() -> None:
    # Measured: "Where exactly in Romania will the stryker squadron be stationed?" (the article never says)
    # → "The stryker squadron of about 1,000 troops from Germany will be stationed in Romania", span "Romania".
    text = "A stryker squadron of about 1,000 troops from Germany will be stationed in Romania."
    said = "The stryker squadron of about 1,000 troops from Germany will be stationed in Romania."
    reply = ModelReply(ids=[1], span="Romania", verdict="none", answer=said)
    q = "Where exactly in Romania will the stryker squadron be stationed?"
    a = verify(q, one_passage(text, "r"), reply, S, scorer=vouches)
    assert not a.answerable and "where in Romania" in (a.refusal_reason or "")
    # asked where, without naming the place, the same reply answers
    assert verify(
        "Where will the stryker squadron be stationed?", one_passage(text, "r"), reply, S, scorer=vouches
    ).answerable
    base = "A stryker squadron will be stationed at the Mihail Kogalniceanu air base in Romania."
    reply = ModelReply(
        ids=[1], span="Mihail Kogalniceanu air base", verdict="none", answer="At the Mihail Kogalniceanu air base"
    )
    assert verify(q, one_passage(base, "k"), reply, S, scorer=vouches).answerable


def test_a_negated_question_after_a_leading_phrase_needs_a_negated_sentence() -> None:
    # SQuAD 2.0: "In between French and British, what groups never controlled land?" → "native tribes".
    text = "In between the French and the British, large areas were dominated by native tribes."
    ps = one_passage(text, "n")
    reply = ModelReply(ids=[1], span="native tribes", verdict="none", answer="native tribes")
    a = verify("In between French and British, what groups never controlled land?", ps, reply, S)
    assert not a.answerable and "what is not so" in (a.refusal_reason or "")
    assert verify("In between French and British, what groups dominated large areas?", ps, reply, S).answerable


def test_when_the_answer_sentence_leaves_out_the_span_the_span_is_the_answer() -> None:
    # SQuAD 2.0: "How is circuit switching characterized?" → span "fee per unit of connection time", answer
    # sentence "billable services" (another part of the same sentence): the copied span is shown.
    text = (
        "In cases of billable services, circuit switching is characterized by a fee per unit of connection "
        "time, even when no data is transferred."
    )
    ps = one_passage(text, "c")
    reply = ModelReply(ids=[1], span="fee per unit of connection time", verdict="none", answer="billable services")
    a = verify("How is circuit switching characterized?", ps, reply, S)
    assert a.answerable and a.answer.startswith("fee per unit of connection time")
    assert a.checks.get("answer_disagrees") == "Billable services"


def test_an_answer_pointed_at_the_wrong_sentence_is_cited_where_it_is_said() -> None:
    # Measured: "…what else does Kyiv want from the West?" answered with the supplies of defensive weapons,
    # its span misquoted and its pointer on a sentence about El Pais.
    text = (
        "El Pais published confidential written responses that the United States sent to Russia. "
        "A Ukrainian official said Kyiv hopes for continued supplies of defensive weapons, including "
        "sophisticated air defenses."
    )
    ps = one_passage(text, "k")
    answer = "Kyiv wants continued supplies of defensive weapons, including sophisticated air defenses."
    reply = ModelReply(ids=[1], span="Kyiv welcomes the weapons", verdict="none", answer=answer)
    a = verify("What does Kyiv want from the West?", ps, reply, S, scorer=vouches)
    assert a.answerable and a.citations[0].quote.startswith("A Ukrainian official")
    assert a.checks.get("answer_relocated") == [1]
    # an answer no shown sentence holds stays refused
    reply = ModelReply(ids=[1], span="Kyiv welcomes the weapons", verdict="none", answer="Kyiv wants fighter jets.")
    assert not verify("What does Kyiv want from the West?", ps, reply, S, scorer=vouches).answerable


def test_a_speaker_sentence_is_read_with_the_quotation_after_it() -> None:
    # Measured: 'What position does the person who called the deployment "a powerful signal of U.S.
    # commitment" hold?' → "NATO Secretary General Jens Stoltenberg", citing the sentence before the quote.
    text = (
        "NATO Secretary General Jens Stoltenberg welcomed the US decision to deploy additional forces to Europe."
        "\n\n“This is a powerful signal of U.S. commitment,” Stoltenberg said in a statement."
    )
    ps = one_passage(text, "s")
    reply = ModelReply(
        ids=[1], span="NATO Secretary General", verdict="none", answer="NATO Secretary General Jens Stoltenberg"
    )
    q = 'What position does the person who called the deployment "a powerful signal of U.S. commitment" hold?'
    a = verify(q, ps, reply, S)
    assert a.answerable and len(a.citations) == 2 and a.checks.get("quotation_after") == [2]
    # a quotation in a new paragraph that names someone else is not the speaker's
    other = text.replace("Stoltenberg said", "Kirby said")
    assert not verify(q, one_passage(other, "s"), reply, S).answerable


def test_a_count_the_sentence_gives_for_other_things_is_refused() -> None:
    # SQuAD 2.0: "What year was 366,273 people in Jacksonville?" (the text counts 366,273 households) → "2010".
    text = "As of 2010, there were 821,784 people and 366,273 households in the city."
    ps = one_passage(text, "j")
    reply = ModelReply(ids=[1], span="2010", verdict="none", answer="2010")
    a = verify("What year was 366,273 people in Jacksonville?", ps, reply, S, scorer=vouches)
    assert not a.answerable and "households" in (a.refusal_reason or "")
    assert verify("What year was 821,784 people in Jacksonville?", ps, reply, S, scorer=vouches).answerable
    # a name between the count and what it counts is not another thing: "8,500 US troops"
    ps = one_passage("Kirby said 8,500 US troops were on heightened alert in 2022.", "k")
    assert verify(
        "When were 8,500 troops on heightened alert?",
        ps,
        reply.model_copy(update={"span": "2022", "answer": "2022"}),
        S,
        scorer=vouches,
    ).answerable


def test_the_questions_own_subject_with_a_word_added_is_not_an_answer() -> None:
    # SQuAD 2.0: "What do epithelial cells have at the oral end?" (not said) → "adhesive epithelial cells".
    text = "On the mouth lips is a pair of narrow strips of adhesive epithelial cells on the stomach wall."
    ps = one_passage(text, "e")
    reply = ModelReply(ids=[1], span="adhesive epithelial cells", verdict="none", answer="adhesive epithelial cells")
    a = verify("What do epithelial cells have at the oral end?", ps, reply, S, scorer=vouches)
    assert not a.answerable and "own subject" in (a.refusal_reason or "")
    # asking for the kind of cells, the same words answer
    assert verify("What kind of epithelial cells are on the stomach wall?", ps, reply, S, scorer=vouches).answerable
    assert verify(
        "What is the name of the epithelial cells on the stomach wall?", ps, reply, S, scorer=vouches
    ).answerable


def test_how_long_needs_an_amount() -> None:
    # Measured (follow-ups): "How long has the Pentagon press secretary held that job?" (not said) → the model
    # wrote "2 years" (unbacked, dropped) and its span "John Kirby" was shown.
    text = "Pentagon press secretary John Kirby said the deployments included roughly 2,000 troops."
    ps = one_passage(text, "k")
    reply = ModelReply(ids=[1], span="John Kirby", verdict="none", answer="2 years")
    a = verify("How long has the Pentagon press secretary held that job?", ps, reply, S, scorer=vouches)
    assert not a.answerable and "how long" in (a.refusal_reason or "")
    ps = one_passage("Kirby has been the Pentagon press secretary for two years.", "k")
    reply = ModelReply(ids=[1], span="two years", verdict="none", answer="two years")
    assert verify("How long has Kirby been the Pentagon press secretary?", ps, reply, S, scorer=vouches).answerable


def test_an_answer_for_another_year_is_refused() -> None:
    # SQuAD 2.0's unanswerable "What was the population density in 1970?" was answered from the 2000
    # census paragraph (another paragraph gives a 1970 figure, so the premise check let it pass).
    text = (
        "Whites were 30.0% of the population in 2010, down from 72.6% in 1970.\n\n"
        "As of the census of 2000, there were 427,652 people in the city. "
        "The population density was 4,097.9 people per square mile. "
        "There were 158,349 housing units."
    )
    reply = ModelReply(ids=[3], span="4,097.9", verdict="none", answer="4,097.9 people per square mile.")
    a = verify("What was the population density in 1970?", one_passage(text, "f"), reply, S, scorer=vouches)
    assert not a.answerable and "1970" in (a.refusal_reason or "") and "2000" in (a.refusal_reason or "")
    # the year asked about, or a decade that holds it: answered
    for q in ("What was the population density in 2000?", "What was the population density in the 2000s?"):
        a = verify(q, one_passage(text, "f"), reply, S, scorer=vouches)
        assert a.answerable and "4,097.9" in a.answer
    # the year in the sentence after the cited one: answered
    later = text.replace("There were 158,349 housing units.", "In 1970 it had been half that.")
    assert verify(
        "What was the population density in 1970?", one_passage(later, "f"), reply, S, scorer=vouches
    ).answerable


def test_the_cross_encoder_alone_must_be_surer_when_no_ordinary_word_of_the_question_is_cited() -> None:
    # SQuAD 2.0's unanswerable "Where is Ekstraklasa's home venue located?" was answered "Polonia Warsaw"
    # from a sentence holding none of 'home', 'venue', 'located', which the cross-encoder scored 0.26.
    text = "Their local rivals, Polonia Warsaw, managed to win the Ekstraklasa Championship in 2000."
    reply = ModelReply(ids=[1], span="Polonia Warsaw", verdict="none", answer="Polonia Warsaw.")

    def scores(x: float):  # type: ignore[no-untyped-def]
        return lambda q, texts: [x for _ in texts]

    q = "Where is Ekstraklasa's home venue located?"
    a = verify(q, one_passage(text, "e"), reply, S, scorer=scores(0.26))
    assert not a.answerable and "none of 'home'" in (a.refusal_reason or "")
    assert verify(q, one_passage(text, "e"), reply, S, scorer=scores(2.0)).answerable
    # a sentence that holds one of the question's ordinary words ('local'), though too few of its terms to
    # pass on its own, needs only min_relevance (0.0)
    q = "Which local team, with far fewer fans, triumphed in the Ekstraklasa?"
    a = verify(q, one_passage(text, "e"), reply, S, scorer=scores(0.26))
    assert a.answerable and a.checks["relation_coverage"] < S.answer.min_relation


def test_a_negation_denies_only_its_own_clause() -> None:
    # "not the ships" denies the ships; the troops did arrive: a "yes" is not turned into "No".
    text = "The troops, not the ships, arrived in Poland on Friday."
    reply = ModelReply(ids=[1], span="The troops", verdict="yes", answer="Yes, they arrived.")
    a = verify("Did the troops arrive in Poland?", one_passage(text, "t"), reply, S, scorer=vouches)
    assert not a.answer.startswith("No")
    # while a negation over the clause that holds what is asked still answers "No"
    text = "The troops did not arrive in Poland, officials said on Friday."
    a = verify("Did the troops arrive in Poland?", one_passage(text, "t"), reply, S, scorer=vouches)
    assert a.answerable and a.answer == "No [1]."


def test_how_long_is_not_answered_by_a_year_alone() -> None:
    # SQuAD 2.0's unanswerable "How long was Warsaw the capital of the Duchy Commonwealth?" was answered
    # "1796", from "Warsaw remained the capital of the Polish–Lithuanian Commonwealth until 1796".
    text = "Warsaw remained the capital of the Polish–Lithuanian Commonwealth until 1796."
    q = "How long was Warsaw the capital of the Commonwealth?"
    reply = ModelReply(ids=[1], span="1796", verdict="none", answer="1796")
    a = verify(q, one_passage(text, "w"), reply, S, scorer=vouches)
    assert not a.answerable and "only names a year" in (a.refusal_reason or "")
    # "until 1796" says for how long
    reply = ModelReply(ids=[1], span="until 1796", verdict="none", answer="Until 1796.")
    a = verify(q, one_passage(text, "w"), reply, S, scorer=vouches)
    assert a.answerable and a.answer.startswith("Until 1796")


def scores(value: float):  # type: ignore[no-untyped-def]
    """A cross-encoder that gives every text the same logit."""
    return lambda question, texts: [value for _ in texts]


TAR_HEEL = "From which post in the Tar Heel State are the paratroopers bound for Poland setting off?"


def test_a_confident_span_lets_a_paraphrase_pass_a_lower_cross_encoder_bar_and_nothing_else() -> None:
    # Measured: "Fort Bragg", every span token at 80% or more, on the sentence that says "Fort Bragg in North
    # Carolina" (cross-encoder -0.8): the question shares almost none of its words, so it was refused.
    def tar_heel(logprob: float | None, logit: float, span: str = "Fort Bragg"):  # type: ignore[no-untyped-def]
        return ask(TAR_HEEL, [2], span, f"{span}, North Carolina", scorer=scores(logit), confidence=logprob)

    unsure = tar_heel(None, -0.8)
    assert not unsure.answerable and "about something else" in (unsure.refusal_reason or "")
    sure = tar_heel(-0.1, -0.8)
    assert sure.answerable and sure.answer == "Fort Bragg, North Carolina [1]."
    assert sure.checks["span_logprob"] == -0.1 and sure.checks["confident_span"] is True
    assert not tar_heel(-0.6, -0.8).answerable  # a span the model was unsure of
    assert not tar_heel(-0.1, -2.5).answerable  # sentences the cross-encoder reads as off topic
    off = Settings(answer={"confident_span": None})
    a = verify(TAR_HEEL, passages(), ModelReply(ids=[2], span="Fort Bragg", verdict="none", answer="Fort Bragg"),
               off, scores(-0.8), confidence=-0.1)  # fmt: skip
    assert not a.answerable
    # Confidence never backs a name the cited sentence doesn't hold.
    fort = tar_heel(-0.01, -0.8, span="Fort Liberty")
    assert not fort.answerable and "liberty" in (fort.refusal_reason or "")


def test_a_full_sentence_around_the_verified_span_is_not_read_as_restating_the_subject() -> None:
    # Measured on a held-out SQuAD sample: "Which fort was rebuilt in 1964?" → span "Fort Caroline", answer
    # "Fort Caroline was rebuilt in 1964." was refused as naming the question's own subject with one word added.
    text = "The French built Fort Caroline in 1564. Fort Caroline was rebuilt in 1964 by the National Park Service."
    question = "Which fort was rebuilt in 1964?"
    reply = ModelReply(ids=[2], span="Fort Caroline", verdict="none", answer="Fort Caroline was rebuilt in 1964.")
    a = verify(question, one_passage(text, "jax"), reply, S, vouches)
    assert a.answerable and a.answer == "Fort Caroline was rebuilt in 1964 [1]."
    # Without a verified span the sentence is still judged as it stands.
    unverified = reply.model_copy(update={"span": "Fort Matanzas"})
    assert not verify(question, one_passage(text, "jax"), unverified, S, vouches).answerable


def test_an_answer_from_a_sentence_that_says_the_opposite_is_refused() -> None:
    # Measured on a held-out SQuAD sample: "What was the UK's least popular TV service in 2015?" → "Freeview…",
    # from the sentence saying it was the most popular one.
    text = "Freeview was the UK's most popular digital TV service until 2015. Sky had 10 million subscribers."
    reply = ModelReply(ids=[1], span="Freeview", verdict="none", answer="Freeview")
    least = verify("What was the UK's least popular TV service in 2015?", one_passage(text, "tv"), reply, S, vouches)
    assert not least.answerable and least.answer == REFUSAL_TEXT
    assert "'least'" in (least.refusal_reason or "") and "'most'" in (least.refusal_reason or "")
    most = verify("What was the UK's most popular TV service in 2015?", one_passage(text, "tv"), reply, S, vouches)
    assert most.answerable and most.answer == "Freeview [1]."


def test_a_verdict_keeps_the_case_of_a_name_that_follows_it() -> None:
    # Measured: "Is Riga open to having more American soldiers…?" → "Yes, latvia is ready…" (lowercased).
    text = (
        "A Latvian diplomat told CNN Wednesday that Latvia, which borders Russia and Belarus, “is ready and willing "
        "to host more troops from the US.”"
    )
    reply = ModelReply(
        ids=[1], span="ready and willing", verdict="yes", answer="Latvia is ready and willing to host more troops."
    )
    a = verify("Is Latvia willing to host more US troops?", one_passage(text, "l"), reply, S, scorer=vouches)
    assert a.answerable and a.answer.startswith("Yes, Latvia is ready")
    reply = ModelReply(ids=[1], span="ready and willing", verdict="yes", answer="The country is ready and willing.")
    a = verify("Is Latvia willing to host more US troops?", one_passage(text, "l"), reply, S, scorer=vouches)
    assert a.answerable and a.answer.startswith("Yes, the country is ready")
