"""Job rows: what was asked, by whom, where, and what came of it. Buttons find their job here."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.store.db import Database


class JobKind(StrEnum):
    IMAGINE = "imagine"
    EDIT = "edit"
    VARY = "vary"
    REROLL = "reroll"
    BLEND = "blend"


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class NewJob:
    """A job as asked for, before it is reserved (QuotaStore.reserve stores it)."""

    id: str
    kind: JobKind
    user_key: str
    user_name: str
    scope_key: str
    conversation: str
    prompt: str
    params: dict
    provider: str
    images: int
    parent_id: str | None = None
    # The adapter's opaque JSON naming where the request came from, to tell its user if it is interrupted.
    origin: str | None = None


@dataclass(frozen=True)
class JobRecord(NewJob):
    """A stored job: what was asked (NewJob) and what came of it."""

    status: JobStatus = JobStatus.RUNNING
    result: dict[str, Any] | None = None
    created_at: float = 0.0
    # The adapter's ref of the message(s) that posted the result (Reply.send_images), for moderators' Delete.
    posted_ref: str | None = None


@dataclass(frozen=True)
class InterruptedJob:
    """A job a dead process left running, refunded since, whose user has not been told yet."""

    id: str
    user_key: str
    scope_key: str
    origin: str | None  # the adapter's JSON, as given with the request
    status_ref: str | None  # the adapter's JSON for its status message, if one was posted


# Keys of a job's result that name files kept on disk for its buttons.
KEPT_FILES = ("files", "inputs", "masks")
# The reason stored on a job refunded because the process running it died.
INTERRUPTED = "interrupted by a restart"


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else _record(row)

    async def running_for(self, scope_key: str, user_key: str) -> list[JobRecord]:
        """This member's jobs running here, in any process, oldest first (`/info`)."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE user_key = ? AND scope_key = ? AND status = ? ORDER BY created_at",
            (user_key, scope_key, JobStatus.RUNNING),
        )
        return [_record(row) for row in rows]

    async def expired_result_files(self, older_than_days: int, limit: int = 500) -> list[tuple[str, list[str]]]:
        """Finished jobs past retention that still keep image files: (job id, file names), oldest first."""
        cutoff = time.time() - older_than_days * 86400
        rows = await self._db.fetchall(
            "SELECT id, result FROM jobs WHERE has_files = 1 AND finished_at < ? ORDER BY finished_at LIMIT ?",
            (cutoff, limit),
        )
        expired = []
        for row in rows:
            result = json.loads(row["result"]) if row["result"] else {}
            expired.append((row["id"], [name for key in KEPT_FILES for name in result.get(key, [])]))
        return expired

    async def forget_result_files(self, job_ids: list[str]) -> None:
        await self._db.executemany(
            f"UPDATE jobs SET result = {self._db.json_remove('result', KEPT_FILES)}, has_files = 0 WHERE id = ?",
            [(i,) for i in job_ids],
        )

    async def note_status(self, job_id: str, ref: str) -> None:
        """Remember the adapter's status message of a running job, to edit it if the job is interrupted."""
        await self._db.execute("UPDATE jobs SET status_ref = ? WHERE id = ?", (ref, job_id))

    async def note_posted(self, job_id: str, ref: str) -> None:
        """Remember where the result was posted, so a moderator can delete it later."""
        await self._db.execute("UPDATE jobs SET posted_ref = ? WHERE id = ?", (ref, job_id))

    async def interrupted(self, platform: str) -> list[InterruptedJob]:
        """This platform's jobs refunded after their process died, whose users were not told yet."""
        rows = await self._db.fetchall(
            "SELECT id, user_key, scope_key, origin, status_ref FROM jobs WHERE notice = 'pending' "
            "AND substr(scope_key, 1, ?) = ? ORDER BY created_at",
            (len(platform) + 1, f"{platform}:"),
        )
        return [
            InterruptedJob(row["id"], row["user_key"], row["scope_key"], row["origin"], row["status_ref"])
            for row in rows
        ]

    async def mark_told(self, job_id: str) -> bool:
        """Returns False when someone else (another process) told this job's user already."""
        cursor = await self._db.execute(
            "UPDATE jobs SET notice = 'told' WHERE id = ? AND notice = 'pending'", (job_id,)
        )
        return cursor.rowcount > 0

    # ------------------------------------------------------------------ cancel from any process

    async def request_cancel_for(self, scope_key: str, user_key: str, *, except_owner: str) -> int:
        """Flag this user's running jobs in this scope that other processes run, for their runners to
        stop. Returns how many were flagged now (a job flagged already is not counted twice)."""
        cursor = await self._db.execute(
            "UPDATE jobs SET cancel_requested = 1 WHERE scope_key = ? AND user_key = ? AND status = 'running' "
            "AND cancel_requested = 0 AND owner != ?",
            (scope_key, user_key, except_owner),
        )
        return cursor.rowcount

    async def request_cancel_job(self, job_id: str, user_key: str, *, except_owner: str) -> bool:
        """Flag one running job of this user that another process runs; False if there was none to flag."""
        cursor = await self._db.execute(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND user_key = ? AND status = 'running' "
            "AND cancel_requested = 0 AND owner != ?",
            (job_id, user_key, except_owner),
        )
        return cursor.rowcount > 0

    async def cancels_requested(self, job_ids: list[str]) -> list[str]:
        """Which of these (a runner's own running jobs) another process asked to cancel: by primary key,
        so one cheap statement covers all of them."""
        if not job_ids:
            return []
        marks = ", ".join("?" * len(job_ids))
        rows = await self._db.fetchall(
            f"SELECT id FROM jobs WHERE id IN ({marks}) AND cancel_requested = 1 AND status = 'running'",
            tuple(job_ids),
        )
        return [row["id"] for row in rows]


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kind=JobKind(row["kind"]),
        user_key=row["user_key"],
        user_name=row["user_name"],
        scope_key=row["scope_key"],
        conversation=row["conversation"],
        prompt=row["prompt"],
        params=json.loads(row["params"]),
        provider=row["provider"],
        images=row["images"],
        status=JobStatus(row["status"]),
        result=json.loads(row["result"]) if row["result"] else None,
        parent_id=row["parent_id"],
        origin=row["origin"],
        created_at=row["created_at"],
        posted_ref=row["posted_ref"],
    )
