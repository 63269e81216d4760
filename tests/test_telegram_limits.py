"""A member flooding `/imagine` through Telegram: one "slow down", not one per message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    USER,
    fake_telegram_fixture,
    running_bot,
    says,
    text_of,
)

pytestmark = pytest.mark.timeout(30)


async def test_a_flood_of_imagine_gets_one_slow_down(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram, rate_limit_per_user_per_minute=2) as tg:
        fake = tg.fake
        for index in range(10):
            fake.push_message(USER, f"/imagine a lighthouse, take {index}")
        await fake.wait_until_confirmed()
        await fake.wait_for("sendPhoto", count=2)
        await tg.idle()
        slow = [call for call in fake.calls("sendMessage") if "Slow down" in text_of(call)]
        assert len(slow) == 1 and "Try again in" in text_of(slow[0])
        assert len(fake.calls("sendPhoto")) == 2 and len(fake_agnes.image_requests()) == 2
