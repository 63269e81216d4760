"""A clock for tests (bot.clock.Clock): time moves only when the test moves it, so pacing is
checked in the clock's own time, fast, and never against the wall clock.

`sleep()` returns once the clock has been advanced to its deadline. `advance()` moves time by hand;
inside `autojump()` time jumps to the next deadline whenever someone sleeps, so waits cost no real
time; with a `step`, every reading moves time on by that much (for code that only compares readings).
Fakes stamp what they record with time.monotonic(): `at(stamp)` reads such a stamp in this clock's
time."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Sleeper:
    deadline: float
    woken: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class FakeClock:
    def __init__(self, start: float = 1000.0, *, step: float = 0.0) -> None:
        self._now = start
        self.step = step
        self._sleepers: list[_Sleeper] = []
        self._changed = asyncio.Event()
        self._real: list[float] = [time.monotonic()]  # when each reading began, in real time
        self._readings: list[float] = [start]
        self.sleeps: list[float] = []  # every duration asked for, in order

    def now(self) -> float:
        reading = self._now
        if self.step:
            self.advance(self.step)
        return reading

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        sleeper = _Sleeper(self._now + seconds)
        self._sleepers.append(sleeper)
        self._notify()
        try:
            await sleeper.woken
        finally:
            if sleeper in self._sleepers:  # cancelled before its time
                self._sleepers.remove(sleeper)
                self._notify()

    def advance(self, seconds: float) -> int:
        """Move time on by `seconds`; returns how many sleepers that woke."""
        return self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> int:
        if when > self._now:
            self._now = when
            self._real.append(time.monotonic())
            self._readings.append(when)
        due = [s for s in self._sleepers if s.deadline <= self._now]
        for sleeper in due:
            self._sleepers.remove(sleeper)
            sleeper.woken.set_result(None)
        self._notify()
        return len(due)

    def pending(self) -> list[float]:
        """How long each current sleeper still has to wait, soonest first."""
        return sorted(s.deadline - self._now for s in self._sleepers)

    async def sleeping(
        self,
        check: Callable[[float], bool] = lambda remaining: True,
        *,
        count: int = 1,
        timeout: float | None = 5.0,
    ) -> float:
        """Wait until `count` tasks sleep on this clock (with a remaining wait that passes `check`):
        that is where the code under test stops until time moves. Returns the soonest remaining wait."""
        async with asyncio.timeout(timeout):
            while True:
                found = [remaining for remaining in self.pending() if check(remaining)]
                if len(found) >= count:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()

    @contextlib.asynccontextmanager
    async def autojump(self) -> AsyncIterator[None]:
        """While inside, whoever sleeps is woken at once, time jumping to their deadline."""

        async def jump() -> None:
            while True:
                await self.sleeping(timeout=None)
                self.advance_to(min(s.deadline for s in self._sleepers))
                await asyncio.sleep(0)  # let the woken run before the next jump

        driver = asyncio.create_task(jump())
        try:
            yield
        finally:
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)

    def at(self, stamp: float) -> float:
        """What this clock read at `stamp` (a time.monotonic() value, as the fakes record)."""
        return self._readings[max(bisect.bisect_right(self._real, stamp) - 1, 0)]

    def _notify(self) -> None:
        self._changed.set()
