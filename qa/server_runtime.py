"""The moving parts behind ``qa serve``: bounded answer generation off the event loop, and metrics.

Generating an answer blocks (retrieval, then the model's token stream), so each runs in a small thread
pool with ``max_concurrent`` workers; up to ``max_queue`` more wait their turn and anything beyond that
is refused at once (503 overloaded) instead of piling up. Items (text deltas, then the Answer) cross
from the worker thread to the request's event loop through an asyncio queue. When a request times out
or its client goes away, the worker is told to stop and closes the model stream at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from qa.errors import QAError
from qa.models import Answer
from qa.server_security import OverloadedError, RequestTimeoutError

#: Yielded by Job.items() when nothing arrived for ``ping_s`` (an SSE keep-alive comment is due).
PING = object()
_END = object()


@dataclass
class _Failure:
    exc: Exception


@dataclass(eq=False)
class Job:
    """One answer being generated: a worker thread produces items, the request consumes them."""

    loop: asyncio.AbstractEventLoop
    deadline: float
    timeout_s: float
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    stop: threading.Event = field(default_factory=threading.Event)
    future: Future[None] | None = None
    started: float = field(default_factory=time.monotonic)

    def put(self, item: object) -> None:
        """Hand an item to the request (called from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            self.stop.set()

    def work(self, produce: Callable[[], Iterator[str | Answer]]) -> None:
        """Run ``produce`` in the worker thread, forwarding its items until done or told to stop."""
        if self.stop.is_set():  # expired or abandoned while it waited for a slot
            self.put(_END)
            return
        items: Iterator[str | Answer] | None = None
        try:
            items = produce()
            for item in items:
                if self.stop.is_set():
                    break
                self.put(item)
        except Exception as exc:  # handed to the request, which maps it to an HTTP error
            self.put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if callable(close):  # closes the model's HTTP stream too
                with contextlib.suppress(Exception):
                    close()
            self.put(_END)

    async def items(self, ping_s: float | None = None) -> AsyncIterator[object]:
        """Text deltas then the Answer; PING when idle for ping_s. Raises the worker's error or a timeout."""
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeoutError(
                    f"no answer within {self.timeout_s:g} s",
                    hint="retry later (see /metrics for the queue), or raise QA_SERVE_ASK_TIMEOUT_S on the server",
                )
            try:
                item = await asyncio.wait_for(self.queue.get(), min(remaining, ping_s or remaining))
            except TimeoutError:
                if ping_s is not None and time.monotonic() < self.deadline:
                    yield PING
                continue
            if isinstance(item, _Failure):
                raise item.exc
            if item is _END:
                raise QAError("the answer stream ended without an answer")
            yield item
            if isinstance(item, Answer):
                return


class Generations:
    """At most ``slots`` generations at once, ``queue`` more waiting; beyond that OverloadedError."""

    def __init__(self, slots: int, queue: int, retry_after_s: int) -> None:
        self.slots, self.queue, self.retry_after_s = slots, queue, retry_after_s
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="qa-generate")
        self._closed = False
        self._lock = threading.Lock()
        self.running = 0
        self.waiting = 0
        self.rejected = 0
        self._jobs: set[Job] = set()

    def submit(self, job: Job, produce: Callable[[], Iterator[str | Answer]]) -> None:
        """Queue the job or raise OverloadedError right away."""
        with self._lock:
            if self.running + self.waiting >= self.slots + self.queue:
                self.rejected += 1
                raise OverloadedError(
                    f"busy: {self.running} answer(s) being generated and {self.waiting} waiting",
                    hint=f"retry in {self.retry_after_s} s (Retry-After); the server generates "
                    f"{self.slots} answer(s) at a time (QA_SERVE_MAX_CONCURRENT, QA_SERVE_MAX_QUEUE)",
                )
            self.waiting += 1
            self._jobs.add(job)

        def run() -> None:
            with self._lock:
                self.waiting -= 1
                self.running += 1
            try:
                job.work(produce)
            finally:
                with self._lock:
                    self.running -= 1
                    self._jobs.discard(job)

        try:
            job.future = self._pool.submit(run)
        except RuntimeError:  # shutting down
            with self._lock:
                self.waiting -= 1
                self._jobs.discard(job)
            raise OverloadedError("the server is shutting down", hint="retry against another worker") from None

    def finish(self, job: Job) -> None:
        """Stop the job's worker at its next step, or drop it from the queue if it hasn't started."""
        job.stop.set()
        if job.future is not None and job.future.cancel():
            with self._lock:
                self.waiting -= 1
                self._jobs.discard(job)

    def start(self) -> None:
        """Make the pool ready again after a shutdown (an app run by a second server, or a test client's
        lifespan per request)."""
        with self._lock:
            if self._closed:
                self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="qa-generate")
                self._closed = False

    def shutdown(self) -> None:
        """Stop every job and the pool (running workers end at their next token)."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            self.finish(job)
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- metrics (Prometheus text format, no client library needed) ----------------------------------------


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(round(value, 6))


class Metrics:
    """Counters for /metrics; thread-safe. Quantiles cover the last ``window`` answers."""

    def __init__(self, window: int = 1000) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latencies: deque[float] = deque(maxlen=window)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.answers: Counter[str] = Counter({"answerable": 0, "refused": 0})
        self.ingested = 0
        self.ingest_failures = 0

    def request(self, endpoint: str, method: str, status: int) -> None:
        with self._lock:
            self.requests[(endpoint, method, status)] += 1

    def answer(self, seconds: float, answer: Answer) -> None:
        with self._lock:
            self.latencies.append(seconds)
            self.latency_sum += seconds
            self.latency_count += 1
            self.answers["answerable" if answer.answerable else "refused"] += 1

    def ingest(self, documents: int, failures: int) -> None:
        with self._lock:
            self.ingested += documents
            self.ingest_failures += failures

    def render(self, gens: Generations) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        with self._lock:
            requests = sorted(self.requests.items())
            window = sorted(self.latencies)
            lat_sum, lat_count = self.latency_sum, self.latency_count
            answers = dict(self.answers)
            ingested, failures = self.ingested, self.ingest_failures
        out: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_num(value)}" for labels, value in samples)

        family(
            "qa_http_requests_total",
            "counter",
            "HTTP requests by endpoint (route template), method and status.",
            [(f'{{endpoint="{_label(e)}",method="{_label(m)}",status="{s}"}}', float(n)) for (e, m, s), n in requests],
        )
        family(
            "qa_ask_latency_seconds",
            "summary",
            "Seconds from request to verified answer (queueing included); quantiles over the last answers.",
            [
                ('{quantile="0.5"}', _quantile(window, 0.5)),
                ('{quantile="0.95"}', _quantile(window, 0.95)),
            ],
        )
        out.append(f"qa_ask_latency_seconds_sum {_num(lat_sum)}")
        out.append(f"qa_ask_latency_seconds_count {lat_count}")
        family(
            "qa_answers_total",
            "counter",
            "Answers given, by outcome (answerable or refused).",
            [(f'{{outcome="{k}"}}', float(v)) for k, v in sorted(answers.items())],
        )
        family("qa_ingested_documents_total", "counter", "Documents added or updated.", [("", float(ingested))])
        family(
            "qa_ingest_failures_total", "counter", "Files or records that failed to ingest.", [("", float(failures))]
        )
        family("qa_generations_in_flight", "gauge", "Answers being generated now.", [("", float(gens.running))])
        family(
            "qa_generations_queued", "gauge", "Questions waiting for a generation slot.", [("", float(gens.waiting))]
        )
        family(
            "qa_generations_rejected_total",
            "counter",
            "Questions refused with 503 because the queue was full.",
            [("", float(gens.rejected))],
        )
        rss = resident_bytes()
        if rss is not None:
            family("process_resident_memory_bytes", "gauge", "Resident memory of this worker.", [("", float(rss))])
        return "\n".join(out) + "\n"


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux /proc), or None where that isn't available."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
