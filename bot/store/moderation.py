"""Moderation state of each scope, kept in the database: blocked terms, channel rules, role lists,
bans, the audit log and the review queue. (Scalar choices, strictness, output, nsfw and the
moderators' channel, are scope settings: bot.store.settings, names in bot.moderation.policy.)"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from bot.clock import MONOTONIC, Clock
from bot.store.db import Database, Row
from bot.store.settings import SETTINGS_TTL_SECONDS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

DEFAULT_CHANNEL = "*"  # the channel key of a scope's default rule (`/mod channel default off`)


class ChannelMode(StrEnum):
    ALL = "all"  # images and chat
    IMAGES = "images"
    CHAT = "chat"
    OFF = "off"


class RoleList(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class AuditEvent(StrEnum):
    GENERATED = "generated"  # a job delivered its images
    REFUSED = "refused"  # access, blocklist, moderation model, rate or quota said no
    FLAGGED = "flagged"  # the moderation model flagged something (detail: categories, scores)
    WITHHELD = "withheld"  # a flagged result was not posted
    SPOILERED = "spoilered"  # a flagged result was posted behind a spoiler
    HELD = "held"  # a result went to the review queue
    APPROVED = "approved"
    REJECTED = "rejected"
    ANSWER_REPLACED = "answer_replaced"  # a flagged chat answer was replaced by a notice
    UNCHECKED = "unchecked"  # the moderation service was down and the scope fails open
    MOD_ACTION = "mod_action"  # a moderator's command or button (detail: action, arguments)


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Ban:
    user_key: str
    user_name: str
    until: float | None  # wall-clock seconds; None: until unbanned
    reason: str
    by: str  # the moderator's name


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float  # wall-clock seconds
    scope_key: str
    event: AuditEvent
    user_key: str
    user_name: str
    job_id: str | None
    detail: dict  # rule, categories and scores, the text that was refused (trimmed), the moderator...
    desk_ref: str | None  # the moderators' channel message about it, if one was posted
    closed_by: str | None = None  # the moderator who acted on that message (close_entry)
    closed_action: str | None = None


@dataclass(frozen=True)
class Review:
    id: int
    job_id: str
    scope_key: str
    user_key: str
    origin: str | None  # the request's origin, where an approved result is posted
    status: ReviewStatus
    desk_ref: str | None
    decided_by: str | None
    caption: str  # the result's caption, posted with it when approved


@dataclass(frozen=True)
class ScopePolicy:
    """Everything access and prompt checks read for one scope, loaded together and cached briefly."""

    terms: tuple[str, ...] = ()
    channels: dict[str, ChannelMode] = field(default_factory=dict)  # DEFAULT_CHANNEL for the default
    allowed_roles: frozenset[str] = frozenset()
    denied_roles: frozenset[str] = frozenset()
    bans: dict[str, Ban] = field(default_factory=dict)  # by user key; expired ones included (check `until`)
    reviewed_channels: frozenset[str] = frozenset()


class ModerationStore:
    """`policy` is read on every request: cached for SETTINGS_TTL_SECONDS like scope settings (another
    process's change applies within seconds; this one's at once). Every write is one statement.
    Audit and review writes leave the cache alone: they are not part of a ScopePolicy."""

    def __init__(self, db: Database, *, clock: Clock = MONOTONIC, ttl: float = SETTINGS_TTL_SECONDS) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[float, ScopePolicy]] = {}

    async def policy(self, scope_key: str) -> ScopePolicy:
        now = self._clock.now()
        cached = self._cache.get(scope_key)
        if cached is None or now - cached[0] >= self._ttl:
            cached = self._cache[scope_key] = (now, await self._load(scope_key))
        return cached[1]

    async def _load(self, scope_key: str) -> ScopePolicy:
        # One trip for the whole policy: each table's rows in the same five columns.
        rows = await self._db.fetchall(_POLICY_SQL, (scope_key,) * 5)
        terms: list[str] = []
        channels: dict[str, ChannelMode] = {}
        reviewed: set[str] = set()
        roles: dict[RoleList, set[str]] = {RoleList.ALLOW: set(), RoleList.DENY: set()}
        bans: dict[str, Ban] = {}
        for kind, a, b, c, d, e in rows:
            if kind == "term":
                terms.append(a)
            elif kind == "channel":
                channels[a] = ChannelMode(b)
            elif kind == "review":
                reviewed.add(a)
            elif kind == "role":
                roles[RoleList(b)].add(a)
            else:
                bans[a] = Ban(user_key=a, user_name=b, until=c, reason=d, by=e)
        return ScopePolicy(
            terms=tuple(sorted(terms)),
            channels=channels,
            allowed_roles=frozenset(roles[RoleList.ALLOW]),
            denied_roles=frozenset(roles[RoleList.DENY]),
            bans=bans,
            reviewed_channels=frozenset(reviewed),
        )

    async def _write(self, scope_key: str, sql: str, params: tuple) -> int:
        """A policy write: one statement, then this scope's cached policy is dropped. Returns the rows changed."""
        cursor = await self._db.execute(sql, params)
        self._cache.pop(scope_key, None)
        return cursor.rowcount

    # Terms (a scope's own blocklist; `re:` entries are regexes, checked when added).
    async def add_term(self, scope_key: str, term: str) -> bool:
        """False when it was already there."""
        sql = "INSERT INTO mod_terms(scope_key, term) VALUES (?, ?) ON CONFLICT DO NOTHING"
        return await self._write(scope_key, sql, (scope_key, term)) > 0

    async def remove_term(self, scope_key: str, term: str) -> bool:
        sql = "DELETE FROM mod_terms WHERE scope_key = ? AND term = ?"
        return await self._write(scope_key, sql, (scope_key, term)) > 0

    # Channels: `mode` None removes the channel's rule (it follows the default again).
    async def set_channel(self, scope_key: str, channel: str, mode: ChannelMode | None) -> None:
        params: tuple
        if mode is None:
            sql, params = "DELETE FROM mod_channels WHERE scope_key = ? AND channel = ?", (scope_key, channel)
        else:
            sql = (
                "INSERT INTO mod_channels(scope_key, channel, mode) VALUES (?, ?, ?) "
                "ON CONFLICT(scope_key, channel) DO UPDATE SET mode = excluded.mode"
            )
            params = (scope_key, channel, str(mode))
        await self._write(scope_key, sql, params)

    async def set_review(self, scope_key: str, channel: str, on: bool) -> None:
        if on:
            sql = "INSERT INTO mod_review_channels(scope_key, channel) VALUES (?, ?) ON CONFLICT DO NOTHING"
        else:
            sql = "DELETE FROM mod_review_channels WHERE scope_key = ? AND channel = ?"
        await self._write(scope_key, sql, (scope_key, channel))

    # Roles.
    async def set_role(self, scope_key: str, role: str, listing: RoleList) -> None:
        """A role is on one list at most: adding it to one takes it off the other."""
        sql = (
            "INSERT INTO mod_roles(scope_key, role, listing) VALUES (?, ?, ?) "
            "ON CONFLICT(scope_key, role) DO UPDATE SET listing = excluded.listing"
        )
        await self._write(scope_key, sql, (scope_key, role, str(listing)))

    async def clear_roles(self, scope_key: str) -> None:
        await self._write(scope_key, "DELETE FROM mod_roles WHERE scope_key = ?", (scope_key,))

    # Bans (`now`, `until`, `at`: wall-clock seconds).
    async def ban(self, scope_key: str, ban: Ban, *, at: float | None = None) -> None:
        """A new ban of someone already banned replaces the old one (new end, reason, moderator)."""
        sql = (
            "INSERT INTO mod_bans(scope_key, user_key, user_name, until, reason, banned_by, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(scope_key, user_key) DO UPDATE SET "
            "user_name = excluded.user_name, until = excluded.until, reason = excluded.reason, "
            "banned_by = excluded.banned_by, at = excluded.at"
        )
        when = time.time() if at is None else at
        await self._write(scope_key, sql, (scope_key, ban.user_key, ban.user_name, ban.until, ban.reason, ban.by, when))

    async def unban(self, scope_key: str, user_key: str) -> bool:
        sql = "DELETE FROM mod_bans WHERE scope_key = ? AND user_key = ?"
        return await self._write(scope_key, sql, (scope_key, user_key)) > 0

    async def bans(self, scope_key: str, now: float) -> list[Ban]:
        """Bans in force, soonest-ending last."""
        rows = await self._db.fetchall(
            "SELECT user_key, user_name, until, reason, banned_by FROM mod_bans "
            "WHERE scope_key = ? AND (until IS NULL OR until > ?) ORDER BY until IS NULL DESC, until DESC, user_key",
            (scope_key, now),
        )
        return [Ban(*row) for row in rows]

    # The audit log.
    async def record(
        self,
        scope_key: str,
        event: AuditEvent,
        *,
        user_key: str,
        user_name: str,
        at: float,
        job_id: str | None = None,
        detail: dict | None = None,
    ) -> int:
        """Returns the entry's id."""
        row = await self._db.fetchone(
            "INSERT INTO mod_audit(scope_key, at, event, user_key, user_name, job_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (scope_key, at, str(event), user_key, user_name, job_id, json.dumps(detail or {}, ensure_ascii=False)),
        )
        assert row is not None
        return int(row["id"])

    async def recent(self, scope_key: str, limit: int) -> list[AuditEntry]:
        """Newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM mod_audit WHERE scope_key = ? ORDER BY id DESC LIMIT ?", (scope_key, max(limit, 0))
        )
        return [_entry(row) for row in rows]

    async def entry(self, entry_id: int) -> AuditEntry | None:
        row = await self._db.fetchone("SELECT * FROM mod_audit WHERE id = ?", (entry_id,))
        return None if row is None else _entry(row)

    async def note_desk_ref(self, entry_id: int, ref: str) -> None:
        await self._db.execute("UPDATE mod_audit SET desk_ref = ? WHERE id = ?", (ref, entry_id))

    async def close_entry(self, entry_id: int, by: str, action: str) -> bool:
        """A moderator acted on an alert (`action`: deleted, banned, dismissed): once. False when the
        entry was already closed (two moderators, two processes) or does not exist."""
        cursor = await self._db.execute(
            "UPDATE mod_audit SET closed_by = ?, closed_action = ? WHERE id = ? AND closed_by IS NULL",
            (by, action, entry_id),
        )
        return cursor.rowcount > 0

    # The review queue (`at`: wall-clock seconds, now by default; decided reviews are pruned by it).
    async def add_review(
        self,
        job_id: str,
        scope_key: str,
        user_key: str,
        origin: str | None,
        caption: str = "",
        *,
        at: float | None = None,
    ) -> int:
        row = await self._db.fetchone(
            "INSERT INTO mod_reviews(job_id, scope_key, user_key, origin, caption, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?) RETURNING id",
            (job_id, scope_key, user_key, origin, caption, time.time() if at is None else at),
        )
        assert row is not None
        return int(row["id"])

    async def review(self, review_id: int) -> Review | None:
        row = await self._db.fetchone("SELECT * FROM mod_reviews WHERE id = ?", (review_id,))
        return None if row is None else _review(row)

    async def note_review_ref(self, review_id: int, ref: str) -> None:
        await self._db.execute("UPDATE mod_reviews SET desk_ref = ? WHERE id = ?", (ref, review_id))

    async def decide(self, review_id: int, status: ReviewStatus, by: str, *, at: float | None = None) -> bool:
        """Pending -> approved/rejected, once: False when it was already decided (two moderators, two
        processes)."""
        if status is ReviewStatus.PENDING:
            raise ValueError("a review is decided as approved or rejected")
        cursor = await self._db.execute(
            "UPDATE mod_reviews SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
            (str(status), by, time.time() if at is None else at, review_id),
        )
        return cursor.rowcount > 0

    async def reopen(self, review_id: int) -> None:
        """An approval that could not be posted: pending again, so a moderator can press Approve later."""
        await self._db.execute(
            "UPDATE mod_reviews SET status = 'pending', decided_by = NULL, decided_at = NULL "
            "WHERE id = ? AND status = 'approved'",
            (review_id,),
        )

    async def pending_reviews(self, scope_key: str) -> list[Review]:
        """Oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM mod_reviews WHERE scope_key = ? AND status = 'pending' ORDER BY id", (scope_key,)
        )
        return [_review(row) for row in rows]


