"""The store through the public API, on a real embedded Chroma with a fast fake embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qa import QA, Document, DocumentNotFoundError, NoDocumentsError, StoreMismatchError
from qa.settings import Settings
from tests.conftest import ARTICLE, HashEmbedder


def make_qa(settings: Settings, embedder: HashEmbedder | None = None) -> QA:
    return QA(settings, embedder=embedder or HashEmbedder())


def doc(doc_id: str, text: str) -> Document:
    return Document(doc_id=doc_id, text=text, title=doc_id.title())


def test_ingest_the_reference_article_and_retrieve_by_rare_name(settings: Settings) -> None:
    qa = make_qa(settings)
    report = qa.ingest([ARTICLE])
    assert report.added == ["cnn-2022-02-02-us-troops-eastern-europe"] and not report.failed
    assert report.chunks > 5
    (info,) = qa.documents()
    assert info.chunks == report.chunks and info.chars == len(ARTICLE.read_text())
    top = qa.retrieve("Kadamovskiy firing range Rostov")  # only in the photo caption, which is excluded
    assert all("Kadamovskiy" not in p.text for p in top)
    top = qa.retrieve("Zbigniew Rau Polish Foreign Minister visits Washington", k=1)
    assert "Zbigniew Rau" in top[0].text


def test_chunk_offsets_point_into_the_stored_document(settings: Settings) -> None:
    qa = make_qa(settings)
    qa.ingest([ARTICLE])
    text = qa.store().document_text("cnn-2022-02-02-us-troops-eastern-europe")
    for p in qa.retrieve("troops Poland Germany Romania", k=6):
        assert text[p.char_start : p.char_end] == p.text


def test_reingest_unchanged_is_skipped_and_changed_replaces(settings: Settings, tmp_path: Path) -> None:
    emb = HashEmbedder()
    qa = make_qa(settings, emb)
    f = tmp_path / "a.txt"
    f.write_text("Alpha troops moved to Poland. They were many.\n\nBeta was quiet.")
    assert qa.ingest([f]).added == ["a"]
    before = qa.store().chunk_count()
    calls = emb.calls
    again = qa.ingest([f])
    assert again.skipped == ["a"] and again.chunks == 0 and emb.calls == calls
    f.write_text("Gamma troops moved to Romania. Delta followed.")
    upd = qa.ingest([f])
    assert upd.updated == ["a"]
    assert qa.store().chunk_count() == upd.chunks  # the old version's chunks are gone
    assert before >= 1
    assert all("Alpha" not in p.text for p in qa.retrieve("Alpha troops Poland", k=5))


def test_remove_document(settings: Settings) -> None:
    qa = make_qa(settings)
    qa.ingest_documents([doc("one", "The first article is about ships."), doc("two", "The second is about trains.")])
    assert qa.remove("one") == 1
    assert [d.doc_id for d in qa.documents()] == ["two"]
    assert {p.doc_id for p in qa.retrieve("ships", k=5)} == {"two"}
    with pytest.raises(DocumentNotFoundError):
        qa.remove("one")


def test_asking_an_empty_store_says_to_ingest_first(settings: Settings) -> None:
    with pytest.raises(NoDocumentsError) as err:
        make_qa(settings).retrieve("anything")
    assert "qa ingest" in err.value.hint


def test_store_built_with_another_embedder_is_refused_with_rebuild_hint(settings: Settings) -> None:
    make_qa(settings, HashEmbedder(name="model-a")).ingest_documents([doc("x", "Some text here.")])
    other = make_qa(settings, HashEmbedder(name="model-b", dim=32))
    with pytest.raises(StoreMismatchError) as err:
        other.retrieve("text")
    assert "model-a" in err.value.message and "model-b" in err.value.message
    assert "--rebuild" in err.value.hint
    rebuilt = other.ingest_documents([doc("x", "Some text here.")], rebuild=True)
    assert rebuilt.added == ["x"]


def test_changed_chunking_settings_are_refused(settings: Settings) -> None:
    make_qa(settings).ingest_documents([doc("x", "Some text here.")])
    changed = settings.model_copy(deep=True)
    changed.chunking.max_tokens = 200
    with pytest.raises(StoreMismatchError, match="chunk_max_tokens"):
        make_qa(changed).documents()


def test_interrupted_write_is_invisible_and_cleaned_up(settings: Settings) -> None:
    qa = make_qa(settings)
    qa.ingest_documents([doc("x", "Original text about submarines.")])
    store = qa.store()
    # Simulate a crash after the new version's chunks were written but before the commit.
    new = doc("x", "Replacement text about aircraft carriers.")
    real_upsert = store._docs.upsert
    calls = {"n": 0}

    def crash_on_commit(**kw: Any) -> None:
        calls["n"] += 1
        if kw["metadatas"][0].get("pending_hash") == "":  # the commit
            raise KeyboardInterrupt
        real_upsert(**kw)

    store._docs.upsert = crash_on_commit
    from qa.chunking import chunk_document

    chunks = chunk_document(new, 96, 24, lambda t: len(t.split()))
    with pytest.raises(KeyboardInterrupt):
        store.put_document(new, chunks, qa.embedder.embed([c.text for c in chunks]))
    store._docs.upsert = real_upsert
    # Readers still see exactly the old version.
    hits = qa.retrieve("aircraft carriers submarines", k=5)
    assert [p.text for p in hits] == ["Original text about submarines."]
    # ...and the article text citations are checked against is still the old one, not the pending one.
    assert store.document_text("x") == "Original text about submarines."
    assert [d.content_hash for d in store.documents()] == [doc("x", "Original text about submarines.").content_hash]
    # The next ingest repairs the store and applies the change once.
    report = qa.ingest_documents([new])
    assert report.updated == ["x"]
    assert [p.text for p in qa.retrieve("aircraft carriers", k=5)] == ["Replacement text about aircraft carriers."]
    assert store.chunk_count() == 1


def test_same_id_twice_in_one_run_is_reported(settings: Settings) -> None:
    report = make_qa(settings).ingest_documents([doc("x", "One text."), doc("x", "Another text.")])
    assert report.added == ["x"] and len(report.failed) == 1 and "already has the id" in report.failed[0].reason


def test_mixed_folder_ingests_good_files_and_lists_bad_ones(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A real article about ports and shipping lanes.")
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "ok.md").write_text("# Title\n\nMarkdown body about railways.")
    report = make_qa(settings).ingest([tmp_path])
    assert sorted(report.added) == ["good", "ok"]
    assert sorted(Path(f.path).name for f in report.failed) == ["bin.txt", "empty.txt"]
    assert all(f.reason for f in report.failed)


def test_chunks_stored_the_old_way_as_chroma_documents_are_still_read(settings: Settings) -> None:
    # Stores written before chunk texts moved into metadata keep them as Chroma documents.
    qa = make_qa(settings)
    qa.ingest_documents([doc("x", "Original text about submarines.")])
    store = qa.store()
    assert "text" not in qa.retrieve("submarines", k=1)[0].metadata  # the stored text is the passage's text
    assert "text" not in QA(qa.settings, embedder=HashEmbedder()).retrieve("submarines", k=1)[0].metadata
    got = store._chunks.get(include=["metadatas", "embeddings"])
    old_layout = [{k: v for k, v in m.items() if k != "text"} for m in got["metadatas"]]
    store._chunks.delete(ids=got["ids"])
    store._chunks.add(
        ids=got["ids"],
        embeddings=got["embeddings"],
        documents=["Original text about submarines."],
        metadatas=old_layout,
    )
    assert "text" not in store._chunks.get(include=["metadatas"])["metadatas"][0]
    assert [p.text for p in qa.retrieve("submarines", k=2)] == ["Original text about submarines."]
    assert [text for _, text, _ in store.committed_records()] == ["Original text about submarines."]
    assert "text" not in qa.retrieve("submarines", k=1)[0].metadata
