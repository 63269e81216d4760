"""The core's Reply port on Discord: one class answers an interaction (deferred "thinking" message,
follow-ups, ephemeral errors, a paced status with a Cancel button), one answers in a channel or thread."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord

from adapters.discord.recovery import STOPPED_NOTICE, cut_off_at_shutdown, status_ref
from adapters.discord.requests import message_key
from adapters.discord.stream import PagedStream, split_pages
from adapters.discord.token_life import USABLE_TOKEN_SECONDS, Acknowledgement, TokenLife
from adapters.discord.uploads import UploadBytes, result_files, upload_cap
from adapters.discord.views import choices_view, ideas_view, result_view, status_view
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.messages import Button, Delivery, Progress, Reply
from bot.store.conversations import ConversationStore

log = logging.getLogger(__name__)

M = TypeVar("M")
T = TypeVar("T")
AnyMessage = discord.Message | discord.WebhookMessage | discord.InteractionMessage
# Changes a message shown (`edit(message, content=...)`, `delete(message)`): directly, or as the reply routes it.
Edit = Callable[..., Awaitable[object]]
Delete = Callable[[AnyMessage], Awaitable[object]]


@dataclass(frozen=True)
class Pacing:
    """How often messages are edited (seconds, read on `clock`), how large uploads may be, and how long an
    interaction's token is used before answers go to the channel (token_life.py)."""

    stream_interval: float = 1.0
    progress_interval: float = 1.0
    progress_delay: float = 1.0
    max_upload: int = 10 * 1024 * 1024
    token_seconds: float = USABLE_TOKEN_SECONDS
    clock: Clock = field(default=MONOTONIC, compare=False)

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Clock = MONOTONIC, token_seconds: float = USABLE_TOKEN_SECONDS
    ) -> Pacing:
        return cls(
            stream_interval=settings.discord_stream_edit_seconds,
            progress_interval=settings.discord_progress_edit_seconds,
            progress_delay=settings.discord_progress_delay_seconds,
            max_upload=settings.discord_max_upload_bytes,
            token_seconds=token_seconds,
            clock=clock,
        )

    def stream(
        self, post: Callable[[str], Awaitable[M]], edit: Callable[[M, str], Awaitable[object]]
    ) -> PagedStream[M]:
        return PagedStream(post, edit, interval=self.stream_interval, clock=self.clock)


def _pages(text: str) -> list[str]:
    return split_pages(text) or ["…"]


async def _edit(message: AnyMessage, **fields: Any) -> None:
    await message.edit(**fields)


async def _delete(message: AnyMessage) -> None:
    await message.delete()


THINKING_TAIL = 150  # characters of the latest reasoning shown, behind a spoiler


def thinking_line(reasoning: str) -> str:
    """`-# 💭 Thinking… ||…the latest reasoning||`: small grey text, the reasoning collapsed behind a spoiler."""
    tail = " ".join(reasoning.split())[-THINKING_TAIL:]
    tail = discord.utils.escape_markdown(tail).replace("|", "¦")
    return f"-# 💭 Thinking… ||{tail}||" if tail else "-# 💭 Thinking…"


def posted_ref(messages: list[AnyMessage]) -> str | None:
    """The JSON naming posted message(s), so a moderator's Delete can remove them (desk.py)."""
    if not messages:
        return None
    return json.dumps({"channel": messages[0].channel.id, "messages": [message.id for message in messages]})


async def replace_messages(messages: list[AnyMessage], text: str, edit: Edit = _edit, delete: Delete = _delete) -> bool:
    """A flagged answer: its first message now says `text`, the rest of it goes. False when nothing
    of it could be changed (the caller then posts `text`)."""
    replaced = False
    for index, message in enumerate(messages):
        try:
            if index == 0:
                await edit(message, content=text[:2000], attachments=[], view=None)
                replaced = True
            else:
                await delete(message)
        except discord.HTTPException as exc:
            log.warning("could not replace a flagged answer's message: %s", exc.status)
    return replaced