_POLICY_SQL = " UNION ALL ".join(
    (
        # The column's type, for PostgreSQL (a NULL in the first branch would be taken for text).
        "SELECT 'term', term, NULL, CAST(NULL AS DOUBLE PRECISION), NULL, NULL FROM mod_terms WHERE scope_key = ?",
        "SELECT 'channel', channel, mode, NULL, NULL, NULL FROM mod_channels WHERE scope_key = ?",
        "SELECT 'review', channel, NULL, NULL, NULL, NULL FROM mod_review_channels WHERE scope_key = ?",
        "SELECT 'role', role, listing, NULL, NULL, NULL FROM mod_roles WHERE scope_key = ?",
        "SELECT 'ban', user_key, user_name, until, reason, banned_by FROM mod_bans WHERE scope_key = ?",
    )
)


def _entry(row: Row) -> AuditEntry:
    detail = json.loads(row["detail"]) if row["detail"] else {}
    return _from_row(AuditEntry, row, event=AuditEvent(row["event"]), detail=detail)


def _review(row: Row) -> Review:
    return _from_row(Review, row, status=ReviewStatus(row["status"]))


def _from_row(record: type[R], row: Row, **read: object) -> R:
    """A record whose fields are the row's columns of the same names; `read` gives those that need more
    than the column's value as it is."""
    return record(**{f.name: read[f.name] if f.name in read else row[f.name] for f in fields(record)})
