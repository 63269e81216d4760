"""Telegram's flood limits: space message edits in a chat by time, and wait out `RetryAfter`.

Identical edits still count against the limits, so callers skip no-op edits; the pacer only decides
*when* the next call in a chat may go."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from telegram.error import RetryAfter

from bot.clock import MONOTONIC, Clock

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRIES = 5
MAX_PACERS = 10_000


class EditPacer:
    """One chat's pace: a call may start `interval` seconds after the previous one *finished*, so the
    calls arrive at Telegram at least that far apart. Concurrent users of one chat take turns."""

    def __init__(self, interval: float, clock: Clock = MONOTONIC) -> None:
        self.interval = interval
        self.clock = clock
        self._ready_at = float("-inf")
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._lock:
            delay = self._ready_at - self.clock.now()
            if delay > 0:
                await self.clock.sleep(delay)
            try:
                yield
            finally:
                self.mark()

    def mark(self) -> None:
        """A call just happened outside `turn()` (e.g. the first message of a stream)."""
        self._ready_at = max(self._ready_at, self.clock.now() + self.interval)

    def hold(self, seconds: float) -> None:
        """Telegram asked us to wait: nothing in this chat goes before that."""
        self._ready_at = max(self._ready_at, self.clock.now() + seconds)


class PacerPool:
    """One pacer per chat, the least recently used forgotten beyond MAX_PACERS chats."""

    def __init__(self) -> None:
        self._pacers: OrderedDict[int, EditPacer] = OrderedDict()

    def get(self, chat_id: int, interval: float, clock: Clock = MONOTONIC) -> EditPacer:
        pacer = self._pacers.pop(chat_id, None)
        if pacer is None or pacer.clock is not clock:  # a pacer's times mean nothing on another clock
            pacer = EditPacer(interval, clock)
        pacer.interval = interval
        self._pacers[chat_id] = pacer
        while len(self._pacers) > MAX_PACERS:
            self._pacers.popitem(last=False)
        return pacer


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int, or a timedelta with PTB_TIMEDELTA=1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB warns about the int form unless PTB_TIMEDELTA is set
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def with_retry(
    call: Callable[[], Awaitable[T]], what: str, *, clock: Clock = MONOTONIC, pacer: EditPacer | None = None
) -> T:
    """Run a Bot API call, waiting out flood control (429) on `clock` and trying again; other errors
    propagate. With a pacer, nothing else in its chat goes before the wait is over either."""
    for attempt in range(MAX_RETRIES + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == MAX_RETRIES:
                raise
            wait = retry_after_seconds(exc)
            log.warning("Telegram flood control on %s: waiting %.0fs", what, wait)
            if pacer is not None:
                pacer.hold(wait)
            await clock.sleep(wait)
    raise AssertionError("unreachable")