class _LastAnswer:
    """The messages of the last streamed answer, so moderation can replace it after the fact."""

    def __init__(self, edit: Edit = _edit, delete: Delete = _delete) -> None:
        self._edit = edit
        self._delete = delete
        self._messages: list[AnyMessage] = []
        self._thinking: tuple[AnyMessage, str] | None = None  # the "Thinking…" line, until the answer takes it

    async def think(self, post: Callable[[str], Awaitable[AnyMessage]], reasoning: str) -> None:
        line = thinking_line(reasoning)
        try:
            if self._thinking is None:
                self._thinking = (await post(line), line)
            elif self._thinking[1] != line:
                await self._edit(self._thinking[0], content=line)
                self._thinking = (self._thinking[0], line)
        except discord.HTTPException as exc:  # cosmetic: the answer still comes
            log.warning("could not show the thinking line: %s", exc.status)

    async def stream(
        self, pacing: Pacing, post: Callable[[str], Awaitable[AnyMessage]], chunks: AsyncIterator[str]
    ) -> str:
        stream = pacing.stream(post, self._edit_text)
        if self._thinking is not None:
            stream.adopt(*self._thinking)
            self._thinking = None
        try:
            return await stream.run(chunks)
        finally:
            self._messages = list(stream.messages)

    async def _edit_text(self, message: AnyMessage, text: str) -> None:
        await self._edit(message, content=text)

    async def replace(self, text: str, post: Callable[[str], Awaitable[object]]) -> None:
        answer, self._messages = self._messages, []
        if not await replace_messages(answer, text, self._edit, self._delete):
            await post(text[:2000])


