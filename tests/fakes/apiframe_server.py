"""A fake APIFRAME Flux API on 127.0.0.1: `/flux-imagine`, `/fetch`, result images, and webhook calls."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from tests.fakes.images import png_bytes
from tests.fakes.loopback import LoopbackFake, Recorded, record


@dataclass
class Task:
    id: str
    body: dict[str, Any]
    fetches: int = 0


@dataclass
class FakeApiframe(LoopbackFake):
    """Behaviour knobs are plain attributes; a test flips them before (or between) requests."""

    api_key: str = "test-apiframe-key"
    auth_scheme: str = ""  # what the fake expects before the key ("" = the raw key)
    image: bytes = field(default_factory=png_bytes)
    # What /fetch answers for a new task, one entry per call, before the outcome.
    progress: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"status": "staged"},
            {"status": "processing", "percentage": 30},
            {"status": "processing", "percentage": "70"},
        ]
    )
    # done | failed | expired (404) | never (the last progress answer forever) | hang (fetch never answers)
    outcome: str = "done"
    failure_field: str = "message"  # failed tasks put their reason under `message` or `error`
    failure_reason: str = "Generation failed: upstream error"
    # Queued submit faults: a status code, "hang", or "bad_request" (400 with the errors envelope);
    # "accepted_then_500" / "accepted_then_hang" / "accepted_then_drop" create (and will charge for) the
    # task, then answer 500, never answer, or drop the connection: the submit reached APIFRAME, though
    # the caller cannot tell.
    submit_faults: list[Any] = field(default_factory=list)
    retry_after: str = "0"
    # Webhooks: post each progress step and the outcome to `webhook_url` when one is given.
    send_webhooks: bool = True
    webhook_secret_override: str | None = None
    webhook_statuses: list[int] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self._background: set[asyncio.Task] = set()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/flux-imagine", self._imagine)
        router.add_post("/fetch", self._fetch)
        router.add_get("/account", self._account)
        router.add_get("/images/{name}", self._image)

    async def stop(self) -> None:
        self._release.set()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await super().stop()

    def _note(self, recorded: Recorded) -> None:
        recorded.at = asyncio.get_running_loop().time()
        self.requests.append(recorded)
        self._changed.set()

    async def _record(self, request: web.Request) -> Recorded | web.Response:
        recorded = await record(request)
        self._note(recorded)
        expected = f"{self.auth_scheme} {self.api_key}" if self.auth_scheme else self.api_key
        if request.headers.get("Authorization") != expected:
            return web.json_response({}, status=401)
        return recorded

    async def _account(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        return web.json_response({"email": "owner@example.org", "credits": 12000, "total_images": 695, "plan": "basic"})

    async def _imagine(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        fault = self.submit_faults.pop(0) if self.submit_faults else None
        if fault == "hang":
            await self._release.wait()
        if fault == "bad_request":
            return web.json_response({"errors": [{"msg": "Invalid prompt"}]}, status=400)
        if isinstance(fault, int):
            return web.json_response({}, status=fault, headers={"Retry-After": self.retry_after})
        body = recorded.body or {}
        if not body.get("prompt") or not body.get("model"):
            return web.json_response({"errors": [{"msg": "prompt and model are required"}]}, status=400)
        for side in ("width", "height"):
            if side in body and not 256 <= int(body[side]) <= 1440:
                return web.json_response({"errors": [{"msg": f"{side} must be between 256 and 1440"}]}, status=400)
        task = Task(uuid.uuid4().hex, body)
        self.tasks[task.id] = task
        if fault == "accepted_then_500":
            return web.json_response({"errors": [{"msg": "Internal server error"}]}, status=500)
        if fault == "accepted_then_hang":
            await self._release.wait()
        if fault == "accepted_then_drop":
            assert request.transport is not None
            request.transport.abort()  # the connection drops before any answer
            return web.Response(status=500)
        if body.get("webhook_url") and self.send_webhooks:
            sender = asyncio.create_task(self._send_webhooks(task))
            self._background.add(sender)
            sender.add_done_callback(self._background.discard)
        return web.json_response({"task_id": task.id})

    def _answer(self, task: Task, step: int) -> tuple[int, dict[str, Any]]:
        base = {"task_id": task.id, "task_type": "flux-imagine"}
        if step < len(self.progress):
            return 200, base | self.progress[step]
        if self.outcome == "done":
            url = f"{self.base_url}/images/{task.id}.png"
            return 200, base | {"original_image_url": url, "image_url": url}
        if self.outcome == "failed":
            return 200, base | {"status": "failed", self.failure_field: self.failure_reason}
        if self.outcome == "expired":
            return 404, {"errors": [{"msg": "Task not found"}]}
        return 200, base | (self.progress[-1] if self.progress else {"status": "processing"})

    async def _fetch(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        task = self.tasks.get((recorded.body or {}).get("task_id", ""))
        if task is None:
            return web.json_response({"errors": [{"msg": "Task not found"}]}, status=404)
        task.fetches += 1
        if self.outcome == "hang" and task.fetches > len(self.progress):
            await self._release.wait()
        status, body = self._answer(task, task.fetches - 1)
        return web.json_response(body, status=status)

    async def _send_webhooks(self, task: Task) -> None:
        url = task.body["webhook_url"]
        secret = self.webhook_secret_override or task.body.get("webhook_secret", "")
        steps = len(self.progress) + (1 if self.outcome in ("done", "failed") else 0)
        async with httpx.AsyncClient(timeout=5.0) as client:
            for step in range(steps):
                _, body = self._answer(task, step)
                response = await client.post(url, json=body, headers={"x-webhook-secret": secret})
                self.webhook_statuses.append(response.status_code)
                self._changed.set()

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._note(Recorded(request.method, request.path, dict(request.headers), None))
        if name.removesuffix(".png") not in self.tasks:
            return web.Response(status=404, text="expired")
        return web.Response(body=self.image, content_type="image/png")
