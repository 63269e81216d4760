"""Which schema version a database holds, read without changing anything (`atelier doctor`): `atelier run`
migrates at start, the doctor only says what that would find."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.store.db import MIGRATIONS, StoreUnavailable, is_postgres_url, redact_url, sqlite_path


@dataclass(frozen=True)
class SchemaState:
    version: int | None  # None: no database (or no Atelier tables) yet
    known: int  # the newest version this code migrates to
    read_only: bool = False  # PostgreSQL: this login may not write there

    @property
    def newer_than_code(self) -> bool:
        return self.version is not None and self.version > self.known


async def schema_state(url: str) -> SchemaState:
    """Raises StoreUnavailable (one sentence, no password) when the database cannot be read."""
    if is_postgres_url(url):
        return await _postgres_state(url)
    path = sqlite_path(url)
    if str(path) == ":memory:":
        return SchemaState(None, len(MIGRATIONS))
    return await asyncio.to_thread(_sqlite_state, Path(path))


def _sqlite_state(path: Path) -> SchemaState:
    if not path.exists():
        return SchemaState(None, len(MIGRATIONS))
    try:  # read-only: the doctor leaves no -wal file or lock behind
        connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=5.0)
        try:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"{path} cannot be read as a SQLite database ({exc})") from None
    return SchemaState(version or None, len(MIGRATIONS))


async def _postgres_state(url: str) -> SchemaState:
    import asyncpg  # only when PostgreSQL is used

    from bot.store.pg_schema import PG_MIGRATIONS
    from bot.store.postgres import TIMEOUT_SECONDS, VERSION_TABLE, unusable_reason

    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            connection = await asyncpg.connect(url, timeout=TIMEOUT_SECONDS)
            try:
                exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", VERSION_TABLE)
                version = await connection.fetchval(f"SELECT version FROM {VERSION_TABLE}") if exists else None
                # Migrated: the bot writes rows; not yet: its first start creates tables.
                writable = await connection.fetchval(
                    "SELECT has_table_privilege($1, 'UPDATE')"
                    if exists
                    else "SELECT has_schema_privilege($1, 'CREATE')",
                    VERSION_TABLE if exists else "public",
                )
                standby = await connection.fetchval("SHOW transaction_read_only") == "on"
            finally:
                await connection.close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise StoreUnavailable(
            f"cannot use the PostgreSQL database {redact_url(url)}: {unusable_reason(exc, url)}"
        ) from None
    return SchemaState(version or None, len(PG_MIGRATIONS), read_only=standby or not writable)
