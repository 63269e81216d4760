"""What a process killed mid-job leaves in the database, for the recovery tests of every adapter: its job
running, charged, with the origin (and the status message, if it had posted one) its adapter recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.store import Store
from bot.store.jobs import JobKind
from bot.store.quotas import NewJob, QuotaLimits


async def leave_crashed_job(
    path: Path,
    job_id: str,
    *,
    user_key: str,
    scope: str,
    origin: dict,
    status: dict | None = None,
    prompt: str = "a lighthouse",
    last_beat: float | None = None,
) -> None:
    """`last_beat`: the dead process's last heartbeat (by default an hour ago)."""
    dead = await Store.open(path)
    try:
        await dead.instances.beat(time.time() - 3600 if last_beat is None else last_beat)
        job = NewJob(
            job_id, JobKind.IMAGINE, user_key, "Ada", scope, "c", prompt, {}, "agnes", 1, origin=json.dumps(origin)
        )
        assert await dead.quotas.reserve(job, QuotaLimits(5, 50)) is None
        if status is not None:
            await dead.jobs.note_status(job_id, json.dumps(status))
    finally:
        await dead.close()
