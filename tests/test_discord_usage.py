"""`/usage` reports on Discord (issue 15 item 4): the chart arrives as an uploaded PNG, privately; the Chart button
under `/usage` works after a restart; `/usage report:top|export` answer admins (Manage Server) only."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bot.commands.usage import CHART_BUTTON
from bot.commands.usage_reports import CSV_HEADER, NOT_ADMIN
from tests import test_discord_harness as harness
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord, Permission
from tests.test_discord_harness import (
    TIMEOUT,
    Bot,
    button_ids,
    decode,
    ephemeral_followup,
    eventually,
    followup_where,
    is_ephemeral,
    running,
)

fake_discord = harness.fake_discord
bot = harness.bot
pytestmark = pytest.mark.timeout(60)


async def imagined(bot: Bot, fake: FakeDiscord) -> None:
    """One image made in the server, its job committed (the chart counts delivered images)."""
    inter = await fake.dispatch_slash_command("imagine", {"prompt": "a lighthouse"})
    await fake.wait_for_followup(inter, timeout=TIMEOUT)

    async def committed() -> bool:
        rows = await bot.core.store.db.fetchall("SELECT id FROM jobs WHERE status = 'done'")
        return len(rows) == 1

    await eventually(committed)


async def test_the_chart_button_under_usage_uploads_the_chart_privately_after_a_restart(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_discord: FakeDiscord
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord) as first:
        await imagined(first, fake_discord)
        shown = await ephemeral_followup(fake_discord, await fake_discord.dispatch_slash_command("usage"))
    assert "Images today: you 1/" in shown.json["content"]
    assert button_ids(shown.json) == [CHART_BUTTON.id]

    async with running(tmp_path, fake_agnes, fake_discord):  # new client, new core, same database
        click = await fake_discord.dispatch_component(CHART_BUTTON.id, message=shown.message_id)
        callback = await fake_discord.wait_for_callback(click, TIMEOUT)
        assert callback.json["data"]["flags"] & 64  # deferred ephemerally: the chart is the presser's
        chart = await followup_where(fake_discord, click, lambda r: bool(r.files))

    [upload] = chart.files
    assert upload.filename.endswith(".png")  # Discord shows a .png attachment as a picture
    image = decode(upload.data)
    assert image.format == "PNG" and image.size == (1200, 600)
    assert chart.json["content"].startswith("1 image here in the last 30 days") and is_ephemeral(chart)


async def test_usage_reports_from_the_slash_command_option(fake_discord: FakeDiscord, bot: Bot) -> None:
    await imagined(bot, fake_discord)

    chart = await ephemeral_followup(
        fake_discord, await fake_discord.dispatch_slash_command("usage", {"report": "chart"})
    )
    assert decode(chart.files[0].data).size == (1200, 600)

    for report in ("top", "export"):
        refused = await ephemeral_followup(
            fake_discord, await fake_discord.dispatch_slash_command("usage", {"report": report}, member_permissions=0)
        )
        assert refused.json["content"] == NOT_ADMIN and not refused.files

    admin = int(Permission.MANAGE_GUILD)
    export = await followup_where(
        fake_discord,
        await fake_discord.dispatch_slash_command("usage", {"report": "export"}, member_permissions=admin),
        lambda r: bool(r.files),
    )
    [upload] = export.files
    assert upload.filename.endswith(".csv")
    header, *rows = list(csv.reader(io.StringIO(upload.data.decode())))
    assert tuple(header) == CSV_HEADER and len(rows) == 1
    assert (rows[0][2], rows[0][4], rows[0][5]) == ("imagine", "done", "1")
    top = await followup_where(
        fake_discord,
        await fake_discord.dispatch_slash_command("usage", {"report": "top"}, member_permissions=admin),
        lambda r: True,
    )
    assert top.json["content"].startswith("Most active here in the last 7 days:\n1. ")
    assert "1 image, 0 chat turns" in top.json["content"]
