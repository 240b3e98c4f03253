"""A scripted stand-in for the chat model: replies are given in advance, calls are recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk


def reply(answer: str, ids: list[int], span: str = "", verdict: str = "none") -> str:
    """The JSON a well-behaved model would send: the sentence numbers it rests on, a span, a verdict, the answer."""
    return json.dumps({"ids": ids, "span": span, "verdict": verdict, "answer": answer})


class ScriptedChat:
    """Streams each scripted reply in small pieces; ``invoke`` (used for repairs) takes the next one."""

    model_name = "scripted"

    def __init__(self, *replies: str, piece: int = 7, confirm: str = "yes", logprob: float | None = None) -> None:
        self.replies = list(replies)
        self.piece = piece
        self.confirm = confirm
        self.logprob = logprob  # when set and asked for, each piece is one token of this log-probability
        self.calls: list[list[Any]] = []
        self.formats: list[Any] = []  # the response_format of each stream call
        self.kwargs: list[dict[str, Any]] = []  # every keyword of each stream call

    def stream(self, messages: list[Any], **kwargs: Any) -> Iterator[AIMessageChunk]:
        self.calls.append(messages)
        self.formats.append(kwargs.get("response_format"))
        self.kwargs.append(kwargs)
        text = self.replies.pop(0)
        for i in range(0, len(text), self.piece):
            piece = text[i : i + self.piece]
            meta = {}
            if self.logprob is not None and kwargs.get("logprobs"):
                meta = {"logprobs": {"content": [{"token": piece, "logprob": self.logprob, "top_logprobs": []}]}}
            yield AIMessageChunk(content=piece, response_metadata=meta)
        yield AIMessageChunk(content="", usage_metadata={"input_tokens": 100, "output_tokens": 20, "total_tokens": 120})

    def invoke(self, messages: list[Any], **kwargs: Any) -> AIMessage:
        self.calls.append(messages)
        if str(messages[-1].content).startswith("Check your reply"):
            return AIMessage(content=json.dumps({"answers": self.confirm}))
        return AIMessage(content=self.replies.pop(0))
