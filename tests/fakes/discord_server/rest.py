"""REST plumbing: wrapping each route with bot auth, injected answers and error bodies, and recording
every request (JSON, or multipart ``payload_json`` + ``files[n]``) as a :class:`RecordedRequest`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..multipart import boundary_of, split_parts
from .models import API_PREFIX, ApiError, RecordedFile, RecordedRequest
from .ratelimits import RateLimitMixin, _ratelimit_headers

_INVALID_JSON = object()


def _parse_json(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


class RestMixin(RateLimitMixin):
    """Turn ``(rec) -> (status, body)`` handlers into aiohttp endpoints."""

    def _endpoint(self, template: str, handler: Callable[..., Any], auth: bool) -> Callable[..., Any]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            rec = await self._record_start(request, template)
            status, body, headers = 200, None, {}
            try:
                if rec.json is _INVALID_JSON:
                    raise ApiError(400, 50109, "The request body contains invalid JSON.")
                if (inj := self._take_injection(rec)) is not None:
                    status, body, headers = inj.status, inj.body, dict(inj.headers)
                elif auth and not self._token_ok(request.headers.get("Authorization")):
                    raise ApiError(401, 0, "401: Unauthorized")
                else:
                    status, body = await handler(rec)
            except ApiError as err:
                status, body = err.status, err.body()
            except Exception as exc:  # a bug in the fake or a malformed payload: fail loudly, no 5xx retries
                self.internal_errors.append(exc)
                status, body = 400, {"message": f"FakeDiscord internal error: {exc!r}", "code": 0}
            if self.ratelimit_headers and status != 429:
                headers.update(_ratelimit_headers(template or rec.path))
            rec.status, rec.response = status, body
            self.requests.append(rec)
            self._notify()
            if status == 204 or body is None:
                return web.Response(status=status, headers=headers)
            # Exactly "application/json": discord.py's json_or_text() compares the header verbatim.
            headers["Content-Type"] = "application/json"
            return web.Response(body=json.dumps(body).encode(), status=status, headers=headers)

        return wrapped

    async def _record_start(self, request: web.Request, template: str) -> RecordedRequest:
        body: Any = None
        files: list[RecordedFile] = []
        # The whole body first, then the time: what follows is the fake's own parsing, not the client's upload.
        raw = await request.read() if request.can_read_body else b""
        arrived = time.monotonic()
        if request.content_type.startswith("multipart/"):
            for part in split_parts(raw, boundary_of(request.headers.get("Content-Type", ""))):
                if part.name == "payload_json":
                    body = _parse_json(part.data)
                elif part.filename is not None:
                    ctype = part.content_type or "application/octet-stream"
                    files.append(RecordedFile(part.name, part.filename, ctype, part.data))
        elif raw:
            body = _parse_json(raw)
        return RecordedRequest(
            method=request.method,
            path=request.path.removeprefix(API_PREFIX),
            route=template or request.path.removeprefix(API_PREFIX),
            params=dict(request.match_info),
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            timestamp=arrived,
        )

    async def _not_found(self, rec: RecordedRequest) -> tuple[int, Any]:
        raise ApiError(404, 0, "404: Not Found")
