"""What every fake provider server shares: serving an aiohttp app on 127.0.0.1 and recording requests."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)
    at: float = 0.0  # the loop's time when recorded, for fakes that stamp it


async def record(request: web.Request) -> Recorded:
    """The request as a test will inspect it; a body that is not JSON is recorded as None."""
    try:
        body = await request.json() if request.can_read_body else None
    except json.JSONDecodeError:
        body = None
    return Recorded(request.method, request.path, dict(request.headers), body, dict(request.query))


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start `app` on a loopback port (a free one by default). A short shutdown timeout: fakes may hold
    hanging requests."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


class LoopbackFake:
    """A fake provider on 127.0.0.1: start/stop, its base URL, and waiting on what it recorded.
    A subclass adds its routes in `routes()`, records into `requests` and sets `_changed` on each one."""

    base_path: ClassVar[str] = ""
    port: int = 0
    requests: list[Recorded]
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Wake any handler that hangs on purpose, so stopping never waits for it."""

    async def start(self, port: int = 0) -> Self:
        """Serve on `port` (a free one by default: a test that needs a port nobody listens on yet, to
        start listening on later, picks one with `closed_port()`)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app.router)
        self._runner, self.port = await serve(app, port)
        return self

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def closed_port() -> int:
    """A loopback port nobody listens on (just freed by the OS): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
