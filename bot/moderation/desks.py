"""The moderators' channel of each scope (`/mod logchannel`): where alerts and held results go,
through the Desk each adapter attaches for its platform."""

from __future__ import annotations

from bot.moderation.desk import Desk, DeskItem
from bot.store.moderation import ModerationStore
from bot.store.settings import ScopeSettingsStore


class ModeratorDesks:
    def __init__(self, settings: ScopeSettingsStore, moderation: ModerationStore) -> None:
        self._settings = settings
        self._moderation = moderation
        self._desks: dict[str, Desk] = {}

    def attach(self, platform: str, desk: Desk) -> None:
        self._desks[platform] = desk

    def desk(self, platform: str) -> Desk | None:
        return self._desks.get(platform)

    async def place(self, scope_key: str) -> str | None:
        """The moderators' channel of a scope (its origin JSON), or None when none is set."""
        return None

    async def post(self, platform: str, scope_key: str, item: DeskItem) -> str | None:
        """Post `item` in the scope's moderators' channel; the posted ref, or None (no channel set, no
        desk for the platform, or posting failed: logged, never raised)."""
        return None
