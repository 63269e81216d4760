"""`atelier run`'s composition: every platform whose token is set, in one process, on one core and store."""

from __future__ import annotations

from pathlib import Path

from adapters.platforms import build_platforms, shut_down
from bot.command import GenerationParams
from bot.core import Atelier
from bot.messages import Reply, Request
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram
from tests.test_discord_harness import TIMEOUT, fake_discord  # noqa: F401 - the fixture
from tests.test_telegram_harness import USER, fake_telegram_fixture, telegram_settings  # noqa: F401


async def test_telegram_and_discord_share_one_core_and_store(
    tmp_path: Path,
    fake_agnes: FakeAgnes,
    fake_telegram: FakeTelegram,
    fake_discord: FakeDiscord,  # noqa: F811 - the fixture imported above
) -> None:
    discord = {"discord_token": fake_discord.token, "discord_guild_ids": str(fake_discord.guild_id)}
    settings = telegram_settings(tmp_path, fake_agnes, fake_telegram, **discord)
    core = await Atelier.start(settings)
    entered: list[tuple[str, str]] = []  # /imagine from either platform comes in by the same door
    imagine = core.imagine

    async def recorded(request: Request, params: GenerationParams, reply: Reply) -> str | None:
        entered.append((request.scope.platform, params.prompt))
        return await imagine(request, params, reply)

    core.imagine = recorded  # type: ignore[method-assign]
    platforms = build_platforms(core, settings)
    assert sorted(p.name for p in platforms) == ["discord", "telegram"]
    try:
        for platform in platforms:
            await platform.start()
        fake_telegram.push_message(USER, "/imagine a lighthouse")
        photo = await fake_telegram.wait_for("sendPhoto", timeout=TIMEOUT)
        inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a harbour"})
        followup = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
        assert photo.ok and followup.files
        assert entered == [("telegram", "a lighthouse"), ("discord", "a harbour")]
    finally:
        await shut_down(core, platforms, grace=2.0)  # as `atelier run` stops them
        await core.close(drain_seconds=0.0)

    reopened = await Atelier.start(settings)
    try:
        rows = await reopened.store.db.fetchall("SELECT scope_key, prompt, status FROM jobs ORDER BY created_at")
        assert [(row["prompt"], row["status"]) for row in rows] == [("a lighthouse", "done"), ("a harbour", "done")]
        assert rows[0]["scope_key"].startswith("telegram:") and rows[1]["scope_key"].startswith("discord:")
    finally:
        await reopened.close()
