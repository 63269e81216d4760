"""What a failed HTTP exchange means: never sent, timed out, or cut off. And reading bodies under a byte cap.

The httpx-aiohttp transport maps every aiohttp connection error to `httpx.ConnectTimeout`, a refused
connection and a dropped one alike; the aiohttp error it came from (`__cause__`) tells them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

from bot.providers.base import AnswerTooLarge, ConnectionLost, ProviderError, Unreachable, UpstreamTimeout


def _origin(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or exc.__context__


def never_sent(exc: BaseException) -> bool:
    """True when the request certainly did not reach the server: no connection was ever made."""
    if isinstance(exc, httpx.ConnectError | httpx.PoolTimeout):
        return True
    if not isinstance(exc, httpx.ConnectTimeout):
        return False
    origin = _origin(exc)
    if not isinstance(origin, aiohttp.ClientError):  # httpx's own transport: a genuine connect timeout
        return True
    # aiohttp: ClientConnectorError covers refused, DNS and TLS set-up failures; ConnectionTimeoutError
    # a connect that got no answer. A ServerDisconnectedError (also mapped here) may follow a sent request.
    return isinstance(origin, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def host_of(url: str | httpx.URL) -> str:
    parsed = httpx.URL(str(url))
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def transport_failure(exc: BaseException, method: str, url: str | httpx.URL) -> ProviderError:
    """The ProviderError for an httpx exception (or an asyncio timeout) while calling `url`. The detail
    names the host for the operator; URLs of provider APIs carry no keys (those travel in headers)."""
    where, origin = f"{method} {host_of(url)}", _origin(exc)
    if never_sent(exc):
        reason = origin if origin is not None else exc
        return Unreachable(f"could not connect to {host_of(url)} ({type(reason).__name__}: {reason})")
    dropped = isinstance(origin, aiohttp.ClientError) and not isinstance(origin, TimeoutError)
    if isinstance(exc, httpx.ConnectTimeout) and dropped:
        return ConnectionLost(f"{where}: {type(origin).__name__}")  # dropped by aiohttp, not slow
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return UpstreamTimeout(f"{where} timed out")
    if isinstance(exc, httpx.TooManyRedirects):
        return ProviderError(f"{where}: redirect loop", "The provider's answer redirected in a loop.")
    return ConnectionLost(f"{where}: {type(exc).__name__}")


async def read_capped(chunks: AsyncIterator[bytes], max_bytes: int, declared: str | None = None) -> bytes:
    """The whole body, refusing it as soon as it passes `max_bytes` (or says it will)."""
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise AnswerTooLarge(f"answer declares {declared} bytes, over the {max_bytes} byte cap")
    parts: list[bytes] = []
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise AnswerTooLarge(f"answer passed the {max_bytes} byte cap")
        parts.append(chunk)
    return b"".join(parts)


async def capped_lines(chunks: AsyncIterator[bytes], *, max_line: int, max_total: int) -> AsyncIterator[str]:
    """Lines of a text stream (SSE), each at most `max_line` bytes and all of them at most `max_total`."""
    buffer = b""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_total:
            raise AnswerTooLarge(f"stream passed the {max_total} byte cap")
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if len(line) > max_line:
                raise AnswerTooLarge(f"a stream line passed the {max_line} byte cap")
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        if len(buffer) > max_line:
            raise AnswerTooLarge(f"a stream line passed the {max_line} byte cap")
    if buffer:
        yield buffer.rstrip(b"\r").decode("utf-8", "replace")
