"""Daily image quotas. Charging and refunding happen in the database's own triggers (see db.py), so a
reservation is one atomic statement: inserting the running job row, which carries the keys of the
counters it charges (built here, and only here)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.store.db import Database, QuotaExceeded
from bot.store.instances import LEASE_TTL_SECONDS
from bot.store.jobs import INTERRUPTED, KEPT_FILES, JobStatus, NewJob

__all__ = ["NewJob", "QuotaLimits", "QuotaStore", "Refusal", "Usage", "scope_counter", "user_counter", "utc_day"]

# The statuses whose closing gives a running job's images back (the refund trigger's list).
REFUNDED = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


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
class Refusal:
    message: str


@dataclass(frozen=True)
class Usage:
    user_used: int
    scope_used: int


class QuotaStore:
    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self._owner = owner  # this process's instance id: the lease its running jobs live under

    async def reserve(self, job: NewJob, limits: QuotaLimits) -> Refusal | None:
        """Store the job as running and charge it, or return a Refusal (nothing stored or charged)."""
        shared = scope_counter(job.scope_key) if limits.per_scope is not None else None
        try:
            await self._db.execute(
                "INSERT INTO jobs(id, kind, user_key, user_name, scope_key, conversation, prompt, params, "
                "provider, images, day, status, user_limit, scope_limit, user_counter, scope_counter, "
                "parent_id, created_at, owner, origin) VALUES (" + ", ".join(["?"] * 20) + ")",
                (
                    job.id, job.kind, job.user_key, job.user_name, job.scope_key, job.conversation,
                    job.prompt, json.dumps(job.params), job.provider, job.images, utc_day(), JobStatus.RUNNING,
                    limits.per_user, limits.per_scope, user_counter(job.scope_key, job.user_key), shared,
                    job.parent_id, time.time(), self._owner, job.origin,
                ),
            )  # fmt: skip
        except QuotaExceeded as exc:
            used = await self.usage(job.scope_key, job.user_key)
            if exc.which == "user":
                return Refusal(
                    f"You have used {used.user_used} of your {limits.per_user} images today here. "
                    "The allowance resets at 00:00 UTC."
                )
            return Refusal(
                f"This server has used {used.scope_used} of its {limits.per_scope} images today. "
                "The allowance resets at 00:00 UTC."
            )
        return None

    async def commit(self, job_id: str, result: dict, posted_ref: str | None = None) -> None:
        """Close a delivered job as done; its images stay charged. This never depends on the status a
        moment ago: if another process took this job's lease for expired and refunded it meanwhile, it is
        done all the same and charged again (trigger jobs_recharge), since the user has the images.
        `posted_ref`: where the result was posted (what a moderator's Delete removes), in the same write."""
        has_files = any(result.get(key) for key in KEPT_FILES)
        await self._db.execute(
            "UPDATE jobs SET status = ?, result = ?, finished_at = ?, has_files = ?, notice = NULL, "
            "posted_ref = COALESCE(?, posted_ref) WHERE id = ? AND status != ?",
            (JobStatus.DONE, json.dumps(result), time.time(), int(has_files), posted_ref, job_id, JobStatus.DONE),
        )

    async def refund(self, job_id: str, status: JobStatus, reason: str) -> bool:
        """Close a running job as failed or cancelled, which gives its images back (trigger).
        A no-op, returning False, for a job that is not running."""
        if status not in REFUNDED:
            raise ValueError(f"a refund closes a job as failed or cancelled, not {status!r}")
        cursor = await self._db.execute(
            "UPDATE jobs SET status = ?, result = ?, finished_at = ? WHERE id = ? AND status = ?",
            (status, json.dumps({"error": reason}), time.time(), job_id, JobStatus.RUNNING),
        )
        return cursor.rowcount > 0

    async def give_back(self, job_id: str, made: int) -> None:
        """A running job made fewer images than it was charged for: only `made` stay charged (trigger)."""
        await self._db.execute(
            "UPDATE jobs SET images = ? WHERE id = ? AND status = ? AND images > ?",
            (made, job_id, JobStatus.RUNNING, made),
        )

    async def refund_orphaned(self, now: float, ttl: float = LEASE_TTL_SECONDS) -> int:
        """Jobs left running by a process whose lease expired (it crashed, or was killed) are failed and
        refunded; the live jobs of other processes on this file are left alone. Those with somewhere to
        tell their user are marked for the adapters to tell (Atelier.interrupted). Returns how many."""
        cursor = await self._db.execute(
            "UPDATE jobs SET status = ?, result = ?, finished_at = ?, "
            "notice = CASE WHEN origin IS NOT NULL OR status_ref IS NOT NULL THEN 'pending' END "
            "WHERE status = ? AND (owner IS NULL OR owner NOT IN (SELECT id FROM instances WHERE heartbeat_at >= ?))",
            (JobStatus.FAILED, json.dumps({"error": INTERRUPTED}), time.time(), JobStatus.RUNNING, now - ttl),
        )
        return cursor.rowcount

    async def usage(self, scope_key: str, user_key: str) -> Usage:
        user, scope = user_counter(scope_key, user_key), scope_counter(scope_key)
        rows = await self._db.fetchall(
            "SELECT counter, used FROM usage WHERE day = ? AND counter IN (?, ?)", (utc_day(), user, scope)
        )
        found = {row["counter"]: row["used"] for row in rows}
        return Usage(found.get(user, 0), found.get(scope, 0))
