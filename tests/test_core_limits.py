"""Limits as a member or an admin meets them through the core's door: one "slow down" per flood, what 0
means for a rate and a quota, digits that only look like digits, and chat counted apart from images."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say

SLOW_DOWN = re.compile(r"^Slow down a little: 2 requests a minute at most\. Try again in \d+s\.$")


async def test_a_flood_gets_one_slow_down_and_costs_nothing(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, rate_limit_per_user_per_minute=2))
    try:
        replies = [RecordingReply() for _ in range(8)]
        for reply in replies:
            await say(core, "/imagine a cat", make_request(), reply)
        assert [len(r.deliveries) for r in replies] == [1, 1, 0, 0, 0, 0, 0, 0]
        said = [error for r in replies for error in r.errors]
        assert len(said) == 1 and SLOW_DOWN.match(said[0])  # the first refusal, naming when to retry
        assert replies[2].errors == said
        assert all(not r.texts and not r.errors and not r.streamed for r in replies[3:])  # the rest: silence
        assert len(fake_agnes.image_requests()) == 2
        usage = RecordingReply()
        await say(core, "/usage", make_request(), usage)
        assert "Images today: you 2/20" in usage.texts[0]  # refused requests are not charged
        other = RecordingReply()
        await say(core, "/imagine a dog", make_request("someone-else"), other)
        assert len(other.deliveries) == 1 and other.errors == []
    finally:
        await core.close()


async def test_settings_take_ascii_digits_in_range_and_never_crash(core: Atelier, fake_agnes: FakeAgnes) -> None:
    admin = make_request(admin=True)
    for value in ("²", "٣", "-1", "3.5", "0", "61", "9" * 5000):
        reply = RecordingReply()
        await say(core, f"/settings rate {value}", admin, reply)
        assert reply.errors == [
            "rate takes a whole number from 1 to 60 "
            "(image requests per member per minute; no limit at all is the operator's choice)."
        ], value
    odd = RecordingReply()
    await say(core, "/settings user_quota ²", admin, odd)
    assert odd.errors == [
        "user_quota takes a whole number from 0 to 200 (images per member per day; 0 turns images off)."
    ]
    asked = RecordingReply()
    await say(core, "/imagine a cat", make_request(), asked)  # before: IndexError for every asker after rate 0
    assert len(asked.deliveries) == 1 and asked.errors == []
    shown = RecordingReply()
    await say(core, "/settings", admin, shown)
    assert "rate = 6 (image requests per member per minute)" in shown.texts[0]


async def test_a_rate_of_zero_is_no_limit_and_says_so(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, rate_limit_per_user_per_minute=0))
    try:
        replies = [RecordingReply() for _ in range(10)]
        for reply in replies:
            await say(core, "/imagine a cat", make_request(), reply)
        assert all(len(r.deliveries) == 1 and r.errors == [] for r in replies)
        admin = make_request(admin=True)
        shown, usage = RecordingReply(), RecordingReply()
        await say(core, "/settings", admin, shown)
        await say(core, "/usage", make_request(), usage)
        assert "rate = 0 (off: no per-minute limit)" in shown.texts[0]
        assert "Rate limit: off (no per-minute limit)" in usage.texts[0]
        limited, back = RecordingReply(), RecordingReply()
        await say(core, "/settings rate 1", admin, limited)  # the operator set none: admins may choose one
        await say(core, "/settings rate 0", admin, back)
        assert limited.texts == ["rate is now 1 (image requests per member per minute)."]
        assert back.texts == ["rate is now 0 (off: no per-minute limit)."]
    finally:
        await core.close()


async def test_a_quota_of_zero_turns_images_off_and_says_so(core: Atelier, fake_agnes: FakeAgnes) -> None:
    admin = make_request(admin=True)
    set_it = RecordingReply()
    await say(core, "/settings user_quota 0", admin, set_it)
    assert set_it.texts == ["user_quota is now 0 (image generation is turned off here)."]
    refused = RecordingReply()
    await say(core, "/imagine a cat", make_request(), refused)
    assert refused.errors == ["Image generation is turned off here (the daily image quota is 0)."]
    assert fake_agnes.image_requests() == []
    chat = RecordingReply()
    await say(core, "hello", make_request(), chat)
    assert chat.errors == [] and "".join(chat.streamed[0]) == fake_agnes.chat_reply  # chat is not an image

    await say(core, "/settings reset", admin, RecordingReply())
    pool = RecordingReply()
    await say(core, "/settings guild_quota 0", admin, pool)
    assert pool.texts == ["guild_quota is now 0 (images are off for everyone here)."]
    member = RecordingReply()
    await say(core, "/imagine a cat", make_request("someone-else"), member)
    assert member.errors == ["Image generation is turned off here (the daily image quota is 0)."]
    private = RecordingReply()
    await say(core, "/imagine a cat", make_request("someone-else", guild=None), private)
    assert len(private.deliveries) == 1  # a private chat has its own quota


async def test_chat_has_its_own_limit_apart_from_images(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(
        tmp_path, fake_agnes, rate_limit_per_user_per_minute=1, rate_limit_chat_per_user_per_minute=3
    )
    core = await Atelier.start(settings)
    try:
        talk = [RecordingReply() for _ in range(3)]
        for index, reply in enumerate(talk):
            await say(core, f"tell me about lighthouses, part {index}", make_request(), reply)
        assert all(r.errors == [] and r.streamed for r in talk)
        image = RecordingReply()
        await say(core, "/imagine a lighthouse", make_request(), image)  # chat did not use up the image rate
        assert len(image.deliveries) == 1 and image.errors == []
        over, silent = RecordingReply(), RecordingReply()
        await say(core, "and one more thing", make_request(), over)
        await say(core, "and another", make_request(), silent)
        assert len(over.errors) == 1
        assert re.match(r"^Slow down a little: 3 messages a minute at most\. Try again in \d+s\.$", over.errors[0])
        assert silent.errors == [] and silent.streamed == []
        assert len(fake_agnes.chat_requests()) == 3
    finally:
        await core.close()
