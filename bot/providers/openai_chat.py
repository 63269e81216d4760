"""OpenAI-compatible streamed chat (Agnes-2.0-Flash and any gateway that speaks the same)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bot.providers.base import ChatMessage, ChatOptions, ProviderError
from bot.providers.chat_stream import ChatEvent, StreamInterrupted, chat_events, whole_answer_events
from bot.providers.downloads import DEFAULT_MAX_ANSWER_BYTES
from bot.providers.http_errors import error_for
from bot.providers.retry import retry_after_seconds
from bot.providers.wire import capped_lines, read_capped, transport_failure
from bot.redaction import header_secrets

# One SSE line carries one small delta; a line longer than this is not a chat stream.
MAX_SSE_LINE_BYTES = 1024 * 1024
# An error answer worth reading is short; the rest is not read at all.
_MAX_ERROR_BYTES = 64 * 1024
_DECODED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


class OpenAIChat:
    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        idle_timeout: float,
        max_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        self.name = name
        self._client = client
        self._url = str(base_url).rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._idle_timeout = idle_timeout
        self._max_bytes = max_bytes

    async def stream_events(
        self, messages: list[ChatMessage], model: str, options: ChatOptions | None = None
    ) -> AsyncIterator[ChatEvent]:
        body = request_body(messages, model, options or ChatOptions())
        try:
            async with self._client.stream("POST", self._url, json=body, headers=self._headers) as response:
                if not response.is_success:
                    answer = await self._detached(response, _MAX_ERROR_BYTES)
                    failure = error_for(answer)
                    failure.retry_after = retry_after_seconds(answer)
                    raise failure
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # Some gateways ignore `stream` and answer in one JSON document.
                    whole = await self._detached(response, self._max_bytes)
                    for event in whole_answer_events(json.loads(whole.content)):
                        yield event
                    return
                lines = capped_lines(response.aiter_bytes(), max_line=MAX_SSE_LINE_BYTES, max_total=self._max_bytes)
                async for event in chat_events(lines, header_secrets(self._headers)):
                    yield event
        except httpx.HTTPError as exc:
            failure = transport_failure(exc, "POST", self._url)
            if isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):  # the answer was under way
                raise StreamInterrupted(str(failure), failure.user_message) from None
            raise failure from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProviderError("malformed JSON in chat answer") from None

    async def _detached(self, response: httpx.Response, max_bytes: int) -> httpx.Response:
        """The answer's body read under a cap, on a response error_for and json can read."""
        try:
            content = await read_capped(response.aiter_bytes(), max_bytes, response.headers.get("content-length"))
        except ProviderError:
            if response.is_success:
                raise
            content = b""  # an endless error answer: its status says enough
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DECODED_HEADERS]
        return httpx.Response(response.status_code, headers=headers, content=content, request=response.request)

    async def aclose(self) -> None:
        return None


def request_body(messages: list[ChatMessage], model: str, options: ChatOptions) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [m.to_openai() for m in messages], "stream": True}
    if options.tools:
        body["tools"] = options.tools
        body["tool_choice"] = "auto"
    if options.thinking:
        body["chat_template_kwargs"] = {"enable_thinking": True}
    return body
