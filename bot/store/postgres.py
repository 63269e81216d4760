"""The store on PostgreSQL, through asyncpg: a pool of connections, each call one autocommit statement as on
SQLite. Store modules write `?` and `?N` placeholders; they become `$N` here, once per statement text.
Migrations (bot.store.pg_schema) run in one transaction under an advisory lock, so processes starting at once
apply each exactly once; the version lives in a one-row table."""

from __future__ import annotations

import asyncio
import functools
from urllib.parse import urlsplit

import asyncpg

from bot.store.db import MIGRATIONS, Database, Row, StoreUnavailable, quota_refusal, redact_url
from bot.store.pg_schema import PG_MIGRATIONS

POOL_MIN, POOL_MAX = 1, 10
TIMEOUT_SECONDS = 10.0  # to connect, and for any one statement
# pg_advisory_xact_lock key of schema migrations: any constant of ours, the same in every process.
MIGRATION_LOCK = 0x41_54_45_4C  # "ATEL"
VERSION_TABLE = "atelier_schema"


@functools.lru_cache(maxsize=2048)
def to_postgres(sql: str) -> str:
    """`?` (numbered in order) and `?N` become `$N`; quoted text and `--` comments are left as they are."""
    out: list[str] = []
    plain = numbered = 0
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while end < n:  # a doubled quote is an escaped one: scanning on finds the real end
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif char == "?":
            end = i + 1
            while end < n and sql[end].isdigit():
                end += 1
            if end > i + 1:
                numbered += 1
                out.append("$" + sql[i + 1 : end])
            else:
                plain += 1
                out.append(f"${plain}")
            i = end
        else:
            out.append(char)
            i += 1
    if plain and numbered:
        raise ValueError(f"a statement mixes ? and ?N placeholders: {sql[:80]}")
    return "".join(out)


@functools.lru_cache(maxsize=64)
def _rowcount(status: str) -> int:
    """asyncpg's command status ("UPDATE 3", "INSERT 0 1", "DELETE 0"): the rows it touched."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class _Status:
    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class PostgresDatabase(Database):
    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self.where = where  # the URL without its password

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        where = redact_url(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                command_timeout=TIMEOUT_SECONDS,
                timeout=TIMEOUT_SECONDS,
                server_settings={"application_name": "atelier"},
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StoreUnavailable(f"cannot use the PostgreSQL database {where}: {unusable_reason(exc, url)}") from None
        database = cls(pool, where)
        try:
            await database.migrate()
        except BaseException:
            await pool.close()
            raise
        return database

    async def migrate(self) -> None:
        """Apply what this database lacks, all in one transaction holding the migration lock: a second
        process starting at once waits, then finds the version current and applies nothing."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
            version = await connection.fetchval(f"SELECT version FROM {VERSION_TABLE}")
            if version is None:
                version = 0
                await connection.execute(f"INSERT INTO {VERSION_TABLE}(version) VALUES (0)")
            if version > len(PG_MIGRATIONS):
                raise RuntimeError(f"the database has schema {version}; this Atelier knows up to {len(MIGRATIONS)}")
            for script in PG_MIGRATIONS[version:]:
                await connection.execute(script)
            await connection.execute(f"UPDATE {VERSION_TABLE} SET version = $1", len(PG_MIGRATIONS))

    async def schema_version(self) -> int:
        return int(await self._pool.fetchval(f"SELECT version FROM {VERSION_TABLE}"))

    async def execute(self, sql: str, params: tuple = ()) -> _Status:
        try:
            status = await self._pool.execute(to_postgres(sql), *params)
        except asyncpg.RaiseError as exc:
            if (refusal := quota_refusal(exc)) is None:
                raise
            raise refusal from None
        return _Status(_rowcount(status))

    async def executemany(self, sql: str, rows: list[tuple]) -> None:
        await self._pool.executemany(to_postgres(sql), rows)

    async def fetchone(self, sql: str, params: tuple = ()) -> Row | None:
        try:
            return await self._pool.fetchrow(to_postgres(sql), *params)
        except asyncpg.RaiseError as exc:
            if (refusal := quota_refusal(exc)) is None:
                raise
            raise refusal from None

    async def fetchall(self, sql: str, params: tuple = ()) -> list[Row]:
        return list(await self._pool.fetch(to_postgres(sql), *params))

    def json_remove(self, column: str, keys: tuple[str, ...]) -> str:
        removed = "".join(f" - '{key}'" for key in keys)
        return f"(({column})::jsonb{removed})::text"

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), TIMEOUT_SECONDS)
        except TimeoutError:
            self._pool.terminate()


def unusable_reason(exc: BaseException, url: str) -> str:
    """Why the server could not be used, in words, without the URL's password even if a message quoted it."""
    if isinstance(exc, TimeoutError):
        reason = f"no answer within {TIMEOUT_SECONDS:g} s"
    elif isinstance(exc, ConnectionRefusedError):
        reason = "the server refused the connection (is PostgreSQL running there?)"
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    password = urlsplit(url).password
    return reason.replace(password, "***") if password else reason
