"""Shared pieces of the core moderation tests: a reply that returns a posted ref and records replaced
answers, and a recording moderators' desk (the Desk port is a seam we own)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.core import Atelier
from bot.messages import Delivery, Request
from bot.moderation.desk import DeskItem
from bot.moderation.policy import LOGCHANNEL
from bot.store.moderation import AuditEntry
from tests.recording import RecordingReply, make_request

SCOPE = "test:guild:g1"
MODS = json.dumps({"chat": "mods"})


@dataclass
class ModReply(RecordingReply):
    replaced: list[str] = field(default_factory=list)

    async def send_images(self, delivery: Delivery) -> str | None:  # type: ignore[override]
        self.deliveries.append(delivery)
        return json.dumps({"message": f"posted-{len(self.deliveries)}"})

    async def replace_answer(self, text: str) -> None:
        self.replaced.append(text)

    @property
    def shown_answer(self) -> str:
        """What a reader sees last: a replaced answer reads as its notice."""
        if self.replaced:
            return self.replaced[-1]
        return "".join(self.streamed[-1]) if self.streamed else ""


@dataclass
class RecordingDesk:
    posted: list[tuple[str, DeskItem]] = field(default_factory=list)

    async def post(self, place: str, item: DeskItem) -> str | None:
        self.posted.append((place, item))
        return f"desk-{len(self.posted)}"

    async def deliver(self, origin: str, delivery: Delivery) -> str | None:
        return None

    async def tell(self, origin: str, text: str) -> None:
        return None

    async def delete(self, ref: str) -> bool:
        return True

    async def settle(self, ref: str, text: str) -> None:
        return None


async def with_desk(core: Atelier) -> RecordingDesk:
    """A moderators' channel for the test scope, on a recording desk."""
    desk = RecordingDesk()
    core.attach_desk("test", desk)
    await core.store.settings.set(SCOPE, LOGCHANNEL, MODS)
    return desk


def request_in(channel: str = "", *, user: str = "u1", **kwargs: object) -> Request:
    request = make_request(user, **kwargs)  # type: ignore[arg-type]
    request.channel = channel
    return request


async def audit(core: Atelier, scope: str = SCOPE) -> list[AuditEntry]:
    """Oldest first."""
    return list(reversed(await core.store.moderation.recent(scope, 50)))


async def used(core: Atelier, user: str = "u1", guild: str = "g1") -> tuple[int, int]:
    usage = await core.store.quotas.usage(f"test:guild:{guild}", f"test:{user}")
    return usage.user_used, usage.scope_used
