"""Running eval cases: scoring, retrieval-only runs, follow-ups asked with their conversation, replay of a
recorded run, and ``evaluate()`` as a library call over a real QA with a scripted model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from qa import QA
from qa.conversation import Turn
from qa.errors import ConfigError, InputError, ModelUnavailableError, StoreError
from qa.evals import (
    CaseResult,
    EvalCase,
    Evidence,
    HistoryTurn,
    build_report,
    evaluate,
    load_evalset,
    replay_eval,
    run_eval,
    write_outputs,
)
from qa.evidence import build_evidence
from qa.models import Answer, Filters, IngestReport, Passage, Usage
from qa.settings import Settings
from tests.conftest import ARTICLE, MODELS_HOME, HashEmbedder
from tests.eval_fakes import CASES, PASSAGES, S1, S2, cite, fake_ask, fake_retrieve
from tests.fakes import ScriptedChat, reply

# --- the runner


def test_run_eval_scores_each_case() -> None:
    seen: list[tuple[int, int]] = []
    results = run_eval(
        CASES,
        retrieve=fake_retrieve,
        ask=fake_ask,
        k=4,
        retrieval_only=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    by_id = {r.id: r for r in results}
    assert seen == [(i, 6) for i in range(7)]  # (0, 6) first, so a progress bar can show the total at once
    assert by_id["troops"].correct is True and by_id["troops"].citation_precision == 1.0
    assert by_id["romania"].correct is False and by_id["romania"].citation_recall == 0.0
    assert by_id["romania"].recall_at_k == {1: 0.0, 3: 1.0, 4: 1.0, 5: 1.0, 10: 1.0}
    assert by_id["romania"].rr == 0.5
    assert by_id["refused"].refused and by_id["refused"].correct is False and by_id["refused"].f1 == 0.0
    assert by_id["price"].correct is True and by_id["price"].rr is None
    assert by_id["ships"].correct is False and not by_id["ships"].refused
    broken = by_id["broken"]
    assert broken.error is not None and "ModelUnavailableError" in broken.error
    assert broken.correct is False and not broken.refused
    assert by_id["troops"].retrieved == ["d1:1", "d1:2", "d1:3"]
    assert by_id["troops"].prompt_tokens == 100
    assert all(r.history == [] and r.standalone_question is None for r in results)


def test_retrieval_only_run_leaves_answer_metrics_null() -> None:
    results = run_eval(CASES, retrieve=fake_retrieve, ask=None, k=3, retrieval_only=True)
    report = build_report(results, {}, "v")
    assert report.retrieval_only and report.retrieval.recall_at_k_default == 1.0
    assert report.answer.accuracy is None and report.refusal.recall is None and report.tokens.prompt is None
    assert report.latency.p50_s is not None  # retrieval time
    with pytest.raises(ValueError):
        run_eval(CASES, retrieve=fake_retrieve, ask=None, k=3, retrieval_only=False)


def test_retrieval_error_is_recorded_not_raised() -> None:
    def broken(question: str, depth: int) -> list[Passage]:
        raise StoreError("store is locked", "close the other process")

    [result] = run_eval(CASES[:1], retrieve=broken, ask=fake_ask, k=4, retrieval_only=False)
    assert result.error is not None and "store is locked" in result.error
    assert result.recall_at_k[4] == 0.0 and result.correct is False
    assert build_report([result], {}, "v").errors == 1


# --- follow-ups: asked with their conversation

POLAND = HistoryTurn(question="How many troops are going to Poland?", answer="About 1,700 troops.")
REWRITE = "How many soldiers will move from Germany to Romania?"
FOLLOWUP = EvalCase(
    id="romania-followup",
    question="And to Romania?",
    answers=["3,000"],
    answerable=True,
    evidence=[Evidence(doc_id="d1", quote=S2)],
    type="followup_ellipsis",
    history=[POLAND],
)
STANDALONE = EvalCase(
    id="troops",
    question="How many troops to Poland?",
    answers=["1,700"],
    answerable=True,
    evidence=[Evidence(doc_id="d1", quote=S1)],
    type="fact",
)


class Recorder:
    """A scripted chain: retrieval puts the Romania sentence first only for a question naming Romania, and
    the follow-up is "rewritten" to REWRITE, as the real chain reports it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[Turn]]] = []
        self.searched: list[str] = []

    def retrieve(self, question: str, depth: int) -> list[Passage]:
        self.searched.append(question)
        p1, p2, p3 = PASSAGES
        return [p2, p1, p3] if "Romania" in question else [p1, p3, p2]

    def ask(self, question: str, history: Sequence[Turn]) -> Answer:
        self.asked.append((question, list(history)))
        usage = Usage(prompt_tokens=100, completion_tokens=10)
        if not history:
            return fake_ask(question)
        return Answer(question=question, answer="About 3,000 soldiers [1]", answerable=True, citations=[cite(2)],
                      passages=PASSAGES, usage=usage, standalone_question=REWRITE)  # fmt: skip


