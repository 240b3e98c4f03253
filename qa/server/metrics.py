"""Counters, latency quantiles and process figures for ``GET /metrics`` (Prometheus text format, no client
library needed). Thread-safe: generation workers and the event loop both record."""

from __future__ import annotations

import math
import os
import threading
from collections import Counter, deque

from qa.models import Answer
from qa.server.pool import Generations


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


class ServerMetrics:
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
