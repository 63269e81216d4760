"""What a scope's members did, for `/usage chart|top|export`: image jobs (read from the job rows) and chat
turns (recorded here, one row each: conversation history is neither attributed to a member nor kept whole).
The cost of a row, in units, is what it charged against the daily image quota: a delivered (or still
running) job its images, a failed or cancelled one nothing (it was refunded), a chat turn nothing (chat is
rate-limited, never charged)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from bot.store.db import Database
from bot.store.jobs import JobStatus

CHAT_OUTCOME = "answered"
# The statuses whose images stay charged (the others were refunded).
CHARGED = (JobStatus.DONE, JobStatus.RUNNING)


@dataclass(frozen=True)
class DayImages:
    """Images delivered in a scope on one UTC day by one model, and how many of them were the asker's."""

    day: str
    model: str
    images: int
    mine: int


@dataclass(frozen=True)
class MemberActivity:
    user_key: str
    name: str
    images: int = 0
    turns: int = 0


@dataclass(frozen=True)
class ActivityRow:
    """One line of the export: an image job or a chat turn."""

    at: float
    member: str
    command: str
    model: str
    outcome: str
    cost_units: int


class ActivityStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_turn(
        self, scope_key: str, user_key: str, user_name: str, command: str, model: str, at: float | None = None
    ) -> None:
        await self._db.execute(
            "INSERT INTO chat_turns(scope_key, user_key, user_name, command, model, at) VALUES (?, ?, ?, ?, ?, ?)",
            (scope_key, user_key, user_name, command, model, time.time() if at is None else at),
        )

    async def images_by_day(self, scope_key: str, user_key: str, since: float) -> list[DayImages]:
        """Delivered images per UTC day (the day they were charged to) and model, jobs asked since `since`."""
        model = self._db.json_text("params", "model")
        rows = await self._db.fetchall(
            f"SELECT day, {model} AS model, SUM(images) AS images, "
            "SUM(CASE WHEN user_key = ? THEN images ELSE 0 END) AS mine FROM jobs "
            f"WHERE scope_key = ? AND created_at >= ? AND status = ? GROUP BY day, {model} ORDER BY day",
            (user_key, scope_key, since, JobStatus.DONE),
        )
        return [DayImages(row["day"], row["model"] or "?", int(row["images"]), int(row["mine"])) for row in rows]

    async def top_members(self, scope_key: str, since: float, limit: int = 10) -> list[MemberActivity]:
        """The most active members since `since`: by images delivered plus chat turns, most first."""
        images = await self._db.fetchall(
            "SELECT user_key, MAX(user_name) AS name, SUM(images) AS n FROM jobs "
            "WHERE scope_key = ? AND created_at >= ? AND status = ? GROUP BY user_key",
            (scope_key, since, JobStatus.DONE),
        )
        turns = await self._db.fetchall(
            "SELECT user_key, MAX(user_name) AS name, COUNT(*) AS n FROM chat_turns "
            "WHERE scope_key = ? AND at >= ? GROUP BY user_key",
            (scope_key, since),
        )
        members = {row["user_key"]: MemberActivity(row["user_key"], row["name"], int(row["n"])) for row in images}
        for row in turns:
            known = members.get(row["user_key"]) or MemberActivity(row["user_key"], row["name"])
            members[row["user_key"]] = replace(known, turns=int(row["n"]))
        ranked = sorted(members.values(), key=lambda m: (-(m.images + m.turns), -m.images, m.name))
        return ranked[:limit]

    async def rows(self, scope_key: str, since: float) -> list[ActivityRow]:
        """Every image job and chat turn of the scope since `since`, oldest first."""
        model = self._db.json_text("params", "model")
        charged = ", ".join("?" * len(CHARGED))
        jobs = await self._db.fetchall(
            f"SELECT created_at, user_name, kind, {model} AS model, status, "
            f"CASE WHEN status IN ({charged}) THEN images ELSE 0 END AS units FROM jobs "
            "WHERE scope_key = ? AND created_at >= ?",
            (*CHARGED, scope_key, since),
        )
        turns = await self._db.fetchall(
            "SELECT at, user_name, command, model FROM chat_turns WHERE scope_key = ? AND at >= ?", (scope_key, since)
        )
        found = [
            ActivityRow(
                row["created_at"], row["user_name"], row["kind"], row["model"] or "", row["status"], int(row["units"])
            )
            for row in jobs
        ] + [ActivityRow(row["at"], row["user_name"], row["command"], row["model"], CHAT_OUTCOME, 0) for row in turns]
        return sorted(found, key=lambda row: row.at)
