"""What an OpenAI-compatible chat stream says, as events: answer text, reasoning, whole tool calls, the end.

Real servers send more than content deltas: a first chunk with only the role, chunks with no choices
(keep-alives, a final `usage` chunk), reasoning under `reasoning_content` (vLLM, DeepSeek) or `reasoning`
(OpenRouter), tool calls whose arguments arrive in pieces keyed by `index`, and errors after the HTTP 200
as an `error` chunk. This module turns those into a few events; it reads no bytes itself."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bot.providers.base import ProviderError
from bot.redaction import redact


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the JSON text as the model wrote it: parsing (and refusing bad JSON) is the caller's

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Finished:
    reason: str | None  # stop | length | tool_calls | content_filter | None (the server did not say)
    usage: dict[str, Any] | None = None


ChatEvent = TextDelta | ReasoningDelta | ToolCall | Finished


class StreamInterrupted(ProviderError):
    """The answer broke off after the HTTP 200: an error chunk, or the stream ended without saying it was done.
    What came before it is real answer text, worth keeping (marked as interrupted)."""

    user_message = "The model's answer broke off."


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Tool-call deltas, keyed by `index`: the first carries the id and name, later ones more of the arguments."""

    def __init__(self) -> None:
        self._calls: dict[int, _PendingCall] = {}

    def add(self, delta: dict[str, Any]) -> None:
        index = delta.get("index")
        if not isinstance(index, int):
            index = len(self._calls)  # a server that sends whole calls without an index
        call = self._calls.setdefault(index, _PendingCall())
        if isinstance(delta.get("id"), str) and delta["id"]:
            call.id = delta["id"]
        function = delta.get("function")
        if isinstance(function, dict):
            if isinstance(function.get("name"), str) and function["name"] and not call.name:
                call.name = function["name"]  # some servers repeat it in every delta
            if isinstance(function.get("arguments"), str):
                call.arguments.append(function["arguments"])

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(call.id or f"call_{index}", call.name, "".join(call.arguments))
            for index, call in sorted(self._calls.items())
        ]


async def answer_of(events: AsyncIterator[ChatEvent]) -> str:
    """The whole answer's text, for a caller that shows nothing until it is done (reasoning left out)."""
    return "".join([event.text async for event in events if isinstance(event, TextDelta)])


async def chat_events(lines: AsyncIterator[str], credentials: list[str]) -> AsyncIterator[ChatEvent]:
    """Events from SSE lines. Ends with Finished; tool calls come, whole, just before it."""
    tools = ToolCallAssembler()
    reason: str | None = None
    usage: dict[str, Any] | None = None
    done = False
    async for line in lines:
        if not line.startswith("data:"):
            continue  # comments (": keep-alive"), event names, blank separators
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        chunk = json.loads(payload)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise StreamInterrupted(redact(f"chat stream error: {str(chunk['error'])[:300]}", credentials))
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                for event in _delta_events(delta, tools):
                    yield event
            if choice.get("finish_reason"):
                reason = str(choice["finish_reason"])
    if not done and reason is None:
        raise StreamInterrupted("chat stream ended without finishing")
    for call in tools.calls():
        yield call
    yield Finished(reason, usage)


def _delta_events(delta: dict[str, Any], tools: ToolCallAssembler) -> list[ChatEvent]:
    events: list[ChatEvent] = []
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        events.append(ReasoningDelta(reasoning))
    content = delta.get("content")
    if isinstance(content, str) and content:
        events.append(TextDelta(content))
    for call in delta.get("tool_calls") or []:
        if isinstance(call, dict):
            tools.add(call)
    return events


def whole_answer_events(body: Any) -> list[ChatEvent]:
    """The same events from a server that ignored `stream` and answered in one JSON document."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise ProviderError("chat answer had no choices") from None
    events: list[ChatEvent] = []
    if not isinstance(message, dict):
        raise ProviderError("chat answer had no message")
    tools = ToolCallAssembler()
    for event in _delta_events(message, tools):
        events.append(event)
    events += tools.calls()
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
    events.append(Finished(choice.get("finish_reason"), usage))
    return events
