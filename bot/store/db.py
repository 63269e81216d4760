"""The SQLite connection: WAL, a versioned schema migrated at start, and serialised write transactions."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

MIGRATIONS: list[str] = [
    # 1: quotas, jobs, per-scope settings, conversations.
    """
    CREATE TABLE usage (
        counter TEXT NOT NULL,          -- 'user:<scope>:<user>' or 'scope:<scope>'
        day TEXT NOT NULL,              -- UTC date
        used INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (counter, day)
    ) WITHOUT ROWID;
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,             -- imagine | edit | vary | reroll
        user_key TEXT NOT NULL,
        user_name TEXT NOT NULL,
        scope_key TEXT NOT NULL,
        conversation TEXT NOT NULL,
        prompt TEXT NOT NULL,
        params TEXT NOT NULL,           -- JSON: size, seed, model, negative prompt
        provider TEXT NOT NULL,
        images INTEGER NOT NULL,        -- images charged
        day TEXT NOT NULL,
        status TEXT NOT NULL,           -- running | done | failed | cancelled
        user_limit INTEGER NOT NULL,    -- the limits in force when it was reserved
        scope_limit INTEGER,            -- NULL in a private scope: no shared pool
        result TEXT,                    -- JSON: result files, or the failure
        parent_id TEXT,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX jobs_status ON jobs(status);
    -- Quota accounting lives in the database: inserting a running job charges its counters and
    -- aborts (undoing the insert) past a limit; closing it as failed or cancelled refunds them.
    -- One statement each, so concurrent requests can never overspend, even from several processes.
    CREATE TRIGGER jobs_reserve AFTER INSERT ON jobs WHEN NEW.status = 'running'
    BEGIN
        INSERT INTO usage(counter, day, used)
            VALUES ('user:' || NEW.scope_key || ':' || NEW.user_key, NEW.day, NEW.images)
            ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used;
        SELECT RAISE(ABORT, 'quota:user') WHERE NEW.user_limit <
            (SELECT used FROM usage WHERE counter = 'user:' || NEW.scope_key || ':' || NEW.user_key AND day = NEW.day);
        INSERT INTO usage(counter, day, used) SELECT 'scope:' || NEW.scope_key, NEW.day, NEW.images
            WHERE NEW.scope_limit IS NOT NULL
            ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used;
        SELECT RAISE(ABORT, 'quota:scope') WHERE NEW.scope_limit <
            (SELECT used FROM usage WHERE counter = 'scope:' || NEW.scope_key AND day = NEW.day);
    END;
    CREATE TRIGGER jobs_refund AFTER UPDATE OF status ON jobs
        WHEN OLD.status = 'running' AND NEW.status IN ('failed', 'cancelled')
    BEGIN
        UPDATE usage SET used = MAX(0, used - OLD.images) WHERE day = OLD.day
            AND counter IN ('user:' || OLD.scope_key || ':' || OLD.user_key, 'scope:' || OLD.scope_key);
    END;
    CREATE INDEX jobs_user ON jobs(user_key, scope_key, status);
    CREATE TABLE scope_settings (
        scope_key TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (scope_key, name)
    ) WITHOUT ROWID;
    CREATE TABLE conversation_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation TEXT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        images TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL
    );
    CREATE INDEX conversation_messages_key ON conversation_messages(conversation, id);
    CREATE TABLE message_links (
        message_key TEXT PRIMARY KEY,   -- '<platform>:<chat>:<message id>' of a message the bot sent
        conversation TEXT,
        job_id TEXT
    ) WITHOUT ROWID;
    """,
]


class Database:
    """One connection in autocommit mode. Every write is a single statement, atomic on its own (quota
    accounting rides on triggers), so no transaction is ever left open for another coroutine to
    stumble into, and concurrent writes queue on aiosqlite's thread without a lock of ours."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(str(path), isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA busy_timeout=5000")
        await connection.execute("PRAGMA foreign_keys=ON")
        database = cls(connection)
        await database.migrate()
        return database

    async def migrate(self) -> None:
        version = (await self.fetchall("PRAGMA user_version"))[0][0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript, because triggers hold semicolons; the script carries its own transaction.
            await self.connection.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    async def execute(self, sql: str, params: tuple = ()) -> aiosqlite.Cursor:
        return await self.connection.execute(sql, params)

    async def executemany(self, sql: str, rows: list[tuple]) -> None:
        await self.connection.executemany(sql, rows)

    async def fetchone(self, sql: str, params: tuple = ()) -> aiosqlite.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: tuple = ()) -> list[aiosqlite.Row]:
        # One trip to the database thread (a cursor would take three).
        return list(await self.connection.execute_fetchall(sql, params))

    async def close(self) -> None:
        await self.connection.close()
