"""The Matrix adapter under the homeserver's limits: message rate limits (M_LIMIT_EXCEEDED waited out,
the answer still complete), the media repository's upload size, long answers, a running job's notice
with ✖️ to cancel, and signing in (a password login kept for restarts, or a configured token)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import noisy_png
from tests.matrix_kit import Event, Person, body_of, running_bot, sent_by
from tests.synapse_server import Synapse
from tests.test_matrix import member_joined


@pytest.fixture
async def alice(synapse: Synapse) -> AsyncIterator[Person]:
    person = Person(synapse, synapse.register("alice"))
    yield person
    await person.aclose()


async def dm_with(person: Person, bot_user: str) -> str:
    room = await person.create_room(bot_user, direct=True)
    await person.wait_for(room, member_joined(bot_user))
    return room


def replaced_with(text: str) -> object:
    def match(event: Event) -> bool:
        content = event.get("content", {})
        return content.get("m.relates_to", {}).get("rel_type") == "m.replace" and (
            content.get("m.new_content", {}).get("body") == text
        )

    return match


async def test_a_rate_limited_stream_waits_as_told_and_still_ends_complete(
    synapse: Synapse,
    fake_agnes: FakeAgnes,
    tmp_path: Path,
    alice: Person,
) -> None:
    admin = Person(synapse, synapse.register("admin", admin=True))
    fake_agnes.chat_reply = "Slow and steady. " * 20
    fake_agnes.chat_chunk, fake_agnes.latency = 10, 0.05
    async with running_bot(synapse, fake_agnes, tmp_path, matrix_edit_seconds=0.1) as bot:
        room = await dm_with(alice, bot.user_id)
        # What an operator's override does, the other way round: one message a second, no burst.
        answer = await admin.http.post(
            f"{synapse.url}/_synapse/admin/v1/users/{bot.user_id}/override_ratelimit",
            json={"messages_per_second": 1, "burst_count": 1},
        )
        assert answer.status_code == 200, answer.text
        await alice.say(room, "tell me a story")
        await alice.wait_for(room, replaced_with(fake_agnes.chat_reply))  # type: ignore[arg-type]
        assert bot.adapter is not None and bot.adapter.api.limited > 0  # M_LIMIT_EXCEEDED came, and was waited out
    await admin.aclose()


async def test_a_result_over_the_upload_size_is_reencoded_to_fit(
    synapse: Synapse,
    fake_agnes: FakeAgnes,
    tmp_path: Path,
    alice: Person,
) -> None:
    fake_agnes.image = noisy_png(600_000)
    async with running_bot(synapse, fake_agnes, tmp_path) as bot:
        assert bot.adapter is not None
        assert await bot.adapter.api.upload_limit() == 10 * 1024 * 1024  # the server's m.upload.size
        bot.adapter.api._upload_limit = 200_000  # as a homeserver with a smaller limit would say
        room = await dm_with(alice, bot.user_id)
        await alice.say(room, "!imagine static")
        [image] = await alice.wait_for(room, sent_by(bot.user_id, "m.image"))
    info = image["content"]["info"]
    data = await alice.download(image["content"]["url"])
    assert len(data) == info["size"] <= 200_000
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "JPEG" and info["mimetype"] == "image/jpeg"
    thumbnail = await alice.download(info["thumbnail_url"])
    with Image.open(io.BytesIO(thumbnail)) as small:
        assert max(small.size) <= 320 and small.size == (info["thumbnail_info"]["w"], info["thumbnail_info"]["h"])


async def test_a_long_answer_is_split_into_messages(
    synapse: Synapse,
    fake_agnes: FakeAgnes,
    tmp_path: Path,
    alice: Person,
) -> None:
    fake_agnes.chat_reply = ("word " * 2000).strip()  # 9,999 characters: two messages of at most 6,000
    fake_agnes.chat_chunk = 5000
    async with running_bot(synapse, fake_agnes, tmp_path) as bot:
        room = await dm_with(alice, bot.user_id)
        await alice.say(room, "say word many times")
        expected = ["word " * 1199 + "word", "word " * 799 + "word"]  # cut at the last space before 6,000
        async with asyncio.timeout(30):
            while True:  # the last edit may still be on its way
                pages = await shown_pages(alice, room, bot.user_id)
                if pages == expected:
                    break
                await asyncio.sleep(0.1)
    assert " ".join(pages) == fake_agnes.chat_reply


async def shown_pages(person: Person, room: str, sender: str) -> list[str]:
    """Each of the sender's text messages as it now reads, its latest edit applied."""
    events = await person.events(room)
    shown = {e["event_id"]: body_of(e) for e in events if sent_by(sender, "m.text")(e)}
    for event in events:
        relation = event.get("content", {}).get("m.relates_to", {})
        if relation.get("rel_type") == "m.replace" and relation.get("event_id") in shown:
            shown[relation["event_id"]] = event["content"]["m.new_content"]["body"]
    return list(shown.values())


