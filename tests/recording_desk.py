"""A recording moderators' desk (the Desk port, bot.moderation.desk, is a seam we own): what an adapter
would have posted, delivered, told, deleted and settled. `broken` makes every call raise, as a desk
whose channel is gone; `hang` makes every call wait for ever, as a platform that never answers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from bot.core import Atelier
from bot.messages import Delivery
from bot.moderation.desk import DeskItem
from bot.moderation.policy import LOGCHANNEL

SCOPE = "test:guild:g1"
MODS = json.dumps({"chat": "mods"})


class DeskGone(Exception):
    pass


@dataclass
class RecordingDesk:
    posted: list[tuple[str, DeskItem]] = field(default_factory=list)
    delivered: list[tuple[str, Delivery]] = field(default_factory=list)
    told: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    settled: list[tuple[str, str]] = field(default_factory=list)
    broken: bool = False
    hang: bool = False

    async def _call(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.broken:
            raise DeskGone("Missing Access")

    async def post(self, place: str, item: DeskItem) -> str | None:
        await self._call()
        self.posted.append((place, item))
        return f"desk-{len(self.posted)}"

    async def deliver(self, origin: str, delivery: Delivery) -> str | None:
        await self._call()
        self.delivered.append((origin, delivery))
        return f"delivered-{len(self.delivered)}"

    async def tell(self, origin: str, text: str) -> None:
        await self._call()
        self.told.append((origin, text))

    async def delete(self, ref: str) -> bool:
        await self._call()
        self.deleted.append(ref)
        return True

    async def settle(self, ref: str, text: str) -> None:
        await self._call()
        self.settled.append((ref, text))

    def items(self, kind: str) -> list[DeskItem]:
        return [item for _, item in self.posted if item.kind == kind]


async def attach_desk(core: Atelier, scope: str = SCOPE) -> RecordingDesk:
    """A moderators' channel for `scope`, on a recording desk."""
    desk = RecordingDesk()
    core.attach_desk("test", desk)
    await core.store.settings.set(scope, LOGCHANNEL, MODS)
    return desk
