"""The stopping order on Discord (issue 9, item 2): no new requests, the running job finishes and delivers,
and only then does the connection close. Telegram's is tested as a process in test_telegram_shutdown."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.inflight import RESTARTING
from adapters.platforms import shut_down
from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord, poll_until
from tests.test_discord_harness import TIMEOUT, fake_discord  # noqa: F401 - a pytest fixture
from tests.test_telegram_shutdown import image_request


async def test_discord_turns_new_requests_away_and_delivers_the_running_job_before_closing(
    tmp_path: Path,
    fake_agnes: FakeAgnes,
    fake_discord: FakeDiscord,  # noqa: F811 - the fixture
) -> None:
    fake_agnes.faults = ["timeout"]  # the provider answers only when released
    settings = make_settings(
        tmp_path, fake_agnes, discord_token=fake_discord.token, discord_guild_ids=str(fake_discord.guild_id)
    )
    core = await Atelier.start(settings)
    adapter = DiscordAdapter(core, settings, guild_ready_timeout=0.05)
    await adapter.start()
    try:
        running = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a slow lighthouse"})
        await image_request(fake_agnes)
        stopping = asyncio.create_task(shut_down(core, [adapter], grace=10.0))

        async def intake_stopped() -> bool:
            return adapter.client is not None and not adapter.client.taking_requests

        await poll_until(intake_stopped, TIMEOUT)
        late = await fake_discord.dispatch_slash_command("imagine", {"prompt": "too late"})
        refusal = await fake_discord.wait_for_callback(late, TIMEOUT)
        fake_agnes.release()
        delivered = await fake_discord.wait_for_followup(running, timeout=TIMEOUT)
        await asyncio.wait_for(stopping, TIMEOUT)
        assert adapter.client is None  # closed, after the delivery
    finally:
        await adapter.stop()
        await core.close(drain_seconds=0.0)

    assert RESTARTING in str(refusal.json), refusal.json
    assert delivered.files and len(fake_agnes.image_requests()) == 1
    with sqlite3.connect(tmp_path / "atelier.db") as db:
        assert list(db.execute("SELECT status FROM jobs")) == [("done",)]
