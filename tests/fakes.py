"""A scripted stand-in for the chat model: replies are given in advance, calls are recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk


def reply(answer: str, citations: list[tuple[int, str]], answerable: bool = True) -> str:
    """The JSON a well-behaved model would send."""
    return json.dumps(
        {"answer": answer, "citations": [{"key": k, "quote": q} for k, q in citations], "answerable": answerable}
    )


class ScriptedChat:
    """Streams each scripted reply in small pieces; ``invoke`` (used for repairs) takes the next one."""

    model_name = "scripted"

    def __init__(self, *replies: str, piece: int = 7) -> None:
        self.replies = list(replies)
        self.piece = piece
        self.calls: list[list[Any]] = []

    def stream(self, messages: list[Any], **kwargs: Any) -> Iterator[AIMessageChunk]:
        self.calls.append(messages)
        text = self.replies.pop(0)
        for i in range(0, len(text), self.piece):
            yield AIMessageChunk(content=text[i : i + self.piece])
        yield AIMessageChunk(content="", usage_metadata={"input_tokens": 100, "output_tokens": 20, "total_tokens": 120})

    def invoke(self, messages: list[Any], **kwargs: Any) -> AIMessage:
        self.calls.append(messages)
        return AIMessage(content=self.replies.pop(0))
