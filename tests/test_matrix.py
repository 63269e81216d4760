"""The Matrix adapter end to end: the real adapter (matrix-nio) and core against a real Synapse on
loopback, driven from a person's side over the client-server API, with FakeAgnes upstream."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.crashed_jobs import leave_crashed_job
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.matrix_kit import Bot, EncryptedPerson, Event, Person, body_of, running_bot, sent_by
from tests.synapse_server import Synapse


@pytest.fixture
async def bot(synapse: Synapse, fake_agnes: FakeAgnes, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(synapse, fake_agnes, tmp_path) as running:
        yield running


@pytest.fixture
async def alice(synapse: Synapse) -> AsyncIterator[Person]:
    person = Person(synapse, synapse.register("alice"))
    yield person
    await person.aclose()


@pytest.fixture
async def bob(synapse: Synapse) -> AsyncIterator[Person]:
    person = Person(synapse, synapse.register("bob"))
    yield person
    await person.aclose()


def member_joined(user_id: str) -> Callable[[Event], bool]:
    return lambda event: (
        event.get("type") == "m.room.member"
        and event.get("state_key") == user_id
        and event.get("content", {}).get("membership") == "join"
    )


@pytest.fixture
async def room(alice: Person, bob: Person, bot: Bot) -> str:
    """A room of three: alice created it (power level 100), bob is a member (0), and the bot."""
    room_id = await alice.create_room(bot.user_id, bob.user_id)
    await bob.join(room_id)
    await alice.wait_for(room_id, member_joined(bot.user_id))
    return room_id


def in_thread(root: str) -> Callable[[Event], bool]:
    return lambda event: event.get("content", {}).get("m.relates_to", {}).get("event_id") == root


async def test_imagine_posts_a_decodable_image_with_info_and_reactions_in_the_thread(
    alice: Person, bot: Bot, room: str
) -> None:
    request = await alice.say(room, "!imagine a lighthouse at dusk")
    [image] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    content = image["content"]
    assert content["m.relates_to"]["rel_type"] == "m.thread"
    assert content["m.relates_to"]["event_id"] == request
    assert content["body"].startswith("a lighthouse at dusk")  # the caption
    data = await alice.download(content["url"])
    with Image.open(io.BytesIO(data)) as decoded:
        assert (decoded.width, decoded.height) == (content["info"]["w"], content["info"]["h"])
    assert content["info"]["mimetype"] == "image/png" and content["info"]["size"] == len(data)
    assert content["info"]["thumbnail_url"].startswith("mxc://")
    reactions = await alice.wait_for(room, sent_by(bot.user_id, event_type="m.reaction"), count=3)
    assert [r["content"]["m.relates_to"]["key"] for r in reactions] == ["🔁", "🎨", "✏️"]
    assert all(r["content"]["m.relates_to"]["event_id"] == image["event_id"] for r in reactions)
    assert bot.agnes.image_requests()[0].body["prompt"] == "a lighthouse at dusk"


async def test_edit_replying_to_an_uploaded_image_sends_a_data_uri_and_never_the_token(
    alice: Person, bot: Bot, room: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    photo = await alice.send_image(room, png_bytes(64, 48))
    await alice.say(room, "!edit make it snowy", reply_to=photo)
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    [edit] = bot.agnes.image_requests()
    assert edit.body["prompt"] == "make it snowy"
    assert edit.body["image"][0].startswith("data:image/png;base64,")
    assert bot.adapter is not None
    token = bot.adapter.client.access_token
    for recorded in bot.agnes.requests:
        assert token not in json.dumps(recorded.headers) + json.dumps(recorded.body)
    assert token not in caplog.text and bot.account.password not in caplog.text


async def test_ask_about_the_thread_image_streams_its_answer_by_edits_and_ends_complete(
    alice: Person, bot: Bot, room: str
) -> None:
    bot.agnes.chat_reply = "A lighthouse guides ships. " * 12
    bot.agnes.chat_chunk = 16
    bot.agnes.latency = 0.05
    photo = await alice.send_image(room, png_bytes(40, 40))
    await alice.say(room, "!ask what is this for?", thread=photo)  # the image is the thread's
    [answer] = await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and in_thread(photo)(e))

    def final_edit(event: dict) -> bool:
        relation = event.get("content", {}).get("m.relates_to", {})
        new = event.get("content", {}).get("m.new_content", {})
        return relation.get("rel_type") == "m.replace" and new.get("body") == bot.agnes.chat_reply

    [edit] = await alice.wait_for(room, final_edit)
    assert edit["content"]["m.relates_to"]["event_id"] == answer["event_id"]
    assert len(body_of(answer)) < len(bot.agnes.chat_reply)  # it was shown while it arrived
    question = bot.agnes.chat_requests()[0].body["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in question)  # the thread's image went upstream


async def test_a_thread_continues_its_conversation_after_a_restart(alice: Person, bot: Bot, room: str) -> None:
    request = await alice.say(room, "!chat my name is Ada")
    await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and in_thread(request)(e))
    await bot.restart()
    await alice.say(room, "what is my name?", thread=request)  # plain text: the thread is the bot's
    await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and in_thread(request)(e), count=2)
    messages = bot.agnes.chat_requests()[-1].body["messages"]
    said = json.dumps(messages)
    assert "my name is Ada" in said and "what is my name?" in said


async def test_a_reroll_reaction_works_after_a_restart(alice: Person, bot: Bot, room: str) -> None:
    await alice.say(room, "!imagine a red fox")
    [image] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    await bot.restart()
    await alice.react(room, image["event_id"], "🔁")
    images = await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=2)
    assert [r.body["prompt"] for r in bot.agnes.image_requests()] == ["a red fox", "a red fox"]
    assert images[1]["content"]["m.relates_to"]["event_id"] == images[0]["content"]["m.relates_to"]["event_id"]


async def test_reroll_and_vary_as_replies_to_a_result(alice: Person, bot: Bot, room: str) -> None:
    request = await alice.say(room, "!imagine a blue whale")
    [image] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    await alice.say(room, "!vary", thread=request, reply_to=image["event_id"])
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=2)
    vary = bot.agnes.image_requests()[1].body
    assert vary["image"][0].startswith("data:image/")  # the result itself, varied


async def test_a_member_below_power_level_50_cannot_change_settings_or_moderate(
    alice: Person, bob: Person, bot: Bot, room: str
) -> None:
    await bob.say(room, "!settings user_quota 1")
    await bob.say(room, "!mod block add kittens")
    refusals = await alice.wait_for(room, sent_by(bot.user_id, "m.notice"), count=2)
    assert all("admin" in body_of(r).lower() for r in refusals), [body_of(r) for r in refusals]
    await alice.say(room, "!settings rate 5")  # the room's creator (room version 12: above every power level)
    await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and "rate" in body_of(e))
    await alice.set_power(room, bob.user_id, 50)  # the bot reads the new level from the room state
    await bob.say(room, "!settings user_quota 1")
    await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and "user_quota" in body_of(e))


async def test_in_a_dm_every_plain_message_is_chat(alice: Person, bot: Bot) -> None:
    dm = await alice.create_room(bot.user_id, direct=True)
    await alice.wait_for(dm, member_joined(bot.user_id))
    bot.agnes.chat_reply = "Hello Alice."
    await alice.say(dm, "hi there")
    await alice.wait_for(dm, lambda e: sent_by(bot.user_id, "m.text")(e) and body_of(e) == "Hello Alice.")
    await alice.say(dm, "!help")
    [help_text] = await alice.wait_for(dm, lambda e: sent_by(bot.user_id)(e) and "!imagine" in body_of(e))
    assert "/imagine" not in body_of(help_text)


@pytest.fixture
async def carol(synapse: Synapse, tmp_path: Path) -> AsyncIterator[tuple[EncryptedPerson, Person]]:
    """Someone whose client encrypts, and her account read over the plain API: what the homeserver holds."""
    account = synapse.register("carol")
    person = await EncryptedPerson(synapse, account, tmp_path / "carol-keys").start()
    plain_view = Person(synapse, account)
    yield person, plain_view
    await person.aclose()
    await plain_view.aclose()


async def test_an_encrypted_room_is_answered_encrypted(bot: Bot, carol: tuple[EncryptedPerson, Person]) -> None:
    """The bot decrypts carol's messages and answers encrypted, its image an encrypted file."""
    person, plain_view = carol
    room = await person.create_room(bot.user_id)
    await plain_view.wait_for(room, member_joined(bot.user_id))
    bot.agnes.chat_reply = "Your secret is safe."
    await person.say(room, "hello in secret")
    await person.wait_for(lambda e: sent_by(bot.user_id, "m.text")(e) and body_of(e) == "Your secret is safe.")
    await person.say(room, "!imagine a walled garden")
    [image] = await person.wait_for(sent_by(bot.user_id, "m.image"))
    content = image["content"]
    assert "url" not in content and content["file"]["url"].startswith("mxc://")
    data = await person.download_file(content["file"])
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.size == (content["info"]["w"], content["info"]["h"])
    assert content["info"]["thumbnail_file"]["url"].startswith("mxc://")
    # What the homeserver holds of the bot's: ciphertext, but for its reactions (nio sends m.reaction
    # unencrypted, as Matrix first specified them: the emoji and the event it points at, no content).
    held = [e for e in await plain_view.events(room) if e.get("sender") == bot.user_id]
    assert {e["type"] for e in held} - {"m.room.member", "m.reaction"} == {"m.room.encrypted"}
    assert "hello in secret" in json.dumps(bot.agnes.chat_requests()[0].body)


