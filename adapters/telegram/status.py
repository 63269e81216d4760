"""While an image job runs: the "sending photo…" chat action every few seconds (from half a second in, or
when the status message comes if that is sooner), and one status message with the elapsed time and a Cancel
button, edited at a humane pace and removed at the end."""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatAction
from telegram.error import RetryAfter, TelegramError

from adapters.telegram.outbox import Outbox, Target
from adapters.telegram.pacing import CHAT_ACTION_AFTER_SECONDS, Priority, Skipped, retry_after_seconds
from adapters.telegram.recovery import status_ref
from bot.clock import sleep_unless
from bot.messages import Action, Progress, action_id

log = logging.getLogger(__name__)


def cancel_keyboard(job_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("✖ Cancel", callback_data=action_id(Action.CANCEL, job_id))]])


class JobStatus:
    """Fed by `update()` (about once a second, never blocking); shows itself from a background task."""

    def __init__(self, outbox: Outbox, target: Target, action: str = ChatAction.UPLOAD_PHOTO) -> None:
        self._outbox = outbox
        self._target = target
        self._lane = outbox.lane(target)
        self._action = action
        self._latest: Progress | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._message: Message | None = None
        self._shown = ""

    def update(self, progress: Progress) -> None:
        self._latest = progress
        if self._task is None and not self._stop.is_set():
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop showing progress; the status message is deleted in the background so the result is
        not delayed by it."""
        self._stop.set()
        if self._task is not None:
            await self._task  # never cancelled mid-call: a half-sent status message would be orphaned
        if self._message is not None:
            message, self._message = self._message, None
            removal = self._outbox.call(self._target, message.delete, "deleteMessage", Priority.STATUS)
            self._outbox.background.spawn(removal, "deleting a status message")

    async def _run(self) -> None:
        settings, clock = self._outbox.settings, self._outbox.clock
        started = clock.now()
        show_at = started + settings.telegram_progress_delay_seconds
        next_action = min(started + CHAT_ACTION_AFTER_SECONDS, show_at)
        while not self._stop.is_set():
            now = clock.now()
            try:
                if now >= next_action:
                    next_action = now + settings.telegram_chat_action_seconds
                    if self._lane.idle():  # cosmetic: never in the way of a message in this chat
                        await self._outbox.bot.send_chat_action(
                            self._target.chat_id, self._action, message_thread_id=self._target.thread_id
                        )
                if now >= show_at and not self._stop.is_set():
                    show_at = now + settings.telegram_progress_edit_seconds  # also if the call fails
                    await self._show()
                    show_at = clock.now() + settings.telegram_progress_edit_seconds
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self._lane.hold(wait)
                next_action, show_at = max(next_action, now + wait), max(show_at, now + wait)
            except Skipped:  # the job ended while this update waited for its turn
                break
            except TelegramError as exc:
                log.info("telegram: status update failed: %s", type(exc).__name__)
            await sleep_unless(clock, self._stop, min(next_action, show_at) - clock.now())

    async def _show(self) -> None:
        if self._latest is None:
            return
        text = self._latest.describe()
        if self._message is None:
            keyboard = cancel_keyboard(self._latest.job_id)
            self._message = await self._lane.call(
                lambda: self._outbox.bot.send_message(text=text, reply_markup=keyboard, **self._target.send_args()),
                "sendMessage",
                Priority.STATUS,
                unless=self._stop,
            )
            await self._note(self._latest.job_id, self._message)
        elif text != self._shown:
            message, keyboard = self._message, cancel_keyboard(self._latest.job_id)
            await self._lane.call(
                lambda: message.edit_text(text, reply_markup=keyboard),
                "editMessageText",
                Priority.STATUS,
                unless=self._stop,
            )
        self._shown = text

    async def _note(self, job_id: str, message: Message) -> None:
        """Tell the core where this status is, so a restart after a crash can edit it (recovery.py)."""
        if self._outbox.on_status is None:
            return
        try:
            await self._outbox.on_status(job_id, status_ref(message))
        except Exception as exc:  # the status itself matters more than remembering it
            log.warning("telegram: could not store a status message's place: %r", exc)
