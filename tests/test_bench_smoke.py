"""The benchmark harness runs end to end at tiny sizes without a model server (what CI runs).

It uses only what the repository ships (the bundled article, the hand-written questions) and the models
`make test` fetches, so it runs, and can fail, everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The whole harness in a subprocess with the real embedder and cross-encoder: ~15-30 s.
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_writes_results(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_SQUAD_DIR"} | {"BENCH_SQUAD_DIR": str(tmp_path / "none")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--out", str(tmp_path)],
        env=env,
        cwd=tmp_path,  # no .env, nothing written next to the repository's files
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    ingest = summary["ingest"]
    assert 0 < ingest["ratio_to_raw_embedder"] < 5
    assert ingest["chunks"] > 0 and ingest["ingest_chunks_per_s"] > 0
    assert ingest["reingest_skipped"] == ingest["documents"]
    size = next(iter(summary["retrieval"]["sizes"].values()))
    assert size["add_one_article"]["chunks"] > 0 and size["lexical_build_s"] >= 0
    modes = size["modes"]
    assert set(modes) == {"dense", "hybrid", "hybrid+rerank"}
    assert all(m["p95_ms"] >= m["p50_ms"] > 0 for m in modes.values())
    assert summary["profile"]["share_of_time"]
    assert "answering" not in summary and "sidebyside" not in summary  # no LLM in smoke mode
    report = (tmp_path / "BENCHMARKS.md").read_text()
    assert "ingest ratio to raw embedder: " in report
    assert (tmp_path / "ingest.png").stat().st_size > 0
