"""`/usage` reports on Telegram (issue 15 item 4): the chart arrives as a photo, from `/usage chart` and from the
Chart button under `/usage` after a restart; a group's `/usage top|export` answer its admins only, the export
as a CSV document."""

from __future__ import annotations

import csv
import io

import pytest

from bot.commands.usage import CHART_BUTTON
from bot.commands.usage_reports import CSV_HEADER, NOT_ADMIN
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    GROUP,
    USER,
    RunningBot,
    buttons,
    fake_telegram_fixture,
    says,
    text_of,
    tg_fixture,
    uploaded_image,
)

pytestmark = pytest.mark.timeout(30)
ADMIN, MEMBER = 3001, 2001


async def imagined(tg: RunningBot, chat: int, user: int | None = None) -> None:
    """One image made, its job committed (the chart counts delivered images)."""
    tg.fake.push_message(chat, "/imagine@AtelierBot a lighthouse", user_id=user)
    await tg.fake.wait_for("sendPhoto")
    await tg.idle()


async def test_the_chart_button_under_usage_sends_the_chart_as_a_photo_after_a_restart(tg: RunningBot) -> None:
    fake = tg.fake
    await imagined(tg, USER)
    fake.push_message(USER, "/usage")
    shown = await fake.wait_for("sendMessage", says("Images today: you 1/"))
    assert buttons(shown) == [CHART_BUTTON.id]
    message = fake.message(USER, shown.result["message_id"])

    await tg.restart()
    fake.push_callback_query(message, CHART_BUTTON.id)
    answer = await fake.wait_for("answerCallbackQuery")
    chart = await fake.wait_for("sendPhoto", count=2)

    assert answer.ok and answer.params["text"] == "Drawing the chart…"
    image = uploaded_image(chart)
    assert image.format == "PNG" and image.size == (1200, 600)
    assert text_of(chart) == "1 image here in the last 30 days, 1 of them yours."


async def test_a_groups_chart_is_for_everyone_and_top_and_export_for_its_admins(tg: RunningBot) -> None:
    fake = tg.fake
    fake.set_chat_member(GROUP, ADMIN, "administrator")
    await imagined(tg, GROUP, MEMBER)

    fake.push_message(GROUP, "/usage@AtelierBot chart", user_id=MEMBER)
    chart = await fake.wait_for("sendPhoto", count=2)
    assert uploaded_image(chart).size == (1200, 600) and text_of(chart).startswith("1 image here")

    for report in ("top", "export"):
        fake.push_message(GROUP, f"/usage@AtelierBot {report}", user_id=MEMBER)
    refusals = await fake.wait_for("sendMessage", says(NOT_ADMIN), count=2)
    assert refusals.ok and not fake.calls("sendDocument")

    fake.push_message(GROUP, "/usage@AtelierBot export", user_id=ADMIN)
    document = await fake.wait_for("sendDocument")
    name, data = document.files["document"]
    assert name.endswith(".csv") and text_of(document).startswith("1 row: the image jobs")
    header, *rows = list(csv.reader(io.StringIO(data.decode())))
    assert tuple(header) == CSV_HEADER and len(rows) == 1 and (rows[0][2], rows[0][4]) == ("imagine", "done")
