"""METRICS_LISTEN: an HTTP endpoint for operators. GET /healthz answers 200 while the store answers and every
started platform adapter is connected, 503 otherwise (Docker's HEALTHCHECK, an orchestrator's probe); its
JSON body names each check. GET /metrics is Prometheus' text format (bot.metrics)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.listener import parse_listen, serve
from bot.metrics import Metrics
from bot.store import Store

log = logging.getLogger(__name__)

# A store slower than this is as good as down to a probe (Docker's own timeout is 30 s by default).
STORE_TIMEOUT_SECONDS = 3.0


class Live(Protocol):
    """A started platform adapter (adapters.platforms.Platform is one)."""

    name: str

    def alive(self) -> bool: ...


class HealthServer:
    def __init__(self, store: Store, metrics: Metrics, platforms: Sequence[Live]) -> None:
        """`platforms`: those started so far (`atelier run` appends to the list as each one starts)."""
        self._store = store
        self._metrics = metrics
        self._platforms = platforms
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, listen: str | None) -> None:
        """Listen on `listen` (host:port; port 0 picks one, see `port`); None: serve nothing."""
        if listen is None:
            return
        host, port = parse_listen(listen)
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        try:
            self._runner, self.port = await serve(app, host, port)
        except OSError as exc:
            raise RuntimeError(f"METRICS_LISTEN {listen} cannot be used: {exc.strerror or exc}") from None
        log.info("health and metrics on %s:%d (/healthz, /metrics)", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def checks(self) -> dict[str, bool]:
        found = {"store": await store_answers(self._store)}
        for platform in self._platforms:
            found[platform.name] = _alive(platform)
        return found

    async def _healthz(self, _request: web.Request) -> web.Response:
        checks = await self.checks()
        healthy = all(checks.values())
        body = {name: "ok" if up else "down" for name, up in checks.items()}
        body = {"status": "ok" if healthy else "unhealthy", **body}
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics_page(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def store_answers(store: Store, timeout: float = STORE_TIMEOUT_SECONDS) -> bool:
    """Whether the database answers a trivial query in time."""
    try:
        async with asyncio.timeout(timeout):
            return await store.db.fetchone("SELECT 1") is not None
    except Exception as exc:  # closed, locked, unreachable: the probe says so, the bot goes on
        log.warning("health: the store did not answer: %r", exc)
        return False


def _alive(platform: Live) -> bool:
    try:
        return platform.alive()
    except Exception as exc:  # a check that fails is a platform that is not well
        log.warning("health: %s: %r", platform.name, exc)
        return False
