"""One store contract, two backends: every test here runs on SQLite and on a real PostgreSQL server (a throwaway
cluster, tests/pg_server.py; skipped without PostgreSQL unless CI_REQUIRE_POSTGRES=1). Two Store objects on one
database stand in for two processes. The scenarios are those of the SQLite store tests (test_store.py,
test_rate_store.py, test_moderation_store.py, test_store_retention.py, test_cancel_shared.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.providers.base import ChatMessage
from bot.store import Store
from bot.store.db import MIGRATIONS
from bot.store.jobs import INTERRUPTED, JobKind, JobStatus
from bot.store.moderation import DEFAULT_CHANNEL, AuditEvent, Ban, ChannelMode, ReviewStatus, RoleList, ScopePolicy
from bot.store.quotas import NewJob, QuotaLimits, Usage, scope_counter, user_counter
from bot.store.retention import Retention, prune_rows

GUILD = "test:guild:g1"
OTHER = "test:guild:g2"
DAY = 86400

Opener = Callable[..., Awaitable[Store]]


def new_job(job_id: str, user: str = "test:u1", scope: str = GUILD, images: int = 1, **more: object) -> NewJob:
    return NewJob(job_id, JobKind.IMAGINE, user, "u", scope, "c", "p", {}, "agnes", images, **more)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where the store lives: a SQLite file, or a fresh database on the test PostgreSQL cluster."""
    if request.param == "sqlite":
        return tmp_path / "atelier.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def open_store(target: Path | str) -> AsyncIterator[Opener]:
    """Opens Stores on this test's database (one per "process"); all are closed at the end."""
    opened: list[Store] = []

    async def opener(**options: object) -> Store:
        store = await Store.open(target, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Opener) -> Store:
    return await open_store()


# ------------------------------------------------------------------ schema and migrations


async def test_the_schema_reaches_the_current_version_and_a_reopen_applies_nothing(
    target: Path | str, open_store: Opener
) -> None:
    first = await open_store()
    assert await first.db.schema_version() == len(MIGRATIONS)
    await first.settings.set(GUILD, "quota", "5")
    await first.close()
    again = await open_store()
    assert await again.db.schema_version() == len(MIGRATIONS)
    assert await again.settings.all(GUILD) == {"quota": "5"}  # nothing was created anew


async def test_two_stores_opening_a_new_database_at_once_both_work(open_store: Opener) -> None:
    first, second = await asyncio.gather(open_store(), open_store())
    assert await first.quotas.reserve(new_job("j1"), QuotaLimits(5, 5)) is None
    assert (await second.quotas.usage(GUILD, "test:u1")).user_used == 1


def test_postgresql_has_one_migration_per_sqlite_migration() -> None:
    from bot.store.pg_schema import PG_MIGRATIONS

    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


