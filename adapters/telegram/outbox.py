"""What every reply shares: the bot, the links from sent messages to conversations and jobs, the
per-chat pacers and the clock they read, and background tasks the adapter waits for when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram import Bot, Message, ReplyParameters

from adapters.telegram.pacing import EditPacer, PacerPool, Priority
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.store.conversations import ConversationStore
from bot.tasks import Background

log = logging.getLogger(__name__)

T = TypeVar("T")


def message_key(chat_id: int, message_id: int) -> str:
    return f"telegram:{chat_id}:{message_id}"


def conversation_key(chat_id: int, thread_id: int | None, root_message_id: int | None, *, group: bool) -> str:
    """A private chat is one conversation; in a group every reply chain (per topic) is its own."""
    if not group:
        return f"telegram:{chat_id}"
    return f"telegram:{chat_id}:{thread_id or 0}:{root_message_id}"


@dataclass(frozen=True)
class Target:
    """Where answers go: a chat, its topic, and the message they reply to."""

    chat_id: int
    thread_id: int | None
    reply_to: int | None
    group: bool

    def send_args(self, *, reply: bool = True) -> dict[str, Any]:
        args: dict[str, Any] = {"chat_id": self.chat_id, "message_thread_id": self.thread_id}
        if reply and self.reply_to is not None:
            # The user may have deleted their message meanwhile: answer anyway.
            args["reply_parameters"] = ReplyParameters(self.reply_to, allow_sending_without_reply=True)
        return args


@dataclass
class Outbox:
    bot: Bot
    links: ConversationStore
    settings: Settings
    clock: Clock = MONOTONIC  # what status, stream and flood-control waits read; tests drive their own
    pacers: PacerPool = field(default_factory=PacerPool)
    background: Background = field(default_factory=lambda: Background(log, "telegram", _error_type))
    # The core's note_status: told of each job's status message, to edit it if the process dies.
    on_status: Callable[[str, str], Awaitable[None]] | None = None

    def lane(self, target: Target) -> EditPacer:
        """The chat's one paced queue: every message, photo, edit and deletion in it takes a turn here."""
        interval = (
            self.settings.telegram_stream_edit_seconds_group
            if target.group
            else self.settings.telegram_stream_edit_seconds_private
        )
        return self.pacers.get(target.chat_id, interval, self.clock)

    async def call(
        self,
        target: Target,
        call: Callable[[], Awaitable[T]],
        what: str,
        priority: Priority,
        *,
        unless: asyncio.Event | None = None,
    ) -> T:
        """One Bot API call in the chat's lane (see pacing): results first, flood control waited out."""
        return await self.lane(target).call(call, what, priority, unless=unless)

    async def link(self, message: Message, *, conversation: str | None = None, job_id: str | None = None) -> None:
        """Remember which conversation or job a message we sent belongs to (survives restarts)."""
        await self.links.link_message(
            message_key(message.chat_id, message.message_id), conversation=conversation, job_id=job_id
        )


def _error_type(exc: Exception) -> str:
    return type(exc).__name__
