"""A fake OpenRouter-compatible gateway (the Agnic AI Gateway, seed 002) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.images import png_bytes
from tests.fakes.loopback import LoopbackFake, Recorded, record


@dataclass
class FakeOpenRouter(LoopbackFake):
    """Behaviour knobs are plain attributes; a test flips them before requests."""

    base_path: ClassVar[str] = "/v1"

    api_key: str = "agnic_tok_test"
    image: bytes = field(default_factory=png_bytes)
    # data_uri (documented) | url (a plain http URL to download) | text_only (no `images`) |
    # content_filter (finish_reason content_filter, no image) | error_200 (an `error` object with status 200)
    mode: str = "data_uri"
    key_route: bool = False  # OpenRouter's `GET /key` (Agnic has none: 404)
    reply_text: str = "I've generated a beautiful sunset image for you."
    # Queued faults: a status code (429 carries Retry-After), or "hang".
    faults: list[Any] = field(default_factory=list)
    retry_after: str = "0"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._release = asyncio.Event()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat)
        router.add_get("/v1/models", self._models)
        router.add_get("/v1/key", self._key)
        router.add_get("/files/{name}", self._file)

    def release(self) -> None:
        self._release.set()

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(await record(request))
        self._changed.set()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Invalid token", "code": 401}}, status=401)
        model = {"id": "google/gemini-2.0-flash", "name": "Google: Gemini 2.0 Flash", "created": 1738769413}
        model["architecture"] = {"input_modalities": ["text", "image"], "output_modalities": ["text", "image"]}
        return web.json_response({"data": [model]})

    async def _key(self, request: web.Request) -> web.Response:
        """OpenRouter's record of the calling key (its label shows the key's ends only)."""
        self.requests.append(await record(request))
        self._changed.set()
        if not self.key_route:
            return web.json_response({"error": {"message": "Not Found", "code": 404}}, status=404)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "No auth credentials found", "code": 401}}, status=401)
        label = f"{self.api_key[:3]}...{self.api_key[-3:]}"
        data = {"label": label, "limit": 5, "usage": 0.1015, "limit_remaining": 4.8985, "is_free_tier": False}
        return web.json_response({"data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await record(request)
        self.requests.append(recorded)
        self._changed.set()
        body = recorded.body
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Invalid token", "code": 401}}, status=401)
        fault = self.faults.pop(0) if self.faults else None
        if fault == "hang":
            await self._release.wait()
        if isinstance(fault, int):
            headers = {"Retry-After": self.retry_after} if fault == 429 else {}
            return web.json_response(
                {"error": {"message": f"fake failure {fault}", "code": fault}}, status=fault, headers=headers
            )
        if isinstance(body, dict) and body.get("stream") and not body.get("modalities"):
            return await self._stream_text(request)
        if not isinstance(body, dict) or "image" not in (body.get("modalities") or []):
            return web.json_response({"error": {"message": "modalities must include image", "code": 400}}, status=400)
        if self.mode == "error_200":
            return web.json_response({"error": {"message": "Upstream model crashed", "code": 502}})
        message: dict[str, Any] = {"role": "assistant", "content": self.reply_text}
        finish = "stop"
        if self.mode == "data_uri":
            url = "data:image/png;base64," + base64.b64encode(self.image).decode()
            message["images"] = [{"type": "image_url", "image_url": {"url": url}}]
        elif self.mode == "url":
            message["images"] = [
                {"type": "image_url", "image_url": {"url": f"http://127.0.0.1:{self.port}/files/a.png"}}
            ]
        elif self.mode == "content_filter":
            finish = "content_filter"
            message["content"] = ""
        return web.json_response(
            {
                "id": "gen-1",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
        )

    async def _stream_text(self, request: web.Request) -> web.StreamResponse:
        """Plain chat, streamed as OpenRouter does: SSE chunks, a keep-alive comment, then [DONE]."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": OPENROUTER PROCESSING\n\n")
        for word in self.reply_text.split(" "):
            chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=self.image, content_type="image/png")
