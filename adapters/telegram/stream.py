"""A streamed answer shown by editing messages: the first message goes as soon as text arrives,
edits follow at the chat's pace (no-op edits skipped), and text past 4,096 characters continues in
a new message. Flood control (RetryAfter) is waited out, never fatal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from telegram import Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from adapters.telegram.outbox import Outbox, Target
from adapters.telegram.pacing import CHAT_ACTION_AFTER_SECONDS, EditPacer, Priority, with_retry
from adapters.telegram.splitting import cut_point, needs_cut, skip_space


class StreamedAnswer:
    def __init__(self, outbox: Outbox, target: Target, conversation: str, *, quote: bool = True) -> None:
        self._outbox = outbox
        self._target = target
        self._conversation = conversation
        self._pacer: EditPacer = outbox.lane(target)
        self._text = ""
        self._changed = asyncio.Event()
        self._ended = asyncio.Event()  # the whole answer has arrived: its last edit may skip the pace
        self._start = 0  # where the current message's text begins in the whole answer
        self._message: Message | None = None
        self._shown = ""
        self._flushed = ""  # the whole answer as last shown
        self._sent_any = False
        self._quote = quote  # the first message replies to the user's
        self.messages: list[Message] = []  # every message the answer is shown in, first to last

    @property
    def sent_any(self) -> bool:
        return self._sent_any

    def adopt(self, message: Message, shown: str) -> None:
        """Start from a message already posted (the "Thinking…" line): the answer's first text edits it."""
        self._message, self._shown, self._sent_any = message, shown, True
        self.messages.append(message)

    async def run(self, chunks: AsyncIterator[str]) -> str:
        reader = asyncio.create_task(self._read(chunks))
        typing = asyncio.create_task(self._typing())
        try:
            while True:
                await self._changed.wait()
                if self._text == self._flushed:
                    self._changed.clear()  # e.g. the stream ended: nothing new to show, no turn to wait for
                else:
                    async with self._pacer.turn(Priority.ANSWER, hurry=self._ended):
                        self._changed.clear()
                        await self._flush()
                if reader.done() and not self._changed.is_set():
                    break
            return reader.result()  # raises the provider's error, if the stream broke
        finally:
            typing.cancel()
            reader.cancel()
            await asyncio.gather(reader, typing, return_exceptions=True)

    async def _read(self, chunks: AsyncIterator[str]) -> str:
        try:
            async for chunk in chunks:
                self._text += chunk
                self._changed.set()
        finally:
            self._ended.set()
            self._changed.set()
        return self._text

    async def _typing(self) -> None:
        """Shows "typing…" until the first words appear (the chat action lasts about five seconds), once the
        model has been silent for CHAT_ACTION_AFTER_SECONDS: a fast model's first words need no call before them."""
        with contextlib.suppress(TelegramError):
            await self._outbox.clock.sleep(CHAT_ACTION_AFTER_SECONDS)
            while not self._sent_any:
                if self._pacer.idle():  # cosmetic: never in the way of a message in this chat
                    await self._outbox.bot.send_chat_action(
                        self._target.chat_id, ChatAction.TYPING, message_thread_id=self._target.thread_id
                    )
                await self._outbox.clock.sleep(self._outbox.settings.telegram_chat_action_seconds)

    async def _flush(self) -> None:
        text = self._text
        while needs_cut(text, self._start):
            end = cut_point(text, self._start)
            await self._show(text[self._start : end].rstrip())
            self._message, self._shown = None, ""
            self._start = skip_space(text, end)
        await self._show(text[self._start :])
        self._flushed = text

    async def _show(self, text: str) -> None:
        if not text.strip() or text == self._shown:
            return  # Telegram refuses empty text, and identical edits still count against flood limits
        if self._message is None:
            self._message = await with_retry(
                lambda: self._outbox.bot.send_message(
                    text=text, **self._target.send_args(reply=self._quote and not self._sent_any)
                ),
                "sendMessage",
                clock=self._outbox.clock,
                pacer=self._pacer,
            )
            self._sent_any = True
            self.messages.append(self._message)
            await self._outbox.link(self._message, conversation=self._conversation)
        else:
            message = self._message
            try:
                await with_retry(
                    lambda: message.edit_text(text), "editMessageText", clock=self._outbox.clock, pacer=self._pacer
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    # Someone deleted the message we were editing: carry on in a new one.
                    self._message, self._shown = None, ""
                    await self._show(text)
                    return
        self._shown = text