class InteractionReply(Reply):
    """Answers a deferred interaction. The first follow-up fills the "thinking" message; errors are
    ephemeral (the public "thinking" message is removed first, since a follow-up that fills it keeps it
    public); the status of an image job edits the original response and the result replaces it. With
    `reply_to`, the result goes to the channel as a reply to that message instead.

    Past the interaction's token (token_life.py) what would have been a follow-up is a channel message
    replying to `original_id` (or `reply_to`), and an error that would have been private is public then
    (the member must learn how their job ended, and only the channel is left; the job's status was public
    anyway). A private command's answers (ephemeral, no `reply_to`) have only the token."""

    def __init__(
        self,
        interaction: discord.Interaction,
        pacing: Pacing,
        links: ConversationStore,
        *,
        ephemeral: bool = False,
        reply_to: discord.Message | None = None,
        conversation: str | None = None,
        thinking: bool = True,
        acknowledging: Acknowledgement | None = None,
        on_status: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self._inter = interaction
        self._on_status = on_status  # the core's note_status: where a job's status is, for after a crash
        self._pacing = pacing
        self._links = links
        self._ephemeral = ephemeral
        self._reply_to = reply_to
        self._life = TokenLife(
            interaction, pacing.clock, pacing.token_seconds, acknowledging=acknowledging, public=not ephemeral
        )
        self._public = not ephemeral or reply_to is not None  # may answer in the channel past the token
        # Streamed answers are linked to this conversation, so a reply to them continues it.
        self.conversation = conversation
        # A "thinking…" message is showing (deferred with thinking=True) and no follow-up filled it yet.
        self._thinking = thinking
        self._status: AnyMessage | None = None
        self._status_text = ""
        self._status_next = float("-inf")
        self._progress_open = True
        self._lock = asyncio.Lock()
        self._answer = _LastAnswer(self._life.edit, self._life.delete)

    @property
    def answered(self) -> bool:
        return not self._thinking

    async def ready(self) -> None:
        """The defer, begun with the job, has been accepted (NotAcknowledged if Discord refused it)."""
        await self._life.acknowledged()

    async def post(
        self,
        content: str,
        *,
        view: discord.ui.View | None = None,
        ephemeral: bool = False,
        files: Callable[[], list[discord.File]] = list,
    ) -> AnyMessage:
        """`files` makes the attachments afresh for each try: a refused upload has consumed the first ones."""
        private = ephemeral or self._ephemeral
        return await self._by_token_or_channel(
            lambda: self._followup(content, files=files(), view=view, ephemeral=private),
            lambda: self._in_channel(content, files=files(), view=view),
        )

    async def _by_token_or_channel(
        self, by_token: Callable[[], Awaitable[T]], by_channel: Callable[[], Awaitable[T]]
    ) -> T:
        """Through the token; past it, in the channel, unless this reply is private (only the token has it)."""
        if not self._public:
            await self._life.acknowledged()
            return await by_token()
        return await self._life.either(by_token, by_channel)

    async def _followup(
        self,
        content: str,
        *,
        files: list[discord.File] | None = None,
        view: discord.ui.View | None = None,
        ephemeral: bool,
    ) -> discord.WebhookMessage:
        if ephemeral and self._thinking and not self._ephemeral:
            await self._delete_original()
        extra: dict[str, Any] = {}
        if files:
            extra["files"] = files
        if view is not None:
            extra["view"] = view
        message = await self._inter.followup.send(content, wait=True, ephemeral=ephemeral, **extra)
        self._thinking = False
        return message

    async def _in_channel(
        self, content: str, *, files: list[discord.File] | None = None, view: discord.ui.View | None = None
    ) -> discord.Message:
        """Past the token: a channel message, which takes the place of the "thinking…" one."""
        message = await self._life.send(content, files=files, view=view, reply_to=self._reply_to)
        if self._thinking:
            await self._delete_original()
        return message

    async def _delete_original(self) -> None:
        self._thinking = False
        try:
            await self._life.delete_original()
        except discord.HTTPException as exc:
            log.debug("could not delete the original response: %s", exc)

    async def _drop_status(self) -> None:
        status, self._status = self._status, None
        if status is not None:
            try:
                await self._life.delete(status)
            except discord.HTTPException as exc:
                log.debug("could not delete a status message: %s", exc)

    async def send_text(self, text: str) -> None:
        for page in _pages(text):
            await self.post(page)

    async def send_error(self, text: str) -> None:
        async with self._lock:
            self._progress_open = False
            try:  # posted first: past the token it replies to the status, which then goes
                await self.post(text[:2000], ephemeral=True)
            finally:
                await self._drop_status()

    async def finish(self, fallback: str | None = None) -> None:
        """The handler is done: never leave a "thinking…" message behind."""
        if not self._thinking:
            return
        if fallback:
            await self.post(fallback)
        else:
            await self._delete_original()

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        return await self._answer.stream(self._pacing, self._post_linked, chunks)

    async def send_ideas(self, text: str, ideas_id: str, count: int) -> None:
        await self.post(text[:2000], view=ideas_view(ideas_id, count))

    async def show_thinking(self, reasoning: str) -> None:
        await self._answer.think(self._post_linked, reasoning)

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        await self.post(text[:2000], view=choices_view(buttons))

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        await self.post(caption[:2000], files=lambda: [discord.File(UploadBytes(data), filename=name)])

    async def _post_linked(self, text: str) -> AnyMessage:
        """A message of the answer: a reply to it continues the conversation."""
        message = await self.post(text)
        if self.conversation is not None:
            await self._links.link_message(message_key(message.id), conversation=self.conversation)
        return message

    async def replace_answer(self, text: str) -> None:
        await self._answer.replace(text, self.post)

    async def progress(self, update: Progress) -> None:
        if not self._progress_open or update.elapsed_seconds < self._pacing.progress_delay:
            return
        text = update.describe()
        if not self._status_due(text):
            return
        async with self._lock:
            # Checked again: another update may have been shown while this one waited for the lock.
            if not self._progress_open or not self._status_due(text):
                return
            try:
                if self._status is not None:
                    await self._life.edit(self._status, content=text)
                else:
                    # Past the token no status is begun: a channel message (and a ping) per job would be noise.
                    self._status = await self._life.either(lambda: self._begin_status(text, update.job_id), _none)
                    if self._status is not None:
                        await self._note(update.job_id, self._status)
            except discord.HTTPException as exc:
                log.debug("could not show progress: %s", exc)
            self._status_text = text
            self._status_next = self._pacing.clock.now() + self._pacing.progress_interval

    async def _begin_status(self, text: str, job_id: str) -> AnyMessage | None:
        view = status_view(job_id)
        if self._thinking:
            status = await self._inter.edit_original_response(content=text, view=view)
            self._thinking = False
            return status
        return await self._followup(text, view=view, ephemeral=self._ephemeral)

    def _status_due(self, text: str) -> bool:
        """New text, and the status was last shown at least `progress_interval` ago."""
        return text != self._status_text and self._pacing.clock.now() >= self._status_next

    async def _note(self, job_id: str, status: AnyMessage) -> None:
        """Tell the core where this status is, so a restart after a crash can edit it (recovery.py). An
        ephemeral status cannot be edited then (its interaction has expired): the channel is told instead."""
        if self._on_status is None or self._ephemeral:
            return
        try:
            await self._on_status(job_id, status_ref(status))
        except Exception as exc:  # the status itself matters more than remembering it
            log.warning("could not store a status message's place: %r", exc)

    async def clear_progress(self) -> None:
        # The status stays until the result replaces it (or an error removes it), except for a job cut
        # off because the bot is stopping: nothing will follow, so it says so, its Cancel button gone.
        async with self._lock:
            self._progress_open = False
            if self._status is not None and cut_off_at_shutdown(self._inter.client):
                status, self._status = self._status, None
                try:
                    await self._life.edit(status, content=STOPPED_NOTICE, view=None)
                except discord.HTTPException as exc:
                    log.debug("could not edit a status message: %s", exc)

    async def send_images(self, delivery: Delivery) -> str | None:
        caption = delivery.caption[:2000]
        async with self._lock:
            self._progress_open = False
            message = await self._reply_in_channel(delivery, caption)
            if message is None:
                message = await self._by_token_or_channel(
                    lambda: self._result_by_token(delivery, caption), lambda: self._result_in_channel(delivery, caption)
                )
        await self._links.link_message(message_key(message.id), job_id=delivery.job_id)
        # An ephemeral result is only its user's: nothing a moderator could delete.
        return None if message.flags.ephemeral else posted_ref([message])

    async def _result_by_token(self, delivery: Delivery, caption: str) -> AnyMessage:
        """The result replaces the status, or fills the "thinking…" message, or follows up."""
        files = await result_files(delivery, upload_cap(self._pacing.max_upload, self._inter.guild, self._inter))
        view = result_view(delivery)
        if self._status is None:
            return await self._followup(caption, files=files, view=view, ephemeral=self._ephemeral)
        message = await self._status.edit(content=caption, attachments=files, view=view)
        self._status = None
        return message

    async def _result_in_channel(self, delivery: Delivery, caption: str) -> discord.Message:
        # Files made again: a refused upload has closed the first ones.
        files = await result_files(delivery, upload_cap(self._pacing.max_upload, self._inter.guild))
        message = await self._in_channel(caption, files=files, view=result_view(delivery))
        await self._drop_status()
        return message

    async def _reply_in_channel(self, delivery: Delivery, caption: str) -> discord.Message | None:
        if self._reply_to is None:
            return None
        await self._life.acknowledged()
        try:
            cap = upload_cap(self._pacing.max_upload, self._reply_to.guild, self._inter)
            message = await self._reply_to.reply(
                caption,
                files=await result_files(delivery, cap),
                view=result_view(delivery),
                mention_author=False,
            )
        except discord.HTTPException as exc:
            log.warning("could not reply in the channel (%s); answering the interaction instead", exc.status)
            return None
        await self._drop_status()
        if self._thinking:
            await self._delete_original()
        return message


async def _none() -> None:
    return None


class ChannelReply(Reply):
    """Answers in a channel or thread: the first message replies to `reply_to` when given. Messages are
    linked to `conversation` so a reply to any of them continues it. Errors go to `errors` when given
    (an interaction can show them privately), else to the channel."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        pacing: Pacing,
        links: ConversationStore,
        *,
        reply_to: discord.Message | None = None,
        conversation: str | None = None,
        errors: Reply | None = None,
        guild: discord.Guild | None = None,
    ) -> None:
        self._channel = channel
        self._pacing = pacing
        self._links = links
        self._reply_to = reply_to
        self._conversation = conversation
        self._errors = errors
        self._guild = guild
        self._answer = _LastAnswer()

    async def post(
        self, content: str, *, files: list[discord.File] | None = None, view: discord.ui.View | None = None
    ) -> discord.Message:
        extra: dict[str, Any] = {}
        if files:
            extra["files"] = files
        if view is not None:
            extra["view"] = view
        if self._reply_to is not None:
            extra["reference"] = self._reply_to.to_reference(fail_if_not_exists=False)
            extra["mention_author"] = False
            self._reply_to = None
        message = await self._channel.send(content, **extra)
        if self._conversation is not None:
            await self._links.link_message(message_key(message.id), conversation=self._conversation)
        return message

    async def send_text(self, text: str) -> None:
        for page in _pages(text):
            await self.post(page)

    async def send_error(self, text: str) -> None:
        if self._errors is not None:
            await self._errors.send_error(text)
        else:
            await self.post(text[:2000])

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        return await self._answer.stream(self._pacing, self.post, chunks)

    async def send_ideas(self, text: str, ideas_id: str, count: int) -> None:
        await self.post(text[:2000], view=ideas_view(ideas_id, count))

    async def show_thinking(self, reasoning: str) -> None:
        await self._answer.think(self.post, reasoning)

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        await self.post(text[:2000], view=choices_view(buttons))

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        await self.post(caption[:2000], files=[discord.File(UploadBytes(data), filename=name)])

    async def replace_answer(self, text: str) -> None:
        await self._answer.replace(text, self.post)

    async def send_images(self, delivery: Delivery) -> str | None:
        files = await result_files(delivery, upload_cap(self._pacing.max_upload, self._guild))
        message = await self.post(delivery.caption[:2000], files=files, view=result_view(delivery))
        await self._links.link_message(message_key(message.id), job_id=delivery.job_id)
        return posted_ref([message])
