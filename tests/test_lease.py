"""Several processes on one database: each has a lease, and only the jobs of a process whose lease
expired are refunded. Two Atelier instances (each its own Store, connection and thread) stand in for
two processes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.core import Atelier
from bot.lease import HEARTBEAT_SECONDS
from bot.store import Store
from bot.store.instances import LEASE_TTL_SECONDS
from bot.store.jobs import JobKind, JobStatus
from bot.store.quotas import NewJob, QuotaLimits
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import poll_until
from tests.recording import RecordingReply, make_request, say

GUILD = "test:guild:g1"


async def requests_seen(agnes: FakeAgnes, count: int) -> bool:
    return len(agnes.image_requests()) >= count


async def test_a_second_process_starting_leaves_the_first_ones_job_alone_and_quota_holds(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    """The overspend of issue 9: a user quota of 1 delivered 2 when a second process refunded the
    first one's live job at its start."""
    settings = make_settings(tmp_path, fake_agnes, quota_images_per_user_per_day=1)
    first = await Atelier.start(settings)
    second: Atelier | None = None
    try:
        fake_agnes.faults = ["timeout"]  # the provider holds the first job until released
        first_reply = RecordingReply()
        running = asyncio.ensure_future(say(first, "/imagine a lighthouse", make_request(), first_reply))
        await poll_until(lambda: requests_seen(fake_agnes, 1), what="the first job at the provider")

        second = await Atelier.start(settings)
        (job,) = await second.store.db.fetchall("SELECT id, status FROM jobs")
        assert job["status"] == JobStatus.RUNNING
        assert (await second.store.quotas.usage(GUILD, "test:u1")).user_used == 1

        second_reply = RecordingReply()
        await say(second, "/imagine another lighthouse", make_request(), second_reply)
        assert second_reply.deliveries == [] and "used 1 of your 1 images" in second_reply.errors[0]

        fake_agnes.release()
        await asyncio.wait_for(running, 10)
        assert len(first_reply.deliveries) == 1 and first_reply.errors == []
        record = await second.store.jobs.get(job["id"])
        assert record is not None and record.status is JobStatus.DONE  # so its buttons and pruning work
        assert (await second.store.quotas.usage(GUILD, "test:u1")).user_used == 1
        assert len(fake_agnes.image_requests()) == 1
    finally:
        fake_agnes.release()
        await first.close()
        if second is not None:
            await second.close()


async def dead_process_with_a_running_job(path: Path, clock: FakeClock, job_id: str = "orphan") -> None:
    """A process that took its lease, reserved a job, then died (its store just stops)."""
    dead = await Store.open(path)
    await dead.instances.beat(clock.now())
    job = NewJob(job_id, JobKind.IMAGINE, "test:u1", "u", GUILD, "c", "p", {}, "agnes", 1, origin='{"chat": 5}')
    assert await dead.quotas.reserve(job, QuotaLimits(5, 5)) is None
    await dead.close()


async def test_a_dead_processes_job_is_refunded_once_its_lease_expires(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes)
    clock = FakeClock(start=1_800_000_000.0)
    await dead_process_with_a_running_job(settings.database_path, clock)

    core = await Atelier.start(settings, lease_clock=clock)
    try:
        # Just died: its lease still looks live, so its job is left alone for now.
        record = await core.store.jobs.get("orphan")
        assert record is not None and record.status is JobStatus.RUNNING
        assert await core.interrupted("test") == []

        # The heartbeat finds it once the lease has expired.
        beats = int(LEASE_TTL_SECONDS // HEARTBEAT_SECONDS) + 1
        for _ in range(beats):
            await clock.sleeping(lambda remaining: remaining == HEARTBEAT_SECONDS)
            clock.advance(HEARTBEAT_SECONDS)

        async def refunded() -> bool:  # the last beat runs once woken
            record = await core.store.jobs.get("orphan")
            return record is not None and record.status is JobStatus.FAILED

        await poll_until(refunded, what="the orphan refunded")
        assert (await core.store.quotas.usage(GUILD, "test:u1")).user_used == 0
        (interrupted,) = await core.interrupted("test")
        assert (interrupted.id, interrupted.origin) == ("orphan", '{"chat": 5}')
        assert await core.interrupted("telegram") == []
        assert await core.mark_told("orphan") and not await core.mark_told("orphan")  # told once
        assert await core.interrupted("test") == []
        # Its own lease stays live throughout: a process never refunds itself.
        assert core.store.instance_id in await core.store.instances.live(clock.now())
    finally:
        await core.close()
    assert core.store.instance_id not in await _live_ids(settings.database_path)  # a clean stop retires it


async def _live_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT id FROM instances")]


async def test_a_job_of_a_long_dead_process_is_refunded_at_start(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes)
    clock = FakeClock(start=1_800_000_000.0)
    await dead_process_with_a_running_job(settings.database_path, clock)
    clock.advance(LEASE_TTL_SECONDS + 1)
    core = await Atelier.start(settings, lease_clock=clock)
    try:
        record = await core.store.jobs.get("orphan")
        assert record is not None and record.status is JobStatus.FAILED
        assert [job.id for job in await core.interrupted("test")] == ["orphan"]
    finally:
        await core.close()


async def test_a_delivered_job_refunded_meanwhile_ends_done_and_charged(tmp_path: Path) -> None:
    """Commit never depends on the status a moment ago: a job another process took for abandoned (its
    lease looked expired) and refunded, that delivers after all, is done and charged again."""
    clock = FakeClock(start=1_800_000_000.0)
    slow = await Store.open(tmp_path / "atelier.db")
    other = await Store.open(tmp_path / "atelier.db")
    try:
        await slow.instances.beat(clock.now())
        job = NewJob("j1", JobKind.IMAGINE, "test:u1", "u", GUILD, "c", "p", {}, "agnes", 1, origin="{}")
        assert await slow.quotas.reserve(job, QuotaLimits(1, 5)) is None
        clock.advance(LEASE_TTL_SECONDS + 1)  # the slow process misses its beats
        await other.instances.beat(clock.now())
        assert await other.quotas.refund_orphaned(clock.now()) == 1
        assert (await other.quotas.usage(GUILD, "test:u1")).user_used == 0

        await slow.quotas.commit("j1", {"files": ["j1-out0"]})
        record = await other.jobs.get("j1")
        assert record is not None and record.status is JobStatus.DONE
        usage = await other.quotas.usage(GUILD, "test:u1")
        assert (usage.user_used, usage.scope_used) == (1, 1)
        assert await other.jobs.interrupted("test") == []  # delivered: nobody is told it was interrupted
        again = NewJob("j2", JobKind.IMAGINE, "test:u1", "u", GUILD, "c", "p", {}, "agnes", 1)
        assert await other.quotas.reserve(again, QuotaLimits(1, 5)) is not None  # the quota of 1 is spent
    finally:
        await slow.close()
        await other.close()


async def test_a_setting_changed_by_another_process_applies_within_seconds(tmp_path: Path) -> None:
    clock = FakeClock()
    reader = await Store.open(tmp_path / "atelier.db", clock=clock)
    writer = await Store.open(tmp_path / "atelier.db")
    try:
        assert await reader.settings.all(GUILD) == {}
        await writer.settings.set(GUILD, "user_quota", "3")
        assert await reader.settings.all(GUILD) == {}  # cached for a moment
        clock.advance(5.0)
        assert await reader.settings.all(GUILD) == {"user_quota": "3"}
    finally:
        await reader.close()
        await writer.close()
