"""Named leases: one holder at a time for something only one process may do (polling one Telegram bot).
A lease names its holder (an instance id) and expires unless renewed; each call is one statement."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.db import Database


@dataclass(frozen=True)
class Holder:
    owner: str
    pid: int | None  # from the holder's instances row, when it has one
    host: str | None


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, owner: str, ttl: float, now: float) -> bool:
        """Take `name` for `ttl` seconds if it is free, expired or already ours."""
        cursor = await self._db.execute(
            "INSERT INTO named_leases(name, owner, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
            "WHERE named_leases.expires_at < ? OR named_leases.owner = excluded.owner",
            (name, owner, now + ttl, now),
        )
        return cursor.rowcount == 1

    async def renew(self, name: str, owner: str, ttl: float, now: float) -> bool:
        """Extend our lease; False when it is no longer ours (it expired and another took it)."""
        cursor = await self._db.execute(
            "UPDATE named_leases SET expires_at = ? WHERE name = ? AND owner = ?", (now + ttl, name, owner)
        )
        return cursor.rowcount == 1

    async def release(self, name: str, owner: str) -> None:
        await self._db.execute("DELETE FROM named_leases WHERE name = ? AND owner = ?", (name, owner))

    async def holder(self, name: str) -> Holder | None:
        """Who holds `name` (for telling the operator which process it is)."""
        row = await self._db.fetchone(
            "SELECT l.owner, i.pid, i.host FROM named_leases l LEFT JOIN instances i ON i.id = l.owner "
            "WHERE l.name = ?",
            (name,),
        )
        return None if row is None else Holder(row["owner"], row["pid"], row["host"])
