"""What every reply shares: the API, the links from sent events to conversations and jobs (kept in the
store, so threads, replies and reactions still work after a restart), and background tasks the adapter
waits for when it stops. Also the one place the core's `/command` wording becomes Matrix's `!command`."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.matrix.addressing import ACTION_WORDS, PREFIX
from adapters.matrix.api import MatrixApi
from adapters.matrix.events import Target, message_key
from adapters.matrix.settings import MatrixSettings
from bot.command import CommandName
from bot.store.conversations import ConversationStore
from bot.tasks import Background

log = logging.getLogger(__name__)

_NAMES = "|".join(sorted([*(name.value for name in CommandName), *ACTION_WORDS], key=len, reverse=True))
# `/imagine` as the core writes it, but not inside a path or URL (`a/imagine`, `https://x/imagine`).
_SLASH_COMMAND = re.compile(rf"(?<![\w/:.]){re.escape('/')}({_NAMES})\b")


def as_bang(text: str) -> str:
    """The core names commands `/imagine`; Matrix bots are addressed `!imagine`."""
    return _SLASH_COMMAND.sub(lambda match: PREFIX + match.group(1), text)


def text_content(text: str, *, notice: bool = False) -> dict[str, Any]:
    return {"msgtype": "m.notice" if notice else "m.text", "body": as_bang(text)}


@dataclass
class Outbox:
    api: MatrixApi
    links: ConversationStore
    matrix: MatrixSettings
    background: Background = field(default_factory=lambda: Background(log, "matrix"))
    # The core's note_status: told of each job's "working" notice, to edit it if the process dies.
    on_status: Callable[[str, str], Awaitable[None]] | None = None

    async def post(self, target: Target, content: dict[str, Any], *, reply: bool) -> str:
        return await self.api.send(target.room_id, target.content(content, reply=reply))

    async def link(
        self, room_id: str, event_id: str, *, conversation: str | None = None, job_id: str | None = None
    ) -> None:
        """Remember which conversation or job an event belongs to (survives restarts)."""
        await self.links.link_message(message_key(room_id, event_id), conversation=conversation, job_id=job_id)

    async def linked(self, room_id: str, event_id: str) -> tuple[str | None, str | None]:
        return await self.links.linked(message_key(room_id, event_id))
