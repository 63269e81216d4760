"""Rate limits live in the store: a restart does not reset them, two processes on one file share them, a
server-wide image rate (`/settings guild_rate N`) refuses past it without charging members' own rates, and
spent rows are pruned."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.core import Atelier
from bot.ratelimit import RateLimiter
from bot.store import Store
from bot.store.retention import Retention, prune_rows
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say

SLOW_DOWN = "Slow down a little: 2 requests a minute at most. Try again in 30s."
GUILD_SLOW_DOWN = "Slow down a little: 2 image requests a minute at most for this whole server/group. Try again in 30s."


def wall_clock() -> FakeClock:
    """A fake wall clock a day ahead of the real one, so the prune at start (real time) keeps its rows."""
    return FakeClock(time.time() + 86400)


async def imagine(core: Atelier, user: str, **request: object) -> RecordingReply:
    reply = RecordingReply()
    await say(core, "/imagine a lighthouse", make_request(user, **request), reply)  # type: ignore[arg-type]
    return reply


async def test_a_restart_does_not_reset_the_rate(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    """The issue: 4 calls went out within 0.4 s of a restart at a limit of 2. Now 2."""
    settings, clock = make_settings(tmp_path, fake_agnes, rate_limit_per_user_per_minute=2), wall_clock()
    core = await Atelier.start(settings, lease_clock=clock)
    try:
        before = [await imagine(core, "u1") for _ in range(2)]
    finally:
        await core.close()
    core = await Atelier.start(settings, lease_clock=clock)
    try:
        after = [await imagine(core, "u1") for _ in range(2)]
    finally:
        await core.close()
    assert [len(r.deliveries) for r in before + after] == [1, 1, 0, 0]
    assert [r.errors for r in after] == [[SLOW_DOWN], []]  # told once, then silence
    assert len(fake_agnes.image_requests()) == 2


async def test_two_stores_on_one_file_share_the_rate_and_the_told_once(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    first, second = await Store.open(tmp_path / "a.db"), await Store.open(tmp_path / "a.db")
    try:
        a, b = RateLimiter(first.rates, clock), RateLimiter(second.rates, clock)
        assert await a.admit("u", 2) is None
        assert await b.admit("u", 2) is None
        told, silent = await a.admit("u", 2), await b.admit("u", 2)
        assert told is not None and told.tell and silent is not None and not silent.tell
    finally:
        await first.close()
        await second.close()


async def test_concurrent_askers_on_two_stores_get_exactly_the_limit(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    first, second = await Store.open(tmp_path / "a.db"), await Store.open(tmp_path / "a.db")
    try:
        limiters = [RateLimiter(first.rates, clock), RateLimiter(second.rates, clock)]
        results = await asyncio.gather(*(limiters[i % 2].admit("u", 10) for i in range(50)))
        assert sum(result is None for result in results) == 10
        assert sum(result is not None and result.tell for result in results) == 1
    finally:
        await first.close()
        await second.close()


async def test_guild_rate_refuses_the_third_member_without_charging_members(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    clock = wall_clock()
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, rate_limit_per_user_per_minute=1), lease_clock=clock)
    try:
        admin = RecordingReply()
        await say(core, "/settings guild_rate 2", make_request("admin", admin=True), admin)
        assert admin.texts == ["guild_rate is now 2 (image requests for the whole server/group per minute)."]
        first, second, third = [await imagine(core, user) for user in ("m1", "m2", "m3")]
        assert [len(r.deliveries) for r in (first, second, third)] == [1, 1, 0]
        assert third.errors == [GUILD_SLOW_DOWN]
        again = await imagine(core, "m3")
        assert again.errors == [] and again.deliveries == []  # told once a minute
        private = await imagine(core, "m3", guild=None)  # a private chat is not the server's pool
        assert len(private.deliveries) == 1
        clock.advance(30)
        late = await imagine(core, "m3")  # the refusals never used up m3's own 1 a minute
        assert len(late.deliveries) == 1 and late.errors == []
        assert len(fake_agnes.image_requests()) == 4
        usage = RecordingReply()
        await say(core, "/usage", make_request("m1"), usage)
        assert "Whole server/group rate limit: 2 image requests per minute" in usage.texts[0]
    finally:
        await core.close()


async def test_a_member_refused_by_their_own_rate_spares_the_guild_rate(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes, rate_limit_per_user_per_minute=1, rate_limit_per_guild_per_minute=2)
    core = await Atelier.start(settings, lease_clock=wall_clock())
    try:
        assert len((await imagine(core, "m1")).deliveries) == 1
        flood = [await imagine(core, "m1") for _ in range(3)]
        assert [r.errors for r in flood] == [
            ["Slow down a little: 1 requests a minute at most. Try again in 60s."],
            [],
            [],
        ]
        assert len((await imagine(core, "m2")).deliveries) == 1  # the server's second slot was still there
    finally:
        await core.close()


async def test_chat_is_limited_apart_from_the_guild_image_rate(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(
        tmp_path, fake_agnes, rate_limit_per_guild_per_minute=1, rate_limit_chat_per_user_per_minute=2
    )
    core = await Atelier.start(settings, lease_clock=wall_clock())
    try:
        talk = [RecordingReply() for _ in range(3)]
        for index, reply in enumerate(talk):
            await say(core, f"tell me about lighthouses, part {index}", make_request(f"m{index}"), reply)
        assert all(r.errors == [] and r.streamed for r in talk)  # three members talking: no server rate on chat
        assert len((await imagine(core, "m0")).deliveries) == 1  # nor did chat use the server's image rate
        assert (await imagine(core, "m1")).errors[0].endswith("for this whole server/group. Try again in 60s.")
    finally:
        await core.close()


async def test_settings_guild_rate_is_for_a_servers_admins_only(core: Atelier) -> None:
    member = RecordingReply()
    await say(core, "/settings guild_rate 5", make_request("m1"), member)
    assert member.errors == ["Only this server's admins can view or change Atelier's settings. Try /usage."]
    private = RecordingReply()
    await say(core, "/settings guild_rate 5", make_request("m1", guild=None, admin=True), private)
    assert private.errors == ["guild_rate only applies in a server/group, not in a private chat."]
    shown_private = RecordingReply()
    await say(core, "/settings", make_request("m1", guild=None, admin=True), shown_private)
    assert "guild_rate" not in shown_private.texts[0]
    usage_private = RecordingReply()
    await say(core, "/usage", make_request("m1", guild=None), usage_private)
    assert "Whole server/group rate limit" not in usage_private.texts[0]
    shown = RecordingReply()
    await say(core, "/settings", make_request("admin", admin=True), shown)
    assert "guild_rate = 0 (off: no per-minute limit)" in shown.texts[0]
    too_many = RecordingReply()
    await say(core, "/settings guild_rate 601", make_request("admin", admin=True), too_many)
    assert too_many.errors == [
        "guild_rate takes a whole number from 0 to 600 (image requests for the whole server/group per minute; "
        "0 = no limit)."
    ]


async def test_spent_rate_rows_are_pruned_and_live_ones_kept(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    store = await Store.open(tmp_path / "a.db")
    try:
        limiter = RateLimiter(store.rates, clock)
        await limiter.admit("spent", 1)
        await limiter.admit("told", 1)
        await limiter.admit("told", 1)  # told at t = 0
        clock.advance(59)
        await limiter.admit("live", 1)
        retention = Retention(jobs_days=30, chat_days=30)
        pruned = await prune_rows(store.db, retention, now=1060.5)  # spent's tat (1060) passed; told 60.5 s ago
        rows = await store.db.fetchall("SELECT key FROM rate_limits ORDER BY key")
        assert pruned.rates == 2 and [row["key"] for row in rows] == ["live"]
    finally:
        await store.close()
