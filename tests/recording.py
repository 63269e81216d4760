"""An in-memory adapter for core tests: records what the core would show a user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.core import Atelier
from bot.messages import Button, Delivery, Progress, Reply, Request, Scope, ScopeKind, User


@dataclass(frozen=True)
class SentFile:
    name: str
    data: bytes
    mime: str
    caption: str


@dataclass
class RecordingReply(Reply):
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    streamed: list[list[str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    progress_updates: list[Progress] = field(default_factory=list)
    cleared: int = 0
    ideas: list[tuple[str, str, int]] = field(default_factory=list)  # (text, ideas id, count) from /describe
    buttons: list[tuple[str, list[Button]]] = field(default_factory=list)  # (text, buttons) from send_buttons
    files: list[SentFile] = field(default_factory=list)

    async def send_text(self, text: str) -> None:
        self.texts.append(text)

    async def send_error(self, text: str) -> None:
        self.errors.append(text)

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        parts: list[str] = []
        self.streamed.append(parts)
        async for chunk in chunks:
            parts.append(chunk)
        return "".join(parts)

    async def send_images(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    async def send_ideas(self, text: str, ideas_id: str, count: int) -> None:
        self.ideas.append((text, ideas_id, count))

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        self.texts.append(text)  # what a user reads, as send_text's
        self.buttons.append((text, buttons))

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        self.files.append(SentFile(name, data, mime, caption))

    async def progress(self, update: Progress) -> None:
        self.progress_updates.append(update)

    async def clear_progress(self) -> None:
        self.cleared += 1

    @property
    def everything(self) -> str:
        return "\n".join([*self.texts, *self.errors, *("".join(s) for s in self.streamed)])


def make_request(
    user_id: str = "u1",
    *,
    guild: str | None = "g1",
    images: list[bytes] | None = None,
    admin: bool = False,
    conversation: str | None = None,
    platform: str = "test",
) -> Request:
    scope = Scope(platform, ScopeKind.GUILD, guild) if guild else Scope(platform, ScopeKind.PRIVATE, user_id)
    return Request(
        user=User(platform, user_id, f"user {user_id}"),
        scope=scope,
        conversation=conversation or f"{scope.key}:main",
        images=list(images or []),
        is_admin=admin,
    )


async def say(core: Atelier, line: str, request: Request, reply: Reply) -> None:
    """Type one line of the text form, as the console does: the core's parser, then its door."""
    await core.run(core.parse(line), request, reply)
