"""Time as a dependency: retry backoff, Retry-After waits, poll intervals, deadlines, message-edit pacing
and flood-control waits read a `Clock`, so tests drive time instead of waiting for it
(tests/fake_clock.py). The default is the monotonic clock and `asyncio.sleep`."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from bot.tasks import cancel_and_wait


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


MONOTONIC: Clock = MonotonicClock()


async def sleep_unless(clock: Clock, event: asyncio.Event, seconds: float) -> None:
    """Sleep on `clock` for `seconds`, or less if `event` is set meanwhile."""
    if event.is_set():
        return
    sleeper = asyncio.ensure_future(clock.sleep(max(seconds, 0.0)))
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(sleeper, waiter)
