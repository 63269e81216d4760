"""The database the store runs on: a backend-neutral interface (Database), its SQLite implementation (WAL, a
versioned schema migrated at start, every write one autocommit statement) and the errors both backends raise.
PostgreSQL (bot.store.postgres) implements the same interface; store modules write their SQL once, with `?`
and `?N` placeholders, in a form both engines accept."""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import aiosqlite

from bot.store.checkpoint import CHECKPOINT_EVERY_SECONDS, WalCheckpointer

# A result row: by column name or position, and iterable (sqlite3.Row, asyncpg.Record).
Row: TypeAlias = Any

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class QuotaExceeded(Exception):
    """A reservation the quota triggers refused; `which` is 'user' or 'scope'. Nothing was stored or charged."""

    def __init__(self, which: str) -> None:
        super().__init__(f"quota:{which}")
        self.which = which


class StoreUnavailable(Exception):
    """The database cannot be used (a server unreachable, a login refused): one sentence, never a password."""


class Written(Protocol):
    """What execute() returns: how many rows the statement changed."""

    @property
    def rowcount(self) -> int: ...


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def redact_url(url: str) -> str:
    """The URL with its password replaced, fit for logs and messages."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:  # unparsable (a port that is not a number): hide everything between scheme and host
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rsplit('@', 1)[-1]}" if "@" in rest else url
    if password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(target: str | Path) -> Path | str:
    """A Path, a plain path or a `sqlite:///path` URL: the SQLite file (or ':memory:')."""
    if isinstance(target, Path):
        return target
    path = target.removeprefix("sqlite:///")
    return path if path == ":memory:" else Path(path)


async def open_database(target: str | Path, *, checkpoint_every: float | None = CHECKPOINT_EVERY_SECONDS) -> Database:
    """SQLite for a Path, a plain path or `sqlite:///...`; PostgreSQL for `postgres(ql)://...`."""
    if is_postgres_url(target):
        from bot.store.postgres import PostgresDatabase  # asyncpg is imported only when it is used

        return await PostgresDatabase.open(str(target))
    return await SQLiteDatabase.open(sqlite_path(target), checkpoint_every=checkpoint_every)


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
    # 2: a job row carries the keys of the counters it charges, built once in Python (quotas.py), so the
    # triggers no longer spell the key format; a refund also gives back exactly what was charged.
    """
    ALTER TABLE jobs ADD COLUMN user_counter TEXT;
    ALTER TABLE jobs ADD COLUMN scope_counter TEXT;   -- NULL: no shared pool charged
    -- Rows from before this migration were charged under the keys migration 1's triggers built.
    UPDATE jobs SET user_counter = 'user:' || scope_key || ':' || user_key,
        scope_counter = CASE WHEN scope_limit IS NOT NULL THEN 'scope:' || scope_key END;
    DROP TRIGGER jobs_reserve;
    DROP TRIGGER jobs_refund;
    CREATE TRIGGER jobs_reserve AFTER INSERT ON jobs WHEN NEW.status = 'running'
    BEGIN
        SELECT RAISE(ABORT, 'a running job needs the keys of the counters it charges')
            WHERE NEW.user_counter IS NULL OR (NEW.scope_limit IS NOT NULL AND NEW.scope_counter IS NULL);
        INSERT INTO usage(counter, day, used) VALUES (NEW.user_counter, NEW.day, NEW.images)
            ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used;
        SELECT RAISE(ABORT, 'quota:user') WHERE NEW.user_limit <
            (SELECT used FROM usage WHERE counter = NEW.user_counter AND day = NEW.day);
        INSERT INTO usage(counter, day, used) SELECT NEW.scope_counter, NEW.day, NEW.images
            WHERE NEW.scope_counter IS NOT NULL
            ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used;
        SELECT RAISE(ABORT, 'quota:scope') WHERE NEW.scope_limit <
            (SELECT used FROM usage WHERE counter = NEW.scope_counter AND day = NEW.day);
    END;
    CREATE TRIGGER jobs_refund AFTER UPDATE OF status ON jobs
        WHEN OLD.status = 'running' AND NEW.status IN ('failed', 'cancelled')
    BEGIN
        UPDATE usage SET used = MAX(0, used - OLD.images)
            WHERE counter IN (OLD.user_counter, OLD.scope_counter) AND day = OLD.day;
    END;
    """,
    # 3: leases, so one process never refunds another's live jobs; where to tell a user their job was
    # interrupted; and what retention needs to prune rows cheaply.
    """
    CREATE TABLE instances (
        id TEXT PRIMARY KEY,            -- one per running process (Store)
        heartbeat_at REAL NOT NULL,     -- wall-clock seconds; a lease older than its TTL has expired
        started_at REAL NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE jobs ADD COLUMN owner TEXT;        -- the instance running it; NULL: from before leases
    ALTER TABLE jobs ADD COLUMN origin TEXT;       -- the adapter's JSON: where the request came from
    ALTER TABLE jobs ADD COLUMN status_ref TEXT;   -- the adapter's JSON: its "Working… / Cancel" message
    ALTER TABLE jobs ADD COLUMN notice TEXT;       -- 'pending': interrupted, its user not told yet; 'told'
    ALTER TABLE jobs ADD COLUMN has_files INTEGER NOT NULL DEFAULT 0;  -- the result keeps files on disk
    UPDATE jobs SET has_files = 1 WHERE status = 'done' AND json_valid(result) AND (
        COALESCE(json_array_length(result, '$.files'), 0) + COALESCE(json_array_length(result, '$.inputs'), 0)
        + COALESCE(json_array_length(result, '$.masks'), 0)) > 0;
    -- Retention: finished jobs still keeping files (has_files = 1), and those past keeping (0).
    CREATE INDEX jobs_finished ON jobs(has_files, finished_at) WHERE finished_at IS NOT NULL;
    CREATE INDEX jobs_notice ON jobs(scope_key) WHERE notice = 'pending';
    -- A delivered job is charged, even if another process refunded it meanwhile (its lease looked
    -- expired): the user has the images, so the count must say so, past the limit if need be.
    CREATE TRIGGER jobs_recharge AFTER UPDATE OF status ON jobs
        WHEN OLD.status IN ('failed', 'cancelled') AND NEW.status = 'done'
    BEGIN
        INSERT INTO usage(counter, day, used) VALUES (OLD.user_counter, OLD.day, OLD.images)
            ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used;
        INSERT INTO usage(counter, day, used) SELECT OLD.scope_counter, OLD.day, OLD.images
            WHERE OLD.scope_counter IS NOT NULL
            ON CONFLICT(counter, day) DO UPDATE SET used = used + excluded.used;
    END;
    CREATE INDEX usage_day ON usage(day);
    CREATE INDEX conversation_messages_created ON conversation_messages(created_at);
    ALTER TABLE message_links ADD COLUMN created_at REAL;  -- when last linked
    UPDATE message_links SET created_at = (julianday('now') - 2440587.5) * 86400.0;
    CREATE INDEX message_links_created ON message_links(created_at);
    """,
    # 4: moderation (bot.store.moderation): each scope's blocklist, channel rules, review channels, role
    # lists and bans; the audit log; the review queue; and where a job's result was posted.
    """
    CREATE TABLE mod_terms (
        scope_key TEXT NOT NULL,
        term TEXT NOT NULL,             -- as the moderator typed it; 're:' for a regex
        PRIMARY KEY (scope_key, term)
    ) WITHOUT ROWID;
    CREATE TABLE mod_channels (
        scope_key TEXT NOT NULL,
        channel TEXT NOT NULL,          -- '*': the scope's default
        mode TEXT NOT NULL,             -- all | images | chat | off
        PRIMARY KEY (scope_key, channel)
    ) WITHOUT ROWID;
    CREATE TABLE mod_review_channels (
        scope_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        PRIMARY KEY (scope_key, channel)
    ) WITHOUT ROWID;
    CREATE TABLE mod_roles (
        scope_key TEXT NOT NULL,
        role TEXT NOT NULL,
        listing TEXT NOT NULL CHECK (listing IN ('allow', 'deny')),  -- one list per role at most
        PRIMARY KEY (scope_key, role)
    ) WITHOUT ROWID;
    CREATE TABLE mod_bans (
        scope_key TEXT NOT NULL,
        user_key TEXT NOT NULL,
        user_name TEXT NOT NULL,
        until REAL,                     -- wall-clock seconds; NULL: until unbanned
        reason TEXT NOT NULL,
        banned_by TEXT NOT NULL,        -- the moderator's name
        at REAL NOT NULL,
        PRIMARY KEY (scope_key, user_key)
    ) WITHOUT ROWID;
    CREATE TABLE mod_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope_key TEXT NOT NULL,
        at REAL NOT NULL,               -- wall-clock seconds
        event TEXT NOT NULL,
        user_key TEXT NOT NULL,
        user_name TEXT NOT NULL,
        job_id TEXT,
        detail TEXT NOT NULL DEFAULT '{}',  -- JSON
        desk_ref TEXT,                  -- the moderators' channel message about it
        closed_by TEXT,                 -- the moderator who acted on that message; NULL: still open
        closed_action TEXT
    );
    CREATE INDEX mod_audit_recent ON mod_audit(scope_key, id);
    CREATE INDEX mod_audit_at ON mod_audit(at);
    CREATE TABLE mod_reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        scope_key TEXT NOT NULL,
        user_key TEXT NOT NULL,
        origin TEXT,                    -- the adapter's JSON: where an approved result is posted
        caption TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending',  -- pending | approved | rejected
        desk_ref TEXT,
        decided_by TEXT,
        created_at REAL NOT NULL,
        decided_at REAL
    );
    CREATE INDEX mod_reviews_pending ON mod_reviews(scope_key, id) WHERE status = 'pending';
    CREATE INDEX mod_reviews_decided ON mod_reviews(decided_at) WHERE decided_at IS NOT NULL;
    ALTER TABLE jobs ADD COLUMN posted_ref TEXT;   -- the adapter's ref of the posted result
    """,
    # 5: shared state for many processes: rate limits in the store (GCRA: one row per key), a cancel
    # flag any process may set on a running job, named leases (one Telegram poller), album parts that
    # webhook workers gather together.
    """
    CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY,           -- what is limited: an asker, a scope, a chat asker
        tat REAL NOT NULL,              -- GCRA theoretical arrival time, wall-clock seconds
        told_at REAL                    -- when this key was last told to slow down
    ) WITHOUT ROWID;
    CREATE INDEX rate_limits_tat ON rate_limits(tat);
    ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;  -- set by any process
    CREATE TABLE named_leases (
        name TEXT PRIMARY KEY,          -- e.g. 'telegram-poller'
        owner TEXT NOT NULL,            -- the instance id holding it
        expires_at REAL NOT NULL        -- wall-clock seconds
    ) WITHOUT ROWID;
    CREATE TABLE album_parts (
        media_group_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id INTEGER NOT NULL,
        part TEXT NOT NULL,             -- the adapter's JSON of one message of the album
        created_at REAL NOT NULL,
        PRIMARY KEY (media_group_id, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX album_parts_created ON album_parts(created_at);
    """,
    # 6: `/describe`'s prompt ideas, so the buttons under them work after a restart.
    """
    CREATE TABLE prompt_ideas (
        id TEXT PRIMARY KEY,
        scope_key TEXT NOT NULL,        -- only this chat's members may use them
        prompts TEXT NOT NULL,          -- JSON list of the prompts, in the order shown
        created_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX prompt_ideas_created ON prompt_ideas(created_at);
    """,
    # 7: a grid whose images partly failed gives back the ones not made (QuotaStore.give_back).
    """
    CREATE TRIGGER jobs_give_back AFTER UPDATE OF images ON jobs
        WHEN OLD.status = 'running' AND NEW.images < OLD.images
    BEGIN
        UPDATE usage SET used = MAX(0, used - (OLD.images - NEW.images))
            WHERE counter IN (OLD.user_counter, OLD.scope_counter) AND day = OLD.day;
    END;
    """,
    # 8: usage reports (`/usage chart|top|export`): who had each chat turn (conversation history is neither
    # attributed nor kept whole), and a scope's jobs found by time without a scan.
    """
    CREATE TABLE chat_turns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope_key TEXT NOT NULL,
        user_key TEXT NOT NULL,
        user_name TEXT NOT NULL,
        command TEXT NOT NULL,          -- chat | ask | think
        model TEXT NOT NULL,
        at REAL NOT NULL                -- wall-clock seconds
    );
    CREATE INDEX chat_turns_scope ON chat_turns(scope_key, at);
    CREATE INDEX chat_turns_at ON chat_turns(at);
    CREATE INDEX jobs_scope_created ON jobs(scope_key, created_at);
    """,
]


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one: a trigger's body holds semicolons, and sqlite3 knows where it ends."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if any(line.strip() and not line.strip().startswith("--") for line in pending.splitlines()):
        raise ValueError(f"unterminated statement in a migration: {pending.strip()[:80]}")
    return statements


class Database(ABC):
    """What the store modules use: every call one statement, atomic on its own (quota accounting rides on
    triggers); a quota trigger's refusal surfaces as QuotaExceeded on either backend."""

    @abstractmethod
    async def execute(self, sql: str, params: tuple = ()) -> Written: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: list[tuple]) -> None: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: tuple = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: tuple = ()) -> list[Row]: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def json_remove(self, column: str, keys: tuple[str, ...]) -> str:
        """An SQL expression: the JSON text in `column` without these top-level keys."""

    @abstractmethod
    def json_text(self, column: str, key: str) -> str:
        """An SQL expression: the text of one top-level key of the JSON text in `column` (NULL if absent)."""


