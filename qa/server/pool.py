"""Bounded answer generation off the event loop for ``qa serve``.

Generating an answer blocks (retrieval, then the model's token stream), so each runs in a small thread
pool with ``max_concurrent`` workers; up to ``max_queue`` more wait their turn and anything beyond that
is refused at once (503 overloaded) instead of piling up. Items (text deltas, then the Answer) cross
from the worker thread to the request's event loop through an asyncio queue. When a request times out
or its client goes away, the worker is told to stop and closes the model stream at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from qa.conversation import Rewrite
from qa.errors import OverloadedError, QAError, RequestTimeoutError
from qa.models import Answer

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

    def work(self, produce: Callable[[], Iterator[str | Rewrite | Answer]]) -> None:
        """Run ``produce`` in the worker thread, forwarding its items until done or told to stop."""
        if self.stop.is_set():  # expired or abandoned while it waited for a slot
            self.put(_END)
            return
        items: Iterator[str | Rewrite | Answer] | None = None
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

    def submit(self, job: Job, produce: Callable[[], Iterator[str | Rewrite | Answer]]) -> None:
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