async def test_a_message_the_bot_cannot_decrypt_is_answered_plainly(
    bot: Bot, carol: tuple[EncryptedPerson, Person]
) -> None:
    person, plain_view = carol
    room = await person.create_room(bot.user_id)
    await plain_view.wait_for(room, member_joined(bot.user_id))
    ciphertext = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn...", "sender_key": "x",
                  "device_id": "CAROL", "session_id": "s"}  # fmt: skip
    await plain_view.send(room, ciphertext, "m.room.encrypted")  # a session the bot was never given
    [notice] = await person.wait_for(sent_by(bot.user_id, "m.notice"))
    assert "could not decrypt" in body_of(notice)


async def test_the_edit_reaction_asks_what_to_change_and_the_reply_runs_the_edit(
    alice: Person, bot: Bot, room: str
) -> None:
    request = await alice.say(room, "!imagine a yellow house")
    [image] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    await alice.react(room, image["event_id"], "✏️")
    [prompt] = await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and "change" in body_of(e))
    assert prompt["content"]["m.mentions"] == {"user_ids": [alice.user_id]}
    await alice.say(room, "make it green", thread=request, reply_to=prompt["event_id"])
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=2)
    await alice.say(room, "!edit make it blue", thread=request, reply_to=image["event_id"])
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=3)
    edits = bot.agnes.image_requests()[1:]
    assert [r.body["prompt"] for r in edits] == ["make it green", "make it blue"]
    assert all(r.body["image"][0].startswith("data:image/") for r in edits)  # the result itself, edited