async def test_a_running_job_offers_cancel_as_a_reaction(
    synapse: Synapse,
    fake_agnes: FakeAgnes,
    tmp_path: Path,
    alice: Person,
) -> None:
    fake_agnes.faults = ["timeout"]  # the provider never answers: the job runs until cancelled
    async with running_bot(synapse, fake_agnes, tmp_path, matrix_progress_delay_seconds=0.0) as bot:
        room = await dm_with(alice, bot.user_id)
        await alice.say(room, "!imagine a slow painting")
        [notice] = await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.notice")(e) and "✖️" in body_of(e))
        [offered] = await alice.wait_for(room, sent_by(bot.user_id, event_type="m.reaction"))
        assert offered["content"]["m.relates_to"] == {
            "rel_type": "m.annotation", "event_id": notice["event_id"], "key": "✖️"
        }  # fmt: skip
        await alice.react(room, notice["event_id"], "✖️")
        await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.notice")(e) and "Cancelled" in body_of(e))
        await alice.wait_for(
            room, lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == notice["event_id"]
        )
        fake_agnes.release()


async def test_a_password_login_is_kept_and_a_configured_token_is_used_as_it_is(
    synapse: Synapse,
    fake_agnes: FakeAgnes,
    tmp_path: Path,
    alice: Person,
) -> None:
    async with running_bot(synapse, fake_agnes, tmp_path) as bot:
        assert bot.adapter is not None
        first = (bot.adapter.client.device_id, bot.adapter.client.access_token)
        await bot.restart()
        assert (bot.adapter.client.device_id, bot.adapter.client.access_token) == first  # no second login
        devices = await bot_devices(synapse, bot.adapter.client.access_token)
        assert len(devices) == 2  # registration's device, and the one login made
    account = synapse.register("tokenbot")
    token_only = {"matrix_access_token": account.access_token, "matrix_password": None}
    (tmp_path / "token").mkdir()
    async with running_bot(synapse, fake_agnes, tmp_path / "token", account=account, **token_only) as bot:
        room = await dm_with(alice, bot.user_id)
        fake_agnes.chat_reply = "Hi from a token."
        await alice.say(room, "hello")
        await alice.wait_for(room, lambda e: sent_by(bot.user_id, "m.text")(e) and body_of(e) == "Hi from a token.")
        assert len(await bot_devices(synapse, account.access_token)) == 1  # no login: registration's device only


async def bot_devices(synapse: Synapse, token: str) -> list[dict]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        answer = await http.get(f"{synapse.url}/_matrix/client/v3/devices")
        return answer.json()["devices"]


async def test_a_wrong_password_or_token_stops_the_start_with_one_clear_line(
    synapse: Synapse, fake_agnes: FakeAgnes, tmp_path: Path
) -> None:
    account = synapse.register("wrong")
    for overrides in ({"matrix_password": "not-the-password"}, {"matrix_access_token": "syt_not_a_token"}):
        with pytest.raises(RuntimeError) as refused:
            async with running_bot(synapse, fake_agnes, tmp_path, account=account, **overrides):
                pass
        message = str(refused.value)
        assert "refused" in message and "\n" not in message
        assert "not-the-password" not in message and "syt_not_a_token" not in message
