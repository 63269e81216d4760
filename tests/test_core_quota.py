"""Quotas hold under concurrency, survive restarts, and admins can tune them."""

from __future__ import annotations

import asyncio
import re

from bot.commands.settings import NOT_ADMIN
from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say


async def test_fifty_concurrent_requests_against_a_quota_of_ten(tmp_path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(
        tmp_path, fake_agnes, quota_images_per_user_per_day=10, rate_limit_per_user_per_minute=1000
    )
    core = await Atelier.start(settings)
    fake_agnes.latency = 0.05
    replies = [RecordingReply() for _ in range(50)]
    await asyncio.gather(*(say(core, "/imagine a cat", make_request(), r) for r in replies))

    delivered = [r for r in replies if r.deliveries]
    refused = [r for r in replies if r.errors]
    assert len(delivered) == 10
    assert len(refused) == 40
    assert all("10 images today" in r.errors[0] for r in refused)
    assert len(fake_agnes.image_requests()) == 10
    await core.close()

    restarted = await Atelier.start(settings)
    try:
        usage = RecordingReply()
        await say(restarted, "/usage", make_request(), usage)
        assert "you 10/10" in usage.texts[0]
        again = RecordingReply()
        await say(restarted, "/imagine one more", make_request(), again)
        assert "10 images today" in again.errors[0]
    finally:
        await restarted.close()


async def test_guild_pool_is_shared_but_private_chats_have_their_own(tmp_path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, quota_images_per_guild_per_day=2))
    try:
        for user in ("a", "b"):
            await say(core, "/imagine x", make_request(user), RecordingReply())
        third = RecordingReply()
        await say(core, "/imagine x", make_request("c"), third)
        assert "This server has used 2 of its 2" in third.errors[0]
        private = RecordingReply()
        await say(core, "/imagine x", make_request("c", guild=None), private)
        assert private.errors == [] and len(private.deliveries) == 1
    finally:
        await core.close()


async def test_rate_limit_per_minute(tmp_path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, rate_limit_per_user_per_minute=2))
    try:
        replies = [RecordingReply() for _ in range(3)]
        for reply in replies:
            await say(core, "/imagine x", make_request(), reply)
        assert [len(r.deliveries) for r in replies] == [1, 1, 0]
        assert "2 requests a minute" in replies[2].errors[0]
        other = RecordingReply()
        await say(core, "/imagine x", make_request("someone-else"), other)
        assert len(other.deliveries) == 1
    finally:
        await core.close()


async def test_admin_settings_override_quota_and_are_refused_to_members(core: Atelier) -> None:
    member = RecordingReply()
    await say(core, "/settings user_quota 1", make_request(), member)
    assert member.errors == [NOT_ADMIN]

    admin = RecordingReply()
    await say(core, "/settings user_quota 1", make_request(admin=True), admin)
    assert admin.texts == ["user_quota is now 1 (images per member per day)."]
    first, second = RecordingReply(), RecordingReply()
    await say(core, "/imagine x", make_request(), first)
    await say(core, "/imagine y", make_request(), second)
    assert len(first.deliveries) == 1 and "1 images today" in second.errors[0]

    too_high = RecordingReply()
    await say(core, "/settings rate 100000", make_request(admin=True), too_high)
    # Word boundaries: the ceiling is 60 (ten times the default 6), not 6, 600 or 6,000; 0 (no limit) is the
    # operator's to choose, so an admin's range starts at 1.
    assert len(too_high.errors) == 1 and re.search(r"\bfrom 1 to 60\b", too_high.errors[0])
    shown = RecordingReply()
    await say(core, "/settings", make_request(admin=True), shown)
    assert "user_quota = 1" in shown.texts[0]
    reset = RecordingReply()
    await say(core, "/settings reset", make_request(admin=True), reset)
    assert "user_quota = 20" in reset.texts[0]


async def test_private_chat_owner_may_only_lower_limits(tmp_path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes))
    try:
        reply = RecordingReply()
        await say(core, "/settings user_quota 50", make_request(guild=None, admin=True), reply)
        assert len(reply.errors) == 1 and re.search(r"\bfrom 0 to 20\b", reply.errors[0])
    finally:
        await core.close()
