"""The review queue (`/mod review on` in a channel): results there go to the moderators' channel
first, with Approve / Reject; approved ones are posted as a reply to the request, rejected ones are
not, and the requester is told. Pending reviews live in the database and survive restarts."""

from __future__ import annotations

import logging

from bot.messages import Delivery, Request
from bot.moderation.desk import DeskItem, ModVerb
from bot.moderation.desks import ModeratorDesks, where
from bot.store import Store
from bot.store.moderation import ReviewStatus

log = logging.getLogger(__name__)

HELD = "Your image is waiting for a moderator's approval; you'll get it here once approved."
UNPOSTED = "nobody: the moderators' channel could not be reached"
PROMPT_SHOWN = 200  # characters of a prompt quoted back to a requester


def prompt_of(caption: str, limit: int | None = None) -> str:
    """The prompt a result caption starts with (bot.captions.result_caption), trimmed to `limit`."""
    prompt = caption.split("\n(", 1)[0].strip()
    if limit is not None and len(prompt) > limit:
        prompt = prompt[: limit - 1].rstrip() + "…"
    return prompt


class ReviewQueue:
    def __init__(self, store: Store, desks: ModeratorDesks) -> None:
        self._store = store
        self._desks = desks

    async def hold(self, request: Request, delivery: Delivery) -> str | None:
        """Send a finished result to the moderators instead of the requester. Returns what to tell the
        requester, or None when it could not be held (no moderators' channel): the caller then withholds."""
        platform, scope_key = request.scope.platform, request.scope.key
        if self._desks.desk(platform) is None or await self._desks.place(scope_key) is None:
            return None
        review_id = await self._store.moderation.add_review(
            delivery.job_id, scope_key, request.user.key, request.origin, delivery.caption
        )
        item = DeskItem(
            kind="review",
            item_id=review_id,
            text=f"Review: {request.user.name} asked in {where(request)} for: {prompt_of(delivery.caption)}",
            images=list(delivery.images),
            buttons=[ModVerb.APPROVE, ModVerb.REJECT],
        )
        ref = await self._desks.post(platform, scope_key, item)
        if ref is None:
            # Nothing for a moderator to press: the caller withholds it, and the review is closed so no
            # list of pending reviews shows it.
            log.warning("%s: review %s of job %s could not be posted", scope_key, review_id, delivery.job_id)
            await self._store.moderation.decide(review_id, ReviewStatus.REJECTED, UNPOSTED)
            return None
        await self._store.moderation.note_review_ref(review_id, ref)
        return HELD
