"""`!usage` on Matrix against a real Synapse: the chart's hint under the counts, `!usage chart` as a decodable
`m.image`, and `!usage export` as an `m.file` CSV for a room admin (power level 100) only."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from bot.commands.usage_reports import CSV_HEADER, NOT_ADMIN
from tests import test_matrix
from tests.matrix_kit import Bot, Person, body_of, sent_by

# Fixtures shared with tests/test_matrix.py: a room of three, alice created it (power level 100), bob is a member.
bot, alice, bob, room = test_matrix.bot, test_matrix.alice, test_matrix.bob, test_matrix.room

pytestmark = pytest.mark.timeout(90)


async def test_usage_says_how_to_get_the_chart_and_the_chart_is_a_decodable_image(
    alice: Person, bot: Bot, room: str
) -> None:
    await alice.say(room, "!imagine a lighthouse at dusk")
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"))

    await alice.say(room, "!usage")
    [counts] = await alice.wait_for(room, lambda e: sent_by(bot.user_id)(e) and "Images today" in body_of(e))
    assert "Say !usage chart for the last 30 days as a picture." in body_of(counts)

    await alice.say(room, "!usage chart")
    [_, chart] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=2)
    content = chart["content"]
    assert content["filename"].endswith(".png") and content["body"].startswith("1 image here in the last 30 days")
    with Image.open(io.BytesIO(await alice.download(content["url"]))) as picture:
        assert picture.size == (content["info"]["w"], content["info"]["h"]) == (1200, 600)


async def test_export_is_a_csv_file_for_the_room_admin_and_refused_to_a_member(
    alice: Person, bob: Person, bot: Bot, room: str
) -> None:
    await bob.say(room, "!imagine a red boat")
    await bob.wait_for(room, sent_by(bot.user_id, "m.image"))

    await bob.say(room, "!usage export")
    [refusal] = await bob.wait_for(room, lambda e: sent_by(bot.user_id)(e) and "admins" in body_of(e))
    assert body_of(refusal) == NOT_ADMIN.replace("/usage", "!usage")

    await alice.say(room, "!usage export")
    [export] = await alice.wait_for(room, sent_by(bot.user_id, "m.file"))
    content = export["content"]
    assert content["filename"].endswith(".csv") and content["info"]["mimetype"] == "text/csv"
    header, *rows = list(csv.reader(io.StringIO((await alice.download(content["url"])).decode())))
    assert tuple(header) == CSV_HEADER
    [row] = rows
    assert row[1].startswith("bob") and [row[2], *row[4:]] == ["imagine", "done", "1"]