def quota_refusal(exc: Exception) -> QuotaExceeded | None:
    """The quota triggers' refusal ('quota:user', 'quota:scope'), as either backend raised it; else None."""
    message = str(exc)
    if message.startswith("quota:"):
        return QuotaExceeded(message.removeprefix("quota:"))
    return None


BUSY_TIMEOUT_SECONDS = 5.0  # how long a statement waits for another process's write lock


async def _switch_to_wal(connection: aiosqlite.Connection) -> None:
    """A new file's switch to WAL needs it alone, and SQLite answers "locked" at once (no busy wait) while
    another process opens it too: try again, briefly, until one of them has switched it."""
    deadline = asyncio.get_running_loop().time() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)


class SQLiteDatabase(Database):
    """One connection in autocommit mode. Every write is a single statement, atomic on its own (quota
    accounting rides on triggers), so no transaction is ever left open for another coroutine to
    stumble into, and concurrent writes queue on aiosqlite's thread without a lock of ours. Other
    processes on the same file wait for SQLite's write lock (busy_timeout)."""

    def __init__(self, connection: aiosqlite.Connection, checkpointer: WalCheckpointer | None = None) -> None:
        self.connection = connection
        self._checkpointer = checkpointer

    @classmethod
    async def open(
        cls, path: Path | str, *, checkpoint_every: float | None = CHECKPOINT_EVERY_SECONDS
    ) -> SQLiteDatabase:
        """`checkpoint_every`: seconds between background WAL checkpoints of a file database (None: none,
        and the WAL only grows while this connection is open)."""
        in_memory = str(path) == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The busy timeout from the first statement on: a new file's switch to WAL takes the write lock, and a
        # second process opening the file at that moment must wait for it, not fail.
        connection = await aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
        connection.row_factory = aiosqlite.Row
        database = cls(connection)
        try:
            await _switch_to_wal(connection)
            await connection.execute("PRAGMA synchronous=NORMAL")
            # Never checkpoint inside a statement: bot.store.checkpoint does it off the hot path.
            await connection.execute("PRAGMA wal_autocheckpoint=0")
            await database.migrate()
            if not in_memory and checkpoint_every is not None:
                database._checkpointer = WalCheckpointer(path, every=checkpoint_every)
                await database._checkpointer.start()
        except BaseException:
            await connection.close()
            raise
        return database

    async def migrate(self) -> None:
        """Apply the migrations this file lacks, in one write transaction. The version is read again
        inside it, so two processes starting on one file never apply a migration twice."""
        if await self.schema_version() == len(MIGRATIONS):
            return  # the usual start: no write lock taken
        # Statement by statement: executescript would commit the transaction that holds the lock.
        await self.connection.execute("BEGIN IMMEDIATE")
        try:
            version = await self.schema_version()
            if version > len(MIGRATIONS):
                raise RuntimeError(f"the database has schema {version}; this Atelier knows up to {len(MIGRATIONS)}")
            for script in MIGRATIONS[version:]:
                for statement in _statements(script):
                    await self.connection.execute(statement)
            await self.connection.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        except BaseException:
            await self.connection.execute("ROLLBACK")
            raise
        await self.connection.execute("COMMIT")

    async def schema_version(self) -> int:
        return int((await self.fetchall("PRAGMA user_version"))[0][0])

    async def execute(self, sql: str, params: tuple = ()) -> aiosqlite.Cursor:
        try:
            return await self.connection.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            if (refusal := quota_refusal(exc)) is None:
                raise
            raise refusal from None

    def json_remove(self, column: str, keys: tuple[str, ...]) -> str:
        paths = ", ".join(f"'$.{key}'" for key in keys)
        return f"json_remove({column}, {paths})"

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    async def executemany(self, sql: str, rows: list[tuple]) -> None:
        await self.connection.executemany(sql, rows)

    async def fetchone(self, sql: str, params: tuple = ()) -> aiosqlite.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: tuple = ()) -> list[aiosqlite.Row]:
        # One trip to the database thread (a cursor would take three).
        return list(await self.connection.execute_fetchall(sql, params))

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        await self.connection.close()
