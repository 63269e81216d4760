"""Per-scope settings chosen by a guild's admins (quotas, rate limit, default model)."""

from __future__ import annotations

from bot.clock import MONOTONIC, Clock
from bot.store.db import Database

# Another process on the same file may change a setting: what this one has in memory is re-read
# after this long at most.
SETTINGS_TTL_SECONDS = 5.0


class ScopeSettingsStore:
    def __init__(self, db: Database, *, ttl: float = SETTINGS_TTL_SECONDS, clock: Clock = MONOTONIC) -> None:
        self._db = db
        self._ttl = ttl
        self._clock = clock
        # Read on every request, written rarely: kept in memory for `ttl` seconds (changes made through
        # this object apply at once).
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    async def all(self, scope_key: str) -> dict[str, str]:
        now = self._clock.now()
        cached = self._cache.get(scope_key)
        if cached is None or now - cached[0] >= self._ttl:
            rows = await self._db.fetchall("SELECT name, value FROM scope_settings WHERE scope_key = ?", (scope_key,))
            cached = self._cache[scope_key] = (now, {row["name"]: row["value"] for row in rows})
        return dict(cached[1])

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
