"""A per-provider limit on concurrent generations, fair across servers, that tells each waiting user their
place through the progress callback.

Cloud providers get an adaptive limit (AIMD): it starts at the configured ceiling, halves when the provider
answers 429/503 (at most once per round of requests sent under the current limit, so one burst of refusals
counts once), and grows back by one per success. A Retry-After pauses new generations until it passes.
Self-hosted A1111 keeps a fixed limit. Waiting jobs are served round-robin across queue keys (the
server or chat that asked), FIFO within a key, so one busy server cannot starve another."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpx

from bot.clock import MONOTONIC, Clock
from bot.providers.base import ImageJob, ImageProvider, ModelInfo, Overloaded, ProgressCallback, ProviderProgress
from bot.providers.retry import retry_after_seconds

log = logging.getLogger(__name__)

CONGESTION_STATUSES = frozenset({429, 503})
# Told how each generation went ("ok", "error" or "cancelled") and how long the provider took.
Observer = Callable[[str, float], None]


@dataclass(eq=False)
class _Waiter:
    key: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    granted: bool = False


class FairLimiter:
    """Like asyncio.Semaphore, but fair: a freed slot goes to the queue key with the fewest running jobs
    (then the one served longest ago), first come first served within a key, and a waiter can ask its place.
    A slot freed while people wait is handed straight over, so nobody can jump the queue."""

    def __init__(self, limit: int, *, adaptive: bool = False, clock: Clock = MONOTONIC) -> None:
        if limit < 1:
            raise ValueError("a concurrency limit must be at least 1")
        self.ceiling = limit
        self.limit = limit
        self.adaptive = adaptive
        self.active = 0
        # Bumped on every decrease: a refusal for a request sent before it was already answered by it.
        self.epoch = 0
        self.paused_until = 0.0
        self._clock = clock
        self._queues: dict[str, deque[_Waiter]] = {}
        self._running: dict[str, int] = {}
        self._last_grant: dict[str, int] = {}
        self._grants = 0
        self._positions: dict[_Waiter, int] | None = None
        self._resume: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def paused(self) -> bool:
        return self.paused_until > self._clock.now()

    async def acquire(self, progress: ProgressCallback | None = None, key: str = "") -> bool:
        """Wait for a slot. Returns True when the caller had to queue (and was told its place)."""
        if self.active < self.limit and not self._queues and not self.paused():
            self._grant(key)
            return False
        waiter = _Waiter(key)
        self._queues.setdefault(key, deque()).append(waiter)
        self._changed()
        if self.paused():
            self._wake_after_pause()
        reported: int | None = None
        try:
            while not waiter.granted:
                position = self.position(waiter)
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
                self.release(key)
            else:
                self._leave(waiter)
            raise
        return reported is not None

    def release(self, key: str = "") -> None:
        self.active = max(0, self.active - 1)
        running = self._running.get(key, 0) - 1
        if running > 0:
            self._running[key] = running
        else:
            self._running.pop(key, None)
            if key not in self._queues:
                self._last_grant.pop(key, None)
        self._dispatch()

    def succeeded(self) -> None:
        """Additive increase: one more slot per success, up to the ceiling."""
        if self.adaptive and self.limit < self.ceiling:
            self.limit += 1
            self._dispatch()

    def congested(self, retry_after: float | None, epoch: int | None = None) -> None:
        """The provider refused (429/503): halve the limit, and honour Retry-After for new generations."""
        if self.adaptive and (epoch is None or epoch == self.epoch) and self.limit > 1:
            self.limit = max(1, self.limit // 2)
            self.epoch += 1
            log.info("provider overloaded: concurrency limit down to %d", self.limit)
        if retry_after and retry_after > 0:
            until = self._clock.now() + retry_after
            if until > self.paused_until:
                self.paused_until = until
                if self._queues:
                    self._wake_after_pause()

    def position(self, waiter: _Waiter) -> int:
        if self._positions is None:
            self._positions = self._order()
        return self._positions.get(waiter, 1)

    def close(self) -> None:
        if self._resume is not None:
            self._resume.cancel()

    def _wake_after_pause(self) -> None:
        # Only started when someone waits: an idle pause needs no timer (and asks no sleep of the clock).
        if self._resume is None or self._resume.done():
            self._resume = asyncio.get_running_loop().create_task(self._resume_after_pause())

    async def _resume_after_pause(self) -> None:
        while (left := self.paused_until - self._clock.now()) > 0:
            await self._clock.sleep(left)
        self._dispatch()

    def _grant(self, key: str) -> None:
        self.active += 1
        self._running[key] = self._running.get(key, 0) + 1
        self._grants += 1
        self._last_grant[key] = self._grants

    def _next_key(self) -> str:
        return min(self._queues, key=lambda k: (self._running.get(k, 0), self._last_grant.get(k, 0)))

    def _dispatch(self) -> None:
        granted = False
        while self._queues and self.active < self.limit and not self.paused():
            key = self._next_key()
            queue = self._queues[key]
            waiter = queue.popleft()
            if not queue:
                del self._queues[key]
            self._grant(key)
            waiter.granted = True
            waiter.wake.set()
            granted = True
        if granted:
            self._changed()

    def _leave(self, waiter: _Waiter) -> None:
        queue = self._queues.get(waiter.key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._queues[waiter.key]
        self._changed()
        self._dispatch()

    def _changed(self) -> None:
        self._positions = None
        for queue in self._queues.values():
            for waiter in queue:
                waiter.wake.set()

    def _order(self) -> dict[_Waiter, int]:
        """Everyone's place, by playing the dispatch forward as if no slot freed up meanwhile."""
        heap = [(self._running.get(k, 0), self._last_grant.get(k, 0), k) for k in self._queues]
        heapq.heapify(heap)
        taken = {key: 0 for key in self._queues}
        order: dict[_Waiter, int] = {}
        grants = self._grants
        while heap:
            running, _, key = heapq.heappop(heap)
            queue = self._queues[key]
            order[queue[taken[key]]] = len(order) + 1
            taken[key] += 1
            grants += 1
            if taken[key] < len(queue):
                heapq.heappush(heap, (running + 1, grants, key))
        return order


