"""The moderators' channel of each scope (`/mod logchannel`): where alerts and held results go,
through the Desk each adapter attaches for its platform."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from bot.clock import MONOTONIC, Clock
from bot.delivery import deliver_within
from bot.messages import Request
from bot.moderation.desk import Desk, DeskItem
from bot.moderation.policy import LOGCHANNEL
from bot.store.moderation import ModerationStore
from bot.store.settings import ScopeSettingsStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# A platform that keeps a desk call waiting (flood control, a slow upload) must not hold a job or a
# moderator's button for ever.
DESK_TIMEOUT_SECONDS = 30.0


def platform_of(scope_key: str) -> str:
    """`<platform>:<kind>:<id>` -> the platform whose Desk reaches it."""
    return scope_key.split(":", 1)[0]


def where(request: Request) -> str:
    """Where a request was made, as moderators read it (a Discord `<#id>` mention is a link there)."""
    if not request.channel:
        return "the main chat"
    if request.scope.platform == "discord":
        return f"<#{request.channel}>"
    return f"topic {request.channel}" if request.scope.platform == "telegram" else f"channel {request.channel}"


class ModeratorDesks:
    def __init__(
        self,
        settings: ScopeSettingsStore,
        moderation: ModerationStore,
        *,
        clock: Clock = MONOTONIC,
        timeout: float = DESK_TIMEOUT_SECONDS,
    ) -> None:
        self._settings = settings
        self._moderation = moderation
        self._clock = clock
        self._timeout = timeout
        self._desks: dict[str, Desk] = {}

    def attach(self, platform: str, desk: Desk) -> None:
        self._desks[platform] = desk

    def desk(self, platform: str) -> Desk | None:
        return self._desks.get(platform)

    async def within(self, call: Awaitable[T]) -> T:
        """Await one desk call, stopped after the timeout (raises DeliveryTimedOut then)."""
        return await deliver_within(self._clock, self._timeout, call)

    async def place(self, scope_key: str) -> str | None:
        """The moderators' channel of a scope (its origin JSON), or None when none is set."""
        return (await self._settings.all(scope_key)).get(LOGCHANNEL) or None

    async def post(self, platform: str, scope_key: str, item: DeskItem) -> str | None:
        """Post `item` in the scope's moderators' channel; the posted ref, or None (no channel set, no
        desk for the platform, or posting failed: logged, never raised)."""
        desk = self.desk(platform)
        if desk is None:
            return None
        try:
            place = await self.place(scope_key)
            if place is None:
                return None
            return await self.within(desk.post(place, item))
        except Exception as exc:  # a moderators' channel that is gone must not fail the job that reports to it
            log.warning(
                "%s: could not post %s %s to the moderators' channel: %r", scope_key, item.kind, item.item_id, exc
            )
            return None
