"""Daily image quotas: reserve atomically with the job row, refund on failure."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.store.db import Database


def utc_day(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y-%m-%d")


def user_counter(scope_key: str, user_key: str) -> str:
    # Per user *within* a scope: a busy server does not eat someone's allowance elsewhere.
    return f"user:{scope_key}:{user_key}"


def scope_counter(scope_key: str) -> str:
    return f"scope:{scope_key}"


@dataclass(frozen=True)
class QuotaLimits:
    per_user: int
    per_scope: int | None  # None: a private scope has no shared pool


@dataclass(frozen=True)
class NewJob:
    id: str
    kind: str
    user_key: str
    user_name: str
    scope_key: str
    conversation: str
    prompt: str
    params: dict
    provider: str
    images: int
    parent_id: str | None = None


@dataclass(frozen=True)
class Refusal:
    message: str


@dataclass(frozen=True)
class Usage:
    user_used: int
    scope_used: int


class QuotaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, job: NewJob, limits: QuotaLimits) -> Refusal | None:
        """In one transaction: check both counters, charge them and store the job as running.
        Returns a Refusal (nothing charged, nothing stored) when a limit would be passed."""
        day = utc_day()
        user_key = user_counter(job.scope_key, job.user_key)
        scope_key = scope_counter(job.scope_key)
        async with self._db.transaction() as db:
            used = await _used(db, day, user_key, scope_key)
            if used.user_used + job.images > limits.per_user:
                return Refusal(
                    f"You have used {used.user_used} of your {limits.per_user} images today here. "
                    "The allowance resets at 00:00 UTC."
                )
            if limits.per_scope is not None and used.scope_used + job.images > limits.per_scope:
                return Refusal(
                    f"This server has used {used.scope_used} of its {limits.per_scope} images today. "
                    "The allowance resets at 00:00 UTC."
                )
            counters = [(user_key, day, job.images)]
            if limits.per_scope is not None:
                counters.append((scope_key, day, job.images))
            await db.executemany(
                "INSERT INTO usage(counter, day, used) VALUES (?, ?, ?) "
                "ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used",
                counters,
            )
            await db.execute(
                "INSERT INTO jobs(id, kind, user_key, user_name, scope_key, conversation, prompt, params, "
                "provider, images, day, status, parent_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    job.id,
                    job.kind,
                    job.user_key,
                    job.user_name,
                    job.scope_key,
                    job.conversation,
                    job.prompt,
                    json.dumps(job.params),
                    job.provider,
                    job.images,
                    day,
                    job.parent_id,
                    time.time(),
                ),
            )
        return None

    async def commit(self, job_id: str, result: dict) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE jobs SET status = 'done', result = ?, finished_at = ? WHERE id = ? AND status = 'running'",
                (json.dumps(result), time.time(), job_id),
            )

    async def refund(self, job_id: str, status: str, reason: str) -> bool:
        """Give the images back and close the job; a no-op for a job that is not running."""
        async with self._db.transaction() as db:
            cursor = await db.execute(
                "SELECT user_key, scope_key, images, day FROM jobs WHERE id = ? AND status = 'running'", (job_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                return False
            await _give_back(db, row)
            await db.execute(
                "UPDATE jobs SET status = ?, result = ?, finished_at = ? WHERE id = ?",
                (status, json.dumps({"error": reason}), time.time(), job_id),
            )
        return True

    async def refund_abandoned(self) -> int:
        """At start: jobs left running by a crash are failed and refunded. Returns how many."""
        async with self._db.transaction() as db:
            cursor = await db.execute("SELECT id, user_key, scope_key, images, day FROM jobs WHERE status = 'running'")
            rows = list(await cursor.fetchall())
            for row in rows:
                await _give_back(db, row)
            await db.execute(
                "UPDATE jobs SET status = 'failed', result = ?, finished_at = ? WHERE status = 'running'",
                (json.dumps({"error": "interrupted by a restart"}), time.time()),
            )
        return len(rows)

    async def usage(self, scope_key: str, user_key: str) -> Usage:
        return await _used(self._db.connection, utc_day(), user_counter(scope_key, user_key), scope_counter(scope_key))


async def _used(db, day: str, user_key: str, scope_key: str) -> Usage:
    cursor = await db.execute(
        "SELECT counter, used FROM usage WHERE day = ? AND counter IN (?, ?)", (day, user_key, scope_key)
    )
    found = {row[0]: row[1] for row in await cursor.fetchall()}
    return Usage(found.get(user_key, 0), found.get(scope_key, 0))


async def _give_back(db, row) -> None:
    await db.execute(
        "UPDATE usage SET used = MAX(0, used - ?) WHERE day = ? AND counter IN (?, ?)",
        (row["images"], row["day"], user_counter(row["scope_key"], row["user_key"]), scope_counter(row["scope_key"])),
    )
