"""Handlers still at work, so stopping can let them finish (an answer delivered, its history stored)
before the connection to Discord closes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import discord

RESTARTING = "Atelier is restarting: please try again in a minute."


async def turned_away(interaction: discord.Interaction) -> bool:
    """While the bot stops (its client's `taking_requests` is off), a new command or button press is
    answered that it is restarting, and not run. Returns True when it was turned away."""
    if getattr(interaction.client, "taking_requests", True):
        return False
    with contextlib.suppress(discord.HTTPException):
        await interaction.response.send_message(RESTARTING, ephemeral=True)
    return True


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def wait(self, timeout: float) -> int:
        """Wait up to `timeout` seconds; returns how many handlers were still running."""
        current = asyncio.current_task()
        pending = {task for task in self._tasks if not task.done() and task is not current}
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=timeout)
        return len(still)
