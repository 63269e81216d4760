"""Time as a dependency: retry backoff, Retry-After waits, poll intervals and deadlines read a `Clock`, so
tests drive time instead of waiting for it (tests/fake_clock.py). The same shape as adapters/clock.py,
which the core may not import: one FakeClock serves both."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


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
