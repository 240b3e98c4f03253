"""Ingest at the edges of size: a 200 MB file, a 200 MB JSONL, and a folder of thousands of files.

The fake embedder keeps these fast; the store is a real embedded Chroma. What is checked is what a
user would notice: the good articles go in, the oversized ones are listed with the limit and the
setting that raises it, memory stays small (a refused file is not read), and a rerun skips everything.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from qa import QA
from qa.settings import Settings
from tests.conftest import ARTICLE, HashEmbedder

MB = 1_000_000


def write_filler(path: Path, size: int, prefix: bytes = b"", line: bytes | None = None) -> None:
    """A file of ``size`` bytes of plain sentences (written in 1 MB blocks)."""
    unit = line or b"Filler sentence about the harbour and its cranes, nothing more. "
    block = unit * (MB // len(unit) + 1)
    block = block[:MB]
    with path.open("wb") as fh:
        fh.write(prefix)
        written = len(prefix)
        while written < size:
            piece = block[: min(MB, size - written)]
            fh.write(piece)
            written += len(piece)


def test_a_200mb_text_file_is_refused_unread_and_the_good_files_still_go_in(
    tmp_path: Path, settings: Settings, embedder: HashEmbedder
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    write_filler(folder / "huge.txt", 200 * MB)
    (folder / "troops.txt").write_text(ARTICLE.read_text())
    qa = QA(settings, embedder=embedder)

    tracemalloc.start()
    try:
        report = qa.ingest([folder])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.added == ["troops"]
    [failure] = report.failed
    assert failure.path.endswith("huge.txt")
    assert "200.0 MB" in failure.reason and "50.0 MB limit" in failure.reason
    assert failure.hint is not None and "QA_INGEST_MAX_FILE_MB" in failure.hint
    assert peak < 20 * MB, f"refusing the file used {peak / MB:.0f} MB: it was read"
    assert [d.doc_id for d in qa.documents()] == ["troops"]
    assert qa.retrieve("How many troops are going to Poland?", k=1)[0].doc_id == "troops"


def test_a_200mb_jsonl_with_one_monster_line_keeps_its_other_articles(
    tmp_path: Path, settings: Settings, embedder: HashEmbedder
) -> None:
    path = tmp_path / "dump.jsonl"
    good = [f'{{"id": "a{i}", "text": "Article {i}. The port handled {i * 11} ships this week."}}\n' for i in range(3)]
    # three good lines, then one line of 200 MB (a JSON string that never ends in time), then one more
    write_filler(path, 200 * MB, prefix="".join(good).encode() + b'{"id": "monster", "text": "')
    with path.open("ab") as fh:
        fh.write(b'"}\n{"id": "last", "text": "The last article on the list."}\n')
    qa = QA(settings, embedder=embedder)

    tracemalloc.start()
    try:
        report = qa.ingest([path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert sorted(report.added) == ["a0", "a1", "a2", "last"]
    [failure] = report.failed
    assert failure.path == f"{path}:4"
    assert "50.0 MB" in failure.reason
    # Lines are read with a bound: at most about one limit's worth is held, never the whole file.
    assert peak < 120 * MB, f"peak {peak / MB:.0f} MB"


@pytest.mark.integration  # 3000 files written, ingested and ingested again: ~10 s
@pytest.mark.parametrize("n_files", [3000])
def test_a_folder_of_thousands_of_files(
    tmp_path: Path, settings: Settings, embedder: HashEmbedder, n_files: int
) -> None:
    folder = tmp_path / "wire"
    for i in range(n_files):
        sub = folder / f"day-{i % 30:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"story-{i:05d}.txt").write_text(
            f"Story {i}. The council of town {i} approved {i % 97} new bus routes on Monday. "
            f"Residents of district {i % 13} said the buses were late."
        )
    (folder / "day-00" / "empty.txt").write_bytes(b"")
    (folder / "day-01" / "blob.md").write_bytes(bytes(range(256)) * 8)
    progress_calls: list[tuple[int, int]] = []
    qa = QA(settings, embedder=embedder)

    report = qa.ingest([folder], progress=lambda done, total, _name: progress_calls.append((done, total)))

    assert len(report.added) == n_files and report.chunks == n_files
    assert sorted(Path(f.path).name for f in report.failed) == ["blob.md", "empty.txt"]
    assert progress_calls[-1] == (n_files, n_files)
    assert len(qa.documents()) == n_files
    # a name that occurs in one file of thousands is found first
    assert qa.retrieve("What did the council of town 2345 approve?", k=3)[0].doc_id == "story-02345"

    again = qa.ingest([folder])
    assert again.added == [] and len(again.skipped) == n_files and again.chunks == 0


def test_a_failing_background_store_write_is_raised_not_lost(
    tmp_path: Path, settings: Settings, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.errors import StoreError
    from qa.store import Store

    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(5):
        (folder / f"s{i}.txt").write_text(f"Story {i}. The council approved {i} new bus routes on Monday.")
    calls = {"n": 0}
    real = Store.put_documents

    def flaky(self: Store, items: list) -> None:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreError("disk full", hint="free some space")
        real(self, items)

    monkeypatch.setattr(Store, "put_documents", flaky)
    qa = QA(
        settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"batch_chunks": 2})}),
        embedder=embedder,
    )
    with pytest.raises(StoreError, match="disk full"):
        qa.ingest([folder])
    # what was written before the failure is committed and consistent; a rerun completes the rest
    monkeypatch.setattr(Store, "put_documents", real)
    done = {d.doc_id for d in QA(settings, embedder=embedder).documents()}
    assert done and done < {f"s{i}" for i in range(5)}
    again = QA(settings, embedder=embedder).ingest([folder])
    assert sorted(again.added) == sorted({f"s{i}" for i in range(5)} - done) and not again.failed
