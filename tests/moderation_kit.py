"""Shared pieces of the moderation tests: the fake moderation API as a fixture and its settings, a core
started on them, a reply that returns a posted ref and records replaced answers, and a recording
moderators' desk (the Desk port, bot.moderation.desk, is a seam we own)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.core import Atelier
from bot.messages import Delivery, Request
from bot.moderation.desk import DeskItem, ModVerb
from bot.moderation.policy import LOGCHANNEL
from bot.store.moderation import AuditEntry
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.moderation_server import FakeModeration
from tests.recording import RecordingReply, make_request, say

SCOPE = "test:guild:g1"
MODS = json.dumps({"chat": "mods"})


@pytest.fixture(name="fake_moderation")
async def fake_moderation_fixture() -> AsyncIterator[FakeModeration]:
    """The fake OpenAI moderation API on 127.0.0.1 (import this into a test module to use it)."""
    server = await FakeModeration().start()
    yield server
    await server.stop()


def with_model(moderation: FakeModeration, **more: Any) -> dict[str, Any]:
    """Settings that check through the fake moderation API, plus `more`."""
    return {"moderation_api_url": moderation.base_url, "moderation_api_key": moderation.api_key, **more}


@contextlib.asynccontextmanager
async def started(tmp_path: Path, agnes: FakeAgnes, **overrides: Any) -> AsyncIterator[Atelier]:
    """A core on the test settings plus `overrides`, closed afterwards."""
    core = await Atelier.start(make_settings(tmp_path, agnes, **overrides))
    try:
        yield core
    finally:
        await core.close()


@pytest.fixture(name="moderated")
async def moderated_fixture(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> AsyncIterator[Atelier]:
    """A core that checks prompts, results and answers through the fake moderation API."""
    async with started(tmp_path, fake_agnes, **with_model(fake_moderation, moderation_timeout_seconds=1.0)) as core:
        yield core


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


def request_in(channel: str = "", *, user: str = "u1", **kwargs: object) -> Request:
    request = make_request(user, **kwargs)  # type: ignore[arg-type]
    request.channel = channel
    return request


async def send(core: Atelier, line: str, **request: object) -> ModReply:
    """One line of the text form from u1 (or as `request` says); what they were shown."""
    reply = ModReply()
    await say(core, line, request_in(**request), reply)  # type: ignore[arg-type]
    return reply


def moderator(user: str = "m1", *, admin: bool = True, guild: str = "g1") -> Request:
    return make_request(user, admin=admin, guild=guild)


async def press(core: Atelier, verb: ModVerb, item_id: int, request: Request | None = None) -> RecordingReply:
    """A moderator's button press (m1, an admin of g1, unless `request`); what they were told."""
    reply = RecordingReply()
    await core.moderate(verb, item_id, request or moderator(), reply)
    return reply


async def audit(core: Atelier, scope: str = SCOPE) -> list[AuditEntry]:
    """Oldest first."""
    return list(reversed(await core.store.moderation.recent(scope, 50)))


async def used(core: Atelier, user: str = "u1", guild: str = "g1") -> tuple[int, int]:
    usage = await core.store.quotas.usage(f"test:guild:{guild}", f"test:{user}")
    return usage.user_used, usage.scope_used


def every_mod_line(member: str, role: str | None = None) -> list[str]:
    """Every /mod subcommand, as a member might try it; `role` where the platform has roles."""
    roles = [f"/mod roles allow {role}"] if role else []
    return [
        "/mod",
        "/mod block add cat",
        "/mod block remove cat",
        "/mod block list",
        f"/mod ban {member}",
        f"/mod unban {member}",
        "/mod bans",
        "/mod channel off",
        *roles,
        "/mod roles clear",
        "/mod strictness high",
        "/mod output spoiler",
        "/mod nsfw on",
        "/mod log",
        "/mod logchannel",
        "/mod review on",
    ]


class DeskGone(Exception):
    pass


@dataclass
class RecordingDesk:
    """What an adapter would have posted, delivered, told, deleted and settled. `broken` makes every call
    raise, as a desk whose channel is gone; `hang` makes every call wait for ever, as a platform that never
    answers."""

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