async def test_postgresql_ends_with_sqlites_tables_columns_keys_and_indexes(tmp_path: Path, pg_url: str) -> None:
    lite, pg = await Store.open(tmp_path / "atelier.db"), await Store.open(pg_url)
    try:
        lite_schema: dict[str, object] = {}
        tables = await lite.db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
        )
        for (table,) in tables:
            info = await lite.db.fetchall(f"PRAGMA table_info({table})")
            columns = [row["name"] for row in info]
            key = [row["name"] for row in sorted(info, key=lambda row: row["pk"]) if row["pk"]]
            lite_schema[table] = (columns, key)
        lite_indexes = {
            row["name"]
            for row in await lite.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        }
        pg_schema: dict[str, object] = {}
        for (table,) in await pg.db.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_name != 'atelier_schema'"
        ):
            columns = [
                row["column_name"]
                for row in await pg.db.fetchall(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
            ]
            key = [
                row["column_name"]
                for row in await pg.db.fetchall(
                    "SELECT k.column_name FROM information_schema.table_constraints c "
                    "JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
                    "WHERE c.table_name = ? AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position",
                    (table,),
                )
            ]
            pg_schema[table] = (columns, key)
        pg_indexes = {
            row["indexname"]
            for row in await pg.db.fetchall("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            if not row["indexname"].endswith("_pkey")
        }
        assert pg_schema == lite_schema
        assert pg_indexes == lite_indexes
    finally:
        await lite.close()
        await pg.close()


# ------------------------------------------------------------------ quotas


async def test_reserve_refund_commit_and_the_refusals(store: Store) -> None:
    job = NewJob("j1", JobKind.EDIT, "test:u1", "u", GUILD, "c", "p", {"size": "1x1"}, "agnes", 2)
    assert await store.quotas.reserve(job, QuotaLimits(5, 5)) is None
    row = await store.db.fetchone("SELECT user_counter, scope_counter FROM jobs WHERE id = 'j1'")
    assert (row["user_counter"], row["scope_counter"]) == (user_counter(GUILD, "test:u1"), scope_counter(GUILD))
    record = await store.jobs.get("j1")
    assert record is not None and record.kind is JobKind.EDIT and record.status is JobStatus.RUNNING
    assert record.params == {"size": "1x1"}

    with pytest.raises(ValueError, match="failed or cancelled"):
        await store.quotas.refund("j1", JobStatus.DONE, "not a refund")
    assert await store.quotas.refund("j1", JobStatus.CANCELLED, "by the user")
    assert not await store.quotas.refund("j1", JobStatus.FAILED, "twice")  # refunded once only
    assert await store.quotas.usage(GUILD, "test:u1") == Usage(0, 0)

    assert await store.quotas.reserve(new_job("j2"), QuotaLimits(5, 5)) is None
    await store.quotas.commit("j2", {"files": ["j2-out0"]})
    record = await store.jobs.get("j2")
    assert record is not None and record.status is JobStatus.DONE and record.result == {"files": ["j2-out0"]}
    assert (await store.quotas.usage(GUILD, "test:u1")).user_used == 1

    limits = QuotaLimits(per_user=2, per_scope=3)
    assert await store.quotas.reserve(new_job("j3"), limits) is None
    refusal = await store.quotas.reserve(new_job("j4"), limits)
    assert refusal is not None and refusal.message == (
        "You have used 2 of your 2 images today here. The allowance resets at 00:00 UTC."
    )
    assert await store.quotas.reserve(new_job("j5", user="test:u2"), limits) is None
    refusal = await store.quotas.reserve(new_job("j6", user="test:u3"), limits)
    assert refusal is not None and refusal.message == (
        "This server has used 3 of its 3 images today. The allowance resets at 00:00 UTC."
    )
    assert await store.jobs.get("j4") is None and await store.jobs.get("j6") is None  # nothing stored or charged
    assert await store.quotas.usage(GUILD, "test:u3") == Usage(0, 3)

    private = QuotaLimits(per_user=1, per_scope=None)  # a private scope: no shared pool
    assert await store.quotas.reserve(new_job("p1", scope="test:private:u1"), private) is None
    counters = {row["counter"] for row in await store.db.fetchall("SELECT counter FROM usage")}
    assert scope_counter("test:private:u1") not in counters


async def test_a_job_delivered_after_another_process_refunded_it_is_charged_again(open_store: Opener) -> None:
    crashed, survivor = await open_store(), await open_store()
    assert await crashed.quotas.reserve(new_job("j1", images=2), QuotaLimits(5, 5)) is None
    await crashed.instances.beat(time.time() - 3600)  # its lease expired long ago
    assert await survivor.quotas.refund_orphaned(time.time()) == 1
    assert await survivor.quotas.usage(GUILD, "test:u1") == Usage(0, 0)
    await crashed.quotas.commit("j1", {"files": []})  # it delivered after all (trigger jobs_recharge)
    assert await survivor.quotas.usage(GUILD, "test:u1") == Usage(2, 2)


async def test_a_grid_that_made_fewer_images_keeps_only_those_charged(store: Store) -> None:
    assert await store.quotas.reserve(new_job("j1", images=4), QuotaLimits(10, 10)) is None
    await store.quotas.give_back("j1", 3)  # one of four failed
    assert await store.quotas.usage(GUILD, "test:u1") == Usage(3, 3)
    await store.quotas.give_back("j1", 5)  # never more than was charged
    await store.quotas.commit("j1", {"files": []})
    await store.quotas.give_back("j1", 1)  # a finished job is left as it is
    assert await store.quotas.usage(GUILD, "test:u1") == Usage(3, 3)
    assert await store.quotas.reserve(new_job("j2", images=4), QuotaLimits(10, 10)) is None
    await store.quotas.give_back("j2", 2)
    assert await store.quotas.refund("j2", JobStatus.FAILED, "failed after all")  # gives back the 2 left
    assert await store.quotas.usage(GUILD, "test:u1") == Usage(3, 3)


@pytest.mark.parametrize("shared", ["user", "scope"])
async def test_fifty_reserves_from_two_stores_racing_a_quota_of_ten_get_exactly_ten(
    open_store: Opener, shared: str
) -> None:
    first, second = await open_store(), await open_store()
    if shared == "user":  # one user asking 50 times
        limits, jobs = QuotaLimits(per_user=10, per_scope=None), [new_job(f"j{i}") for i in range(50)]
    else:  # 50 members of one server
        limits, jobs = QuotaLimits(per_user=100, per_scope=10), [new_job(f"j{i}", user=f"test:u{i}") for i in range(50)]
    refusals = await asyncio.gather(
        *((first if i % 2 else second).quotas.reserve(job, limits) for i, job in enumerate(jobs))
    )
    assert sum(refusal is None for refusal in refusals) == 10
    row = await first.db.fetchone("SELECT COUNT(*) AS n FROM jobs WHERE status = ?", (JobStatus.RUNNING,))
    assert row["n"] == 10
    used = await second.quotas.usage(GUILD, "test:u1")
    assert (used.user_used if shared == "user" else used.scope_used) == 10


# ------------------------------------------------------------------ rate limits


async def test_two_stores_share_the_rate_and_the_told_once(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    now = 1000.0
    assert (await first.rates.take("u", 2, now)).admitted
    assert (await second.rates.take("u", 2, now)).admitted
    told, silent = await first.rates.take("u", 2, now), await second.rates.take("u", 2, now)
    assert not told.admitted and told.told and told.retry_in == pytest.approx(30.0)
    assert not silent.admitted and not silent.told
    assert (await second.rates.take("u", 2, now + 30)).admitted  # one slot came back

    racers = [first, second]
    results = await asyncio.gather(*(racers[i % 2].rates.take("many", 10, now) for i in range(50)))
    assert sum(result.admitted for result in results) == 10
    assert sum(result.told for result in results) == 1


async def test_a_pool_refusal_gives_the_members_admission_back(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    now = 1000.0
    assert await first.rates.take_pool("pool", 2, now)
    assert await second.rates.take_pool("pool", 2, now)
    assert (await first.rates.take("m3", 1, now)).admitted
    assert not await first.rates.take_pool("pool", 2, now)
    refused = await second.rates.pool_refused("m3", 1, "pool", 2, now)
    assert refused.told and refused.retry_in == pytest.approx(30.0)
    assert not (await first.rates.pool_refused("m3", 1, "pool", 2, now)).told  # once a minute
    assert (await second.rates.take("m3", 1, now)).admitted  # the refusal did not use m3's own rate

    await first.rates.give_back("m3", 1, "pool", 2)  # undo that admission, and one of the pool's
    assert (await second.rates.take("m3", 1, now)).admitted
    assert await second.rates.take_pool("pool", 2, now)


# ------------------------------------------------------------------ jobs, cancel flags, leases


async def test_cancel_flags_set_by_another_process(open_store: Opener) -> None:
    runner, asker = await open_store(), await open_store()
    for job_id in ("j1", "j2"):
        assert await runner.quotas.reserve(new_job(job_id), QuotaLimits(9, 9)) is None
    assert await asker.jobs.request_cancel_for(GUILD, "test:u1", except_owner=asker.instance_id) == 2
    assert await asker.jobs.request_cancel_for(GUILD, "test:u1", except_owner=asker.instance_id) == 0  # once
    assert await runner.jobs.request_cancel_for(GUILD, "test:u1", except_owner=runner.instance_id) == 0  # its own
    assert sorted(await runner.jobs.cancels_requested(["j1", "j2", "nope"])) == ["j1", "j2"]
    assert await runner.jobs.cancels_requested([]) == []

    assert await runner.quotas.reserve(new_job("j3"), QuotaLimits(9, 9)) is None
    assert not await asker.jobs.request_cancel_job("j3", "test:u2", except_owner=asker.instance_id)  # not theirs
    assert await asker.jobs.request_cancel_job("j3", "test:u1", except_owner=asker.instance_id)
    assert not await asker.jobs.request_cancel_job("j3", "test:u1", except_owner=asker.instance_id)
    await runner.quotas.commit("j3", {"files": []})
    assert await runner.jobs.cancels_requested(["j3"]) == []  # done: nothing left to stop


async def test_only_jobs_of_expired_leases_are_refunded_and_their_users_told_once(open_store: Opener) -> None:
    live, dead, other = await open_store(), await open_store(), await open_store()
    now = time.time()
    await live.instances.beat(now)
    await dead.instances.beat(now - 3600)
    assert await live.quotas.reserve(new_job("alive"), QuotaLimits(9, 9)) is None
    assert await dead.quotas.reserve(new_job("gone", origin='{"chat": 1}'), QuotaLimits(9, 9)) is None
    assert await dead.quotas.reserve(new_job("quiet"), QuotaLimits(9, 9)) is None
    await dead.jobs.note_status("quiet", '{"message": 7}')
    assert sorted(await other.instances.live(now)) == [live.instance_id]

    assert await other.quotas.refund_orphaned(now) == 2
    alive, gone = await other.jobs.get("alive"), await other.jobs.get("gone")
    assert alive is not None and alive.status is JobStatus.RUNNING
    assert gone is not None and gone.status is JobStatus.FAILED and gone.result == {"error": INTERRUPTED}
    assert (await other.quotas.usage(GUILD, "test:u1")).user_used == 1

    told = await other.jobs.interrupted("test")
    assert [(job.id, job.origin, job.status_ref) for job in told] == [
        ("gone", '{"chat": 1}', None),
        ("quiet", None, '{"message": 7}'),
    ]
    assert await other.jobs.interrupted("discord") == []
    assert await live.jobs.mark_told("gone")
    assert not await other.jobs.mark_told("gone")  # another process told them already
    await other.instances.forget_expired(now)
    await live.instances.retire()
    assert await other.instances.live(now) == []


async def test_result_files_expire_and_are_forgotten(store: Store) -> None:
    for job_id, files in (("old", ["old-out0"]), ("bare", []), ("new", ["new-out0"])):
        assert await store.quotas.reserve(new_job(job_id), QuotaLimits(9, 9)) is None
        await store.quotas.commit(job_id, {"files": files, "inputs": [f"{job_id}-in0"] if files else [], "seed": 3})
    await store.db.execute("UPDATE jobs SET finished_at = ? WHERE id != 'new'", (time.time() - 20 * DAY,))
    assert await store.jobs.expired_result_files(14) == [("old", ["old-out0", "old-in0"])]
    await store.jobs.forget_result_files(["old"])
    assert await store.jobs.expired_result_files(14) == []
    record = await store.jobs.get("old")
    assert record is not None and record.result == {"seed": 3}  # only the file lists went
    await store.jobs.note_posted("new", "posted-ref")
    record = await store.jobs.get("new")
    assert record is not None and record.posted_ref == "posted-ref"


async def test_a_commit_keeps_where_the_result_was_posted(store: Store) -> None:
    for job_id in ("posted", "unposted"):
        assert await store.quotas.reserve(new_job(job_id), QuotaLimits(9, 9)) is None
    await store.quotas.commit("posted", {"files": []}, posted_ref='{"messages": [7]}')
    await store.quotas.commit("unposted", {"files": []})
    posted, unposted = await store.jobs.get("posted"), await store.jobs.get("unposted")
    assert posted is not None and posted.posted_ref == '{"messages": [7]}'
    assert unposted is not None and unposted.posted_ref is None and unposted.status == JobStatus.DONE


async def test_named_leases_have_one_holder(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    await first.instances.beat(100.0)
    assert await first.leases.acquire("telegram-poller", first.instance_id, ttl=30, now=100.0)
    assert await first.leases.acquire("telegram-poller", first.instance_id, ttl=30, now=110.0)  # ours already
    assert not await second.leases.acquire("telegram-poller", second.instance_id, ttl=30, now=120.0)
    holder = await second.leases.holder("telegram-poller")
    assert holder is not None and holder.owner == first.instance_id and holder.pid is not None
    assert await first.leases.renew("telegram-poller", first.instance_id, ttl=30, now=130.0)
    assert not await second.leases.acquire("telegram-poller", second.instance_id, ttl=30, now=150.0)
    assert await second.leases.acquire("telegram-poller", second.instance_id, ttl=30, now=161.0)  # expired
    assert not await first.leases.renew("telegram-poller", first.instance_id, ttl=30, now=162.0)
    await first.leases.release("telegram-poller", first.instance_id)  # not its own any more: a no-op
    assert (await first.leases.holder("telegram-poller")).owner == second.instance_id  # type: ignore[union-attr]
    await second.leases.release("telegram-poller", second.instance_id)
    assert await first.leases.holder("telegram-poller") is None


# ------------------------------------------------------------------ albums, conversations, settings


async def test_album_parts_gathered_from_two_workers(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    await first.albums.add("chat", "album", 12, '{"n": 2}', now=100.0)
    await second.albums.add("chat", "album", 11, '{"n": 1}', now=100.0)
    await second.albums.add("chat", "album", 12, '{"n": 2}', now=100.0)  # delivered twice: kept once
    await first.albums.add("chat", "other", 13, '{"n": 3}', now=50.0)
    assert await first.albums.count("chat", "album") == 2
    assert await second.albums.parts("chat", "album") == ['{"n": 1}', '{"n": 2}']
    await first.albums.forget_before(60.0)
    assert await second.albums.parts("chat", "other") == []
    assert await second.albums.count("chat", "album") == 2


async def test_history_is_trimmed_across_a_reopen_and_links_keep_what_they_had(open_store: Opener) -> None:
    said = [ChatMessage("user" if i % 2 == 0 else "assistant", f"message {i}", [f"img{i}"]) for i in range(7)]
    store = await open_store(history_messages=3)
    assert await store.conversations.append("c", said[0], said[1]) == []
    await store.conversations.append("other", ChatMessage("user", "elsewhere"))
    await store.conversations.append("c", said[2], said[3])
    assert await store.conversations.append("c", said[4], said[5]) == ["img1", "img2"]
    await store.conversations.append("c", said[6])
    assert await store.conversations.history("c") == said[4:]
    await store.conversations.link_message("m1", conversation="c")
    await store.conversations.link_message("m1", job_id="j1")  # a second link keeps the conversation
    assert await store.conversations.linked("m1") == ("c", "j1")
    assert await store.conversations.linked("nope") == (None, None)
    await store.close()

    reopened = await open_store(history_messages=100)
    assert await reopened.conversations.history("c") == said[4:]
    assert await reopened.conversations.clear("c") == ["img4", "img5", "img6"]
    assert await reopened.conversations.history("c") == []
    assert await reopened.conversations.history("other") == [ChatMessage("user", "elsewhere")]


async def test_scope_settings_round_trip_between_stores(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    await first.settings.set(GUILD, "quota", "5")
    await first.settings.set(GUILD, "quota", "6")
    await first.settings.set(GUILD, "model", "m")
    assert await second.settings.all(GUILD) == {"quota": "6", "model": "m"}
    await first.settings.clear(GUILD, "quota")
    assert await first.settings.all(GUILD) == {"model": "m"}
    await first.settings.clear(GUILD)
    assert await first.settings.all(GUILD) == {}


# ------------------------------------------------------------------ moderation


async def test_a_scope_policy_round_trips(store: Store) -> None:
    mod = store.moderation
    assert await mod.policy(GUILD) == ScopePolicy()
    assert await mod.add_term(GUILD, "dragon")
    assert not await mod.add_term(GUILD, "dragon")
    assert await mod.add_term(GUILD, "re:it's")
    await mod.set_channel(GUILD, "c1", ChannelMode.IMAGES)
    await mod.set_channel(GUILD, "c1", ChannelMode.CHAT)
    await mod.set_channel(GUILD, DEFAULT_CHANNEL, ChannelMode.OFF)
    await mod.set_review(GUILD, "c2", True)
    await mod.set_review(GUILD, "c2", True)
    await mod.set_role(GUILD, "r-mods", RoleList.ALLOW)
    await mod.set_role(GUILD, "r-muted", RoleList.ALLOW)
    await mod.set_role(GUILD, "r-muted", RoleList.DENY)
    await mod.ban(GUILD, Ban("test:u1", "Ann", None, "spam", "Mo"), at=100.0)
    await mod.add_term(OTHER, "elsewhere")
    policy = await mod.policy(GUILD)
    assert policy.terms == ("dragon", "re:it's")
    assert policy.channels == {"c1": ChannelMode.CHAT, DEFAULT_CHANNEL: ChannelMode.OFF}
    assert policy.reviewed_channels == {"c2"}
    assert (policy.allowed_roles, policy.denied_roles) == ({"r-mods"}, {"r-muted"})
    assert policy.bans == {"test:u1": Ban("test:u1", "Ann", None, "spam", "Mo")}
    assert await mod.remove_term(GUILD, "dragon")
    await mod.set_channel(GUILD, "c1", None)
    await mod.set_review(GUILD, "c2", False)
    await mod.clear_roles(GUILD)
    assert await mod.unban(GUILD, "test:u1")
    assert not await mod.unban(GUILD, "test:u1")
    assert await mod.policy(GUILD) == ScopePolicy(terms=("re:it's",), channels={DEFAULT_CHANNEL: ChannelMode.OFF})

    now = 1_000_000.0
    await mod.ban(GUILD, Ban("test:soon", "Soon", now + 60, "", "Mo"))
    await mod.ban(GUILD, Ban("test:ever", "Ever", None, "", "Mo"))
    await mod.ban(GUILD, Ban("test:later", "Later", now + 3600, "", "Mo"))
    await mod.ban(GUILD, Ban("test:past", "Past", now - 1, "", "Mo"))
    assert [b.user_key for b in await mod.bans(GUILD, now)] == ["test:ever", "test:later", "test:soon"]


async def test_the_audit_log_and_reviews_are_decided_once_by_two_processes(open_store: Opener) -> None:
    first, second = await open_store(), await open_store()
    one = await first.moderation.record(
        GUILD, AuditEvent.REFUSED, user_key="test:u1", user_name="Ann", at=100.0, detail={"rule": "término"}
    )
    two = await second.moderation.record(GUILD, AuditEvent.GENERATED, user_key="test:u1", user_name="Ann", at=101.0)
    assert two > one
    assert [entry.id for entry in await first.moderation.recent(GUILD, 5)] == [two, one]
    await first.moderation.note_desk_ref(one, "desk-1")
    entry = await second.moderation.entry(one)
    assert entry is not None and entry.detail == {"rule": "término"} and entry.desk_ref == "desk-1"
    assert entry.event is AuditEvent.REFUSED
    assert await first.moderation.close_entry(one, "Mo", "dismissed")
    assert not await second.moderation.close_entry(one, "Bo", "deleted")
    assert await first.moderation.entry(999) is None

    review = await first.moderation.add_review("j1", GUILD, "test:u1", '{"chat": 1}', "a caption")
    await first.moderation.note_review_ref(review, "desk-2")
    assert [r.id for r in await second.moderation.pending_reviews(GUILD)] == [review]
    decisions = await asyncio.gather(
        first.moderation.decide(review, ReviewStatus.APPROVED, "Mo"),
        second.moderation.decide(review, ReviewStatus.REJECTED, "Bo"),
    )
    assert sorted(decisions) == [False, True]
    await first.moderation.reopen(review)
    decided = await second.moderation.review(review)
    assert decided is not None and decided.caption == "a caption" and decided.desk_ref == "desk-2"
    assert decided.status in (ReviewStatus.PENDING, ReviewStatus.REJECTED)  # reopened only if it was approved


# ------------------------------------------------------------------ usage reports


async def test_usage_reports_read_one_scopes_jobs_and_chat_turns(store: Store) -> None:
    now = time.time()
    asked = [("a1", "test:u1", "agnes:fast", 2), ("a2", "test:u1", "agnes:fast", 1), ("a3", "test:u2", "relay:big", 1)]
    for job_id, user, model, images in asked:
        job = NewJob(job_id, JobKind.IMAGINE, user, user[-2:], GUILD, "c", "p", {"model": model}, "agnes", images)
        assert await store.quotas.reserve(job, QuotaLimits(100, 100)) is None
        await store.quotas.commit(job_id, {"files": []})
    failed = NewJob("f1", JobKind.EDIT, "test:u2", "u2", GUILD, "c", "p", {"model": "relay:big"}, "relay", 1)
    assert await store.quotas.reserve(failed, QuotaLimits(100, 100)) is None
    await store.quotas.refund("f1", JobStatus.FAILED, "upstream down")
    assert await store.quotas.reserve(new_job("x1", scope=OTHER), QuotaLimits(100, 100)) is None
    await store.quotas.commit("x1", {})
    for at in (now - 60, now - 30):
        await store.activity.record_turn(GUILD, "test:u2", "u2", "chat", "agnes-chat", at=at)
    await store.activity.record_turn(GUILD, "test:u3", "u3", "ask", "agnes-chat", at=now - 8 * DAY)  # last week
    await store.activity.record_turn(OTHER, "test:u1", "u1", "chat", "agnes-chat", at=now)

    days = await store.activity.images_by_day(GUILD, "test:u1", now - DAY)
    assert sorted((d.model, d.images, d.mine) for d in days) == [("agnes:fast", 3, 3), ("relay:big", 1, 0)]
    top = await store.activity.top_members(GUILD, now - 7 * DAY)
    assert [(m.name, m.images, m.turns) for m in top] == [("u1", 3, 0), ("u2", 1, 2)]  # a tie: images first
    rows = await store.activity.rows(GUILD, now - 30 * DAY)
    # Oldest first: the turns were recorded as of earlier times, the jobs were asked just now, in order.
    assert [(r.member, r.command, r.model, r.outcome, r.cost_units) for r in rows] == [
        ("u3", "ask", "agnes-chat", "answered", 0),
        ("u2", "chat", "agnes-chat", "answered", 0),
        ("u2", "chat", "agnes-chat", "answered", 0),
        ("u1", "imagine", "agnes:fast", "done", 2),
        ("u1", "imagine", "agnes:fast", "done", 1),
        ("u2", "imagine", "relay:big", "done", 1),
        ("u2", "edit", "relay:big", "failed", 0),
    ]


async def test_chat_turns_and_file_less_job_rows_are_kept_for_the_reports_then_go(store: Store) -> None:
    now = time.time()
    for job_id, days_ago in (("month", 20), ("gone", 40)):
        assert await store.quotas.reserve(new_job(job_id), QuotaLimits(100, 100)) is None
        await store.quotas.commit(job_id, {})
        await store.db.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (now - days_ago * DAY, job_id))
    await store.activity.record_turn(GUILD, "test:u1", "u1", "chat", "m", at=now - 40 * DAY)
    await store.activity.record_turn(GUILD, "test:u1", "u1", "chat", "m", at=now - 20 * DAY)

    pruned = await prune_rows(store.db, Retention(jobs_days=14, chat_days=30), now=now)

    assert {row["id"] for row in await store.db.fetchall("SELECT id FROM jobs")} == {"month"}
    assert (pruned.jobs, pruned.chat_turns) == (1, 1)
    assert len(await store.activity.rows(GUILD, now - 30 * DAY)) == 2  # the 20-day-old job and turn


# ------------------------------------------------------------------ retention


async def test_rows_past_retention_go_and_recent_ones_stay(store: Store) -> None:
    now = time.time()
    from bot.store.quotas import utc_day

    old_day, today = utc_day(now - 40 * DAY), utc_day()
    await store.db.execute(
        "INSERT INTO usage(counter, day, used) VALUES ('user:x', ?, 3), ('user:x', ?, 1)", (old_day, today)
    )
    for job_id, days_ago, files in (("old", 40, []), ("old-with-files", 20, ["f0"]), ("recent", 1, [])):
        assert await store.quotas.reserve(new_job(job_id), QuotaLimits(100, 100)) is None
        await store.quotas.commit(job_id, {"files": files})
        await store.db.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (now - days_ago * DAY, job_id))
    await store.conversations.append("stale", ChatMessage("user", "long ago"))
    await store.db.execute("UPDATE conversation_messages SET created_at = ?", (now - 40 * DAY,))
    await store.conversations.append("live", ChatMessage("user", "today"))
    links = {"to-old-job": {"job_id": "old"}, "to-recent-job": {"job_id": "recent"},
             "to-stale-chat": {"conversation": "stale"}, "to-live-chat": {"conversation": "live"}}  # fmt: skip
    for key, linked in links.items():
        await store.conversations.link_message(key, **linked)
        await store.db.execute("UPDATE message_links SET created_at = ? WHERE message_key = ?", (now - 40 * DAY, key))
    audit = await store.moderation.record(GUILD, AuditEvent.FLAGGED, user_key="u", user_name="u", at=now - 100 * DAY)
    review = await store.moderation.add_review("old", GUILD, "u", None, at=now - 20 * DAY)
    await store.moderation.decide(review, ReviewStatus.REJECTED, "Mo", at=now - 20 * DAY)
    await store.rates.take("spent", 1, now - 200)

    pruned = await prune_rows(store.db, Retention(jobs_days=14, chat_days=30), now=now)

    assert [r["day"] for r in await store.db.fetchall("SELECT day FROM usage WHERE counter = 'user:x'")] == [today]
    assert {row["id"] for row in await store.db.fetchall("SELECT id FROM jobs")} == {"old-with-files", "recent"}
    assert await store.conversations.history("stale") == []
    kept = {row["message_key"] for row in await store.db.fetchall("SELECT message_key FROM message_links")}
    assert kept == {"to-recent-job", "to-live-chat"}
    assert await store.moderation.entry(audit) is None and await store.moderation.review(review) is None
    assert (pruned.usage, pruned.jobs, pruned.conversation_messages, pruned.message_links) == (1, 1, 1, 2)
    assert (pruned.audit, pruned.reviews, pruned.rates) == (1, 1, 1)


# ------------------------------------------------------------------ PostgreSQL only


def test_placeholders_become_numbered_outside_quoted_text() -> None:
    from bot.store.postgres import to_postgres

    assert to_postgres("SELECT ? , 'it''s ?', \"a?\" -- why?\n, ?") == "SELECT $1 , 'it''s ?', \"a?\" -- why?\n, $2"
    assert to_postgres("UPDATE t SET a = ?2 WHERE b = ?1 OR c = ?12") == "UPDATE t SET a = $2 WHERE b = $1 OR c = $12"
    with pytest.raises(ValueError, match="mixes"):
        to_postgres("SELECT ?1, ?")


async def test_an_unreachable_server_is_one_sentence_without_the_password() -> None:
    import socket

    from bot.store.db import StoreUnavailable

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailable) as caught:
        await Store.open(f"postgresql://atelier:s3cret-pw@127.0.0.1:{port}/atelier")
    message = str(caught.value)
    assert "s3cret-pw" not in message and f"postgresql://atelier:***@127.0.0.1:{port}/atelier" in message
    assert "refused" in message


async def test_the_core_serves_an_imagine_on_postgresql(tmp_path: Path, pg_url: str, fake_agnes: object) -> None:
    from bot.core import Atelier
    from tests.conftest import make_settings
    from tests.recording import RecordingReply, make_request, say

    settings = make_settings(tmp_path, fake_agnes, database_url=pg_url, quota_images_per_user_per_day=1)  # type: ignore[arg-type]
    core = await Atelier.start(settings)
    try:
        reply = RecordingReply()
        await say(core, "/imagine a lighthouse", make_request("u1"), reply)
        assert len(reply.deliveries) == 1 and reply.errors == []
        again = RecordingReply()
        await say(core, "/imagine another lighthouse", make_request("u1"), again)
        assert again.deliveries == [] and "You have used 1 of your 1 images today here" in again.errors[0]
        (row,) = await core.store.db.fetchall("SELECT status, result FROM jobs")
        assert row["status"] == JobStatus.DONE and json.loads(row["result"])["files"]
        assert list((settings.files_dir / "results").glob("*"))  # files go to the data dir, not the database
    finally:
        await core.close()


def test_an_unreachable_database_stops_the_bot_with_one_line_and_no_password(tmp_path: Path) -> None:
    from tests.test_config_startup import agnes_env, atelier, closed_port, one_line, platform_env

    port = closed_port()
    url = f"postgresql://atelier:s3cret-pw@127.0.0.1:{port}/atelier"
    line = one_line(*atelier(tmp_path, "run", env={**platform_env(), **agnes_env(), "DATABASE_URL": url}))
    assert "s3cret-pw" not in line
    assert line == (
        f"atelier: stopped: cannot use the PostgreSQL database postgresql://atelier:***@127.0.0.1:{port}/atelier: "
        "the server refused the connection (is PostgreSQL running there?)"
    )


def test_files_go_to_the_data_dir(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.preflight import database_problem

    lite = load_settings(database_url=f"sqlite:///{tmp_path / 'db' / 'a.db'}", _env_file=None)
    assert lite.files_dir == tmp_path / "db"  # beside the SQLite file, as before
    pg = load_settings(database_url="postgresql://u:pw@db.example:5432/atelier", _env_file=None)
    assert pg.files_dir == Path("data")
    chosen = load_settings(database_url="postgres://db.example/atelier", data_dir=tmp_path / "files", _env_file=None)
    assert chosen.files_dir == tmp_path / "files" and database_problem(chosen) is None
    (tmp_path / "a-file").write_text("")
    blocked = load_settings(database_url="postgres://db.example/atelier", data_dir=tmp_path / "a-file", _env_file=None)
    assert (database_problem(blocked) or "").startswith("Setting DATA_DIR is invalid: cannot create the folder")


def test_a_postgresql_password_is_among_the_secrets_masked_in_logs(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.redaction import secrets_of

    settings = load_settings(database_url="postgresql://atelier:s3cr%21t@db.example:5432/atelier", _env_file=None)
    assert "s3cr!t" in secrets_of(settings)
