"""Which platform adapters `atelier run` starts (each one whose token is set), and the order they stop in."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from adapters.matrix.settings import load_matrix_settings
from bot.config import Settings
from bot.core import Atelier

log = logging.getLogger(__name__)

# After the jobs, handlers still at work (a streamed answer, a button press) get at least this long.
MIN_CLOSE_SECONDS = 2.0


class Platform(Protocol):
    name: str
    # Set once started, if the platform can stop on its own (Telegram's poller meeting another one): its
    # result is the one line `atelier run` prints before exiting with status 1. None: it never does.
    failure: asyncio.Future[str] | None

    async def start(self) -> None:
        """Connect and start taking updates; raises with a message an operator can act on."""
        ...

    async def stop_intake(self) -> None:
        """Take no new updates; running work goes on and can still answer."""
        ...

    async def close(self, grace: float) -> None:
        """Let handlers still at work finish (at most `grace` seconds), then close the platform session."""
        ...

    def alive(self) -> bool:
        """Started and still taking updates (for /healthz, bot.health); False once it has stopped."""
        ...


def build_platforms(core: Atelier, settings: Settings) -> list[Platform]:
    platforms: list[Platform] = []
    if settings.telegram_token is not None:
        from adapters.telegram.adapter import TelegramAdapter

        platforms.append(TelegramAdapter(core, settings))
    if settings.discord_token is not None:
        from adapters.discord.adapter import DiscordAdapter

        platforms.append(DiscordAdapter(core, settings))
    if (matrix := load_matrix_settings()).configured:
        from adapters.matrix.adapter import MatrixAdapter

        platforms.append(MatrixAdapter(core, settings, matrix))
    return platforms


async def shut_down(core: Atelier, platforms: list[Platform], grace: float) -> None:
    """The stopping order: no new work anywhere; running jobs finish and deliver within `grace` (what is
    cut off is refunded and its user told, while the sessions are still open); then the sessions close."""
    for platform in platforms:
        try:
            await platform.stop_intake()
        except Exception as exc:
            log.warning("%s: could not stop taking updates: %s", platform.name, type(exc).__name__)
    started = time.monotonic()
    await core.runner.drain(grace)
    left = max(grace - (time.monotonic() - started), MIN_CLOSE_SECONDS)
    for platform in reversed(platforms):
        try:
            await platform.close(left)
        except Exception as exc:
            log.warning("%s: could not close cleanly: %s", platform.name, type(exc).__name__)
