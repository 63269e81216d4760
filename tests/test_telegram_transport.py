"""The Bot API transport: an upload's multipart body goes as one body with its length, whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from aiohttp import web

from adapters.telegram.transport import OneWriteTransport
from tests.fakes.loopback import serve


async def _echo_server() -> tuple[web.AppRunner, str, list[dict]]:
    seen: list[dict] = []

    async def upload(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"headers": dict(request.headers), "body": body})
        return web.json_response({"ok": True, "size": len(body)})

    app = web.Application(client_max_size=20 * 2**20)  # the Bot API takes photos up to 10 MB
    app.router.add_post("/upload", upload)
    runner, port = await serve(app)
    return runner, f"http://127.0.0.1:{port}/upload", seen


async def test_a_multipart_photo_arrives_whole_with_its_length() -> None:
    runner, url, seen = await _echo_server()
    photo = bytes(range(256)) * 4096  # 1 MB, every byte value
    try:
        async with httpx.AsyncClient(transport=OneWriteTransport()) as client:
            answer = await client.post(
                url, data={"chat_id": "42", "caption": "a lighthouse"}, files={"photo": ("a.png", photo, "image/png")}
            )
    finally:
        await runner.cleanup()
    assert answer.json()["ok"]
    (request,) = seen
    assert request["headers"]["Content-Length"] == str(len(request["body"]))
    assert "Transfer-Encoding" not in request["headers"]
    assert photo in request["body"] and b'name="caption"\r\n\r\na lighthouse' in request["body"]


async def test_a_body_of_unknown_length_is_sent_with_its_length() -> None:
    runner, url, seen = await _echo_server()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"first ", b"second ", b"third"):
            yield part

    try:
        async with httpx.AsyncClient(transport=OneWriteTransport()) as client:
            answer = await client.post(url, content=parts())
    finally:
        await runner.cleanup()
    assert answer.json() == {"ok": True, "size": 18}
    (request,) = seen
    assert request["body"] == b"first second third" and request["headers"]["Content-Length"] == "18"
    assert "Transfer-Encoding" not in request["headers"]
