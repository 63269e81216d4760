"""The console's moderators' desk (bot.moderation.desk.Desk): the console user moderates their own scope, so
alerts and held results are printed in the transcript (their images saved like results) instead of posted
in a channel. The console has no buttons: an item says what it is and its number."""

from __future__ import annotations

from pathlib import Path

from adapters.console.terminal import Terminal, save_images, show_delivery
from bot.messages import Delivery
from bot.moderation.desk import DeskItem


class ConsoleDesk:
    def __init__(self, terminal: Terminal, out_dir: Path) -> None:
        self._terminal = terminal
        self._out_dir = out_dir
        self._posted = 0

    async def post(self, place: str, item: DeskItem) -> str | None:
        held = item.kind == "review"
        self._terminal.line(f"[moderation] {'held for review' if held else 'alert'} #{item.item_id}: {item.text}")
        for path in await save_images(self._out_dir, f"{item.kind}-{item.item_id}", item.images):
            self._terminal.line(f"saved {path}")
        self._posted += 1
        return f"console:desk:{self._posted}"

    async def deliver(self, origin: str, delivery: Delivery) -> str | None:
        self._terminal.line("[moderation] approved:")
        await show_delivery(self._terminal, self._out_dir, delivery)
        return None

    async def tell(self, origin: str, text: str) -> None:
        self._terminal.line(text)

    async def delete(self, ref: str) -> bool:
        return False  # results are files the console user owns: nothing was posted to take down

    async def settle(self, ref: str, text: str) -> None:
        self._terminal.line(f"[moderation] {text}")
