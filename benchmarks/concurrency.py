"""`qa serve` under 1, 2 and 4 clients asking the same 8 questions; real local model, reranker on and off.

On 2 cores, retrieval of a queued request (the cross-encoder, onnxruntime with 2 threads) can run while
another request's answer is generating (the model server, 2 threads). This measures what that costs:
p50 of POST /ask as the clients see it (queueing included) and the answers per minute, per setting.

    .venv/bin/python benchmarks/concurrency.py [--out benchmarks/results/concurrency.json]

Traffic goes to 127.0.0.1 only; each `qa serve` is started and stopped here, and the local model server
is started once (it outlives the runs, and is stopped at the end if this script started it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "How many troops are going to Poland?",
    "Where is the 82nd Airborne brigade based?",
    "Who is the Pentagon press secretary?",
    "What kind of squadron is moving from Germany to Romania?",
    "Who is the Kremlin spokesman quoted in the article?",
    "How many troops will move to Germany?",
    "What did Biden call Article 5?",
    "Which countries will the troops go to?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(home: Path, store: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    full |= {"QA_HOME": str(home), "QA_STORE": str(store), "QA_SERVE_MAX_QUEUE": "8"} | env
    qa = Path(sys.executable).parent / "qa"
    proc = subprocess.Popen(
        [str(qa), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=store.parent,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("qa serve did not start")


def run_clients(url: str, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        # The same questions in every row, split among the clients: only the concurrency differs.
        with httpx.Client(timeout=600) as http:
            for q in QUESTIONS[n::clients]:
                t0 = time.perf_counter()
                r = http.post(f"{url}/ask", json={"question": q})
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    statuses.append(r.status_code)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "asks": len(latencies),
        "ok": statuses.count(200),
        "p50_s": round(statistics.median(latencies), 2),
        "max_s": round(max(latencies), 2),
        "answers_per_min": round(60 * statuses.count(200) / wall, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/concurrency.json")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from qa.localserver import ensure_running, status, stop
    from qa.settings import Settings

    home = ROOT / ".qa"
    settings = Settings(home=home)
    started = status(settings) is None
    info = ensure_running(settings)
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="qa-conc-") as tmp:
            store = Path(tmp) / "store"
            env = {"QA_LLM_BASE_URL": info.base_url}
            subprocess.run(
                [str(Path(sys.executable).parent / "qa"), "ingest", str(ROOT / "evals/corpus"), "--store", str(store)],
                check=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"QA_HOME": str(home)},
                stdout=subprocess.DEVNULL,
            )
            for rerank in ("true", "false"):
                proc, url = serve(home, store, env | {"QA_RETRIEVAL_RERANK": rerank})
                try:
                    # warm-up with a question outside the set, so no row starts with a cached prompt
                    httpx.post(f"{url}/ask", json={"question": "Who is Jens Stoltenberg?"}, timeout=600)
                    for clients in (1, 2, 4):
                        row = {"rerank": rerank == "true"} | run_clients(url, clients)
                        print(json.dumps(row), flush=True)
                        rows.append(row)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        if started:
            stop(settings)
    args.out.write_text(json.dumps({"rows": rows, "questions": QUESTIONS}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
