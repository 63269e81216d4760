"""Leases: each process (each Store) has an instance id and keeps a heartbeat row fresh. A job row
names its owner; only jobs whose owner's lease expired (or who has no row) count as abandoned."""

from __future__ import annotations

import os
import socket

from bot.store.db import Database

# The most a lease row may lag behind its process; see bot/lease.py for the heartbeat that keeps it fresh.
LEASE_TTL_SECONDS = 30.0


class InstanceStore:
    def __init__(self, db: Database, instance_id: str) -> None:
        self._db = db
        self.instance_id = instance_id

    async def beat(self, now: float) -> None:
        """Renew this instance's lease (creating its row on the first beat)."""
        await self._db.execute(
            "INSERT INTO instances(id, heartbeat_at, started_at, pid, host) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            (self.instance_id, now, now, os.getpid(), socket.gethostname()[:200]),
        )

    async def live(self, now: float, ttl: float = LEASE_TTL_SECONDS) -> list[str]:
        rows = await self._db.fetchall("SELECT id FROM instances WHERE heartbeat_at >= ?", (now - ttl,))
        return [row["id"] for row in rows]

    async def forget_expired(self, now: float, ttl: float = LEASE_TTL_SECONDS) -> None:
        """Drop the rows of instances long gone (after their jobs were refunded)."""
        await self._db.execute(
            "DELETE FROM instances WHERE heartbeat_at < ? AND id != ?", (now - 10 * ttl, self.instance_id)
        )

    async def retire(self) -> None:
        """A clean stop: this instance's jobs are all closed, so its lease can go at once."""
        await self._db.execute("DELETE FROM instances WHERE id = ?", (self.instance_id,))
