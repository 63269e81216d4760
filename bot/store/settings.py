"""Per-scope settings chosen by a guild's admins (quotas, rate limit, default model)."""

from __future__ import annotations

from bot.store.db import Database


class ScopeSettingsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self, scope_key: str) -> dict[str, str]:
        rows = await self._db.fetchall("SELECT name, value FROM scope_settings WHERE scope_key = ?", (scope_key,))
        return {row["name"]: row["value"] for row in rows}

    async def set(self, scope_key: str, name: str, value: str) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO scope_settings(scope_key, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT(scope_key, name) DO UPDATE SET value = excluded.value",
                (scope_key, name, value),
            )

    async def clear(self, scope_key: str, name: str | None = None) -> None:
        async with self._db.transaction() as db:
            if name is None:
                await db.execute("DELETE FROM scope_settings WHERE scope_key = ?", (scope_key,))
            else:
                await db.execute("DELETE FROM scope_settings WHERE scope_key = ? AND name = ?", (scope_key, name))
