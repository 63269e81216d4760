"""The providers' HTTP transport: httpx's API over aiohttp's C parser and pool (half the CPU per multi-megabyte
image answer of httpcore's, bench/core_bench.py), reading bodies in large pieces."""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

# httpx-aiohttp reads a body 16 KB at a time: a 1.33 MB base64 answer was ~90 pieces, each passing through
# httpx's stream layers and our cap (about 2 ms of CPU per answer). aiohttp's read(n) hands over whatever is
# buffered, up to n: with 1 MB, a piece is what arrived since the last read (memory per answer in flight is
# set by BODY_BUFFER_BYTES, not by this).
BODY_PIECE_BYTES = 1024 * 1024
# What aiohttp buffers of a body before it stops reading the socket (it pauses at twice this). Its default,
# 256 KB, let 200 answers waiting for a body-read slot (bot/providers/downloads.py) hold ~470 KB each: 94 MB of
# a burst's peak in tracemalloc. The rest of a waiting answer stays in the kernel's socket buffer.
BODY_BUFFER_BYTES = 32 * 1024


class LargePieceTransport(AiohttpTransport):
    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
        )
        return aiohttp.ClientSession(connector=connector, read_bufsize=BODY_BUFFER_BYTES)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if isinstance(response.stream, AiohttpResponseStream):
            response.stream.CHUNK_SIZE = BODY_PIECE_BYTES
        return response


def provider_transport(limits: httpx.Limits) -> LargePieceTransport:
    return LargePieceTransport(limits=limits)
