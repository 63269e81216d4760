"""The port an adapter implements so the core can reach moderators and requesters outside one reply:
the moderators' channel (`/mod logchannel`), approved results posted where they were asked for, and
a posted result removed. `place` and `origin` are the adapter's own JSON (a Request's `origin`);
`ref` is what the adapter returned for a message it posted (`Reply.send_images`, `Desk.post`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.messages import Delivery, ResultImage

BUTTON_PREFIX = "atelier-mod"


class ModVerb(StrEnum):
    """The buttons under an item in the moderators' channel."""

    DELETE = "delete"  # remove the posted result (an alert about something that was posted)
    BAN = "ban"  # ban the requester from the bot in this server/group
    DISMISS = "dismiss"  # nothing to do: the item is closed
    APPROVE = "approve"  # a held result (review queue) is posted where it was asked for
    REJECT = "reject"  # a held result is not posted; its requester is told


@dataclass
class DeskItem:
    """One thing moderators look at: an alert (an audit entry) or a held result (a review)."""

    kind: str  # "alert" or "review"
    item_id: int  # the audit entry id (alert) or the review id (review): what the buttons name
    text: str  # who, where, what was asked, and why it is here (rule, categories and scores)
    images: list[ResultImage] = field(default_factory=list)  # shown behind a spoiler
    buttons: list[ModVerb] = field(default_factory=list)


def mod_button_id(verb: ModVerb, item_id: int) -> str:
    """`atelier-mod:<verb>:<item id>`: short enough for Telegram's 64-byte callback data."""
    return f"{BUTTON_PREFIX}:{verb}:{item_id}"


def parse_mod_button(custom_id: str) -> tuple[ModVerb, int] | None:
    parts = custom_id.split(":")
    if len(parts) != 3 or parts[0] != BUTTON_PREFIX or not parts[2].isdecimal():
        return None
    try:
        return ModVerb(parts[1]), int(parts[2])
    except ValueError:
        return None


class Desk(Protocol):
    """One per platform, attached by its adapter (`Atelier.attach_desk`). Methods may raise; callers
    log the failure and carry on (a moderators' channel that is gone must not fail a job)."""

    async def post(self, place: str, item: DeskItem) -> str | None:
        """Post `item` in the moderators' channel `place`, its images behind a spoiler, with a button per
        verb (ids from `mod_button_id`). Returns the posted message's ref."""
        ...

    async def deliver(self, origin: str, delivery: Delivery) -> str | None:
        """Post an approved result where it was asked for (`origin`, the request's), as a reply to the
        request where the platform can, naming the requester, with the result's buttons. Returns its ref."""
        ...

    async def tell(self, origin: str, text: str) -> None:
        """Tell the requester of `origin` something (a rejected review), in the place they asked."""
        ...

    async def delete(self, ref: str) -> bool:
        """Remove a posted message (`ref` from `Reply.send_images` or `deliver`). False when it was gone."""
        ...

    async def settle(self, ref: str, text: str) -> None:
        """A moderator acted on the desk message `ref`: remove its buttons and add `text` (who did what)."""
        ...
