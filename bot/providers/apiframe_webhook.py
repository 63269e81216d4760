"""Receives APIFRAME task updates and results at `POST {PUBLIC_BASE_URL}/webhooks/apiframe`.

APIFRAME posts progress updates and the final result to the `webhook_url` given at submit time, with
the `webhook_secret` echoed in an `x-webhook-secret` header (no signature, no documented retries).
A job waiting for a task registers with `watch(task_id)` and reads the posted bodies from the queue it
gets back; polling carries on at a slower pace in case a webhook never arrives."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections import OrderedDict
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/apiframe"
# Bodies for tasks nobody watches yet (a webhook can beat the submit answer): kept briefly, bounded.
_EARLY_LIMIT = 256
_MAX_BODY = 1024 * 1024


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"'{listen}' is not host:port")
    return host.strip("[]"), int(port)


class ApiframeWebhooks:
    def __init__(
        self, public_base_url: str, secret: str | None = None, *, listen: str = "0.0.0.0:8080", path: str = WEBHOOK_PATH
    ) -> None:
        self.secret = secret or secrets.token_urlsafe(32)
        self.path = path
        self.url = public_base_url.rstrip("/") + path
        self.host, self.port = parse_listen(listen)
        self._watchers: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._early: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self._start_lock = asyncio.Lock()
        self.rejected = 0  # webhook calls refused for a wrong or missing secret

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Listen on `listen` (host:port). Idempotent. Port 0 picks a free port (see `self.port`)."""
        async with self._start_lock:
            if self.running:
                return
            app = web.Application(client_max_size=_MAX_BODY)
            app.router.add_post(self.path, self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError:
                await runner.cleanup()
                raise
            server = site._server
            if self.port == 0 and server is not None and server.sockets:  # type: ignore[union-attr]
                self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._runner = runner
            log.info("APIFRAME webhook receiver listening on %s:%s%s", self.host, self.port, self.path)

    async def stop(self) -> None:
        async with self._start_lock:
            if self._runner is not None:
                runner, self._runner = self._runner, None
                await runner.cleanup()

    def watch(self, task_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for body in self._early.pop(task_id, []):
            queue.put_nowait(body)
        self._watchers[task_id] = queue
        return queue

    def unwatch(self, task_id: str) -> None:
        self._watchers.pop(task_id, None)

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get("x-webhook-secret", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.rejected += 1
            log.warning("APIFRAME webhook with a wrong or missing secret from %s", request.remote)
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        task_id = body.get("task_id") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not task_id:
            return web.json_response({"error": "task_id missing"}, status=400)
        queue = self._watchers.get(task_id)
        if queue is not None:
            queue.put_nowait(body)
        else:
            self._early.setdefault(task_id, []).append(body)
            self._early.move_to_end(task_id)
            while len(self._early) > _EARLY_LIMIT:
                self._early.popitem(last=False)
        return web.json_response({"ok": True})
