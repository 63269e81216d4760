"""Per-scope settings chosen by a guild's admins (quotas, rate limit, default model)."""

from __future__ import annotations

from bot.store.db import Database


class ScopeSettingsStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Read on every request, written rarely (and only through this object): keep them in memory.
        self._cache: dict[str, dict[str, str]] = {}

    async def all(self, scope_key: str) -> dict[str, str]:
        cached = self._cache.get(scope_key)
        if cached is None:
            rows = await self._db.fetchall("SELECT name, value FROM scope_settings WHERE scope_key = ?", (scope_key,))
            cached = self._cache[scope_key] = {row["name"]: row["value"] for row in rows}
        return dict(cached)

    async def set(self, scope_key: str, name: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO scope_settings(scope_key, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT(scope_key, name) DO UPDATE SET value = excluded.value",
            (scope_key, name, value),
        )
        self._cache.pop(scope_key, None)

    async def clear(self, scope_key: str, name: str | None = None) -> None:
        if name is None:
            await self._db.execute("DELETE FROM scope_settings WHERE scope_key = ?", (scope_key,))
        else:
            await self._db.execute("DELETE FROM scope_settings WHERE scope_key = ? AND name = ?", (scope_key, name))
        self._cache.pop(scope_key, None)