def test_a_follow_up_is_asked_with_its_conversation_and_scored_for_its_rewrite(tmp_path: Path) -> None:
    chain = Recorder()
    results = run_eval([FOLLOWUP, STANDALONE], retrieve=chain.retrieve, ask=chain.ask, k=4, retrieval_only=False)
    assert chain.asked == [
        ("And to Romania?", [Turn(question="How many troops are going to Poland?", answer="About 1,700 troops.")]),
        ("How many troops to Poland?", []),
    ]
    followup, standalone = results
    assert followup.correct is True and followup.citation_recall == 1.0
    assert followup.standalone_question == REWRITE and followup.history == [POLAND]
    # Retrieval is scored for what the chain searched, the rewrite: the evidence is first.
    assert chain.searched == [REWRITE, "How many troops to Poland?"]
    assert followup.rr == 1.0 and followup.recall_at_k[1] == 1.0
    assert standalone.standalone_question is None and standalone.history == []
    write_outputs(build_report(results, {}, "v"), results, tmp_path)
    recorded = [json.loads(line) for line in (tmp_path / "cases.jsonl").read_text().splitlines()]
    assert recorded[0]["standalone_question"] == REWRITE
    assert recorded[0]["history"] == [{"question": POLAND.question, "answer": POLAND.answer}]
    assert recorded[1]["standalone_question"] is None
    assert "- rewritten: " + REWRITE not in (tmp_path / "failures.md").read_text()  # it passed


def test_a_follow_up_whose_ask_fails_is_a_failure_retrieved_as_typed() -> None:
    def down(question: str, history: Sequence[Turn]) -> Answer:
        raise ModelUnavailableError("the model server is not running", "start it")

    chain = Recorder()
    [result] = run_eval([FOLLOWUP], retrieve=chain.retrieve, ask=down, k=4, retrieval_only=False, repeat=2)
    assert chain.searched == ["And to Romania?"]
    assert result.error is not None and "ModelUnavailableError" in result.error
    assert result.correct is False and [a.correct for a in result.repeats] == [False, False]


def test_retrieval_only_searches_a_follow_up_as_its_standalone_field_or_as_typed() -> None:
    given = FOLLOWUP.model_copy(update={"id": "given", "standalone": "How many soldiers go to Romania?"})
    chain = Recorder()
    bare, with_standalone = run_eval([FOLLOWUP, given], retrieve=chain.retrieve, ask=None, k=4, retrieval_only=True)
    assert chain.searched == ["And to Romania?", "How many soldiers go to Romania?"]
    assert chain.asked == []
    assert with_standalone.rr == 1.0 and bare.rr == 1.0  # the scripted retrieval finds "Romania" in both
    assert not bare.asked and bare.standalone_question is None


# --- replay


