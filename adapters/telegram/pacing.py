"""Telegram's flood limits: every call that posts to a chat takes a turn in that chat's lane.

A lane lets one call go at a time, `interval` seconds after the previous one finished (groups allow about
20 messages a minute; a paid result skips that courtesy pace and waits only for Telegram's own holds, and so
does the last edit of a finished stream while the chat has used less than a minute's budget of calls),
results first: a waiting photo goes before waiting errors and status edits, and
whoever arrived first goes first within a priority. `RetryAfter` holds the whole lane for as long as
Telegram asks. A result is retried until its caller gives up (the core's delivery deadline cancels it);
chatter gives up after a few tries. Identical edits still count against the limits, so callers skip
no-op edits; the lane only decides *when* the next call in a chat may go."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import heapq
import itertools
import logging
import warnings
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import IntEnum
from typing import TypeVar

from telegram.error import RetryAfter

from bot.clock import MONOTONIC, Clock
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRIES = 5  # for everything but results
MAX_PACERS = 10_000
BUDGET_WINDOW = 60.0  # seconds: a lane's budget is what its pace allows in this long
# A chat action ("typing…", "sending photo…") waits this long into the work: what is done sooner shows its
# answer without a call before it (one call and its CPU less on a quick job's way).
CHAT_ACTION_AFTER_SECONDS = 0.5


class Priority(IntEnum):
    """Who goes first when several calls wait in one chat (lower first)."""

    RESULT = 0  # a paid image (and the buttons that go with it)
    ANSWER = 1  # text the user asked for: a chat answer, a streamed reply
    NOTICE = 2  # errors and refusals
    STATUS = 3  # "Working… 12s", its edits and its removal


class Skipped(Exception):
    """The caller stopped wanting the call (e.g. a status update once the job ended) before its turn."""


_tickets = itertools.count()


class EditPacer:
    """One chat's lane (see the module docstring)."""

    def __init__(self, interval: float, clock: Clock = MONOTONIC) -> None:
        self.interval = interval
        self.clock = clock
        self._ready_at = float("-inf")  # the courtesy pace, and Telegram's holds
        self._held_until = float("-inf")  # Telegram's holds only
        self._waiting: list[tuple[int, int]] = []  # a heap of (priority, arrival)
        self._busy = False
        self._changed = asyncio.Event()
        self._recent: deque[float] = deque()  # when the calls of the last BUDGET_WINDOW went

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def idle(self) -> bool:
        """Nobody waiting or calling, and no pause due: a cosmetic call (a chat action) may go now."""
        return not self._busy and not self._waiting and self._ready_at <= self.clock.now()

    def _within_budget(self) -> bool:
        """Fewer calls in the last BUDGET_WINDOW than the pace allows in it (20 a minute in a group)."""
        now = self.clock.now()
        while self._recent and self._recent[0] <= now - BUDGET_WINDOW:
            self._recent.popleft()
        return len(self._recent) < BUDGET_WINDOW / self.interval

    async def _acquire(
        self, priority: int, ticket: int, unless: asyncio.Event | None, hurry: asyncio.Event | None = None
    ) -> None:
        entry = (priority, ticket)
        heapq.heappush(self._waiting, entry)
        try:
            while True:
                if unless is not None and unless.is_set():
                    raise Skipped
                changed = self._changed
                delay = None
                hurried = hurry is not None and hurry.is_set()
                if not self._busy and self._waiting[0] == entry:
                    # A paid result waits only for what Telegram asked, not for the courtesy pace: a quick
                    # job's photo must not sit behind its own status message's spacing. Nor does the last
                    # edit of a finished answer, while the minute's budget has room for it.
                    skips_pace = priority == Priority.RESULT or (hurried and self._within_budget())
                    ready = self._held_until if skips_pace else self._ready_at
                    delay = ready - self.clock.now()
                    if delay <= 0:
                        heapq.heappop(self._waiting)
                        self._busy = True
                        return
                # Woken when the hurry comes (once: a set event would wake the wait at once, forever).
                await self._wait(delay, changed, unless, None if hurried else hurry)
        except BaseException:
            if entry in self._waiting:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
                self._notify()
            raise

    async def _wait(self, delay: float | None, *events: asyncio.Event | None) -> None:
        waiters: list[asyncio.Future[object]] = [
            asyncio.ensure_future(event.wait()) for event in events if event is not None
        ]
        if delay is not None:
            waiters.append(asyncio.ensure_future(self.clock.sleep(delay)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(*waiters)

    def _release(self) -> None:
        self._busy = False
        self.mark()

    @contextlib.asynccontextmanager
    async def turn(
        self,
        priority: int = Priority.ANSWER,
        *,
        unless: asyncio.Event | None = None,
        hurry: asyncio.Event | None = None,
    ) -> AsyncIterator[None]:
        """Hold the lane for one or more calls (a streamed answer's flush). Raises Skipped if `unless` is set
        before the turn comes. Once `hurry` is set (the answer is complete), the turn skips the courtesy pace
        if the chat's budget allows."""
        await self._acquire(priority, next(_tickets), unless, hurry)
        try:
            yield
        finally:
            self._release()

    async def call(
        self,
        call: Callable[[], Awaitable[T]],
        what: str,
        priority: int = Priority.ANSWER,
        *,
        unless: asyncio.Event | None = None,
    ) -> T:
        """Run one Bot API call in its turn, waiting out flood control and trying again at the same place
        in the queue: results until cancelled, others MAX_RETRIES times."""
        ticket = next(_tickets)
        for attempt in itertools.count():
            await self._acquire(priority, ticket, unless)
            try:
                return await call()
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self.hold(wait)
                if priority != Priority.RESULT and attempt >= MAX_RETRIES:
                    raise
                log.warning("Telegram flood control on %s: waiting %.0fs", what, wait)
            finally:
                self._release()
        raise AssertionError("unreachable")

    def mark(self) -> None:
        """A call just happened: the next one waits for the interval."""
        now = self.clock.now()
        self._recent.append(now)
        self._ready_at = max(self._ready_at, now + self.interval)
        self._notify()

    def hold(self, seconds: float) -> None:
        """Telegram asked us to wait: nothing in this chat goes before that."""
        self._held_until = max(self._held_until, self.clock.now() + seconds)
        self._ready_at = max(self._ready_at, self._held_until)
        self._notify()


class PacerPool:
    """One lane per chat, the least recently used forgotten beyond MAX_PACERS chats."""

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
    """Run a Bot API call within a turn already held, waiting out flood control (429) on `clock` and
    trying again; other errors propagate. With a pacer, nothing else in its chat goes before the wait
    is over either."""
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
