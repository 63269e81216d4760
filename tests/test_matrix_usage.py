"""`!usage` on Matrix against a real Synapse: the chart's hint under the counts, `!usage chart` as a decodable
`m.image`, and `!usage export` as an `m.file` CSV for a room admin (power level 100) only."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.commands.usage_reports import CSV_HEADER, NOT_ADMIN
from tests.fakes.agnes_server import FakeAgnes
from tests.matrix_kit import Bot, Person, body_of, running_bot, sent_by
from tests.synapse_server import Synapse
from tests.test_matrix import member_joined

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def bot(synapse: Synapse, fake_agnes: FakeAgnes, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(synapse, fake_agnes, tmp_path) as running:
        yield running


@pytest.fixture
async def carol(synapse: Synapse) -> AsyncIterator[Person]:
    person = Person(synapse, synapse.register("carol"))
    yield person
    await person.aclose()


@pytest.fixture
async def dave(synapse: Synapse) -> AsyncIterator[Person]:
    person = Person(synapse, synapse.register("dave"))
    yield person
    await person.aclose()


@pytest.fixture
async def room(carol: Person, dave: Person, bot: Bot) -> str:
    """carol created it (power level 100), dave is a member (0)."""
    room_id = await carol.create_room(bot.user_id, dave.user_id)
    await dave.join(room_id)
    await carol.wait_for(room_id, member_joined(bot.user_id))
    return room_id


async def test_usage_says_how_to_get_the_chart_and_the_chart_is_a_decodable_image(
    carol: Person, bot: Bot, room: str
) -> None:
    await carol.say(room, "!imagine a lighthouse at dusk")
    await carol.wait_for(room, sent_by(bot.user_id, "m.image"))

    await carol.say(room, "!usage")
    [counts] = await carol.wait_for(room, lambda e: sent_by(bot.user_id)(e) and "Images today" in body_of(e))
    assert "Say !usage chart for the last 30 days as a picture." in body_of(counts)

    await carol.say(room, "!usage chart")
    [_, chart] = await carol.wait_for(room, sent_by(bot.user_id, "m.image"), count=2)
    content = chart["content"]
    assert content["filename"].endswith(".png") and content["body"].startswith("1 image here in the last 30 days")
    with Image.open(io.BytesIO(await carol.download(content["url"]))) as picture:
        assert picture.size == (content["info"]["w"], content["info"]["h"]) == (1200, 600)


async def test_export_is_a_csv_file_for_the_room_admin_and_refused_to_a_member(
    carol: Person, dave: Person, bot: Bot, room: str
) -> None:
    await dave.say(room, "!imagine a red boat")
    await dave.wait_for(room, sent_by(bot.user_id, "m.image"))

    await dave.say(room, "!usage export")
    [refusal] = await dave.wait_for(room, lambda e: sent_by(bot.user_id)(e) and "admins" in body_of(e))
    assert body_of(refusal) == NOT_ADMIN.replace("/usage", "!usage")

    await carol.say(room, "!usage export")
    [export] = await carol.wait_for(room, sent_by(bot.user_id, "m.file"))
    content = export["content"]
    assert content["filename"].endswith(".csv") and content["info"]["mimetype"] == "text/csv"
    header, *rows = list(csv.reader(io.StringIO((await carol.download(content["url"])).decode())))
    assert tuple(header) == CSV_HEADER
    [row] = rows
    assert row[1].startswith("dave") and [row[2], *row[4:]] == ["imagine", "done", "1"]
