"""Shared set-up for the Telegram tests: the real adapter (python-telegram-bot) against FakeTelegram
and FakeAgnes on 127.0.0.1. Imported by the other test_telegram_* modules."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from adapters.platforms import shut_down
from adapters.telegram.adapter import TelegramAdapter
from bot.config import Settings
from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import Call, FakeTelegram

TOKEN = "123456:TEST-fake-token-aBcDeFgHiJkLmNoP"
BOT_NAME = "AtelierBot"
USER = 1001
GROUP = -1001234567890
FAST = {
    "telegram_stream_edit_seconds_private": 0.3,
    "telegram_stream_edit_seconds_group": 0.5,
    "telegram_progress_delay_seconds": 0.0,
    "telegram_progress_edit_seconds": 0.5,
    "rate_limit_per_user_per_minute": 60,
}


async def wait_idle(adapter: TelegramAdapter, timeout: float = 10.0) -> None:
    """Wait until every update the adapter has picked up is fully handled."""
    pending = [task for task in adapter.handlers.inflight if not task.done()]
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout)


async def stop_bot(core: Atelier, adapter: TelegramAdapter) -> None:
    """In `atelier run`'s order: no new updates, jobs finish, then the session closes."""
    await shut_down(core, [adapter], grace=2.0)
    await core.close(drain_seconds=0.0)


@dataclass
class RunningBot:
    fake: FakeTelegram
    agnes: FakeAgnes
    settings: Settings
    core: Atelier
    adapter: TelegramAdapter

    async def idle(self, timeout: float = 10.0) -> None:
        await wait_idle(self.adapter, timeout)

    async def stop(self) -> None:
        await stop_bot(self.core, self.adapter)

    async def restart(self) -> None:
        """As if the process were restarted: new core and adapter on the same database."""
        await self.stop()
        self.core = await Atelier.start(self.settings)
        self.adapter = TelegramAdapter(self.core, self.settings)
        await self.adapter.start()


def telegram_settings(tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, **overrides: Any) -> Settings:
    values = {
        "telegram_token": fake.token,
        "telegram_base_url": fake.base_url,
        "telegram_base_file_url": fake.base_file_url,
        **FAST,
        **overrides,
    }
    return make_settings(tmp_path, agnes, **values)


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, **overrides: Any
) -> AsyncIterator[RunningBot]:
    settings = telegram_settings(tmp_path, agnes, fake, **overrides)
    core = await Atelier.start(settings)
    adapter = TelegramAdapter(core, settings)
    await adapter.start()
    bot = RunningBot(fake, agnes, settings, core, adapter)
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture(name="fake_telegram")
async def fake_telegram_fixture() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(token=TOKEN, bot_username=BOT_NAME)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(name="tg")
async def tg_fixture(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as bot:
        yield bot


def text_of(call: Call) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def says(text: str) -> Callable[[Call], bool]:
    return lambda call: text in text_of(call)


def uploaded_image(call: Call, field: str = "photo") -> Image.Image:
    _, data = call.files[field]
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


def replied_to(call: Call) -> int | None:
    reply = call.params.get("reply_parameters")
    return reply.get("message_id") if isinstance(reply, dict) else call.params.get("reply_to_message_id")
