"""`/mod ...`: a scope's admins set its moderation: blocked terms, bans, channel rules, role lists,
strictness, flagged-output handling, the audit log, the moderators' channel and the review queue."""

from __future__ import annotations

from bot.command import Moderate
from bot.config import Settings
from bot.messages import Reply, Request
from bot.store import Store

NOT_ADMIN = "Only this server's admins can use /mod."


class ModCommand:
    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store

    async def run(self, request: Request, command: Moderate, reply: Reply) -> None:
        if not request.is_admin:
            await reply.send_error(NOT_ADMIN)
            return
        await reply.send_error("/mod is not available yet.")
