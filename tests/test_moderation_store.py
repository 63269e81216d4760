"""Moderation state in SQLite: policy round trips and caching, the audit log, the review queue (decided
once, even by two processes), the upgrade from schema 3, and pruning."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.db import MIGRATIONS
from bot.store.jobs import JobKind
from bot.store.moderation import (
    DEFAULT_CHANNEL,
    AuditEvent,
    Ban,
    ChannelMode,
    ModerationStore,
    ReviewStatus,
    RoleList,
    ScopePolicy,
)
from bot.store.quotas import NewJob, QuotaLimits
from bot.store.retention import AUDIT_RETENTION_DAYS, Retention, prune_rows
from bot.store.settings import SETTINGS_TTL_SECONDS
from tests.fake_clock import FakeClock

GUILD = "test:guild:g1"
OTHER = "test:guild:g2"
DAY = 86400


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "atelier.db")
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_scope_policy_round_trips_and_stays_its_own(store: Store) -> None:
    mod = store.moderation
    assert await mod.policy(GUILD) == ScopePolicy()

    assert await mod.add_term(GUILD, "dragon")
    assert not await mod.add_term(GUILD, "dragon")  # already there
    assert await mod.add_term(GUILD, "re:gr[a4]ss")
    await mod.set_channel(GUILD, "c1", ChannelMode.IMAGES)
    await mod.set_channel(GUILD, "c1", ChannelMode.CHAT)  # a new rule replaces the old
    await mod.set_channel(GUILD, DEFAULT_CHANNEL, ChannelMode.OFF)
    await mod.set_review(GUILD, "c2", True)
    await mod.set_review(GUILD, "c2", True)
    await mod.set_role(GUILD, "r-mods", RoleList.ALLOW)
    await mod.set_role(GUILD, "r-muted", RoleList.ALLOW)
    await mod.set_role(GUILD, "r-muted", RoleList.DENY)  # one list at most
    await mod.ban(GUILD, Ban("test:u1", "Ann", None, "spam", "Mo"), at=100.0)
    await mod.add_term(OTHER, "elsewhere")

    policy = await mod.policy(GUILD)
    assert policy.terms == ("dragon", "re:gr[a4]ss")
    assert policy.channels == {"c1": ChannelMode.CHAT, DEFAULT_CHANNEL: ChannelMode.OFF}
    assert policy.reviewed_channels == {"c2"}
    assert (policy.allowed_roles, policy.denied_roles) == ({"r-mods"}, {"r-muted"})
    assert policy.bans == {"test:u1": Ban("test:u1", "Ann", None, "spam", "Mo")}
    assert (await mod.policy(OTHER)).terms == ("elsewhere",)

    assert await mod.remove_term(GUILD, "dragon")
    assert not await mod.remove_term(GUILD, "dragon")
    await mod.set_channel(GUILD, "c1", None)  # follows the default again
    await mod.set_review(GUILD, "c2", False)
    await mod.clear_roles(GUILD)
    assert await mod.unban(GUILD, "test:u1")
    assert not await mod.unban(GUILD, "test:u1")
    policy = await mod.policy(GUILD)
    assert policy == ScopePolicy(terms=("re:gr[a4]ss",), channels={DEFAULT_CHANNEL: ChannelMode.OFF})


async def test_bans_in_force_list_the_lasting_ones_first(store: Store) -> None:
    mod, now = store.moderation, 1_000_000.0
    await mod.ban(GUILD, Ban("test:soon", "Soon", now + 60, "", "Mo"))
    await mod.ban(GUILD, Ban("test:later", "Later", now + 3600, "", "Mo"))
    await mod.ban(GUILD, Ban("test:ever", "Ever", None, "", "Mo"))
    await mod.ban(GUILD, Ban("test:past", "Past", now - 1, "", "Mo"))
    assert [b.user_key for b in await mod.bans(GUILD, now)] == ["test:ever", "test:later", "test:soon"]
    assert "test:past" in (await mod.policy(GUILD)).bans  # the policy keeps it; access checks `until`

    # Banning again replaces the ban: a new end, a new reason.
    await mod.ban(GUILD, Ban("test:ever", "Ever", now + 10, "second", "Bo"))
    assert (await mod.bans(GUILD, now))[-1] == Ban("test:ever", "Ever", now + 10, "second", "Bo")
    assert await mod.bans(OTHER, now) == []


async def test_the_policy_is_cached_until_the_ttl_and_this_objects_writes_apply_at_once(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "atelier.db"
    first = await Store.open(path, clock=clock)
    second = await Store.open(path, clock=clock)  # another process on the same file
    try:
        assert await first.moderation.policy(GUILD) == ScopePolicy()
        await first.moderation.add_term(GUILD, "dragon")
        assert (await first.moderation.policy(GUILD)).terms == ("dragon",)  # its own write: at once

        assert (await second.moderation.policy(GUILD)).terms == ("dragon",)
        await first.moderation.set_channel(GUILD, "c1", ChannelMode.OFF)
        clock.advance(SETTINGS_TTL_SECONDS - 0.5)
        assert (await second.moderation.policy(GUILD)).channels == {}  # still the cached copy
        clock.advance(0.5)
        assert (await second.moderation.policy(GUILD)).channels == {"c1": ChannelMode.OFF}

        # Every kind of policy write drops the writer's cache.
        writes = [
            lambda m: m.set_review(GUILD, "c3", True),
            lambda m: m.set_role(GUILD, "r1", RoleList.DENY),
            lambda m: m.ban(GUILD, Ban("test:u1", "Ann", None, "", "Mo")),
            lambda m: m.unban(GUILD, "test:u1"),
            lambda m: m.clear_roles(GUILD),
            lambda m: m.remove_term(GUILD, "dragon"),
            lambda m: m.set_channel(GUILD, "c1", None),
        ]
        for write in writes:
            before = await second.moderation.policy(GUILD)
            await write(second.moderation)
            assert await second.moderation.policy(GUILD) != before, write
    finally:
        await first.close()
        await second.close()


async def test_audit_entries_read_back_newest_first_and_close_once(store: Store) -> None:
    mod = store.moderation
    first = await mod.record(GUILD, AuditEvent.GENERATED, user_key="test:u1", user_name="Ann", at=10.0, job_id="j1")
    second = await mod.record(
        GUILD,
        AuditEvent.FLAGGED,
        user_key="test:u2",
        user_name="Bob",
        at=20.0,
        job_id="j2",
        detail={"categories": ["violence"], "scores": {"violence": 0.91}, "text": "café ☕"},
    )
    await mod.record(OTHER, AuditEvent.REFUSED, user_key="test:u3", user_name="Cy", at=30.0)

    recent = await mod.recent(GUILD, 10)
    assert [(e.id, e.event, e.user_name) for e in recent] == [
        (second, AuditEvent.FLAGGED, "Bob"),
        (first, AuditEvent.GENERATED, "Ann"),
    ]
    assert [e.id for e in await mod.recent(GUILD, 1)] == [second]
    assert recent[0].detail == {"categories": ["violence"], "scores": {"violence": 0.91}, "text": "café ☕"}
    assert (recent[1].detail, recent[1].job_id, recent[1].at, recent[1].scope_key) == ({}, "j1", 10.0, GUILD)

    await mod.note_desk_ref(second, '{"message": 5}')
    entry = await mod.entry(second)
    assert entry is not None and entry.desk_ref == '{"message": 5}' and entry.closed_by is None
    assert await mod.close_entry(second, "Mo", "dismissed")
    assert not await mod.close_entry(second, "Bo", "deleted")  # the second moderator is too late
    entry = await mod.entry(second)
    assert entry is not None and (entry.closed_by, entry.closed_action) == ("Mo", "dismissed")
    assert not await mod.close_entry(9999, "Mo", "dismissed")
    assert await mod.entry(9999) is None


async def test_a_review_is_decided_once_and_leaves_the_pending_queue(store: Store) -> None:
    mod = store.moderation
    first = await mod.add_review("j1", GUILD, "test:u1", '{"chat": 1}', "a cat")
    second = await mod.add_review("j2", GUILD, "test:u2", None)
    await mod.add_review("j3", OTHER, "test:u3", None)
    assert [r.job_id for r in await mod.pending_reviews(GUILD)] == ["j1", "j2"]

    await mod.note_review_ref(first, '{"desk": 7}')
    review = await mod.review(first)
    assert review is not None
    assert (review.status, review.origin, review.caption, review.desk_ref) == (
        ReviewStatus.PENDING,
        '{"chat": 1}',
        "a cat",
        '{"desk": 7}',
    )

    assert await mod.decide(first, ReviewStatus.APPROVED, "Mo")
    assert not await mod.decide(first, ReviewStatus.REJECTED, "Bo")
    review = await mod.review(first)
    assert review is not None and (review.status, review.decided_by) == (ReviewStatus.APPROVED, "Mo")
    assert [r.id for r in await mod.pending_reviews(GUILD)] == [second]
    with pytest.raises(ValueError):
        await mod.decide(second, ReviewStatus.PENDING, "Mo")
    assert not await mod.decide(9999, ReviewStatus.REJECTED, "Mo")
    assert await mod.review(9999) is None


async def test_two_processes_deciding_one_review_or_closing_one_alert_win_once(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    first, second = await Store.open(path), await Store.open(path)
    try:
        reviews = [await first.moderation.add_review(f"j{i}", GUILD, "test:u1", None) for i in range(20)]
        entries = [
            await first.moderation.record(GUILD, AuditEvent.FLAGGED, user_key="test:u1", user_name="Ann", at=1.0)
            for _ in range(20)
        ]
        # Each review: Mo approves through one process while Bo rejects through the other, at once.
        races = await asyncio.gather(
            *(
                asyncio.gather(
                    first.moderation.decide(r, ReviewStatus.APPROVED, "Mo"),
                    second.moderation.decide(r, ReviewStatus.REJECTED, "Bo"),
                )
                for r in reviews
            )
        )
        closes = await asyncio.gather(
            *(
                asyncio.gather(
                    first.moderation.close_entry(e, "Mo", "deleted"),
                    second.moderation.close_entry(e, "Bo", "dismissed"),
                )
                for e in entries
            )
        )
        assert [sorted(race) for race in races + closes] == [[False, True]] * 40  # one winner each
        for review_id, (approved, _) in zip(reviews, races, strict=True):
            review = await second.moderation.review(review_id)
            assert review is not None
            assert (review.status, review.decided_by) == (
                (ReviewStatus.APPROVED, "Mo") if approved else (ReviewStatus.REJECTED, "Bo")
            )
        for entry_id, (mo_won, _) in zip(entries, closes, strict=True):
            entry = await first.moderation.entry(entry_id)
            assert entry is not None
            assert (entry.closed_by, entry.closed_action) == (("Mo", "deleted") if mo_won else ("Bo", "dismissed"))
        assert await first.moderation.pending_reviews(GUILD) == []
    finally:
        await first.close()
        await second.close()


async def test_a_result_remembers_where_it_was_posted(store: Store) -> None:
    job = NewJob("j1", JobKind.IMAGINE, "test:u1", "u", GUILD, "c", "p", {}, "agnes", 1)
    assert await store.quotas.reserve(job, QuotaLimits(5, 5)) is None
    record = await store.jobs.get("j1")
    assert record is not None and record.posted_ref is None
    await store.jobs.note_posted("j1", '{"messages": [1, 2]}')
    record = await store.jobs.get("j1")
    assert record is not None and record.posted_ref == '{"messages": [1, 2]}'


async def test_upgrading_a_schema_3_database_keeps_its_data_and_adds_moderation(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        db.executescript("BEGIN;\n" + "\n".join(MIGRATIONS[:3]) + "\nPRAGMA user_version=3;\nCOMMIT;")
        db.execute(
            "INSERT INTO jobs(id, kind, user_key, user_name, scope_key, conversation, prompt, params, provider, "
            "images, day, status, user_limit, scope_limit, result, created_at, finished_at) VALUES "
            "('old', 'imagine', 'test:u1', 'u', ?, 'c', 'a fox', '{}', 'agnes', 1, '2026-01-01', 'done', 9, NULL, "
            "'{}', 0, 0)",
            (GUILD,),
        )
        db.execute("INSERT INTO scope_settings(scope_key, name, value) VALUES (?, 'guild_quota', '7')", (GUILD,))
    store = await Store.open(path)
    try:
        version = await store.db.fetchone("PRAGMA user_version")
        assert version is not None and version[0] == len(MIGRATIONS) == 8
        old = await store.jobs.get("old")
        assert old is not None and (old.prompt, old.posted_ref) == ("a fox", None)
        assert await store.settings.all(GUILD) == {"guild_quota": "7"}
        assert await store.moderation.add_term(GUILD, "dragon")
        assert (await store.moderation.policy(GUILD)).terms == ("dragon",)
        assert await store.moderation.add_review("old", GUILD, "test:u1", None) == 1
    finally:
        await store.close()
    reopened = await Store.open(path)  # the upgrade is not applied twice
    try:
        assert (await reopened.moderation.policy(GUILD)).terms == ("dragon",)
    finally:
        await reopened.close()


async def test_old_audit_entries_and_decided_reviews_are_pruned_pending_ones_stay(store: Store) -> None:
    mod, now = store.moderation, time.time()
    for name, days_ago in (("ancient", AUDIT_RETENTION_DAYS + 1), ("recent", AUDIT_RETENTION_DAYS - 1)):
        await mod.record(GUILD, AuditEvent.REFUSED, user_key="test:u1", user_name=name, at=now - days_ago * DAY)
    old_decided = await mod.add_review("j1", GUILD, "test:u1", None, at=now - 30 * DAY)
    await mod.decide(old_decided, ReviewStatus.REJECTED, "Mo", at=now - 20 * DAY)
    new_decided = await mod.add_review("j2", GUILD, "test:u1", None, at=now - 30 * DAY)
    await mod.decide(new_decided, ReviewStatus.APPROVED, "Mo", at=now - 1 * DAY)
    old_pending = await mod.add_review("j3", GUILD, "test:u1", None, at=now - 30 * DAY)

    pruned = await prune_rows(store.db, Retention(jobs_days=14, chat_days=30))

    assert (pruned.audit, pruned.reviews) == (1, 1)
    assert [e.user_name for e in await mod.recent(GUILD, 10)] == ["recent"]
    assert await mod.review(old_decided) is None
    assert await mod.review(new_decided) is not None
    assert [r.id for r in await mod.pending_reviews(GUILD)] == [old_pending]


async def test_the_policy_loads_in_one_query(store: Store) -> None:
    """It is read on every request: one trip to the database thread, however many tables it spans."""
    mod = ModerationStore(store.db, clock=FakeClock())
    await mod.add_term(GUILD, "dragon")
    await mod.set_channel(GUILD, "c1", ChannelMode.OFF)
    calls = 0
    fetchall = store.db.fetchall

    async def counting(sql: str, params: tuple = ()) -> list:
        nonlocal calls
        calls += 1
        return await fetchall(sql, params)

    store.db.fetchall = counting  # type: ignore[method-assign]
    try:
        first = await mod.policy(GUILD)
        again = await mod.policy(GUILD)  # cached
    finally:
        del store.db.fetchall
    assert calls == 1
    assert first == again and first.terms == ("dragon",) and first.channels == {"c1": ChannelMode.OFF}
