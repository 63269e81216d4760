"""OpenAI-compatible streamed chat (Agnes-2.0-Flash and any gateway that speaks the same)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bot.providers.base import ChatMessage, ProviderError
from bot.providers.downloads import DEFAULT_MAX_ANSWER_BYTES
from bot.providers.http_errors import error_for
from bot.providers.retry import retry_after_seconds
from bot.providers.wire import capped_lines, read_capped, transport_failure
from bot.redaction import header_secrets, redact

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

    async def stream_chat(self, messages: list[ChatMessage], model: str) -> AsyncIterator[str]:
        body = {"model": model, "messages": [m.to_openai() for m in messages], "stream": True}
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
                    yield _whole_answer(json.loads(whole.content))
                    return
                lines = capped_lines(response.aiter_bytes(), max_line=MAX_SSE_LINE_BYTES, max_total=self._max_bytes)
                async for delta in _sse_deltas(lines, header_secrets(self._headers)):
                    yield delta
        except httpx.HTTPError as exc:
            raise transport_failure(exc, "POST", self._url) from None
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


async def _sse_deltas(lines: AsyncIterator[str], credentials: list[str]) -> AsyncIterator[str]:
    async for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        chunk = json.loads(payload)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise ProviderError(redact(f"chat stream error: {str(chunk['error'])[:300]}", credentials))
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content


def _whole_answer(body: Any) -> str:
    try:
        return body["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise ProviderError("chat answer had no choices") from None
