"""A fake AUTOMATIC1111 API on 127.0.0.1: txt2img, img2img, progress while a generation runs, interrupt."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.images import png_bytes
from tests.fakes.loopback import LoopbackFake, Recorded, record


@dataclass
class FakeA1111(LoopbackFake):
    """Behaviour knobs are plain attributes. A generation answers only once every value in `progress`
    has been read from /sdapi/v1/progress, so progress tests need no timing."""

    image: bytes = field(default_factory=png_bytes)
    username: str | None = None
    password: str | None = None
    progress: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75])
    # Queued generation faults: a status code, or "hang" (answers only after an interrupt or stop).
    faults: list[Any] = field(default_factory=list)
    retry_after: str = "0"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self._pending: list[float] = []
        self._progress_read = asyncio.Event()
        self.generating = False

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/sdapi/v1/txt2img", self._generate)
        router.add_post("/sdapi/v1/img2img", self._generate)
        router.add_get("/sdapi/v1/progress", self._progress)
        router.add_get("/sdapi/v1/sd-models", self._sd_models)
        router.add_post("/sdapi/v1/interrupt", self._interrupt)

    def release(self) -> None:
        self._release.set()
        self._progress_read.set()

    async def _record(self, request: web.Request) -> Recorded | web.Response:
        recorded = await record(request)
        self.requests.append(recorded)
        self._changed.set()
        if self.username is not None:
            expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.json_response({"detail": "Not authenticated"}, status=401)
        return recorded

    async def _sd_models(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        model = {
            "title": "v1-5-pruned-emaonly.safetensors [6ce0161689]",
            "model_name": "v1-5-pruned-emaonly",
            "hash": "6ce0161689",
            "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
            "filename": "/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors",
            "config": None,
        }
        return web.json_response([model])

    async def _generate(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, int):
            return web.json_response(
                {"error": "RuntimeError", "detail": f"fake failure {fault}", "body": "", "errors": ""},
                status=fault,
                headers={"Retry-After": self.retry_after},
            )
        body = recorded.body or {}
        self.generating = True
        try:
            if fault == "hang":
                await self._release.wait()
                return web.json_response({"error": "Interrupted", "detail": "interrupted"}, status=500)
            self._pending = list(self.progress)
            self._progress_read.clear()
            if self._pending:
                async with asyncio.timeout(10):
                    await self._progress_read.wait()
        finally:
            self.generating = False
        encoded = base64.b64encode(self.image).decode()
        seed = body.get("seed", -1)
        info = {"seed": 1234 if seed == -1 else seed, "prompt": body.get("prompt")}
        return web.json_response({"images": [encoded], "parameters": body, "info": json.dumps(info)})

    async def _progress(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        value = 0.0
        if self.generating and self._pending:
            value = self._pending.pop(0)
            if not self._pending:
                self._progress_read.set()
        state = {"job_count": 1 if self.generating else 0, "sampling_step": int(value * 20), "sampling_steps": 20}
        return web.json_response(
            {"progress": value, "eta_relative": 1.0 - value, "state": state, "current_image": None}
        )

    async def _interrupt(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        self._release.set()
        return web.json_response({})
