"""A named lease one process holds while it does what only one may do (poll a Telegram bot, sync a Matrix
account): taken at start, renewed by a heartbeat, released at stop, so a second process on the same
database sees who holds it. One that crashed frees it when its TTL runs out, or at once if it was on this
host (its pid is gone)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from bot.clock import Clock
from bot.store.instances import LEASE_TTL_SECONDS
from bot.store.leases import Holder, LeaseStore

log = logging.getLogger(__name__)

RENEW_SECONDS = 10.0  # well inside the TTL: two missed beats still leave the lease held


def describe(holder: Holder | None) -> str:
    if holder is None or holder.pid is None:
        return "another process on this database"
    return f"pid {holder.pid}, host {holder.host}"


def _is_gone(holder: Holder) -> bool:
    """A holder on this host whose process no longer runs (killed, then restarted within the TTL)."""
    if holder.host != socket.gethostname()[:200] or holder.pid is None:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, someone else's
    return False


class HeldLease:
    """`busy(who)`: the one line an operator reads when another process (`who`) holds it."""

    def __init__(
        self,
        leases: LeaseStore,
        name: str,
        owner: str,
        clock: Clock,
        busy: Callable[[str], str],
        ttl: float = LEASE_TTL_SECONDS,
    ) -> None:
        self._leases = leases
        self.name = name
        self._owner = owner
        self._clock = clock
        self._busy = busy
        self._ttl = ttl

    async def try_acquire(self) -> bool:
        """Take the lease if it is free, expired, ours, or its holder's process is gone from this host."""
        if await self._leases.acquire(self.name, self._owner, self._ttl, self._clock.now()):
            return True
        holder = await self._leases.holder(self.name)
        if holder is None or not _is_gone(holder):
            return False
        await self._leases.release(self.name, holder.owner)
        return await self._leases.acquire(self.name, self._owner, self._ttl, self._clock.now())

    async def acquire(self) -> None:
        """Take the lease, or raise RuntimeError with the one clear line naming who holds it."""
        if not await self.try_acquire():
            raise RuntimeError(await self.held_elsewhere())

    async def held_elsewhere(self) -> str:
        return self._busy(describe(await self._leases.holder(self.name)))

    async def keep(self, every: float = RENEW_SECONDS) -> str:
        """Renew until cancelled; returns the clear line if the lease was lost (this process stalled past
        the TTL and another one took over)."""
        while True:
            await self._clock.sleep(every)
            try:
                if not await self._leases.renew(self.name, self._owner, self._ttl, self._clock.now()):
                    return await self.held_elsewhere()
            except Exception as exc:  # a busy database: tried again next beat, well inside the TTL
                log.warning("could not renew the lease %s: %r", self.name, exc)

    async def release(self) -> None:
        try:
            await self._leases.release(self.name, self._owner)
        except Exception as exc:  # it expires on its own
            log.warning("could not release the lease %s: %r", self.name, exc)


async def renewing(lease: HeldLease, on_lost: asyncio.Future[str]) -> None:
    """The heartbeat task: a lost lease is reported through `on_lost`."""
    line = await lease.keep()
    if not on_lost.done():
        on_lost.set_result(line)
