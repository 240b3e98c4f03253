"""The model's reply as it streams: the answer field's text as it comes, the tokens' log-probabilities,
usage and timing, gathered into one ``Said`` (used by qa.answer for the first call and a second look)."""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from qa.errors import ModelError
from qa.models import Usage
from qa.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = ["AnswerFieldStream", "Said", "drain", "span_logprob", "stream_reply"]


_SPAN_FIELD = re.compile(r'"span"\s*:\s*"((?:[^"\\]|\\.)*)"')


def span_logprob(tokens: Sequence[tuple[str, float]]) -> float | None:
    """The lowest log-probability among the generated tokens that make up the JSON "span" string's value,
    or None when the text holds no non-empty span. ``tokens`` are (token text, log-probability), in order."""
    text = "".join(t for t, _ in tokens)
    m = _SPAN_FIELD.search(text)
    if m is None or m.end(1) == m.start(1):
        return None
    start, end, pos, inside = m.start(1), m.end(1), 0, []
    for token, logprob in tokens:
        if pos < end and pos + len(token) > start:
            inside.append(logprob)
        pos += len(token)
    return min(inside) if inside else None


def _token_logprobs(chunk: Any) -> list[tuple[str, float]]:
    """(token, log-probability) pairs a streamed chunk carries (OpenAI's ``logprobs.content``), else []."""
    meta = getattr(chunk, "response_metadata", None) or {}
    content = (meta.get("logprobs") or {}).get("content") or []
    return [(str(x.get("token", "")), float(x.get("logprob", 0.0))) for x in content if isinstance(x, dict)]


class AnswerFieldStream:
    """Pulls the text of the JSON "answer" string out of a reply while it is still being generated."""

    _ESCAPES: ClassVar[dict[str, str]] = {
        "n": "\n",
        "t": "\t",
        '"': '"',
        "\\": "\\",
        "/": "/",
        "b": "",
        "f": "",
        "r": "",
    }

    def __init__(self) -> None:
        self.buf = ""
        self.pos = -1  # index of the first character of the answer string in buf
        self.done = False

    def feed(self, piece: str) -> str:
        self.buf += piece
        if self.done:
            return ""
        if self.pos < 0:
            m = re.search(r'"answer"\s*:\s*"', self.buf)
            if not m:
                return ""
            self.pos = m.end()
        out = []
        i = self.pos
        while i < len(self.buf):
            ch = self.buf[i]
            if ch == "\\":
                if i + 1 >= len(self.buf):
                    break
                nxt = self.buf[i + 1]
                if nxt == "u":
                    if i + 6 > len(self.buf):
                        break
                    out.append(chr(int(self.buf[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append(self._ESCAPES.get(nxt, nxt))
                i += 2
                continue
            if ch == '"':
                self.done = True
                i += 1
                break
            out.append(ch)
            i += 1
        self.pos = i
        return "".join(out)


@dataclass
class Said:
    """One streamed reply: its text, its tokens' log-probabilities, usage and timing."""

    text: str = ""
    tokens: list[tuple[str, float]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    first_token_s: float | None = None
    generate_s: float = 0.0


def stream_reply(
    chat: BaseChatModel, messages: list[BaseMessage], fmt: dict[str, Any], settings: Settings
) -> Generator[str, None, Said]:
    """Stream one reply: yield the answer field's text as it comes, return the whole reply. Raises ModelError."""
    t0 = time.perf_counter()
    said = Said()
    stream = AnswerFieldStream()
    # The span's token probabilities are one signal of the relation check (AnswerSettings.confident_span).
    extra: dict[str, Any] = {} if settings.answer.confident_span is None else {"logprobs": True, "top_logprobs": 1}
    try:
        for chunk in chat.stream(messages, response_format=fmt, **extra):
            said.tokens.extend(_token_logprobs(chunk))
            piece = chunk.content if isinstance(chunk.content, str) else ""
            if piece and said.first_token_s is None:
                said.first_token_s = time.perf_counter() - t0
            text = stream.feed(piece)
            if text:
                yield text
            um = getattr(chunk, "usage_metadata", None)
            if um:
                said.usage = Usage(
                    prompt_tokens=um.get("input_tokens", 0),
                    completion_tokens=um.get("output_tokens", 0),
                    cached_prompt_tokens=(um.get("input_token_details") or {}).get("cache_read", 0) or 0,
                )
    except ModelError:
        raise
    except Exception as exc:
        from qa.llm import translate_error

        raise translate_error(exc, settings) from exc
    said.text = stream.buf
    said.generate_s = time.perf_counter() - t0
    return said


def drain(gen: Generator[str, None, Said]) -> Said:
    """Run a reply's stream to its end without showing it; the whole reply."""
    while True:
        try:
            next(gen)
        except StopIteration as done:
            said: Said = done.value
            return said
