"""OpenAI-compatible streamed chat (Agnes-2.0-Flash and any gateway that speaks the same)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bot.providers.base import ChatMessage, ProviderError, UpstreamTimeout
from bot.providers.http_errors import error_for


class OpenAIChat:
    def __init__(
        self, name: str, client: httpx.AsyncClient, base_url: str, api_key: str, *, idle_timeout: float
    ) -> None:
        self.name = name
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._idle_timeout = idle_timeout

    async def stream_chat(self, messages: list[ChatMessage], model: str) -> AsyncIterator[str]:
        body = {"model": model, "messages": [m.to_openai() for m in messages], "stream": True}
        try:
            async with self._client.stream("POST", self._url, json=body, headers=self._headers) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_for(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # Some gateways ignore `stream` and answer in one JSON document.
                    yield _whole_answer(json.loads(await response.aread()))
                    return
                async for delta in _sse_deltas(response.aiter_lines()):
                    yield delta
        except httpx.TimeoutException:
            raise UpstreamTimeout("chat stream timed out") from None
        except httpx.TransportError as exc:
            raise ProviderError(f"chat stream broke: {type(exc).__name__}") from None
        except json.JSONDecodeError:
            raise ProviderError("malformed JSON in chat answer") from None

    async def aclose(self) -> None:
        return None


async def _sse_deltas(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        chunk = json.loads(payload)
        if isinstance(chunk, dict) and chunk.get("error"):
            raise ProviderError(f"chat stream error: {chunk['error']}")
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content


def _whole_answer(body: Any) -> str:
    try:
        return body["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise ProviderError("chat answer had no choices") from None
