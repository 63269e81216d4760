"""The client-server API calls the adapter makes, on matrix-nio's AsyncClient, each with a timeout and
the homeserver's rate limits honoured: an M_LIMIT_EXCEEDED is waited out for its `retry_after_ms` on our
clock (nio's own retry sleeps are turned off) and the same transaction is sent again."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    ContentRepositoryConfigResponse,
    ErrorResponse,
    MemoryDownloadResponse,
    RoomGetEventResponse,
    RoomSendResponse,
    UploadResponse,
)

from bot.clock import MONOTONIC, Clock

log = logging.getLogger(__name__)
R = TypeVar("R")
LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"
DEFAULT_RETRY_SECONDS = 1.0  # when a 429 names no retry_after_ms


class MatrixError(Exception):
    """The homeserver refused a call: `code` is its errcode (M_FORBIDDEN, M_TOO_LARGE...)."""

    def __init__(self, what: str, code: str, message: str) -> None:
        super().__init__(f"{what}: {code} {message}".strip())
        self.code = code


class MatrixApi:
    def __init__(self, client: AsyncClient, *, timeout: float, max_wait: float, clock: Clock = MONOTONIC) -> None:
        self.client = client
        self.timeout = timeout
        self._max_wait = max_wait
        self.clock = clock
        self._upload_limit: int | None = None
        self.limited = 0  # how many M_LIMIT_EXCEEDED were waited out (the operator's hint to exempt the bot)

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def call(self, make: Callable[[], Awaitable[R]], what: str) -> R:
        """One call, repeated after each rate limit until its waits would pass `max_wait` in all."""
        waited = 0.0
        while True:
            response = await asyncio.wait_for(make(), self.timeout)
            if not isinstance(response, ErrorResponse):
                return response
            code = str(response.status_code or "")
            if code not in (LIMIT_EXCEEDED, "429"):
                raise MatrixError(what, code, response.message or "")
            wait = (response.retry_after_ms or 0) / 1000 or DEFAULT_RETRY_SECONDS
            if waited + wait > self._max_wait:
                raise MatrixError(what, LIMIT_EXCEEDED, f"still rate-limited after {waited:.0f} s")
            self.limited += 1
            log.info("matrix: %s rate-limited: waiting %.1f s as the homeserver asks", what, wait)
            await self.clock.sleep(wait)
            waited += wait

    async def send(self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        """Send one event; returns its id. A retry after a rate limit reuses the transaction id, so the
        homeserver never posts it twice."""
        txn = uuid.uuid4().hex
        # In an encrypted room nio encrypts for every device of its members: a bot cannot verify anyone, so it
        # trusts the devices the homeserver lists (as a new Element session does until verification).
        response = await self.call(
            lambda: self.client.room_send(room_id, event_type, content, tx_id=txn, ignore_unverified_devices=True),
            "send",
        )
        assert isinstance(response, RoomSendResponse)
        return response.event_id

    async def edit(self, room_id: str, event_id: str, content: dict[str, Any]) -> str:
        """Replace an m.room.message's content (`m.replace`): clients show the new text in its place."""
        body = content.get("body", "")
        edit = {
            "msgtype": content.get("msgtype", "m.text"),
            "body": f"* {body}",
            "m.new_content": content,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send(room_id, edit)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, {"m.relates_to": relation}, "m.reaction")

    async def redact(self, room_id: str, event_id: str) -> None:
        await self.call(lambda: self.client.room_redact(room_id, event_id, tx_id=uuid.uuid4().hex), "redact")

    async def upload(self, data: bytes, mime: str, filename: str) -> str:
        """Into the media repository; returns the mxc:// URI."""
        response = await self.call(lambda: self._upload(data, mime, filename), "upload")
        assert isinstance(response, UploadResponse)
        return response.content_uri

    async def _upload(self, data: bytes, mime: str, filename: str) -> Any:
        response, _ = await self.client.upload(
            lambda _limited, _timeouts: io.BytesIO(data), content_type=mime, filename=filename, filesize=len(data)
        )
        return response

    async def download(self, mxc: str) -> bytes:
        """From the media repository: nio asks the authenticated endpoint (/_matrix/client/v1/media) with
        the token in a header, so the token goes to our homeserver only."""
        response = await self.call(lambda: self.client.download(mxc), "download")
        assert isinstance(response, MemoryDownloadResponse)
        return response.body

    async def event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        """One event's JSON as the homeserver has it; None when it is gone or not ours to see."""
        try:
            response = await self.call(lambda: self.client.room_get_event(room_id, event_id), "get event")
        except MatrixError as exc:
            log.info("matrix: could not read an event: %s", exc)
            return None
        assert isinstance(response, RoomGetEventResponse)
        return response.event.source

    async def upload_limit(self) -> int | None:
        """The homeserver's `m.upload.size`, asked once (None: it does not say)."""
        if self._upload_limit is None:
            try:
                response = await self.call(self.client.content_repository_config, "media config")
            except MatrixError as exc:
                log.info("matrix: no media config: %s", exc)
                return None
            assert isinstance(response, ContentRepositoryConfigResponse)
            self._upload_limit = response.upload_size
        return self._upload_limit
