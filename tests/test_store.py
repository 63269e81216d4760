"""The SQLite store on its own: schema upgrades, quota accounting, job statuses, history trimming."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.providers.base import ChatMessage
from bot.store import Store
from bot.store.db import MIGRATIONS
from bot.store.jobs import JobKind, JobStatus
from bot.store.quotas import NewJob, QuotaLimits, Usage, scope_counter, user_counter, utc_day

GUILD = "test:guild:g1"


def new_job(job_id: str, user: str = "test:u1", scope: str = GUILD, images: int = 1) -> NewJob:
    return NewJob(job_id, JobKind.IMAGINE, user, "u", scope, "c", "p", {}, "agnes", images)


def create_schema_1_database(path: Path) -> None:
    """A database as the first release left it: migration 1 only, with usage counted by its triggers."""
    day = utc_day()
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version=1;\nCOMMIT;")
        rows = [
            # id, user, scope, images, user limit, scope limit (None: a private scope)
            ("old-done", "test:u1", GUILD, 2, 10, 5),
            ("old-running", "test:u1", GUILD, 1, 10, 5),
            ("old-other", "test:u2", GUILD, 1, 10, 5),
            ("old-private", "test:u1", "test:private:u1", 3, 10, None),
        ]
        for job_id, user, scope, images, user_limit, scope_limit in rows:
            connection.execute(
                "INSERT INTO jobs(id, kind, user_key, user_name, scope_key, conversation, prompt, params, provider, "
                "images, day, status, user_limit, scope_limit, created_at) "
                "VALUES (?, 'imagine', ?, 'u', ?, 'c', 'p', '{}', 'agnes', ?, ?, 'running', ?, ?, ?)",
                (job_id, user, scope, images, day, user_limit, scope_limit, time.time()),
            )
        connection.execute("UPDATE jobs SET status = 'done' WHERE id IN ('old-done', 'old-other', 'old-private')")
        connection.commit()  # the context manager only commits open transactions; be explicit


async def test_upgrading_a_schema_1_database_keeps_its_counts_and_quotas_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    create_schema_1_database(path)

    store = await Store.open(path)
    try:
        assert (await store.db.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS) == 8
        used = await store.quotas.usage(GUILD, "test:u1")
        assert (used.user_used, used.scope_used) == (3, 4)  # u1: 2 + 1 here; the server: 2 + 1 + 1
        assert (await store.quotas.usage("test:private:u1", "test:u1")).user_used == 3

        # A job reserved before the upgrade is refunded from the counters it was charged to.
        assert await store.quotas.refund("old-running", JobStatus.FAILED, "upstream down")
        used = await store.quotas.usage(GUILD, "test:u1")
        assert (used.user_used, used.scope_used) == (2, 3)

        # New reservations count on top of the old usage: the server's pool of 5 has 2 left.
        limits = QuotaLimits(per_user=10, per_scope=5)
        assert await store.quotas.reserve(new_job("new-1"), limits) is None
        assert await store.quotas.reserve(new_job("new-2", user="test:u3"), limits) is None
        refusal = await store.quotas.reserve(new_job("new-3"), limits)
        assert refusal is not None and "used 5 of its 5" in refusal.message
        assert await store.jobs.get("new-3") is None

        # A private scope has no shared pool, before the upgrade and after.
        private = QuotaLimits(per_user=4, per_scope=None)
        assert await store.quotas.reserve(new_job("new-private", scope="test:private:u1"), private) is None
        refusal = await store.quotas.reserve(new_job("new-private-2", scope="test:private:u1"), private)
        assert refusal is not None and "used 4 of your 4" in refusal.message
        counters = {row["counter"] for row in await store.db.fetchall("SELECT counter FROM usage")}
        assert scope_counter("test:private:u1") not in counters
    finally:
        await store.close()


async def test_two_stores_upgrading_one_file_at_once_both_open(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    create_schema_1_database(path)
    stores = await asyncio.gather(Store.open(path), Store.open(path))
    try:
        for store in stores:
            assert (await store.quotas.usage(GUILD, "test:u1")).user_used == 3
    finally:
        for store in stores:
            await store.close()


async def test_a_newer_schema_is_refused_rather_than_guessed_at(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="knows up to"):
        await Store.open(path)


async def test_two_connections_on_one_file_never_overspend(tmp_path: Path) -> None:
    """Each Store has its own connection and thread, as two processes would."""
    path = tmp_path / "atelier.db"
    first = await Store.open(path)
    second = await Store.open(path)
    try:
        limits = QuotaLimits(per_user=100, per_scope=10)
        jobs = [new_job(f"j{i}", user=f"test:u{i}") for i in range(40)]
        refusals = await asyncio.gather(
            *((first if i % 2 else second).quotas.reserve(job, limits) for i, job in enumerate(jobs))
        )
        assert sum(refusal is None for refusal in refusals) == 10
        assert (await first.quotas.usage(GUILD, "test:u0")).scope_used == 10
        row = await first.db.fetchone("SELECT COUNT(*) FROM jobs WHERE status = ?", (JobStatus.RUNNING,))
        assert row[0] == 10
    finally:
        await first.close()
        await second.close()


async def test_job_rows_carry_their_counter_keys_and_typed_statuses(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "atelier.db")
    try:
        job = NewJob("j1", JobKind.EDIT, "test:u1", "u", GUILD, "c", "p", {"size": "1x1"}, "agnes", 2)
        assert await store.quotas.reserve(job, QuotaLimits(5, 5)) is None
        row = await store.db.fetchone("SELECT user_counter, scope_counter FROM jobs WHERE id = 'j1'")
        assert (row["user_counter"], row["scope_counter"]) == (user_counter(GUILD, "test:u1"), scope_counter(GUILD))

        record = await store.jobs.get("j1")
        assert record is not None
        assert record.kind is JobKind.EDIT and record.status is JobStatus.RUNNING

        with pytest.raises(ValueError, match="failed or cancelled"):
            await store.quotas.refund("j1", JobStatus.DONE, "not a refund")
        assert await store.quotas.refund("j1", JobStatus.CANCELLED, "by the user")
        assert not await store.quotas.refund("j1", JobStatus.FAILED, "twice")  # refunded once only
        record = await store.jobs.get("j1")
        assert record is not None and record.status is JobStatus.CANCELLED
        assert await store.quotas.usage(GUILD, "test:u1") == Usage(0, 0)

        assert await store.quotas.reserve(new_job("j2"), QuotaLimits(5, 5)) is None
        await store.quotas.commit("j2", {"files": []})
        record = await store.jobs.get("j2")
        assert record is not None and record.status is JobStatus.DONE
        assert (await store.quotas.usage(GUILD, "test:u1")).user_used == 1
    finally:
        await store.close()


async def test_history_keeps_the_newest_messages_in_order_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    said = [ChatMessage("user" if i % 2 == 0 else "assistant", f"message {i}") for i in range(7)]
    store = await Store.open(path, history_messages=3)
    try:
        await store.conversations.append("c", said[0], said[1])
        await store.conversations.append("other", ChatMessage("user", "elsewhere"))
        await store.conversations.append("c", said[2], said[3])
        await store.conversations.append("c", said[4], said[5])
        await store.conversations.append("c", said[6])
        assert await store.conversations.history("c") == said[4:]
    finally:
        await store.close()

    # Reopened with a larger cap: the older messages were dropped from storage, not just hidden.
    reopened = await Store.open(path, history_messages=100)
    try:
        assert await reopened.conversations.history("c") == said[4:]
        assert await reopened.conversations.history("other") == [ChatMessage("user", "elsewhere")]
    finally:
        await reopened.close()
