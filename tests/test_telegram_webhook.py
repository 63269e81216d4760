"""Starting up: webhook mode (setWebhook with a secret token; only requests carrying it are processed)
and a clear error for a wrong token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.telegram.adapter import TelegramAdapter
from bot.core import Atelier
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (
    USER,
    fake_telegram_fixture,  # noqa: F401 - pytest fixtures
    running_bot,
    says,
    telegram_settings,
    text_of,
)


async def test_webhook_mode_checks_the_secret_token(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    url = "https://bot.example.org/telegram/hook"
    options = {
        "telegram_webhook_url": url,
        "telegram_webhook_listen": "127.0.0.1:0",
        "telegram_webhook_secret": "s3cret-Token_1",
    }
    async with running_bot(tmp_path, fake_agnes, fake_telegram, **options) as tg:
        registered = fake_telegram.calls("setWebhook")[0]
        assert registered.params["url"] == url and registered.params["secret_token"] == "s3cret-Token_1"
        assert fake_telegram.calls("getUpdates") == []
        assert tg.adapter.webhook is not None
        endpoint = f"http://127.0.0.1:{tg.adapter.webhook.port}/telegram/hook"
        update = fake_telegram.push_message(USER, "/help")
        async with httpx.AsyncClient() as client:
            forged = await client.post(endpoint, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
            missing = await client.post(endpoint, json=update)
            genuine = await client.post(
                endpoint, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            )
        answer = await fake_telegram.wait_for("sendMessage", says("/imagine"))

    assert (forged.status_code, missing.status_code, genuine.status_code) == (403, 403, 200)
    assert "Atelier makes and edits images" in text_of(answer)
    assert len(fake_telegram.calls("sendMessage")) == 1


async def test_a_wrong_token_is_one_clear_error(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    settings = telegram_settings(
        tmp_path, fake_agnes, fake_telegram, telegram_token="999999:WRONG-token-aBcDeFgHiJkLmN"
    )
    core = await Atelier.start(settings)
    try:
        with pytest.raises(RuntimeError, match="Telegram rejected TELEGRAM_TOKEN") as raised:
            await TelegramAdapter(core, settings).start()
        assert "WRONG-token" not in str(raised.value)
    finally:
        await core.close()
