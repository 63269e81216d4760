"""Telling users of jobs a crashed process left running (refunded since), once each, on any platform.
An adapter supplies `tell`: edit the job's status message or reply where it was asked; True when told."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.core import Atelier
from bot.store.jobs import InterruptedJob

log = logging.getLogger(__name__)

Tell = Callable[[InterruptedJob], Awaitable[bool]]


async def keep_telling(core: Atelier, platform: str, tell: Tell) -> None:
    """Tell users now and whenever more jobs are refunded, until cancelled."""
    while True:
        try:
            await tell_interrupted(core, platform, tell)
        except Exception as exc:  # the database busy, say: tried again next time
            log.warning("%s: could not tell users of interrupted jobs: %r", platform, exc)
        await core.more_interrupted()


async def tell_interrupted(core: Atelier, platform: str, tell: Tell) -> int:
    """Tell the users of this platform's interrupted jobs. Returns how many were told."""
    told = 0
    for job in await core.interrupted(platform):
        if not await core.mark_told(job.id):
            continue  # another process on this database got there first
        try:
            told += bool(await tell(job))
        except Exception as exc:  # the platform refused (chat gone, no rights): the next one is tried
            log.info("%s: could not tell a user of an interrupted job: %s", platform, type(exc).__name__)
    return told
