"""Moderation on Matrix: a room's admins (power level 50+) set its rules with `!mod`, and a flagged result in
spoiler mode is posted as a file, never shown inline (Matrix images have no spoiler)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.matrix_kit import Person, body_of, running_bot, sent_by
from tests.moderation_kit import fake_moderation_fixture, with_model  # noqa: F401  (the fake moderation API)
from tests.synapse_server import Synapse
from tests.test_matrix import member_joined

RED = (255, 0, 0)


@pytest.fixture
async def alice(synapse: Synapse) -> AsyncIterator[Person]:
    person = Person(synapse, synapse.register("alice"))
    yield person
    await person.aclose()


async def test_spoiler_mode_posts_a_flagged_result_as_a_file_and_review_mode_says_it_is_not_here(
    synapse: Synapse, fake_agnes: FakeAgnes, fake_moderation: FakeModeration, tmp_path: Path, alice: Person
) -> None:
    fake_agnes.image = png_bytes(color=RED)
    fake_moderation.flag_images(colour=RED, violence=0.95)
    bob = Person(synapse, synapse.register("bob"))
    core = with_model(fake_moderation, moderation_timeout_seconds=5.0)
    async with running_bot(synapse, fake_agnes, tmp_path, core=core) as bot:
        room = await alice.create_room(bot.user_id, bob.user_id)
        await bob.join(room)
        await alice.wait_for(room, member_joined(bot.user_id))
        await alice.say(room, "!mod output spoiler")
        await alice.wait_for(room, lambda e: sent_by(bot.user_id)(e) and "spoiler" in body_of(e).lower())
        await alice.say(room, "!imagine a battle scene")
        [flagged] = await alice.wait_for(room, sent_by(bot.user_id, "m.file"))
        fake_agnes.image = png_bytes(color=(40, 90, 200))  # a clean result: shown as an image
        await alice.say(room, "!imagine a calm meadow")
        await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
        await alice.say(room, "!mod review on")
        [unavailable] = await alice.wait_for(room, lambda e: sent_by(bot.user_id)(e) and "!mod review" in body_of(e))
    await bob.aclose()
    content = flagged["content"]
    assert body_of(flagged).startswith("⚠️ Flagged as sensitive") and "thumbnail_url" not in content["info"]
    assert content["info"]["mimetype"] == "image/png" and await alice.download(content["url"])
    assert "not available on Matrix" in body_of(unavailable)
