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

from bot.listener import listen_for_posts, parse_listen

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/apiframe"
# Bodies for tasks nobody watches yet (a webhook can beat the submit answer): kept briefly, bounded.
_EARLY_LIMIT = 256


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
            self._runner, self.port = await listen_for_posts(self.host, self.port, self.path, self.handle)
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
