"""Interrupted jobs on Discord. After a crash: the dead process's job is refunded at start, its status
edited to say so with the Cancel button gone, and that button then explains. At shutdown: a job cut off
does not leave its "Working… / Cancel" status behind."""

from __future__ import annotations

import json
from pathlib import Path

import discord
import pytest

from adapters.discord.recovery import STOPPED_NOTICE
from adapters.discord.views import status_view
from adapters.platforms import shut_down
from bot.commands.actions import INTERRUPTED_NOTICE
from bot.store.jobs import JobStatus
from tests import test_discord_harness as harness
from tests.conftest import make_settings
from tests.crashed_jobs import leave_crashed_job
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord
from tests.test_discord_harness import TIMEOUT, ephemeral_followup, eventually, running

fake_discord = harness.fake_discord  # the fixture, shared with the harness module

pytestmark = pytest.mark.timeout(30)
ROUTE = "/channels/{channel_id}/messages/{message_id}"


async def post_as_the_bot(fake: FakeDiscord, text: str, view: discord.ui.View | None = None) -> discord.Message:
    """A message the dead process sent (REST only, no gateway)."""
    client = discord.Client(intents=discord.Intents.none())
    await client.login(fake.token)
    try:
        channel = await client.fetch_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)
        return await channel.send(text, view=view) if view is not None else await channel.send(text)
    finally:
        await client.close()


async def crashed_job(path: Path, fake: FakeDiscord, job_id: str, status: discord.Message | None) -> None:
    user = int(fake.user["id"])
    await leave_crashed_job(
        path, job_id, user_key=f"discord:{user}", scope=f"discord:guild:{fake.guild_id}", prompt="p",
        origin={"channel": fake.channel_id, "user": user},
        status=None if status is None else {"channel": status.channel.id, "message": status.id},
    )  # fmt: skip


async def test_after_a_crash_the_status_is_edited_and_its_cancel_button_explains(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    status = await post_as_the_bot(fake, "🎨 Working… 12s", status_view("crashedjob"))
    shown_before = dict(fake.message(status.id))
    settings = make_settings(tmp_path, fake_agnes)
    await crashed_job(settings.database_path, fake, "crashedjob", status)

    async with running(tmp_path, fake_agnes, fake) as bot:
        edit = await fake.wait_for_request("PATCH", ROUTE, TIMEOUT, message_id=str(status.id))
        assert edit.json is not None and edit.json["content"] == INTERRUPTED_NOTICE
        assert fake.message(status.id)["components"] == []  # no Cancel button left
        record = await bot.core.store.jobs.get("crashedjob")
        assert record is not None and record.status is JobStatus.FAILED

        # A client still showing the old button: pressing it says what happened.
        click = await fake.dispatch_component("atelier:cancel:crashedjob", message=shown_before)
        notice = await ephemeral_followup(fake, click)
        assert notice.json["content"] == INTERRUPTED_NOTICE


async def test_after_a_crash_a_job_without_a_status_is_told_in_its_channel(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    settings = make_settings(tmp_path, fake_agnes)
    await crashed_job(settings.database_path, fake, "quickjob", None)
    async with running(tmp_path, fake_agnes, fake):
        told = await fake.wait_for_request("POST", "/channels/{channel_id}/messages", TIMEOUT)
        assert told.json is not None
        assert told.json["content"] == f"<@{fake.user['id']}> {INTERRUPTED_NOTICE}"
        assert "users" in told.json["allowed_mentions"]["parse"]  # the mention reaches its user


async def test_a_job_cut_off_at_shutdown_leaves_no_working_status_behind(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake_agnes.faults = ["timeout"]  # the provider never answers in time
    try:
        async with running(tmp_path, fake_agnes, fake, discord_progress_delay_seconds=0.0) as bot:
            inter = await fake.dispatch_slash_command("imagine", {"prompt": "a slow lighthouse"})
            status = await fake.wait_until(
                lambda: (m := fake.original_response(inter)) and m["components"] and m, TIMEOUT, what="a status"
            )

            async def noted() -> str | None:
                row = await bot.core.store.db.fetchone("SELECT status_ref FROM jobs")
                return row["status_ref"] if row else None

            assert json.loads(await eventually(noted))["message"] == int(status["id"])

            await shut_down(bot.core, [bot.adapter], 0.0)  # no grace: the job is cut off

            left = fake.message(int(status["id"]))
            assert left["content"] == STOPPED_NOTICE and left["components"] == []
    finally:
        fake_agnes.release()
