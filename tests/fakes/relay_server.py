"""A fake Relay gateway on 127.0.0.1: image routes (sync and async), `/v2/tasks/{id}`, result URLs,
the error envelope, and Idempotency-Key replay."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.images import png_bytes
from tests.fakes.loopback import LoopbackFake, Recorded, record

ROUTES = {
    ("flux", "generate"),
    ("gemini-3", "generate"),
    ("gpt-image", "generate"),
    ("gpt-image", "edit"),
    ("qwen", "generate"),
    ("qwen", "edit"),
    ("automatic1111", "txt2img"),
}
ERROR_STATUS = {"CONTENT_POLICY_DECLINED": 400, "RATE_LIMITED": 429, "CAPACITY_EXHAUSTED": 503, "INVALID": 422}


def envelope(code: str, message: str) -> dict[str, Any]:
    kind = "rate_limit_error" if code == "RATE_LIMITED" else "invalid_request_error"
    return {
        "detail": message,
        "error": {"code": code, "type": kind, "message": message, "request_id": f"req_{uuid.uuid4().hex[:8]}"},
    }


@dataclass
class FakeRelay(LoopbackFake):
    """Behaviour knobs are plain attributes; a test flips them before requests."""

    api_key: str = "relay_sk_test"
    image: bytes = field(default_factory=png_bytes)
    output: str = "images"  # images (base64 list) | urls (download links) | data_uri (in the images list)
    id_field: str = "task_id"  # task_id (docs) | task_address (seed)
    statuses: list[str] = field(default_factory=lambda: ["queued", "running"])  # poll answers before the outcome
    outcome: str = "completed"  # completed | failed | expired (404) | never (running forever)
    error_code: str = "CONTENT_POLICY_DECLINED"
    error_as_object: bool = True  # failed task `error`: {"code","message"} or a plain string + error_code
    # Queued submit faults: an error code from ERROR_STATUS, a bare status code, or "hang".
    submit_faults: list[Any] = field(default_factory=list)
    retry_after: str = "0"
    requests: list[Recorded] = field(default_factory=list)
    charges: int = 0  # paid generations: a replayed Idempotency-Key is not paid again

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self._tasks: dict[str, int] = {}
        self._idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self._files: set[str] = set()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/image/{family}/{action}", self._image_route)
        router.add_post("/v2/automatic1111/sdapi/v1/txt2img", self._image_route)
        router.add_get("/v2/tasks/{task_id}", self._task)
        router.add_get("/v2/customer/credits", self._credits)
        router.add_get("/files/{name}", self._file)

    def release(self) -> None:
        self._release.set()

    def submits(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(("/v2/image/", "/v2/automatic1111/"))]

    def polls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v2/tasks/")]

    async def _record(self, request: web.Request) -> Recorded | web.Response:
        recorded = await record(request)
        self.requests.append(recorded)
        self._changed.set()
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response(envelope("UNAUTHORIZED", "Invalid API key"), status=401)
        return recorded

    async def _credits(self, request: web.Request) -> web.Response:
        """Account routes take a dashboard JWT or a partner superkey; the fake's key is an inference key."""
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        message = "This credential may not call this route"
        return web.json_response(envelope("CREDENTIAL_NOT_PERMITTED", message), status=403)

    def _result(self) -> dict[str, Any]:
        if self.output == "urls":
            name = f"{uuid.uuid4().hex}.png"
            self._files.add(name)
            return {"urls": [f"{self.base_url}/files/{name}"]}
        encoded = base64.b64encode(self.image).decode()
        if self.output == "data_uri":
            return {"images": [f"data:image/png;base64,{encoded}"]}
        return {"images": [encoded]}

    async def _image_route(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        route = (request.match_info.get("family", "automatic1111"), request.match_info.get("action", "txt2img"))
        if route not in ROUTES:
            return web.json_response(envelope("NOT_FOUND", "No such route"), status=404)
        body = recorded.body or {}
        if not body.get("prompt"):
            return web.json_response(envelope("INVALID", "prompt is required"), status=422)
        fault = self.submit_faults.pop(0) if self.submit_faults else None
        if fault == "hang":
            await self._release.wait()
        if isinstance(fault, int):
            return web.json_response(envelope("UPSTREAM", f"fake failure {fault}"), status=fault)
        if isinstance(fault, str) and fault in ERROR_STATUS:
            headers = {"Retry-After": self.retry_after} if fault == "RATE_LIMITED" else {}
            return web.json_response(
                envelope(fault, f"fake {fault.lower()}"), status=ERROR_STATUS[fault], headers=headers
            )
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            status, answer = self._idempotent[key]
            return web.json_response(answer, status=status)
        self.charges += 1
        if body.get("async"):
            task_id = uuid.uuid4().hex
            self._tasks[task_id] = 0
            status, answer = 202, {self.id_field: task_id, "status": "queued", "poll_url": f"/v2/tasks/{task_id}"}
        else:
            status, answer = 200, self._result()
        if key:
            self._idempotent[key] = (status, answer)
        return web.json_response(answer, status=status)

    async def _task(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        task_id = request.match_info["task_id"]
        if task_id not in self._tasks or (self.outcome == "expired" and self._tasks[task_id] >= len(self.statuses)):
            return web.json_response(envelope("TASK_NOT_FOUND", "Task not found or expired"), status=404)
        step = self._tasks[task_id]
        self._tasks[task_id] = step + 1
        base = {"task_id": task_id, "elapsed_seconds": round(step * 1.5, 1)}
        if step < len(self.statuses):
            return web.json_response(base | {"status": self.statuses[step], "result": None, "error": None})
        if self.outcome == "completed":
            return web.json_response(base | {"status": "completed", "result": self._result(), "error": None})
        if self.outcome == "failed":
            message = f"fake {self.error_code.lower()}"
            error: Any = {"code": self.error_code, "message": message} if self.error_as_object else message
            return web.json_response(
                base | {"status": "failed", "result": None, "error": error, "error_code": self.error_code}
            )
        return web.json_response(base | {"status": "running", "result": None, "error": None})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["name"] not in self._files:
            return web.Response(status=404, text="expired")
        return web.Response(body=self.image, content_type="image/png")
