"""Streamed answers as messages that are edited while the text arrives (Discord, Matrix): pages of at most
`limit` characters, each edited at most once per interval, only when its text changed. Reading the stream
and sending edits run apart, so a slow edit (or a rate limit the platform's client waits out) never slows
the provider, and each edit shows the latest text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from bot.clock import MONOTONIC, Clock
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
M = TypeVar("M")


FENCE = "```"


def split_pages(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Greedy pages, cut at a line break or space in the second half of a page when there is one.
    A page cut inside a code block closes it, and the next page reopens it (with its language), so
    both render as code. A page depends only on the text before its end, so pages already shown never
    change once a later page exists. Blank pages are dropped (Discord refuses empty messages)."""
    pages: list[str] = []
    rest = text
    while len(rest) > limit:
        page = _cut(rest, limit)
        opener = _open_fence(page)
        if opener is not None:
            page = _cut(rest, limit - len(FENCE) - 1)  # room to close the block
            opener = _open_fence(page)
        rest = rest[len(page) :]
        if opener is None:
            pages.append(page)
            rest = rest.lstrip()
        else:
            pages.append(f"{page}\n{FENCE}")
            rest = f"{opener}\n{rest.lstrip(chr(10))}"
    pages.append(rest)
    return [page for page in pages if page.strip()]


def _cut(text: str, limit: int) -> str:
    window = text[: limit + 1]
    cut = window.rfind("\n", limit // 2)
    if cut <= 0:
        cut = window.rfind(" ", limit // 2)
    if cut <= 0:
        cut = limit
    return text[:cut]


def _open_fence(page: str) -> str | None:
    """The opening line (e.g. ```python) of a code block left open at the end of `page`, if any."""
    if page.count(FENCE) % 2 == 0:
        return None
    start = page.rfind(FENCE)
    end = page.find("\n", start)
    return page[start:end] if end > 0 else FENCE


class PagedStream(Generic[M]):
    """`post(text)` sends a new message and returns it; `edit(message, text)` changes one. An error of a
    type in `retried` (a platform's refusal) is logged and the text tried again on the next round."""

    retried: tuple[type[Exception], ...] = ()

    def __init__(
        self,
        post: Callable[[str], Awaitable[M]],
        edit: Callable[[M, str], Awaitable[object]],
        *,
        interval: float = 1.0,
        limit: int = MESSAGE_LIMIT,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._post = post
        self._edit = edit
        self._interval = interval
        self._clock = clock
        self._limit = limit
        self._text = ""
        self._closed = False
        self._wake = asyncio.Event()
        self._next_at = float("-inf")
        self._synced: str | None = None  # the text last shown in full
        self._messages: list[M] = []
        self._shown: list[str] = []

    @property
    def messages(self) -> list[M]:
        return list(self._messages)

    def adopt(self, message: M, shown: str) -> None:
        """Start from a message already posted (the "Thinking…" line): the first page edits it."""
        self._messages.append(message)
        self._shown.append(shown)

    async def run(self, chunks: AsyncIterator[str]) -> str:
        sender = asyncio.create_task(self._send_loop())
        try:
            async for chunk in chunks:
                self._text += chunk
                self._wake.set()
        except asyncio.CancelledError:
            await cancel_and_wait(sender)
            raise
        except BaseException:
            await self._finish(sender)  # show what did arrive, then let the caller report the failure
            raise
        await self._finish(sender)
        return self._text

    async def _finish(self, sender: asyncio.Task[None]) -> None:
        self._closed = True
        self._wake.set()
        try:
            await asyncio.shield(sender)
        except asyncio.CancelledError:
            await cancel_and_wait(sender)
            raise

    async def _send_loop(self) -> None:
        while True:
            if not self._closed:
                await self._wake.wait()
            self._wake.clear()
            if self._closed and self._text == self._synced:
                return  # all shown already: no need to wait for another turn
            delay = self._next_at - self._clock.now()
            if delay > 0:
                await self._clock.sleep(delay)
            text = self._text
            if await self._sync(text):
                self._synced = text
            if self._closed and text == self._text:
                return

    async def _sync(self, text: str) -> bool:
        """Show `text`; False when Discord refused part of it."""
        sent, whole = False, True
        for index, page in enumerate(split_pages(text, self._limit)):
            try:
                if index < len(self._messages):
                    if self._shown[index] != page:
                        await self._edit(self._messages[index], page)
                        self._shown[index] = page
                        sent = True
                else:
                    self._messages.append(await self._post(page))
                    self._shown.append(page)
                    sent = True
            except self.retried as exc:
                # The platform's client already waited out any rate limit; anything else is retried next round.
                log.warning("could not show streamed text: %s", str(exc)[:200])
                whole = False
                break
        if sent:
            # Counted from the end of the request, so two edits never *arrive* less than interval apart.
            self._next_at = self._clock.now() + self._interval
        return whole
