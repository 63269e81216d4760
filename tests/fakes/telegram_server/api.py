"""The HTTP layer: ``/bot<token>/<method>`` routing (token checks, case-insensitive methods), parameters from
query strings, JSON, form or multipart bodies, Telegram-shaped answers, the file download route, and recording
every raw request and every call."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ..multipart import boundary_of, split_parts
from .flood import FloodControlMixin
from .models import STRING_PARAMS, ApiError, Call, JSONDict, RecordedRequest, bad_request


def parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Split a multipart/form-data body into text fields and files {field: (filename, bytes)}."""
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in split_parts(body, boundary):
        if part.filename is not None:
            files[part.name] = (part.filename, part.data)
        else:
            fields[part.name] = part.data.decode("utf-8", "replace")
    return fields, files


def coerce_param(name: str, value: Any) -> Any:
    """Telegram-style typing of string parameters (numbers, booleans, JSON objects)."""
    if not isinstance(value, str) or name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class ApiMixin(FloodControlMixin):
    """aiohttp handlers for the API, file and catch-all routes."""

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        await self._record_request(request)
        return _json(ApiError(404, "Not Found").payload(), 404)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        await self._record_request(request)
        if request.match_info["token"] != self.token:
            return _json(ApiError(404, "Not Found").payload(), 404)
        path = request.match_info["file_path"]
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return _json(ApiError(404, "Not Found").payload(), 404)

    async def _handle_api(self, request: web.Request) -> web.Response:
        body = await self._record_request(request)
        ts = time.monotonic()
        token = request.match_info["token"]
        if token != self.token:
            # Telegram: malformed token -> 404, well-formed but wrong -> 401
            if not re.fullmatch(r"\d+:[\w-]+", token):
                return _json(ApiError(404, "Not Found").payload(), 404)
            return _json(ApiError(401, "Unauthorized").payload(), 401)
        method = self._method_names.get(request.match_info["method"].lower())
        if method is None:
            return _json(ApiError(404, "Not Found").payload(), 404)
        call = Call(seq=len(self._calls), method=method, params={}, files={}, ts=ts, chat_id=None)
        try:
            call.params, call.files = self._parse_params(request, body)
            call.chat_id = call.params.get("chat_id")
            self._raise_injected(method)
            self._raise_flooded(method, call.chat_id)
            result = self._handlers[method](call)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as err:
            call.status, call.error = err.code, err.description
            await self._record_call(call)
            return _json(err.payload(), err.code)
        call.result = result
        await self._record_call(call)
        return _json({"ok": True, "result": result})

    async def _record_request(self, request: web.Request) -> bytes:
        body = await request.read()
        self._requests.append(
            RecordedRequest(
                request.method,
                request.path,
                request.query_string,
                list(request.headers.items()),
                body,
                time.monotonic(),
            )
        )
        return body

    async def _record_call(self, call: Call) -> None:
        call.seq = len(self._calls)
        async with self._calls_cond:
            self._calls.append(call)
            self._calls_cond.notify_all()

    def _parse_params(self, request: web.Request, body: bytes) -> tuple[JSONDict, dict[str, tuple[str, bytes]]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        ctype = request.content_type
        if ctype == "application/json" and body:
            try:
                decoded = json.loads(body)
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(decoded, dict):
                raise bad_request("can't parse JSON object")
            raw.update(decoded)
        elif ctype == "application/x-www-form-urlencoded":
            raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif ctype == "multipart/form-data":
            fields, files = parse_multipart(body, boundary_of(request.headers.get("Content-Type", "")))
            raw.update(fields)
        return {k: coerce_param(k, v) for k, v in raw.items()}, files