def test_replay_checks_a_follow_up_against_its_recorded_rewrite() -> None:
    recorded = [
        CaseResult.model_validate(r.model_dump() | {"raw_reply": '{"ids": [2]}'})
        for r in run_eval(
            [FOLLOWUP, STANDALONE], retrieve=Recorder().retrieve, ask=Recorder().ask, k=4, retrieval_only=False
        )
    ]
    checked: list[tuple[str, str, dict[str, Any]]] = []

    def reverify(question: str, passages: list[Passage], raw: str, checks: dict[str, Any]) -> Answer:
        checked.append((question, raw, checks))
        assert passages == PASSAGES
        # The current checks refuse the follow-up's reply and keep the other one.
        if question == REWRITE:
            return Answer(question=question, answer="The articles do not say.", answerable=False)
        return fake_ask(question)

    followup, standalone = replay_eval([STANDALONE, FOLLOWUP], recorded, reverify)
    assert [q for q, _, _ in checked] == [REWRITE, "How many troops to Poland?"]
    assert followup.refused and followup.correct is False
    assert followup.standalone_question == REWRITE and followup.history == [POLAND]
    assert followup.rr == 1.0 and followup.prompt_tokens == 100  # the recording's
    assert standalone.correct is True and standalone.standalone_question is None
    with pytest.raises(ValueError, match="not in the eval set"):
        replay_eval([STANDALONE], recorded, reverify)


# --- evaluate(): the library call behind `qa eval`

QUESTION = "How many troops are going to Poland?"
FOLLOWUP_QUESTION = "Where are they based?"
REWRITTEN = "Where are the troops going to Poland based?"
POLAND_SENTENCE = (
    "The US deployment to Poland consists of about 1,700 troops from an 82nd Airborne Division infantry brigade "
    "combat team based at Fort Bragg in North Carolina."
)
SET = [
    {"id": "poland", "question": QUESTION, "answers": ["1,700"], "answerable": True,
     "evidence": [{"quote": POLAND_SENTENCE}], "type": "number"},
    {"id": "based", "question": FOLLOWUP_QUESTION, "answers": ["Fort Bragg"], "answerable": True,
     "evidence": [{"quote": POLAND_SENTENCE}], "type": "followup_pronoun",
     "history": [{"question": QUESTION, "answer": "About 1,700 troops."}]},
]  # fmt: skip


@pytest.fixture
def qa_settings(tmp_path: Path) -> Settings:
    settings = Settings(home=MODELS_HOME, store=tmp_path / "store")
    settings.retrieval.rerank = False  # the runner is under test, not the reranker
    return settings


