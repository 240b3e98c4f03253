"""The Python API as a user calls it: ``from qa import QA, Settings, Turn, ...``.

Offline and fast: the hash embedder of tests/conftest.py, the scripted chat model of tests/fakes.py (its
replies are given in advance and every call is recorded), an embedded store in a temp folder.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import qa as qa_package
from qa import (
    QA,
    Answer,
    Document,
    DocumentNotFoundError,
    IngestReport,
    ModelError,
    ModelFetchError,
    QAError,
    Rewrite,
    Settings,
    StoreError,
    Turn,
)
from tests.conftest import ARTICLE, HashEmbedder
from tests.fakes import ScriptedChat, reply

QUESTION = "How many troops are going to Poland?"
QUOTE = "about 1,700 troops"
DOC_ID = ARTICLE.stem
HISTORY = [Turn("Where are US troops being sent?", "To Poland, Germany and Romania [1].")]
FOLLOW_UP = "How many of them go to Poland?"
REWRITE = "How many US troops go to Poland?"


def make_qa(tmp_path: Path) -> tuple[QA, ScriptedChat]:
    """A QA over a store in ``tmp_path`` with the scripted model (no replies yet: each test scripts its own)."""
    chat = ScriptedChat()
    settings = Settings(store=tmp_path / "store", retrieval={"rerank": False})
    return QA(settings, embedder=HashEmbedder(), chat_model=chat), chat  # type: ignore[arg-type]


def troops_reply(qa: QA, question: str = QUESTION) -> str:
    """What a well-behaved model replies to ``question``: it points at the shown sentence holding QUOTE."""
    from qa.evidence import build_evidence

    shown = build_evidence(qa.retrieve(question)).sentences
    sid = next(s.id for s in shown if QUOTE in s.text)
    return reply("About 1,700 troops.", [sid], QUOTE)


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[QA, ScriptedChat]:
    qa, chat = make_qa(tmp_path)
    assert qa.ingest([ARTICLE]).added == [DOC_ID]
    return qa, chat


def test_ingest_a_folder_lists_the_bad_file_and_the_good_one_is_searchable(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "troops.txt").write_text(ARTICLE.read_text())
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 40)
    qa, _ = make_qa(tmp_path)
    progress: list[tuple[int, int]] = []

    report = qa.ingest([folder], progress=lambda done, total, _label: progress.append((done, total)))

    assert isinstance(report, IngestReport) and not report.ok
    assert report.added == ["troops"] and report.chunks > 0
    [bad] = report.failed
    assert Path(bad.path).name == "broken.txt" and "binary" in bad.reason
    assert progress and progress[-1] == (1, 1)
    assert [d.doc_id for d in qa.documents()] == ["troops"]
    top = qa.retrieve(QUESTION, k=3)
    assert {p.doc_id for p in top} == {"troops"} and any(QUOTE in p.text for p in top)
    assert qa.ingest([folder]).skipped == ["troops"]  # unchanged: not embedded again


def test_ask_cites_quotes_that_slice_the_stored_article_exactly(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, chat = ingested
    chat.replies.append(troops_reply(qa))

    answer = qa.ask(QUESTION)

    assert isinstance(answer, Answer) and answer.answerable, answer.refusal_reason
    assert answer.question == QUESTION and answer.answer == "About 1,700 troops [1]."
    assert answer.standalone_question is None and len(chat.calls) == 1
    stored = qa.store().document_text(DOC_ID)
    assert stored == ARTICLE.read_text()
    (cite,) = answer.citations
    assert cite.doc_id == DOC_ID and QUOTE in cite.quote
    assert stored[cite.char_start : cite.char_end] == cite.quote
    passage = next(p for p in answer.passages if p.key == cite.passage_key)
    assert passage.text[cite.char_start - passage.char_start : cite.char_end - passage.char_start] == cite.quote


def test_stream_yields_text_then_the_answer_last(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, chat = ingested
    chat.replies.append(troops_reply(qa))

    *items, final = list(qa.stream(QUESTION))

    texts = [t for t in items if isinstance(t, str)]
    assert len(texts) > 1 and texts == items  # text only before the Answer: no Rewrite without history
    assert "".join(texts) == "About 1,700 troops."  # the model's words as they came
    assert isinstance(final, Answer) and final.answerable and final.answer == "About 1,700 troops [1]."


def test_a_follow_up_is_rewritten_with_one_extra_model_call(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, chat = ingested
    chat.replies += [REWRITE, troops_reply(qa, REWRITE)]  # the rewrite, then the answer

    answer = qa.ask(FOLLOW_UP, history=HISTORY)

    assert answer.question == FOLLOW_UP and answer.standalone_question == REWRITE
    assert answer.answerable and "1,700" in answer.answer
    assert len(chat.calls) == 2
    rewrite_prompt = str(chat.calls[0][-1].content)
    assert HISTORY[0].question in rewrite_prompt and FOLLOW_UP in rewrite_prompt
    assert str(chat.calls[1][-1].content).rstrip().endswith(REWRITE)  # the answer was asked the rewrite


def test_a_streamed_follow_up_yields_its_rewrite_first(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, chat = ingested
    chat.replies += [REWRITE, troops_reply(qa, REWRITE)]

    items = list(qa.stream(FOLLOW_UP, history=HISTORY))

    first, final = items[0], items[-1]
    assert isinstance(first, Rewrite) and first.rewritten
    assert (first.question, first.standalone) == (FOLLOW_UP, REWRITE)
    assert all(isinstance(i, str) for i in items[1:-1]) and len(items) > 3
    assert isinstance(final, Answer) and final.standalone_question == REWRITE and final.question == FOLLOW_UP


def test_a_standalone_question_with_history_costs_no_rewrite_call(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, chat = ingested
    chat.replies.append(troops_reply(qa))

    answer = qa.ask(QUESTION, history=HISTORY)

    assert len(chat.calls) == 1  # the answer only
    assert answer.answerable and answer.question == QUESTION and answer.standalone_question is None


def test_an_unknown_document_id_is_an_error_naming_it(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, chat = ingested
    with pytest.raises(DocumentNotFoundError, match="nope") as err:
        qa.retrieve(QUESTION, doc_ids=["nope"])
    assert isinstance(err.value, StoreError) and isinstance(err.value, QAError)
    with pytest.raises(DocumentNotFoundError):
        qa.ask(QUESTION, doc_ids=[DOC_ID, "nope"])
    assert chat.calls == []  # refused before the model was asked


def test_remove_takes_a_document_out_of_listing_and_search(ingested: tuple[QA, ScriptedChat]) -> None:
    qa, _ = ingested
    harbour = Document(doc_id="harbour", text="Harbour workers unloaded 40 tonnes of grain on Monday.")
    assert qa.ingest_documents([harbour]).added == ["harbour"]
    assert {d.doc_id for d in qa.documents()} == {DOC_ID, "harbour"}

    assert qa.remove(DOC_ID) > 0  # its chunk count

    assert [d.doc_id for d in qa.documents()] == ["harbour"]
    assert {p.doc_id for p in qa.retrieve(QUESTION, k=5)} == {"harbour"}
    with pytest.raises(DocumentNotFoundError):
        qa.remove(DOC_ID)


def test_errors_are_importable_from_qa_and_share_one_base() -> None:
    from qa import (
        ConfigError,
        InputError,
        ModelOutputError,
        ModelUnavailableError,
        NoDocumentsError,
        StoreMismatchError,
    )

    errors = [
        ConfigError, DocumentNotFoundError, InputError, ModelError, ModelFetchError, ModelOutputError,
        ModelUnavailableError, NoDocumentsError, StoreError, StoreMismatchError,
    ]  # fmt: skip
    assert all(issubclass(e, QAError) for e in errors)
    assert issubclass(ModelFetchError, ModelError) and issubclass(ModelUnavailableError, ModelError)
    err = NoDocumentsError("nothing ingested", hint="run qa ingest")
    assert str(err) == "nothing ingested" and err.hint == "run qa ingest"


# Names in QA's signatures that are not article-qa's own types (typing, pathlib, LangChain), and the
# components QA hands out for advanced use (its store, retriever and embedder) outside the stable namespace.
NOT_OURS = {"Any", "Callable", "Iterable", "Iterator", "Sequence", "Path", "None", "BaseChatModel"}
COMPONENTS = {"Store", "Retriever", "Embedder"}


def test_the_qa_namespace_exports_every_type_the_public_api_uses() -> None:
    used: set[str] = set()
    raised: set[str] = set()
    for name, member in inspect.getmembers(QA):
        if name.startswith("_") and name != "__init__":
            continue
        func = member.fget if isinstance(member, property) else member
        if not callable(func):
            continue
        sig = inspect.signature(func)
        for annotation in [*(p.annotation for p in sig.parameters.values()), sig.return_annotation]:
            used |= set(re.findall(r"\b[A-Z]\w*", str(annotation)))
        raised |= set(re.findall(r"\b[A-Z]\w*Error\b", func.__doc__ or ""))
    assert {"Answer", "Filters", "Turn", "Rewrite", "Progress", "IngestReport", "Passage"} <= used
    assert used - NOT_OURS - COMPONENTS <= set(qa_package.__all__), used - NOT_OURS - COMPONENTS
    assert raised and raised <= set(qa_package.__all__)
    # and what the results hold: IngestReport.failed is IngestFailure, Answer.citations Citation, ...
    for model in (Answer, IngestReport):
        for field in model.model_fields.values():
            nested = set(re.findall(r"\b[A-Z]\w*", str(field.annotation))) - {"Any", "Literal", "None"}
            assert nested <= set(qa_package.__all__), (model.__name__, nested)
    assert all(hasattr(qa_package, name) for name in qa_package.__all__)
