"""Hybrid retrieval: fusion, the lexical index kept in step with the store, filters, rare names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import qa.lexical
from qa import QA, Document
from qa.lexical import LexicalIndex, joined_tokens, lexical_tokens, near_duplicate, rrf, shingles
from qa.models import Filters
from qa.retrieval import chroma_where, matches
from qa.settings import Settings
from tests.conftest import ARTICLE, HashEmbedder, own_home


def test_rrf_on_hand_made_rankings() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a", "d"]], [1.0, 1.0], k=10)
    # a: 1/11 + 1/12, c: 1/13 + 1/11, b: 1/12, d: 1/13
    assert [x for x, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 11 + 1 / 12)
    weighted = rrf([["a", "b"], ["b", "a"]], [1.0, 2.0], k=10)
    assert weighted[0][0] == "b"


def test_lexical_tokens_fold_numbers_and_forms() -> None:
    assert lexical_tokens("About 1,700 troops deployed") == ["1700", "troops", "deploy"]
    assert lexical_tokens("deployment") == lexical_tokens("deployed") == ["deploy"]
    assert lexical_tokens("the U.S. and") == ["us"]


def test_near_duplicates() -> None:
    a = shingles("The US deployment to Poland consists of about 1,700 troops from the 82nd Airborne.")
    b = shingles("The US deployment to Poland consists of about 1,700 troops from the 82nd Airborne Division.")
    c = shingles("Kremlin spokesman Dmitry Peskov said the deployments raise tension in Europe.")
    assert near_duplicate(a, b) and not near_duplicate(a, c)


def test_filters_match_in_python_as_in_chroma() -> None:
    where = chroma_where(
        Filters(doc_ids=["x", "y"], source="CNN", published_after="2022-02-01", published_before="2022-02-02")
    )
    assert where is not None
    ok = {"doc_id": "x", "source": "CNN", "published_ts": 1643760000}  # 2022-02-02 00:00 UTC
    assert matches(ok, where)
    assert not matches({**ok, "doc_id": "z"}, where)
    assert not matches({**ok, "source": "AP"}, where)
    assert not matches({**ok, "published_ts": 1643760000 + 2 * 86400}, where)
    assert not matches({"doc_id": "x", "source": "CNN"}, where)  # no date: excluded by a date filter
    assert chroma_where(Filters()) is None


def make_qa(tmp_path: Path, **retrieval: object) -> QA:
    retrieval.setdefault("rerank", False)  # most tests here are about the lexical side; reranking has its own
    settings = Settings(home=own_home(), store=tmp_path / "store")
    for key, value in retrieval.items():
        setattr(settings.retrieval, key, value)
    return QA(settings, embedder=HashEmbedder())


def test_rare_name_question_retrieves_its_passage_first(tmp_path: Path) -> None:
    qa = make_qa(tmp_path)
    qa.ingest([ARTICLE])
    for question, needle in [
        ("What did El Pais publish?", "El Pais"),
        ("Which stryker squadron is moving?", "stryker"),
        ("What did Dmitry Peskov tell CNN?", "Peskov"),
    ]:
        assert needle in qa.retrieve(question, k=1)[0].text, question


def test_filters_restrict_documents(tmp_path: Path) -> None:
    qa = make_qa(tmp_path)
    qa.ingest_documents(
        [
            Document(doc_id="a", text="Troops moved to Poland on Monday.", source="CNN", published_at="2022-02-02"),
            Document(doc_id="b", text="Troops moved to Romania on Tuesday.", source="AP", published_at="2022-03-10"),
        ]
    )
    assert {p.doc_id for p in qa.retrieve("troops moved", k=5)} == {"a", "b"}
    assert {p.doc_id for p in qa.retrieve("troops moved", k=5, filters=Filters(source="AP"))} == {"b"}
    assert {p.doc_id for p in qa.retrieve("troops", k=5, filters=Filters(published_before="2022-02-02"))} == {"a"}
    assert {p.doc_id for p in qa.retrieve("troops", k=5, filters=Filters(published_after="2022-03-01"))} == {"b"}
    assert qa.retrieve("troops", k=5, doc_ids=["a"])[0].doc_id == "a"


words = st.sampled_from(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"])
sentence = st.lists(words, min_size=3, max_size=8).map(lambda ws: " ".join(ws).capitalize() + ".")
article = st.lists(sentence, min_size=1, max_size=4).map(" ".join)
op = st.tuples(st.sampled_from(["put", "put", "remove"]), st.sampled_from(["d1", "d2", "d3"]), article)


@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=5))
def test_lexical_index_stays_in_step_with_the_store(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, str, str]]
) -> None:
    qa = make_qa(tmp_path_factory.mktemp("lex"))
    expected: dict[str, str] = {}
    for action, doc_id, text in ops:
        if action == "put":
            qa.ingest_documents([Document(doc_id=doc_id, text=text)])
            expected[doc_id] = text
        elif doc_id in expected:
            qa.remove(doc_id)
            del expected[doc_id]
        lexical = qa.retriever.lexical
        committed = {cid for cid, _, _ in qa.store().committed_records()}
        assert set(lexical.ids) == committed
        assert {m["doc_id"] for m in lexical.metas} == set(expected)
        # Tokens reused from earlier builds are exactly what tokenizing the text now gives.
        assert lexical.tokens == [joined_tokens(t) for t in lexical.texts]
        # A fresh process (new QA on the same folder) sees the saved index, and it matches too.
        again = QA(qa.settings, embedder=HashEmbedder())
        again.retriever.refresh_lexical()
        assert set(again.retriever.lexical.ids) == committed
        for doc_id, text in expected.items():
            hits = qa.retrieve(text, k=3)
            assert any(p.doc_id == doc_id for p in hits)


def test_adding_a_document_tokenizes_only_its_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # At 100k chunks, re-tokenizing the whole store for every small ingest would dominate it.
    calls: list[str] = []
    real = qa.lexical.joined_tokens

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(qa.lexical, "joined_tokens", counting)
    first = make_qa(tmp_path)
    first.ingest([ARTICLE])
    n_article = len(first.retriever.lexical.ids)
    assert n_article > 5 and len(calls) == n_article  # once each, on the writer thread, none again in build
    # A new process adding one document reuses the saved tokens of the rest.
    calls.clear()
    second = QA(first.settings, embedder=HashEmbedder())
    read: list[object] = []
    real_records = second.store().committed_records
    monkeypatch.setattr(second.store(), "committed_records", lambda *a, **kw: read.append(a) or real_records(*a, **kw))
    second.ingest_documents([Document(doc_id="extra", text="Lanterns were lit along the quay at dusk.")])
    assert calls == ["Lanterns were lit along the quay at dusk."]
    assert read == [(["extra"],)]  # only the new document's chunks were read back from the store
    assert [p.doc_id for p in second.retrieve("lanterns quay", k=1)] == ["extra"]
    # `qa reindex` (force) starts from the texts again.
    calls.clear()
    assert second.reindex() == n_article + 1
    assert len(calls) == n_article + 1


def test_bm25_scores_equal_bm25s_on_real_articles() -> None:
    # Our vectorised BM25 replaced bm25s's index (3.7 s -> ~1 s at 100k chunks); rankings must not move.
    import bm25s
    import numpy as np

    from qa.lexical import Bm25

    paragraphs = [p for p in ARTICLE.read_text().split("\n\n") if p.strip()]
    paragraphs += [p[: len(p) // 2] for p in paragraphs] + ["", "1,700 1,700 troops"]
    corpus = [joined_tokens(p).split() or ["_"] for p in paragraphs]
    ref = bm25s.BM25()
    ref.index(corpus, show_progress=False)
    ours = Bm25()
    ours.index(corpus)
    queries = ["How many troops go to Poland?", "Pentagon spokesman John Kirby", "troops troops Romania", "zzz"]
    queries += [p.split(".")[0] for p in paragraphs[:20]]
    for query in queries:
        tokens = [t for t in lexical_tokens(query) if t in ref.vocab_dict]
        assert [t for t in lexical_tokens(query) if t in ours.vocab] == tokens
        if tokens:
            assert np.array_equal(np.asarray(ref.get_scores(tokens)), ours.scores(tokens)), query


def test_unreadable_saved_index_is_rebuilt(tmp_path: Path) -> None:
    # e.g. one saved by an older version in another format
    qa = make_qa(tmp_path)
    qa.ingest_documents([Document(doc_id="a", text="Ships sailed to the harbour.")])
    path = qa.retriever.lexical.path
    assert path is not None
    for f in (path / "bm25").iterdir():
        f.write_bytes(b"not an index")
    fresh = QA(qa.settings, embedder=HashEmbedder())
    assert [p.doc_id for p in fresh.retrieve("harbour ships", k=3)] == ["a"]
    assert fresh.retriever.lexical.search("harbour", 3)[0][0].startswith("a:")


def test_saved_index_with_an_old_stamp_is_rebuilt(tmp_path: Path) -> None:
    qa = make_qa(tmp_path)
    qa.ingest_documents([Document(doc_id="a", text="Ships sailed to the harbour.")])
    path = qa.retriever.lexical.path
    assert path is not None
    stale = LexicalIndex(path)
    stale.build([("ghost", "ghost text", {"doc_id": "ghost"})], "old-stamp")
    stale.save()
    fresh = QA(qa.settings, embedder=HashEmbedder())
    assert [p.doc_id for p in fresh.retrieve("ghost harbour ships", k=3)] == ["a"]


def test_dense_and_lexical_modes(tmp_path: Path) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        qa = make_qa(tmp_path / mode, mode=mode)
        qa.ingest([ARTICLE])
        top = qa.retrieve("Stoltenberg statement USS Harry S. Truman carrier strike group", k=2)
        assert any("Truman" in p.text for p in top), mode
        assert [p.key for p in top] == [1, 2]


def test_cross_encoder_prefers_the_answering_passage() -> None:
    from qa.rerank import make_reranker

    reranker = make_reranker(Settings(home=own_home()))
    scores = reranker.score(
        "How many troops are going to Poland?",
        [
            "NATO Secretary General Jens Stoltenberg welcomed the US decision.",
            "The US deployment to Poland consists of about 1,700 troops from an 82nd Airborne Division team.",
            "There are about 300 service members from the 18th Airborne Corps at Fort Bragg deploying to Germany.",
        ],
    )
    assert max(range(3), key=lambda i: scores[i]) == 1
    assert reranker.score("anything", []) == []


def test_reranking_reorders_candidates_and_keeps_cosine_scores(tmp_path: Path) -> None:
    plain = make_qa(tmp_path / "plain", rerank=False)
    plain.ingest([ARTICLE])
    reranked = make_qa(tmp_path / "reranked", rerank=True)
    reranked.ingest([ARTICLE])
    question = "Which unit is the Poland deployment drawn from?"
    top = reranked.retrieve(question, k=3)
    assert "82nd Airborne" in top[0].text
    assert all(p.rerank_score is not None for p in top)
    assert [p.rerank_score for p in top] == sorted((p.rerank_score or 0 for p in top), reverse=True)
    assert all(p.rerank_score is None for p in plain.retrieve(question, k=3))


def test_mmr_trades_relevance_for_diversity() -> None:
    from qa.lexical import mmr

    texts = [
        "troops deploy to Poland from Fort Bragg this week",
        "troops deploy to Poland from Fort Bragg this week again",
        "a stryker squadron moves from Germany to Romania",
    ]
    sets = [shingles(t) for t in texts]
    assert mmr([3.0, 2.9, 1.0], sets, 2, lam=1.0) == [0, 1]  # pure relevance
    assert mmr([3.0, 2.9, 1.0], sets, 2, lam=0.3) == [0, 2]  # the near-copy gives way
    assert mmr([], [], 2, lam=0.5) == []
