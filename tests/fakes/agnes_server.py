"""A fake Agnes API (images and chat) on 127.0.0.1, speaking the documented shapes."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from aiohttp import web

from tests.fakes.images import png_bytes
from tests.fakes.loopback import LoopbackFake, Recorded, record


@dataclass
class FakeAgnes(LoopbackFake):
    """Behaviour knobs are plain attributes; a test flips them between requests."""

    base_path: ClassVar[str] = "/v1"

    api_key: str = "test-agnes-key"
    image: bytes = field(default_factory=png_bytes)
    # Consumed one per answered image request before `image` is used: a grid's images told apart.
    next_images: list[bytes] = field(default_factory=list)
    sent_images: list[bytes] = field(default_factory=list)  # every image answered, in order
    latency: float = 0.0
    # "b64" answers base64 whatever was asked; "url" answers URLs; "asked" follows the request.
    output_mode: str = "asked"
    # Queued faults, consumed one per image request: a status code, "timeout", "malformed",
    # "bad_url" (result URL 404s), "not_image" (result is text), "refusal", "echo_key" (a 400 whose
    # body repeats the caller's credentials, plain and encoded), "endless" (a JSON answer that never
    # ends), "redirect_loop" (the result URL redirects to itself).
    faults: list[Any] = field(default_factory=list)
    retry_after: str = "1"
    chat_reply: str = "A lighthouse stands on a rocky shore at dusk."
    chat_chunk: int = 8
    # Chat faults: a status code, "break", "echo_key", "endless_line" (one SSE line that never ends),
    # "endless_events" (small valid events forever).
    chat_faults: list[Any] = field(default_factory=list)
    # Scripted streams, consumed one per streamed chat request: each a list of chunks (a dict is sent as one
    # `data:` event, a str as a raw line), ending as written (no [DONE] is added). See chat_script_from.
    chat_scripts: list[list[Any]] = field(default_factory=list)
    chat_ignores_stream: bool = False  # answer one JSON document even when asked to stream, as some gateways do
    chat_hold_at: int | None = None  # a streamed answer stops after this many characters until release()
    endless_sent: int = 0  # bytes an endless answer got out before the client hung up
    chat_ended_at: list[float] = field(default_factory=list)  # time.monotonic() as each streamed answer ended
    requests: list[Recorded] = field(default_factory=list)
    # Seconds each answered image request spent here before its answer went out, by prompt: the latency plus
    # this fake's own lateness (its timer, its parsing). The benchmarks subtract it; also sent as OpenAI's
    # `openai-processing-ms` header.
    processing: dict[str, float] = field(default_factory=dict)
    on_request: Callable[[Recorded], None] | None = None

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self._results: dict[str, bytes] = {}
        self._encoded: tuple[bytes | None, bytes] = (None, b"")

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/images/generations", self._images)
        router.add_post("/v1/chat/completions", self._chat)
        router.add_get("/v1/models", self._models)
        router.add_get("/results/{name}", self._result)
        router.add_get("/loop/{n}", self._loop)

    def release(self) -> None:
        self._release.set()

    def image_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/images/generations")]

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def _record(self, request: web.Request) -> Recorded | web.Response:
        recorded = await record(request)
        self.requests.append(recorded)
        self._changed.set()
        if self.on_request:
            self.on_request(recorded)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                {"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}},
                status=401,
            )
        return recorded

    async def _models(self, request: web.Request) -> web.Response:
        """OpenAI's `GET /models` (free; the key is checked)."""
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        names = ("agnes-image-2.1-flash", "agnes-2.0-flash")
        data = [{"id": name, "object": "model", "created": 1767225600, "owned_by": "sapiens-ai"} for name in names]
        return web.json_response({"object": "list", "data": data})

    async def _images(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        response = await self._image_answer(request, recorded)
        if response.status == 200 and not response.prepared:
            spent = time.monotonic() - arrived
            prompt = (recorded.body or {}).get("prompt")
            if isinstance(prompt, str):
                self.processing[prompt] = spent
            response.headers["openai-processing-ms"] = str(round(spent * 1000))
        return response

    async def _image_answer(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        body = recorded.body or {}
        if "response_format" in body or "tags" in body:
            return web.json_response({"error": {"message": "response_format not allowed at top level"}}, status=400)
        if not body.get("size") or not body.get("prompt") or not body.get("model"):
            return web.json_response({"error": {"message": "model, prompt and size are required"}}, status=400)
        fault = self.faults.pop(0) if self.faults else None
        if fault == "echo_key":
            return web.json_response({"error": {"message": self._echo(request)}}, status=400)
        if fault == "endless":
            return await self._endless(request, b'{"created": 1, "data": [{"b64_json": "', b"QUFB" * 4096)
        if isinstance(fault, int):
            headers = {"Retry-After": self.retry_after} if fault == 429 else {}
            return web.json_response({"error": {"message": f"fake failure {fault}"}}, status=fault, headers=headers)
        if fault == "timeout":
            await self._release.wait()  # no answer until the fake stops
        if fault == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if fault == "refusal":
            return web.json_response(
                {"error": {"message": "Prompt rejected by content policy", "code": "content_policy_violation"}},
                status=400,
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        wants_b64 = (
            body.get("return_base64") is True or (body.get("extra_body") or {}).get("response_format") == "b64_json"
        )
        image = b"this is not an image" if fault == "not_image" else self.image
        if fault != "not_image" and self.next_images:
            image = self.next_images.pop(0)
        self.sent_images.append(image)
        if self.output_mode == "b64" or (self.output_mode == "asked" and wants_b64):
            return web.Response(body=self._b64_answer(image), content_type="application/json")
        else:
            name = f"r{len(self.requests)}.png"
            self._results[name] = image
            if fault == "bad_url":
                name = "missing.png"
            item = {"url": f"http://127.0.0.1:{self.port}/results/{name}"}
            if fault == "redirect_loop":
                item = {"url": f"http://127.0.0.1:{self.port}/loop/0"}
        return web.json_response({"created": 1774432125, "data": [item]})

    def _b64_answer(self, image: bytes) -> bytes:
        # Encoded once per image: the benchmark measures the bot, not this fake.
        if self._encoded[0] is not image:
            encoded = base64.b64encode(image).decode()
            self._encoded = (image, json.dumps({"created": 1774432125, "data": [{"b64_json": encoded}]}).encode())
        return self._encoded[1]

    def _echo(self, request: web.Request) -> str:
        """What a careless upstream says back: the caller's key, as sent and in its encoded forms."""
        sent = request.headers.get("Authorization", "")
        key = sent.removeprefix("Bearer ")
        encoded = base64.b64encode(key.encode()).decode()
        return f"bad request for key {key} (header {sent!r}, base64 {encoded}, url {quote(key, safe='')})"

    async def _endless(self, request: web.Request, opening: bytes, filler: bytes) -> web.StreamResponse:
        """An answer that never ends: it stops only when the client hangs up (or the fake stops)."""
        content_type = "text/event-stream" if opening.startswith(b"data:") else "application/json"
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        try:
            await response.write(opening)
            while not self._release.is_set():
                await response.write(filler)
                self.endless_sent += len(filler)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what it should do
        return response

    async def _loop(self, request: web.Request) -> web.Response:
        step = int(request.match_info["n"])
        raise web.HTTPFound(f"/loop/{(step + 1) % 2}")

    async def _result(self, request: web.Request) -> web.Response:
        data = self._results.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="expired")
        return web.Response(body=data, content_type="image/png")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        fault = self.chat_faults.pop(0) if self.chat_faults else None
        if fault == "echo_key":
            return web.json_response({"error": {"message": self._echo(request)}}, status=400)
        if fault == "endless_line":
            return await self._endless(request, b'data: {"choices": [{"delta": {"content": "', b"la" * 8192)
        if fault == "endless_events":
            event = b'data: {"choices": [{"index": 0, "delta": {"content": "la "}}]}\n\n'
            return await self._endless(request, b"data: {}\n\n", event * 64)
        if isinstance(fault, int):
            headers = {"Retry-After": self.retry_after} if fault == 429 else {}
            return web.json_response({"error": {"message": f"fake failure {fault}"}}, status=fault, headers=headers)
        body = recorded.body or {}
        if not body.get("stream") or self.chat_ignores_stream:
            message = {"role": "assistant", "content": self.chat_reply}
            return web.json_response({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.chat_scripts:
            for chunk in self.chat_scripts.pop(0):
                line = f"data: {json.dumps(chunk)}" if isinstance(chunk, dict) else chunk
                await response.write(f"{line}\n\n".encode())
            await response.write_eof()
            return response
        text = self.chat_reply
        for start in range(0, len(text), self.chat_chunk):
            if self.chat_hold_at is not None and start >= self.chat_hold_at:
                await self._release.wait()
            delta = {"choices": [{"index": 0, "delta": {"content": text[start : start + self.chat_chunk]}}]}
            await response.write(f"data: {json.dumps(delta)}\n\n".encode())
            if self.latency:
                await asyncio.sleep(self.latency)
            if fault == "break" and start > len(text) // 2:
                return response
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        self.chat_ended_at.append(time.monotonic())
        return response


async def _serve(port: int) -> None:
    server = FakeAgnes()
    app_server = await server.start()
    print(f"fake Agnes at {app_server.base_url} (key {server.api_key})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(0))
