"""What every fake provider server shares: serving an aiohttp app on 127.0.0.1 and recording requests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)


async def record(request: web.Request) -> Recorded:
    """The request as a test will inspect it; a body that is not JSON is recorded as None."""
    try:
        body = await request.json() if request.can_read_body else None
    except json.JSONDecodeError:
        body = None
    return Recorded(request.method, request.path, dict(request.headers), body, dict(request.query))


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start `app` on a free loopback port. A short shutdown timeout: fakes may hold hanging requests."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
