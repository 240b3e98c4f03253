"""A misbehaving OpenAI-compatible chat server on 127.0.0.1 for fault tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def stub_llm(content: str = "", *, delay_s: float = 0.0, status: int = 200) -> Iterator[dict[str, Any]]:
    """Serve /v1/chat/completions replying ``content`` (streamed or not), after ``delay_s``, with ``status``."""
    state: dict[str, Any] = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"] += 1
            time.sleep(delay_s)
            if status != 200:
                out = json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                return
            if body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                head = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "stub"}
                for i in range(0, len(content), 5):
                    delta = {"role": "assistant", "content": content[i : i + 5]}
                    event = head | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                end = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                return
            message = {"role": "assistant", "content": content}
            out = json.dumps(
                {"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
                 "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
            ).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
