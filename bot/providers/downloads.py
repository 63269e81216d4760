"""Getting bodies off the wire: API answers (read under a shared slot) and result URLs (capped)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

import httpx

from bot.providers.base import BadResult
from bot.providers.encoding import decode_data_uri

# API answers carrying images are megabytes each. When many land at once, reading them all together
# only grows memory: the rest wait (in socket buffers) for one of these slots. Result URL downloads do
# not take one: a slow CDN must not hold up other providers' answers.
MAX_CONCURRENT_BODY_READS = 16
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
) -> httpx.Response:
    """Send one API request and read its whole answer under a body-read slot."""
    request = client.build_request(method, url, headers=headers, json=json_body, params=params)
    sent = await client.send(request, stream=True)
    try:
        async with body_read_slot():
            # Iterated, not aread(): a sent httpx response and its stream reference each other, so a
            # body cached on it (megabytes here) lives until the cyclic GC runs: 270 MB of garbage in
            # bench/core_bench.py. The bytes go to a detached response instead.
            content = b"".join([chunk async for chunk in sent.aiter_bytes()])
    finally:
        await sent.aclose()
    detached = httpx.Headers([(k, v) for k, v in sent.headers.multi_items() if k.lower() != "content-encoding"])
    return httpx.Response(sent.status_code, headers=detached, content=content, request=request)


async def download(client: httpx.AsyncClient, url: str, *, max_bytes: int, timeout: float) -> bytes:
    """Fetch a result URL at once (they expire), refusing anything larger than `max_bytes`."""
    if url.startswith("data:"):
        return decode_data_uri(url)
    try:
        async with asyncio.timeout(timeout), client.stream("GET", url) as response:
            if not response.is_success:
                raise BadResult(f"result download failed: HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise BadResult(f"result is {declared} bytes, over the {max_bytes} cap")
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise BadResult(f"result exceeds the {max_bytes} byte cap")
                chunks.append(chunk)
            return b"".join(chunks)
    except (TimeoutError, httpx.TimeoutException):
        raise BadResult("result download timed out") from None
    except httpx.TransportError as exc:
        raise BadResult(f"result download failed: {type(exc).__name__}") from None
