"""The Bot API client: python-telegram-bot's HTTPXRequest over aiohttp's transport (as the providers use).
With 30 chats at once, httpcore's connection pool was 44% of the bot's CPU (bench/burst_bench.py); aiohttp's
C parser and pool take the same calls for far less, and PTB's timeouts still apply (connect, read, pool)."""

from __future__ import annotations

import httpx
from httpx_aiohttp import AiohttpTransport
from telegram.request import HTTPXRequest

from bot.metrics import ResponseHook

# PTB's default for the bot's requests: results, edits, chat actions of many chats at once.
POOL_SIZE = 256


def bot_request(on_response: ResponseHook) -> HTTPXRequest:
    """One per adapter: its transport is closed with the Application and never reused after that.
    `on_response` hears every answer's status (bot.metrics counts them)."""
    return _on_aiohttp(POOL_SIZE, on_response)


def get_updates_request(on_response: ResponseHook) -> HTTPXRequest:
    """Long polls on the same transport: every update arrives in a getUpdates answer, so its parsing is on
    the path of every request (httpcore cost about 3 ms of CPU per update here, a failed `import sniffio` on
    each answer included; bench/telegram_bench.py). Two connections: stopping confirms the last updates with
    one more getUpdates while the cancelled long poll may still hold its connection, or that call times out
    and the updates come again next start."""
    return _on_aiohttp(2, on_response)


class OneWriteTransport(AiohttpTransport):
    """An upload (sendPhoto, sendDocument, sendMediaGroup) is read into one body before it goes: httpx
    streams a multipart body part by part and aiohttp wrote each part on its own (a dozen writes for one
    photo; 0.15-0.2 ms more from sendPhoto to its arrival at the Bot API, bench/telegram_bench.py)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            request.content  # noqa: B018 - raises while the body is still a stream
        except httpx.RequestNotRead:
            body = await request.aread()
            if request.headers.pop("transfer-encoding", None) is not None:  # a length unknown until read
                request.headers["content-length"] = str(len(body))
        return await super().handle_async_request(request)


def _on_aiohttp(connections: int, on_response: ResponseHook) -> HTTPXRequest:
    limits = httpx.Limits(max_connections=connections)
    options = {"transport": OneWriteTransport(limits=limits), "event_hooks": {"response": [on_response]}}
    return HTTPXRequest(connection_pool_size=connections, httpx_kwargs=options)
