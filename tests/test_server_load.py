"""A bounded load test on loopback: 50 clients ask while another client ingests.

The server is a real `qa serve` process (ONNX embedder, cross-encoder, embedded Chroma) answering
through the stub LLM of tests/stub_llm.py with a small delay, so what is loaded is our service, not the
model. Every request must get a response; the only 5xx allowed is the documented 503 overloaded (with
Retry-After); every answer must be well formed and verified; the worker's memory must stay flat.

The suite runs it for 20 s. `make load` runs the full two minutes (LOADTEST_SECONDS=120) and writes the
figures to benchmarks/results/load.json (LOADTEST_OUT).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from qa.models import Answer
from tests.conftest import ARTICLE
from tests.stub_llm import stub_llm
from tests.test_serve_scaleout import CITED_REPLY, QUESTION, QUOTE, serve_process

pytestmark = pytest.mark.integration

CLIENTS = int(os.environ.get("LOADTEST_CLIENTS", "50"))
DURATION_S = float(os.environ.get("LOADTEST_SECONDS", "20"))
OUT = os.environ.get("LOADTEST_OUT")
# Resident memory may grow this much from the end of warm-up (the first quarter) to the end of the run:
# caches fill and ~60 small articles are ingested meanwhile, but a per-request leak would exceed it.
MEMORY_GROWTH_LIMIT = 0.15
MAX_PER_CLIENT = 300  # a hard bound on requests, whatever the speed
LLM_DELAY_S = 0.05


@dataclass
class Result:
    status: int
    seconds: float
    body: str
    retry_after: str | None
    stream: bool


def asker(url: str, stop_at: float, stream: bool, out: list[Result], errors: list[str]) -> None:
    headers = {"Accept": "text/event-stream"} if stream else {}
    with httpx.Client(timeout=60) as client:
        for _ in range(MAX_PER_CLIENT):
            if time.monotonic() >= stop_at:
                return
            t0 = time.monotonic()
            try:
                resp = client.post(f"{url}/ask", json={"question": QUESTION}, headers=headers)
            except httpx.HTTPError as exc:  # a lost request: no response at all
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            out.append(
                Result(resp.status_code, time.monotonic() - t0, resp.text, resp.headers.get("retry-after"), stream)
            )
            if resp.status_code == 503:
                time.sleep(0.2)  # back off a little (a polite client would honour Retry-After)


def ingester(url: str, stop_at: float, out: list[httpx.Response], errors: list[str]) -> None:
    with httpx.Client(timeout=60) as client:
        n = 0
        while time.monotonic() < stop_at and n < 60:
            n += 1
            article = {
                "id": f"harbour-{n}",
                "title": f"Harbour report {n}",
                "text": f"Harbour report number {n}. Cargo ships unloaded {n * 37} tonnes of grain at the quay. "
                "Dock workers said the cranes were busy all week, and the port authority expects more freight.",
            }
            try:
                out.append(client.post(f"{url}/documents", json={"articles": [article]}))
            except httpx.HTTPError as exc:
                errors.append(f"ingest {type(exc).__name__}: {exc}")
            time.sleep(0.5)


def memory_sampler(url: str, stop_at: float, out: list[tuple[float, float]]) -> None:
    """(seconds since start, resident bytes) of the worker, from /metrics, every second."""
    t0 = time.monotonic()
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < stop_at:
            try:
                text = client.get(f"{url}/metrics").text
            except httpx.HTTPError:
                continue
            for line in text.splitlines():
                if line.startswith("process_resident_memory_bytes "):
                    out.append((time.monotonic() - t0, float(line.split()[1])))
            time.sleep(1.0)


def final_answer(result: Result) -> Answer:
    if not result.stream:
        return Answer.model_validate_json(result.body)
    events = [block for block in result.body.split("\n\n") if block.startswith("event: ")]
    name, _, data = events[-1].partition("\ndata: ")
    assert name == "event: answer", result.body[-500:]
    return Answer.model_validate_json(data)


def test_concurrent_asks_and_ingests_lose_nothing(tmp_path: Path) -> None:
    article = ARTICLE.read_text()
    env = {
        "QA_STORE": str(tmp_path / "store"),
        "QA_SERVE_MAX_CONCURRENT": "2",
        "QA_SERVE_MAX_QUEUE": "8",
        "QA_SERVE_RETRY_AFTER_S": "1",
        "QA_SERVE_ASK_TIMEOUT_S": "60",
        "QA_LLM_MAX_RETRIES": "0",
    }
    with (
        stub_llm(CITED_REPLY, delay_s=LLM_DELAY_S) as stub,
        serve_process(tmp_path, "load", env | {"QA_LLM_BASE_URL": stub["url"]}) as url,
    ):
        with ARTICLE.open("rb") as fh:
            assert httpx.post(f"{url}/documents", files={"files": (ARTICLE.name, fh)}, timeout=120).status_code == 200
        results: list[Result] = []
        ingests: list[httpx.Response] = []
        errors: list[str] = []
        t0 = time.monotonic()
        stop_at = t0 + DURATION_S
        threads = [
            threading.Thread(target=asker, args=(url, stop_at, i % 4 == 0, results, errors)) for i in range(CLIENTS)
        ]
        threads.append(threading.Thread(target=ingester, args=(url, stop_at, ingests, errors)))
        memory: list[tuple[float, float]] = []
        threads.append(threading.Thread(target=memory_sampler, args=(url, stop_at, memory)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DURATION_S + 120)
        elapsed = time.monotonic() - t0
        assert not any(t.is_alive() for t in threads), "a client hung"
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
        llm_requests = stub["requests"]

    assert errors == [], errors[:5]
    statuses = {r.status for r in results}
    assert statuses <= {200, 503}, {r.status: r.body[:300] for r in results if r.status not in (200, 503)}
    ok = [r for r in results if r.status == 200]
    busy = [r for r in results if r.status == 503]
    assert ok, "no request was answered"
    for r in busy:
        assert json.loads(r.body)["error"]["code"] == "overloaded" and r.retry_after == "1"
    for r in ok:
        answer = final_answer(r)
        assert answer.answerable, answer.refusal_reason
        assert any(QUOTE in c.quote for c in answer.citations)
        assert all(article[c.char_start : c.char_end] == c.quote for c in answer.citations)
    assert ingests and all(i.status_code == 200 and i.json()["added"] for i in ingests), [i.text for i in ingests]
    # The server counted exactly the requests the clients saw.
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('qa_http_requests_total{endpoint="/ask"')
    )
    assert served == len(results)

    latencies = sorted(r.seconds for r in ok)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    warm = [rss for t, rss in memory if t >= DURATION_S / 4]
    assert len(warm) >= 3, f"too few memory samples: {memory}"
    growth = (max(warm[-3:]) - warm[0]) / warm[0]
    figures = {
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "asks": len(results),
        "answered": len(ok),
        "answered_per_s": round(len(ok) / elapsed, 2),
        "streamed": sum(r.stream for r in ok),
        "overloaded_503": len(busy),
        "ingests": len(ingests),
        "latency_p50_s": round(p50, 3),
        "latency_p95_s": round(p95, 3),
        "model_calls": llm_requests,
        "stub_model_delay_s": LLM_DELAY_S,
        "rss_after_warmup_mb": round(warm[0] / 1e6, 1),
        "rss_end_mb": round(max(warm[-3:]) / 1e6, 1),
        "rss_peak_mb": round(max(rss for _, rss in memory) / 1e6, 1),
        "rss_growth_after_warmup": round(growth, 3),
        "server": "qa serve, 2 generation slots, queue 8, embedded Chroma, rerank on, stub model",
    }
    print(f"\nload: {json.dumps(figures)}")
    if OUT:
        Path(OUT).write_text(json.dumps(figures, indent=1) + "\n")
    assert growth <= MEMORY_GROWTH_LIMIT, f"memory grew {growth:.0%} after warm-up: {memory}"
