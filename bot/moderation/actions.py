"""What the buttons in the moderators' channel do: Delete, Ban user, Dismiss on alerts; Approve and
Reject on held results. Each press is checked again: only the scope's admins, only once."""

from __future__ import annotations

from bot.messages import Reply, Request
from bot.moderation.desk import ModVerb
from bot.moderation.desks import ModeratorDesks
from bot.results import ResultFiles
from bot.store import Store


class ModeratorActions:
    def __init__(self, store: Store, desks: ModeratorDesks, results: ResultFiles) -> None:
        self._store = store
        self._desks = desks
        self._results = results

    async def press(self, verb: ModVerb, item_id: int, request: Request, reply: Reply) -> None:
        await reply.send_error("Moderation buttons are not available yet.")
