"""Which platform adapters `atelier run` starts: each one whose token is set."""

from __future__ import annotations

from typing import Protocol

from bot.config import Settings
from bot.core import Atelier


class Platform(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_platforms(core: Atelier, settings: Settings) -> list[Platform]:
    platforms: list[Platform] = []
    if settings.telegram_token is not None:
        from adapters.telegram.adapter import TelegramAdapter

        platforms.append(TelegramAdapter(core, settings))
    if settings.discord_token is not None:
        from adapters.discord.adapter import DiscordAdapter

        platforms.append(DiscordAdapter(core, settings))
    return platforms
