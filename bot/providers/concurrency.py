"""A per-provider cap on concurrent generations, with a fair (FIFO) queue that tells each waiting
user their place through the progress callback."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from bot.providers.base import ImageJob, ImageProvider, ModelInfo, ProgressCallback, ProviderProgress

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Waiter:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    granted: bool = False


class FairLimiter:
    """Like asyncio.Semaphore, but strictly first come, first served, and a waiter can ask for its place.
    A slot freed while people wait is handed straight to the first of them, so nobody can jump the queue."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a concurrency limit must be at least 1")
        self.limit = limit
        self.active = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, progress: ProgressCallback | None = None) -> bool:
        """Wait for a slot. Returns True when the caller had to queue (and was told its place)."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return False
        waiter = _Waiter()
        self._waiters.append(waiter)
        reported: int | None = None
        try:
            while not waiter.granted:
                position = self._waiters.index(waiter) + 1
                if progress is not None and position != reported:
                    reported = position
                    await _report(progress, ProviderProgress(queue_position=position, stage="queued"))
                    if waiter.granted:
                        break
                waiter.wake.clear()
                await waiter.wake.wait()
        except BaseException:
            # Cancelled while queued: leave the queue, and pass on a slot that was handed over meanwhile.
            if waiter.granted:
                self.release()
            else:
                self._waiters.remove(waiter)
                self._wake_all()
            raise
        return reported is not None

    def release(self) -> None:
        if self._waiters:
            first = self._waiters.popleft()
            first.granted = True  # the slot passes over: `active` stays the same
            self._wake_all()
            first.wake.set()
        else:
            self.active = max(0, self.active - 1)

    def _wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.wake.set()


async def _report(progress: ProgressCallback, update: ProviderProgress) -> None:
    try:
        await progress(update)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a failing progress display must not lose the user's place
        log.debug("progress callback failed: %r", exc)


class ConcurrencyLimited:
    """Wraps an ImageProvider so at most `max_concurrency` of its generations run at once."""

    def __init__(self, inner: ImageProvider, max_concurrency: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = FairLimiter(max_concurrency)

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        queued = await self.limiter.acquire(progress)
        try:
            if queued:
                await _report(progress, ProviderProgress(stage="working"))
            return await self.inner.generate(job, progress)
        finally:
            self.limiter.release()

    async def aclose(self) -> None:
        await self.inner.aclose()
