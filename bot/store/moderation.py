"""Moderation state of each scope, kept in the database: blocked terms, channel rules, role lists,
bans, the audit log and the review queue. (Scalar choices, strictness, output, nsfw and the
moderators' channel, are scope settings: bot.store.settings, names in bot.moderation.policy.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.clock import MONOTONIC, Clock
from bot.store.db import Database

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
    process's change applies within seconds; this one's at once). Every write is one statement."""

    def __init__(self, db: Database, *, clock: Clock = MONOTONIC) -> None:
        self._db = db
        self._clock = clock

    async def policy(self, scope_key: str) -> ScopePolicy:
        raise NotImplementedError

    # Terms (a scope's own blocklist; `re:` entries are regexes, checked when added).
    async def add_term(self, scope_key: str, term: str) -> bool:
        """False when it was already there."""
        raise NotImplementedError

    async def remove_term(self, scope_key: str, term: str) -> bool:
        raise NotImplementedError

    # Channels: `mode` None removes the channel's rule (it follows the default again).
    async def set_channel(self, scope_key: str, channel: str, mode: ChannelMode | None) -> None:
        raise NotImplementedError

    async def set_review(self, scope_key: str, channel: str, on: bool) -> None:
        raise NotImplementedError

    # Roles.
    async def set_role(self, scope_key: str, role: str, listing: RoleList) -> None:
        """A role is on one list at most: adding it to one takes it off the other."""
        raise NotImplementedError

    async def clear_roles(self, scope_key: str) -> None:
        raise NotImplementedError

    # Bans (`now`, `until`: wall-clock seconds).
    async def ban(self, scope_key: str, ban: Ban) -> None:
        raise NotImplementedError

    async def unban(self, scope_key: str, user_key: str) -> bool:
        raise NotImplementedError

    async def bans(self, scope_key: str, now: float) -> list[Ban]:
        """Bans in force, soonest-ending last."""
        raise NotImplementedError

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
        raise NotImplementedError

    async def recent(self, scope_key: str, limit: int) -> list[AuditEntry]:
        """Newest first."""
        raise NotImplementedError

    async def entry(self, entry_id: int) -> AuditEntry | None:
        raise NotImplementedError

    async def note_desk_ref(self, entry_id: int, ref: str) -> None:
        raise NotImplementedError

    # The review queue.
    async def add_review(self, job_id: str, scope_key: str, user_key: str, origin: str | None) -> int:
        raise NotImplementedError

    async def review(self, review_id: int) -> Review | None:
        raise NotImplementedError

    async def note_review_ref(self, review_id: int, ref: str) -> None:
        raise NotImplementedError

    async def decide(self, review_id: int, status: ReviewStatus, by: str) -> bool:
        """Pending -> approved/rejected, once: False when it was already decided (two moderators, two
        processes)."""
        raise NotImplementedError

    async def pending_reviews(self, scope_key: str) -> list[Review]:
        raise NotImplementedError
