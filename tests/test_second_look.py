"""A second look after a refusal: asked again without the refused sentences, shown only when code and the
cross-encoder both back the new pointer (qa.second_look)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk

from qa.answer import stream_answer
from qa.api import QA
from qa.evidence import build_evidence
from qa.models import Answer, Passage
from qa.relation import Scorer
from qa.settings import Settings
from tests.fakes import ScriptedChat, reply

TROOPS = (
    "The US deployment to Poland consists of about 1,700 troops from an 82nd Airborne Division infantry brigade "
    "combat team based at Fort Bragg in North Carolina."
)
KREMLIN = "Kremlin spokesman Dmitry Peskov said the US was continuing to pump up tension in Europe."
ROMANIA = "A stryker squadron of about 1,000 troops is moving from Germany to Romania."
QUESTION = "How many troops from the 82nd Airborne are going to Poland?"
WRONG = reply("Tension.", [2], "tension")  # pointed at the Kremlin's sentence: refused by code
RIGHT = reply("About 1,700 troops.", [1], "about 1,700 troops")


def passages() -> list[Passage]:
    out, at = [], 0
    for key, text in enumerate((TROOPS, KREMLIN, ROMANIA), start=1):
        out.append(Passage(key=key, chunk_id=f"d:h:{key}", doc_id=f"d{key}", title=None, text=text,
                           char_start=at, char_end=at + len(text), score=0.6))  # fmt: skip
        at += 1000
    return out


def scorer(best: str) -> Scorer:
    """A stand-in cross-encoder: 6 for a text holding ``best``, 2 for the troops sentence, -5 otherwise."""

    def score(question: str, texts: Sequence[str]) -> list[float]:
        return [6.0 if best in t else 2.0 if "1,700" in t else -5.0 for t in texts]

    return score


S = Settings()


def ask(chat: ScriptedChat, settings: Settings = S, best: str = "1,700") -> Answer:
    *_, final = stream_answer(lambda: chat, QUESTION, passages(), settings, scorer=scorer(best))  # type: ignore[arg-type]
    assert isinstance(final, Answer)
    return final


def test_a_refused_pointer_gets_a_second_look_without_the_refused_sentence() -> None:
    chat = ScriptedChat(WRONG, RIGHT)
    final = ask(chat)
    assert final.answerable and final.answer == "About 1,700 troops [1]."
    assert final.citations[0].quote == TROOPS
    # The second call was shown everything but the refused sentence, under the same numbers.
    first, second = ("\n".join(str(m.content) for m in call) for call in chat.calls)
    assert "[2] Kremlin" in first and "Kremlin" not in second and "[1] The US deployment" in second
    look = final.checks["second_look"]
    assert look["accepted"] and look["dropped"] == [2] and "about something else" in look["first_reason"]
    assert final.usage.prompt_tokens == 200  # both calls are counted


def test_the_second_reply_is_not_shown_when_the_cross_encoder_prefers_another_sentence() -> None:
    chat = ScriptedChat(WRONG, RIGHT)
    final = ask(chat, best="stryker")  # the cross-encoder ranks the Romania sentence first
    assert not final.answerable and "about something else" in (final.refusal_reason or "")
    look = final.checks["second_look"]
    assert not look["accepted"] and "ranks sentence [3] first" in look["why_not"]
    assert json.loads(look["reply"]) == json.loads(RIGHT)  # kept for an offline replay


def test_a_second_reply_that_code_must_adjust_is_not_shown() -> None:
    # The span is in sentence 1 but the reply points at 3: code would move it, so it is not believed.
    moved = reply("About 1,700 troops.", [3], "about 1,700 troops")
    final = ask(ScriptedChat(WRONG, moved))
    assert not final.answerable and not final.checks["second_look"]["accepted"]


def test_no_second_look_when_off_without_a_scorer_or_when_the_model_found_nothing() -> None:
    chat = ScriptedChat(WRONG)  # a second call would find no reply and fail the test
    assert not ask(chat, Settings(answer={"second_look": False})).answerable
    assert len(chat.calls) == 1
    chat = ScriptedChat(WRONG)
    *_, final = stream_answer(lambda: chat, QUESTION, passages(), Settings())  # type: ignore[arg-type]
    assert isinstance(final, Answer) and not final.answerable and len(chat.calls) == 1
    chat = ScriptedChat(reply("", []))
    assert not ask(chat).answerable and len(chat.calls) == 1
    assert "second_look" not in ask(ScriptedChat(RIGHT)).checks  # an accepted first reply is final


def test_a_second_reply_that_is_not_json_leaves_the_refusal_standing() -> None:
    chat = ScriptedChat(WRONG, '{"ids": [1', '{"ids": [1')  # broken, and broken again when asked to repair
    final = ask(chat)
    assert not final.answerable and "about something else" in (final.refusal_reason or "")
    assert final.checks["second_look"]["why_not"] == "the reply was not valid JSON"
    assert len(chat.calls) == 3 and "Kremlin" not in "\n".join(str(m.content) for m in chat.calls[2])
    # A recorded run holding such a look replays to the same refusal.
    qa = _ScoredQA(S, chat_model=ScriptedChat())  # type: ignore[arg-type]
    assert not qa.reverify(QUESTION, passages(), WRONG, final.checks).answerable


class _SlowChat(ScriptedChat):
    def stream(self, messages: list[Any], **kwargs: Any) -> Iterator[AIMessageChunk]:
        time.sleep(0.1)  # each call takes a measurable time
        yield from super().stream(messages, **kwargs)


def test_both_calls_count_as_generation_time_and_only_once() -> None:
    final = ask(_SlowChat(WRONG, RIGHT))
    t = final.timings
    assert t.first_token_s is not None and 0 < t.first_token_s <= t.generate_s <= t.total_s
    assert t.generate_s >= 0.2 and 0 <= t.verify_s < 0.1 and t.generate_s + t.verify_s <= t.total_s + 1e-6


def test_no_second_look_when_the_answer_itself_is_refused_not_where_it_points() -> None:
    # The answer gives the question back: the model's answer is what is wrong, not the sentence it cites.
    chat = ScriptedChat(reply("Troops from the 82nd Airborne are going to Poland.", [1], "troops"))
    final = ask(chat)
    assert not final.answerable and "repeats the question" in (final.refusal_reason or "")
    assert len(chat.calls) == 1 and "second_look" not in final.checks


def test_evidence_without_keeps_the_other_sentences_numbers() -> None:
    ev = build_evidence(passages())
    fewer = ev.without([2])
    assert [s.id for s in fewer.sentences] == [1, 3] and fewer.get(2) is None
    assert [s.id for s in ev.sentences] == [1, 2, 3]  # the original is untouched


class _ScoredQA(QA):
    @property
    def scorer(self):  # type: ignore[no-untyped-def,override]
        return scorer("1,700")


def test_replay_checks_the_recorded_second_reply_again_without_the_model(tmp_path: object) -> None:
    final = ask(ScriptedChat(WRONG, RIGHT))
    silent = ScriptedChat()  # no replies: any model call would fail the test
    qa = _ScoredQA(Settings(), chat_model=silent)  # type: ignore[arg-type]
    again = qa.reverify(QUESTION, passages(), WRONG, final.checks)
    assert again.answerable and again.answer == final.answer and silent.calls == []
    # Re-scored with the second look off, the first reply's refusal stands.
    qa = _ScoredQA(Settings(answer={"second_look": False}), chat_model=silent)  # type: ignore[arg-type]
    assert not qa.reverify(QUESTION, passages(), WRONG, final.checks).answerable
