"""Polling is one process's job: Telegram hands each update to one getUpdates caller, and two callers
terminate each other's requests (409 Conflict). A named lease "telegram-poller:<bot id>" in the store
is held while polling and renewed by a heartbeat, so a second poller on the same database refuses to
start; one on another database meets Telegram's Conflict and stops with the same line. Several
processes take updates by webhook instead (TELEGRAM_WEBHOOK_URL)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from bot.clock import Clock
from bot.store.instances import LEASE_TTL_SECONDS
from bot.store.leases import Holder, LeaseStore

log = logging.getLogger(__name__)

RENEW_SECONDS = 10.0  # well inside the TTL: two missed beats still leave the lease held
ONE_POLLER = (
    "Another Atelier process is already polling this Telegram bot ({who}). Run one poller, or use webhook mode "
    "(TELEGRAM_WEBHOOK_URL) for several workers."
)
OTHER_DATABASE = "Telegram ended this process's getUpdates for another one, with another database"


def lease_name(bot_id: int) -> str:
    return f"telegram-poller:{bot_id}"


def one_poller(who: str) -> str:
    return ONE_POLLER.format(who=who)


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


class PollerLease:
    def __init__(self, leases: LeaseStore, name: str, owner: str, clock: Clock, ttl: float = LEASE_TTL_SECONDS) -> None:
        self._leases = leases
        self.name = name
        self._owner = owner
        self._clock = clock
        self._ttl = ttl

    async def acquire(self) -> None:
        """Take the lease, or raise RuntimeError with the one clear line naming who holds it."""
        if await self._leases.acquire(self.name, self._owner, self._ttl, self._clock.now()):
            return
        holder = await self._leases.holder(self.name)
        if holder is not None and _is_gone(holder):
            await self._leases.release(self.name, holder.owner)
            if await self._leases.acquire(self.name, self._owner, self._ttl, self._clock.now()):
                return
            holder = await self._leases.holder(self.name)
        raise RuntimeError(one_poller(describe(holder)))

    async def keep(self, every: float = RENEW_SECONDS) -> str:
        """Renew until cancelled; returns the clear line if the lease was lost (this process stalled past
        the TTL and another poller took over)."""
        while True:
            await self._clock.sleep(every)
            try:
                if not await self._leases.renew(self.name, self._owner, self._ttl, self._clock.now()):
                    return one_poller(describe(await self._leases.holder(self.name)))
            except Exception as exc:  # a busy database: tried again next beat, well inside the TTL
                log.warning("telegram: could not renew the poller lease: %r", exc)

    async def release(self) -> None:
        try:
            await self._leases.release(self.name, self._owner)
        except Exception as exc:  # it expires on its own
            log.warning("telegram: could not release the poller lease: %r", exc)


async def renewing(lease: PollerLease, on_lost: asyncio.Future[str]) -> None:
    """The heartbeat task: a lost lease is reported through `on_lost`."""
    line = await lease.keep()
    if not on_lost.done():
        on_lost.set_result(line)
