"""Getting bodies off the wire: API answers (read under a shared slot) and result URLs (capped)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

import httpx

from bot.providers.base import AnswerTooLarge, BadResult
from bot.providers.encoding import decode_data_uri
from bot.providers.wire import host_of, never_sent, read_capped

# API answers carrying images are megabytes each. When many land at once, reading them all together
# only grows memory: the rest wait (in socket buffers) for one of these slots. Result URL downloads do
# not take one: a slow CDN must not hold up other providers' answers.
MAX_CONCURRENT_BODY_READS = 16
# The largest API answer read when no cap is configured (PROVIDER_MAX_RESPONSE_BYTES sets it).
DEFAULT_MAX_ANSWER_BYTES = 80 * 1024 * 1024
_body_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def body_read_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _body_slots.get(loop)
    if slots is None:
        slots = _body_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_BODY_READS)
    return slots


async def read_answer(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    json_body: Any,
    params: Mapping[str, Any] | None,
    max_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
) -> httpx.Response:
    """Send one API request and read its whole answer (at most `max_bytes`) under a body-read slot."""
    request = client.build_request(method, url, headers=headers, json=json_body, params=params)
    sent = await client.send(request, stream=True)
    try:
        async with body_read_slot():
            # Read off the stream, not aread(): a sent httpx response and its stream reference each
            # other, so a body cached on it (megabytes here) lives until the cyclic GC runs: 270 MB of
            # garbage in bench/core_bench.py. The bytes go to a detached response instead.
            content = await read_capped(sent.aiter_bytes(), max_bytes, sent.headers.get("content-length"))
    finally:
        await sent.aclose()
    detached = httpx.Headers([(k, v) for k, v in sent.headers.multi_items() if k.lower() != "content-encoding"])
    return httpx.Response(sent.status_code, headers=detached, content=content, request=request)


# What a user reads when a result link fails, by what went wrong.
_LINK_LOOPS = "The provider's result link could not be followed: it redirects in a loop."
_LINK_UNREACHABLE = "The provider's result link could not be reached."
_LINK_BROKEN = "The provider's result link could not be downloaded."


async def download(client: httpx.AsyncClient, url: str, *, max_bytes: int, timeout: float) -> bytes:
    """Fetch a result URL at once (they expire), refusing anything larger than `max_bytes`."""
    if url.startswith("data:"):
        return decode_data_uri(url)
    try:
        async with asyncio.timeout(timeout), client.stream("GET", url) as response:
            if not response.is_success:
                raise BadResult(f"result download failed: HTTP {response.status_code}")
            try:
                return await read_capped(response.aiter_bytes(), max_bytes, response.headers.get("content-length"))
            except AnswerTooLarge as exc:
                cap = f"The provider's result image is larger than this bot accepts ({max_bytes / 1_048_576:.0f} MB)."
                raise BadResult(f"result too large: {exc}", cap) from None
    except httpx.TooManyRedirects:
        raise BadResult(f"result link redirects in a loop: {host_of(url)}", _LINK_LOOPS) from None
    except (TimeoutError, httpx.TimeoutException, httpx.TransportError, httpx.InvalidURL) as exc:
        if never_sent(exc):
            raise BadResult(f"result link unreachable: {host_of(url)}", _LINK_UNREACHABLE) from None
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            raise BadResult(f"result download from {host_of(url)} timed out") from None
        raise BadResult(f"result download from {host_of(url)} failed: {type(exc).__name__}", _LINK_BROKEN) from None
