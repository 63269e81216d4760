"""MatrixReply: the core's Reply port, answered in the thread of the request (or as a reply, in a DM).
Streamed answers edit their message (`m.replace`) at most about once a second; a running image job gets
one notice with ✖️ to cancel (each edit would spend the room's message rate limit), removed at the end."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from adapters.matrix.api import MatrixError
from adapters.matrix.events import Target
from adapters.matrix.media import file_content, image_content
from adapters.matrix.outbox import Outbox, text_content
from adapters.matrix.reactions import PICK_KEYS, REACTIONS, RESULT_ACTIONS
from adapters.matrix.recovery import status_ref
from adapters.paging import PagedStream, split_pages
from bot.messages import Action, Button, Delivery, Progress, Reply, ResultImage
from bot.sizes import input_shape

log = logging.getLogger(__name__)

# One event may hold 64 KiB, and an edit carries its text twice (fallback and m.new_content): pages of this
# many characters fit even in four-byte characters.
PAGE_LIMIT = 6000
WORKING = "🎨 Working on it… react ✖️ to cancel."
# Buttons that act on no result have no reaction: the command they stand for is said instead.
BUTTON_HINTS = {Action.CHART: "Say /usage chart for the last 30 days as a picture."}


class MatrixStream(PagedStream[str]):
    retried = (MatrixError,)  # rate limits are waited out in the API already; a refusal is tried next round


class MatrixReply(Reply):
    def __init__(self, outbox: Outbox, target: Target, conversation: str) -> None:
        self._outbox = outbox
        self.target = target
        self.conversation = conversation
        self._replied = False  # only the first answer quotes the request
        self._answer: list[str] = []  # the events the last streamed answer is shown in
        self._status: asyncio.Task[str | None] | None = None

    def _quote(self) -> bool:
        quote, self._replied = not self._replied, True
        return quote

    async def _post_text(self, text: str, *, notice: bool = False) -> str:
        event_id = await self._outbox.post(self.target, text_content(text, notice=notice), reply=self._quote())
        await self._outbox.link(self.target.room_id, event_id, conversation=self.conversation)
        return event_id

    async def send_text(self, text: str) -> None:
        for page in _pages(text):
            await self._post_text(page)

    async def send_error(self, text: str) -> None:
        for page in _pages(text):
            await self._post_text(page, notice=True)

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        hints = [BUTTON_HINTS[button.action] for button in buttons if button.action in BUTTON_HINTS]
        await self.send_text("\n".join([text, *hints]))

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        """An image (a usage chart) as `m.image`, with its thumbnail; any other file as `m.file`."""
        shape = input_shape(data) if mime.startswith("image/") else None
        encrypted = self.target.encrypted
        if shape is not None:
            picture = ResultImage(data, mime, *shape)
            content = await image_content(self._outbox.api, picture, caption, name, encrypted=encrypted)
        else:
            content = await file_content(self._outbox.api, data, mime, name, caption, encrypted=encrypted)
        await self._outbox.post(self.target, content, reply=self._quote())

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        stream = MatrixStream(
            self._post_text,
            self._edit,
            interval=self._outbox.matrix.matrix_edit_seconds,
            limit=PAGE_LIMIT,
            clock=self._outbox.api.clock,
        )
        try:
            return await stream.run(chunks)
        finally:
            self._answer = stream.messages

    async def _edit(self, event_id: str, text: str) -> None:
        await self._outbox.api.edit(self.target.room_id, event_id, text_content(text))

    async def replace_answer(self, text: str) -> None:
        """Moderation flagged the answer just streamed: its first message becomes `text`, the rest go."""
        events, self._answer = self._answer, []
        if not events:
            await self.send_text(text)
            return
        await self._edit(events[0], text)
        for extra in events[1:]:
            await self._outbox.api.redact(self.target.room_id, extra)

    async def send_images(self, delivery: Delivery) -> str | None:
        """Each image as `m.image` in the thread; the last one gets the reactions that press its buttons.
        Returns the posted events' ref, for a moderator's Delete."""
        room = self.target.room_id
        sent: list[str] = []
        for index, image in enumerate(delivery.images):
            name = f"atelier-{delivery.job_id}-{index + 1}.{image.extension}"
            caption = delivery.caption if index == 0 else ""
            encrypted, spoiler = self.target.encrypted, delivery.spoiler
            content = await image_content(self._outbox.api, image, caption, name, encrypted=encrypted, spoiler=spoiler)
            event_id = await self._outbox.post(self.target, content, reply=self._quote())
            await self._outbox.link(room, event_id, conversation=self.conversation, job_id=delivery.job_id)
            sent.append(event_id)
        if sent:
            keys = [REACTIONS[action] for action in RESULT_ACTIONS if action in delivery.actions]
            for key in keys + list(PICK_KEYS[: delivery.picks]):
                await self._outbox.api.react(room, sent[-1], key)
        return json.dumps({"room": room, "events": sent}) if sent else None

    async def progress(self, update: Progress) -> None:
        """One notice once the job has run for a while: quick jobs need none."""
        if self._status is None and update.elapsed_seconds >= self._outbox.matrix.matrix_progress_delay_seconds:
            self._status = asyncio.create_task(self._post_status(update.job_id))

    async def _post_status(self, job_id: str) -> str | None:
        try:
            event_id = await self._outbox.post(self.target, text_content(WORKING, notice=True), reply=False)
            await self._outbox.link(self.target.room_id, event_id, conversation=self.conversation, job_id=job_id)
            await self._outbox.api.react(self.target.room_id, event_id, REACTIONS[Action.CANCEL])
            if self._outbox.on_status is not None:
                await self._outbox.on_status(job_id, status_ref(self.target.room_id, event_id))
        except Exception as exc:  # a notice is a nicety: the job goes on
            log.warning("matrix: could not post a job's notice: %s", exc)
            return None
        return event_id

    async def clear_progress(self) -> None:
        if self._status is None:
            return
        status, self._status = self._status, None
        event_id = await status
        if event_id is not None:
            self._outbox.background.spawn(
                self._outbox.api.redact(self.target.room_id, event_id), "removing a job's notice"
            )


def _pages(text: str) -> list[str]:
    return split_pages(text, PAGE_LIMIT) or ["…"]
