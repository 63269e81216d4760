"""What `/mod` reads from its argument (a member, a duration) and how it shows bans and audit entries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.clock import Clock
from bot.messages import Request, User
from bot.store.moderation import AuditEntry, AuditEvent, Ban, ModerationStore

# A reply must fit one Discord message (2,000 characters); Telegram takes 4,096.
REPLY_LIMIT = 1900
LINE_LIMIT = 160
_MEMBER = re.compile(r"^(?:<@!?(\d{1,20})>|(\d{1,20}))$")
_DURATION = re.compile(r"^(\d{1,4})([mhdw])$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_NAMES = {"m": "minute", "h": "hour", "d": "day", "w": "week"}
MAX_BAN_SECONDS = 520 * 7 * 86400  # ten years: longer is "until unbanned"


class ModUsage(Exception):
    """The argument is malformed; the message says what is valid."""


@dataclass(frozen=True)
class Member:
    key: str  # `<platform>:<id>`, as User.key
    name: str


def member_of(token: str, target: User | None, platform: str) -> Member | None:
    """The member a ban names: the platform-resolved target, else a mention `<@123>`/`<@!123>` or an id."""
    if target is not None:
        return Member(target.key, target.name)
    match = _MEMBER.match(token)
    if not match:
        return None
    if match.group(1):
        return Member(f"{platform}:{match.group(1)}", f"<@{match.group(1)}>")
    return Member(f"{platform}:{match.group(2)}", match.group(2))


def duration_seconds(token: str) -> int | None:
    """`30m`, `2h`, `7d`, `2w` in seconds; None when `token` is no duration."""
    match = _DURATION.match(token)
    if not match:
        if token[:1].isdigit():  # a mistyped duration ("7days") must not become the reason of a lasting ban
            raise ModUsage(f"'{trim(token, 24)}' is no duration: use 30m, 2h, 7d or 2w.")
        return None
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0 or seconds > MAX_BAN_SECONDS:
        raise ModUsage("A ban lasts from 1m to 520w; leave the duration out for a ban until /mod unban.")
    return seconds


def describe_duration(token: str) -> str:
    match = _DURATION.match(token)
    assert match is not None
    count, unit = int(match.group(1)), _UNIT_NAMES[match.group(2).lower()]
    return f"{count} {unit}{'' if count == 1 else 's'}"


def this_channel(request: Request) -> str:
    """How a reply names the channel a rule is about (on Discord a mention: the slash command may name another)."""
    if request.scope.platform == "discord" and request.channel:
        return f"<#{request.channel}>"
    return "this topic" if request.scope.platform == "telegram" and request.channel else "this chat"


def utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ban_line(ban: Ban) -> str:
    until = f"until {utc(ban.until)}" if ban.until is not None else "until unbanned"
    reason = f": {ban.reason}" if ban.reason else ""
    return trim(f"{ban.user_name} ({ban.user_key}) {until}, by {ban.by}{reason}")


def entry_line(entry: AuditEntry) -> str:
    """One audit entry: time UTC, event, who, rule or categories (or a moderator's action), job id short."""
    detail = entry.detail or {}
    parts = [utc(entry.at), str(entry.event), entry.user_name or entry.user_key]
    if action := detail.get("action"):
        parts.append(" ".join(str(word) for word in (action, detail.get("subject"), detail.get("mode")) if word))
    if rule := detail.get("rule"):
        parts.append(f"rule {rule}")
    if categories := detail.get("categories"):
        names = categories if isinstance(categories, list) else list(categories)
        parts.append("categories " + ", ".join(str(name) for name in names))
    if entry.job_id:
        parts.append(f"job {entry.job_id[:8]}")
    return trim(" · ".join(parts))


def trim(line: str, limit: int = LINE_LIMIT) -> str:
    line = " ".join(line.split())  # a reason or term cannot break the listing into several lines
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fit(head: str, lines: list[str], limit: int = REPLY_LIMIT) -> str:
    """`head` and as many `lines` as fit in one message, saying how many were left out."""
    text = head
    for index, line in enumerate(lines):
        more = f"\n… and {len(lines) - index} more"
        room = limit - (len(more) if index < len(lines) - 1 else 0)
        if len(text) + 1 + len(line) > room:
            return text + more
        text += "\n" + line
    return text


async def record_action(store: ModerationStore, wall: Clock, request: Request, action: str, **detail: object) -> None:
    """Every /mod change is in the audit log: who, when, what."""
    await store.record(
        request.scope.key,
        AuditEvent.MOD_ACTION,
        user_key=request.user.key,
        user_name=request.user.name,
        at=wall.now(),
        detail={"action": action, **detail},
    )