def _unobserved(_outcome: str, _seconds: float) -> None:
    return None


async def _report(progress: ProgressCallback, update: ProviderProgress) -> None:
    try:
        await progress(update)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a failing progress display must not lose the user's place
        log.debug("progress callback failed: %r", exc)


@dataclass(eq=False)
class _Slot:
    """The slot a generation holds, so the HTTP hooks can tell its limiter what the provider answered."""

    limiter: FairLimiter
    epoch: int
    signalled: bool = False


_current: ContextVar[_Slot | None] = ContextVar("atelier_concurrency_slot", default=None)


async def _on_request(request: httpx.Request) -> None:
    slot = _current.get()
    if slot is not None:
        slot.epoch = slot.limiter.epoch  # this request is sent under the current limit


async def _on_response(response: httpx.Response) -> None:
    slot = _current.get()
    if slot is not None and response.status_code in CONGESTION_STATUSES:
        slot.signalled = True
        slot.limiter.congested(retry_after_seconds(response), slot.epoch)


def watch_congestion(client: httpx.AsyncClient) -> None:
    """Let every limiter hear the 429/503 answers its provider sends, retried ones included (the retry
    loop in bot/providers/retry.py keeps working as before)."""
    hooks = client.event_hooks
    if _on_response in hooks.get("response", []):
        return
    client.event_hooks = {
        **hooks,
        "request": [*hooks.get("request", []), _on_request],
        "response": [*hooks.get("response", []), _on_response],
    }


class ConcurrencyLimited:
    """Wraps an ImageProvider so at most `limiter.limit` of its generations run at once; `adaptive`
    makes `max_concurrency` a ceiling that the provider's 429/503 answers push down."""

    def __init__(
        self, inner: ImageProvider, max_concurrency: int, *, adaptive: bool = False, clock: Clock = MONOTONIC
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = FairLimiter(max_concurrency, adaptive=adaptive, clock=clock)
        self.observe: Observer = _unobserved  # the core's metrics set it (bot.metrics.Metrics.watch)
        self._clock = clock

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        key = job.queue_key
        queued = await self.limiter.acquire(progress, key)
        slot = _Slot(self.limiter, self.limiter.epoch)
        token = _current.set(slot)
        started, outcome = self._clock.now(), "error"
        try:
            if queued:
                await _report(progress, ProviderProgress(stage="working"))
            images = await self.inner.generate(job, progress)
            outcome = "ok"
        except Overloaded as exc:
            if not slot.signalled:  # said in a task's status, or over a client without the hooks
                self.limiter.congested(exc.retry_after, slot.epoch)
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            _current.reset(token)
            self.limiter.release(key)
            self.observe(outcome, self._clock.now() - started)
        self.limiter.succeeded()
        return images

    async def aclose(self) -> None:
        self.limiter.close()
        await self.inner.aclose()