async def test_a_job_a_crash_cut_off_has_its_notice_edited_after_the_restart(
    alice: Person,
    bot: Bot,
    room: str,
    synapse: Synapse,
) -> None:
    request = await alice.say(room, "!imagine a storm")
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    await bot.stop()
    # What a process killed mid-job leaves: its notice in the room, its job running, its lease long expired.
    bot_side = Person(synapse, bot.account)
    notice = await bot_side.say(room, "🎨 Working on it… react ✖️ to cancel.", thread=request)
    await bot_side.aclose()
    where = {"room": room, "thread": request, "event": request, "user": alice.user_id}
    database, scope = bot.tmp_path / "atelier.db", f"matrix:guild:{room}"
    await crashed_job(database, "crashed1", scope=scope, origin=where, status={"room": room, "event": notice})
    await crashed_job(database, "crashed2", scope=scope, origin=where)  # it had posted no notice yet
    await bot.start()
    [edit] = await alice.wait_for(room, lambda e: e["content"].get("m.relates_to", {}).get("event_id") == notice)
    assert "interrupted by a restart" in edit["content"]["m.new_content"]["body"]
    [told] = await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.notice")(e) and "interrupted" in body_of(e))
    assert told["content"]["m.mentions"] == {"user_ids": [alice.user_id]}
    assert told["content"]["m.relates_to"]["event_id"] == request  # in the thread it was asked in


async def crashed_job(path: Path, job_id: str, *, scope: str, origin: dict, status: dict | None = None) -> None:
    user_key = f"matrix:{origin['user']}"
    await leave_crashed_job(
        path, job_id, user_key=user_key, scope=scope, origin=origin, status=status, prompt="a storm"
    )


async def test_a_grid_offers_its_images_as_number_reactions(alice: Person, bot: Bot, room: str) -> None:
    bot.agnes.next_images = [png_bytes(64, 48, color=(10 * n, 40, 90)) for n in range(1, 5)]
    await alice.say(room, "!imagine four foxes --n 4")
    [grid] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    offered = await alice.wait_for(room, sent_by(bot.user_id, event_type="m.reaction"), count=5)
    assert [r["content"]["m.relates_to"]["key"] for r in offered] == ["🔁", "1️⃣", "2️⃣", "3️⃣", "4️⃣"]
    await alice.react(room, grid["event_id"], "3️⃣")
    [_, picked] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=2)
    assert await alice.download(picked["content"]["url"]) == bot.agnes.sent_images[2]  # image 3, as it was made
    await alice.react(room, picked["event_id"], "1️⃣")  # no grid: a vote, not a button
    await alice.react(room, picked["event_id"], "🎨")  # Vary (Strong) of image 3
    await alice.wait_for(room, sent_by(bot.user_id, "m.image"), count=3)
    assert len(bot.agnes.image_requests()) == 5  # the grid's four, and the variation
    assert len([e for e in await alice.events(room) if sent_by(bot.user_id, "m.image")(e)]) == 3  # no re-post
    assert bot.agnes.image_requests()[-1].body["image"][0].startswith("data:image/png")
