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


@dataclass(frozen=True)
class JobRecord(NewJob):
    """A stored job: what was asked (NewJob) and what came of it."""

    status: JobStatus = JobStatus.RUNNING
    result: dict[str, Any] | None = None
    created_at: float = 0.0


# Keys of a job's result that name files kept on disk for its buttons.
KEPT_FILES = ("files", "inputs", "masks")


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return None
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
            created_at=row["created_at"],
        )

    async def expired_result_files(self, older_than_days: int) -> list[tuple[str, list[str]]]:
        """Finished jobs past retention that still keep image files: (job id, file names)."""
        cutoff = time.time() - older_than_days * 86400
        # The LIKE is a cheap pre-filter; the JSON decides.
        rows = await self._db.fetchall(
            "SELECT id, result FROM jobs WHERE status = ? AND finished_at < ? "
            "AND (result LIKE '%files%' OR result LIKE '%inputs%' OR result LIKE '%masks%')",
            (JobStatus.DONE, cutoff),
        )
        expired = []
        for row in rows:
            result = json.loads(row["result"])
            names = [name for key in KEPT_FILES for name in result.get(key, [])]
            if names:
                expired.append((row["id"], names))
        return expired

    async def forget_result_files(self, job_ids: list[str]) -> None:
        paths = ", ".join(f"'$.{key}'" for key in KEPT_FILES)
        await self._db.executemany(
            f"UPDATE jobs SET result = json_remove(result, {paths}) WHERE id = ?", [(i,) for i in job_ids]
        )
