"""This process's lease on the jobs it runs: a heartbeat row renewed every few seconds. At start, and on
every beat, jobs whose owner's lease expired (a process that crashed or was killed) are refunded; the
live jobs of other processes on the same database are left to finish and commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bot.clock import Clock
from bot.store import Store
from bot.store.instances import LEASE_TTL_SECONDS

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0  # well inside the TTL: two missed beats still leave the lease valid


class WallClock:
    """Leases are compared across processes, so they read the wall clock, not a monotonic one."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


WALL: Clock = WallClock()


class Lease:
    def __init__(
        self, store: Store, clock: Clock = WALL, ttl: float = LEASE_TTL_SECONDS, every: float = HEARTBEAT_SECONDS
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._every = every
        self._refunded = asyncio.Event()  # replaced each time it is set, so every waiter wakes once

    async def acquire(self) -> int:
        """Take the lease, then refund the jobs of expired ones. Returns how many were refunded."""
        await self._store.instances.beat(self._clock.now())
        return await self._refund_orphans()

    async def keep(self) -> None:
        """Renew the lease until cancelled. A failed beat is logged and tried again next time."""
        while True:
            await self._clock.sleep(self._every)
            try:
                await self._store.instances.beat(self._clock.now())
                await self._refund_orphans()
            except Exception as exc:
                log.warning("could not renew this process's lease: %r", exc)

    async def refunds(self, timeout: float) -> None:
        """Return once this lease next refunds jobs of a dead process, or after `timeout` seconds (another
        process on the database may have refunded some meanwhile)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._refunded.wait()

    async def release(self) -> None:
        """At a clean stop, once this process's jobs are closed."""
        await self._store.instances.retire()

    async def _refund_orphans(self) -> int:
        now = self._clock.now()
        refunded = await self._store.quotas.refund_orphaned(now, self._ttl)
        if refunded:
            log.warning("refunded %d job(s) left running by a process that stopped", refunded)
            announced, self._refunded = self._refunded, asyncio.Event()
            announced.set()
        await self._store.instances.forget_expired(now, self._ttl)
        return refunded