def write_set(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sentence_id(qa: QA, question: str, needle: str) -> int:
    return next(s.id for s in build_evidence(qa.retrieve(question, 4)).sentences if needle in s.text)


def scripted_qa(settings: Settings) -> tuple[QA, ScriptedChat]:
    """A QA over the bundled article whose model answers SET's two cases correctly, in order."""
    qa = QA(settings, embedder=HashEmbedder())
    qa.ingest([ARTICLE])
    chat = ScriptedChat(
        reply("About 1,700 troops.", [sentence_id(qa, QUESTION, "1,700")], "about 1,700 troops"),
        REWRITTEN,  # the rewrite of the follow-up (an `invoke`), then its answer
        reply("At Fort Bragg in North Carolina.", [sentence_id(qa, REWRITTEN, "Fort Bragg")], "Fort Bragg"),
    )
    return QA(settings, embedder=HashEmbedder(), chat_model=chat), chat  # type: ignore[arg-type]


def test_evaluate_scores_a_set_file_with_a_qa(qa_settings: Settings, tmp_path: Path) -> None:
    qa, chat = scripted_qa(qa_settings)
    seen: list[tuple[int, int]] = []
    run = evaluate(write_set(tmp_path, SET), qa, k=4, progress=lambda done, total: seen.append((done, total)))
    assert chat.replies == [] and seen[-1] == (2, 2)
    poland, based = run.results
    assert poland.correct is True and poland.standalone_question is None
    assert based.correct is True and based.standalone_question == REWRITTEN
    assert based.history == [HistoryTurn(question=QUESTION, answer="About 1,700 troops.")]
    # The model was shown the conversation when asked to rewrite the follow-up.
    rewrite_prompt = str(chat.calls[1][-1].content)
    assert QUESTION in rewrite_prompt and FOLLOWUP_QUESTION in rewrite_prompt
    report = run.report
    assert report.n == 2 and report.answer.accuracy == 1.0 and not report.retrieval_only
    assert set(report.by_type) == {"number", "followup_pronoun"}
    assert report.settings["evalset"] == str(tmp_path / "set.jsonl") and report.settings["k"] == 4


def test_evaluate_retrieval_only_takes_loaded_cases_and_checks_them(qa_settings: Settings, tmp_path: Path) -> None:
    qa = QA(qa_settings, embedder=HashEmbedder())
    qa.ingest([ARTICLE])
    cases = load_evalset(write_set(tmp_path, SET))
    run = evaluate(cases, qa, retrieval_only=True, sample=1, seed=3)
    assert run.report.retrieval_only and run.report.n == 1 and run.report.settings["evalset"] is None
    assert run.results[0].retrieved and run.results[0].recall_at_k[10] == 1.0
    stale = [cases[0].model_copy(update={"evidence": [Evidence(quote="2,700 troops from the 82nd")]})]
    with pytest.raises(InputError, match=r"^eval cases: 1 evidence quote"):
        evaluate(stale, qa, retrieval_only=True)
    with pytest.raises(ConfigError, match="nope: no such document in the store"):
        evaluate(cases, qa, retrieval_only=True, filters=Filters(doc_ids=["nope"]))
    with pytest.raises(ValueError, match="pass Settings"):
        evaluate(cases, qa, retrieval_only=True, corpus=[ARTICLE])


def test_evaluate_replays_a_recorded_run_without_the_model(qa_settings: Settings, tmp_path: Path) -> None:
    qa, _ = scripted_qa(qa_settings)
    path = write_set(tmp_path, SET)
    first = evaluate(path, qa, k=4)
    write_outputs(first.report, first.results, tmp_path / "run")
    silent = ScriptedChat()  # no replies: any model call would fail the test
    replayer = QA(qa_settings, embedder=HashEmbedder(), chat_model=silent)  # type: ignore[arg-type]
    again = evaluate(path, replayer, replay=tmp_path / "run")
    assert silent.calls == []
    assert [(r.id, r.correct, r.standalone_question) for r in again.results] == [
        ("poland", True, None),
        ("based", True, REWRITTEN),
    ]
    assert again.report.settings["replayed_from"] == str(tmp_path / "run")
    with pytest.raises(ConfigError, match="holds no recorded run"):
        evaluate(path, qa, replay=tmp_path)


def test_evaluate_ingests_a_corpus_into_a_store_of_its_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(MODELS_HOME.resolve() / "models")  # the bundled embedder, stores under tmp
    settings = Settings(home=home, store=tmp_path / "not-used")
    settings.retrieval.rerank = False
    ingests: list[IngestReport] = []
    path = write_set(tmp_path, SET)
    first = evaluate(path, settings, corpus=[ARTICLE], retrieval_only=True, on_ingest=ingests.append)
    assert [r.added for r in ingests] == [[ARTICLE.stem]]
    assert first.report.retrieval.recall_at_k["10"] == 1.0 and first.report.settings["corpus"] == [str(ARTICLE)]
    [store] = (home / "eval-stores").iterdir()
    assert not (tmp_path / "not-used").exists() and settings.store == tmp_path / "not-used"  # not changed
    again = evaluate(path, settings, corpus=[ARTICLE], retrieval_only=True, on_ingest=ingests.append)
    assert len(ingests) == 1 and list((home / "eval-stores").iterdir()) == [store]  # reused, nothing re-added
    assert again.report.retrieval == first.report.retrieval


def test_replay_checks_a_reply_again_with_its_recorded_span_confidence(qa_settings: Settings) -> None:
    qa = QA(qa_settings, embedder=HashEmbedder())
    qa.ingest([ARTICLE])
    passages = qa.retrieve(QUESTION, 4)
    raw = reply("About 1,700 troops.", [sentence_id(qa, QUESTION, "1,700")], "about 1,700 troops")
    again = qa.reverify(QUESTION, passages, raw, {"span_logprob": -0.12})
    assert again.answerable and again.checks["span_logprob"] == -0.12
    assert "span_logprob" not in qa.reverify(QUESTION, passages, raw, {}).checks  # a run recorded without it
