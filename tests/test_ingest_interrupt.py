"""`qa ingest` killed midway (SIGKILL, and SIGINT → exit 130) leaves a consistent store, and a rerun finishes it.

Real parts: the `qa` command in a subprocess, the ONNX embedder, an embedded Chroma store. The store is
checked in a fresh subprocess each time (check_store), so no Chroma client state is shared with the
writer. "Consistent": every listed document has exactly its committed chunks and is retrievable, and no
chunk of an uncommitted version is ever returned. After the rerun, the store holds exactly the chunks a
clean ingest of the folder writes (the same chunk ids, so no duplicates and no leftovers).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, own_home

pytestmark = pytest.mark.integration
N_ARTICLES = 600
# Batched ingest writes 200 short articles in ~3 s, so a signal sent at the size trigger could arrive
# after the end; with 600 the store folder passes this size well before the end, and killing there lands
# midway whatever the machine's speed (a plain timer would not).
KILL_AT_BYTES = 1_200_000
HANG_S = 180.0  # no store growth to KILL_AT_BYTES by then is a hang, not a slow machine


def make_corpus(folder: Path) -> None:
    rng = random.Random(7)
    towns = ["Arden", "Brill", "Carrow", "Dunmore", "Elsby", "Fenwick", "Galt", "Hollin", "Ivers", "Jarrow"]
    things = ["bridge", "library", "harbour", "school", "railway", "market", "clinic", "stadium", "museum", "park"]
    folder.mkdir()
    for i in range(N_ARTICLES):
        town, thing = towns[i % 10], things[(i // 10) % 10]
        text = (
            f"{town} council votes on the {thing}, report {i}\n\n"
            f"The council of {town} met on Tuesday to discuss plans for a new {thing}. Councillor "
            f"{rng.choice(['Ames', 'Boyd', 'Cole', 'Dale'])} said it would cost {rng.randint(2, 90)} million pounds. "
            f"Residents asked whether the {thing} would open before {2025 + i % 5}. Officials said work could "
            f"start within {rng.randint(2, 20)} months.\n\n"
            f"A survey of {rng.randint(100, 900)} households found that most supported the plan, report {i} notes."
        )
        (folder / f"article-{i:03d}.txt").write_text(text)


def _env() -> dict[str, str]:
    # Small ingest batches, so there are many commits for an interruption to land between. The test's own
    # data folder (conftest.qa_home); ROOT on the path for run_check's `from tests... import`.
    return {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {
        "QA_HOME": str(own_home()),
        "QA_INGEST_BATCH_CHUNKS": "8",
        "PYTHONPATH": str(ROOT),
    }


def start_ingest(folder: Path, store: Path, log: Path) -> subprocess.Popen[bytes]:
    qa = Path(sys.executable).parent / "qa"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(qa), "ingest", str(folder), "--store", str(store), "--json"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=folder.parent,
            # SIGINT as in a terminal: a test run started in the background by a non-interactive shell
            # inherits it ignored, and the ingest would then run to the end (seen on a fresh-clone run).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def store_bytes(store: Path) -> int:
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) if store.exists() else 0


def check_store(store: str, folder: str) -> dict[str, Any]:
    """Consistency report of a store (runs in its own process; see the module docstring)."""
    from qa import QA
    from qa.chunking import chunk_document
    from qa.documents import discover, load_file
    from qa.embeddings import tokenizer_for
    from qa.settings import Settings

    # Reranking changes the order of passages, not which are visible: off, so 600+ lookups stay fast.
    qa = QA(Settings(store=Path(store), retrieval={"rerank": False}))  # QA_HOME from _env()
    st = qa.store()
    docs = qa.documents()
    got = st._chunks.get(include=["metadatas"])
    records = list(zip(got["ids"], got["metadatas"], strict=True))
    committed = {d.doc_id: d.content_hash for d in docs}
    per_version = Counter((m["doc_id"], m["doc_hash"]) for _, m in records)
    problems: list[str] = []
    for d in docs:
        if per_version[(d.doc_id, d.content_hash)] != d.chunks:
            problems.append(f"{d.doc_id}: {per_version[(d.doc_id, d.content_hash)]} chunks stored, {d.chunks} listed")
        hits = qa.retrieve("council plans", k=2, doc_ids=[d.doc_id])
        if not hits or {h.doc_id for h in hits} != {d.doc_id}:
            problems.append(f"{d.doc_id}: not retrievable ({[h.doc_id for h in hits]})")
    orphans = {cid: m for cid, m in records if committed.get(m["doc_id"]) != m["doc_hash"]}
    visible = [h.chunk_id for h in qa.retrieve("council plans households survey", k=20) if h.chunk_id in orphans]
    for doc_id in sorted({m["doc_id"] for m in orphans.values()}):
        scope = qa.retrieve("council plans", k=5, doc_ids=[doc_id]) if doc_id in committed else []
        visible += [h.chunk_id for h in scope if h.chunk_id in orphans]
        if doc_id not in committed:  # a never-committed document: its chunks exist but must stay invisible
            visible += [h.chunk_id for h in qa.retrieve(f"report {doc_id}", k=20) if h.chunk_id in orphans]
    counter = tokenizer_for(qa.embedder)
    files, _ = discover([Path(folder)])
    chunking = qa.settings.chunking
    clean = sorted(
        c.chunk_id
        for f in files
        for doc in load_file(f)[0]
        for c in chunk_document(doc, chunking.max_tokens, chunking.overlap_tokens, counter.count_tokens)
    )
    return {
        "documents": [d.doc_id for d in docs],
        "chunk_records": len(records),
        "chunk_ids": sorted(cid for cid, _ in records),
        "clean_chunk_ids": clean,
        "orphans": len(orphans),
        "visible_orphans": visible,
        "problems": problems,
    }


def run_check(store: Path, folder: Path) -> dict[str, Any]:
    code = (
        "import json, sys; from tests.test_ingest_interrupt import check_store; "
        "print(json.dumps(check_store(*sys.argv[1:])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store), str(folder)],
        cwd=store.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt") / "articles"
    make_corpus(folder)
    return folder


@pytest.mark.parametrize(
    ("sig", "exit_code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)], ids=["kill-9", "sigint"]
)
def test_interrupted_ingest_leaves_a_consistent_store_and_a_rerun_completes(
    corpus: Path, tmp_path: Path, sig: signal.Signals, exit_code: int
) -> None:
    store = tmp_path / "store"
    log = tmp_path / "ingest.log"
    proc = start_ingest(corpus, store, log)
    deadline = time.monotonic() + HANG_S
    try:
        while store_bytes(store) < KILL_AT_BYTES:
            assert proc.poll() is None, f"ingest ended before it could be interrupted:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the store did not grow in {HANG_S:.0f} s:\n{log.read_text()}"
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == exit_code, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert "interrupted" in log.read_text() or "aborted" in log.read_text()
        assert "Traceback" not in log.read_text()

    after_crash = run_check(store, corpus)
    done_before = after_crash["documents"]
    orphans = after_crash["orphans"]
    print(f"\n{sig.name}: {len(done_before)} of {N_ARTICLES} documents committed, {orphans} orphan chunk(s)")
    assert 0 < len(done_before) < N_ARTICLES, "the interruption did not land midway"
    assert after_crash["problems"] == []
    assert after_crash["visible_orphans"] == []

    rerun = subprocess.run(
        [str(Path(sys.executable).parent / "qa"), "ingest", str(corpus), "--store", str(store), "--json"],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    report = json.loads(rerun.stdout)
    assert sorted(report["skipped"]) == sorted(done_before)
    assert len(report["added"]) + len(report["skipped"]) == N_ARTICLES and not report["failed"]

    final = run_check(store, corpus)
    assert len(final["documents"]) == N_ARTICLES and final["problems"] == [] and final["orphans"] == 0
    assert final["chunk_ids"] == final["clean_chunk_ids"], "duplicates or leftovers compared with a clean ingest"
    assert final["chunk_records"] == len(final["clean_chunk_ids"])
