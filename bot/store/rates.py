"""Rate limits in the store: GCRA, one row per limited key (table rate_limits), so a restart does not reset
them and every process on the file shares them. For N per minute the emission interval is T = 60/N and the
burst N: a request is admitted while the key's theoretical arrival time (tat) is at most 60 - T ahead of now,
and admitting moves tat on by T. Every call is one autocommit statement; time comes in from the caller."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.store.db import Database

WINDOW_SECONDS = 60.0  # a rate is "per minute", and a refusal is said at most once a minute per key
# Float sums of T must not refuse the Nth request of a burst by a rounding error.
SLACK = 1e-6

# ?1 key, ?2 now, ?3 interval T, ?4 latest tat that still admits (now + 60 - T), ?5 just before now.
# The 60 in the statements is WINDOW_SECONDS.
# The row is written only when admitted (tat moves on) or when the refusal is to be said (told_at = now): a
# silent refusal changes nothing and returns no row. SET and WHERE read the row as it was.
# Admission moves a told_at of this very instant back a hair, so told_at = now always means "told".
# Portable SQL, the same on SQLite and PostgreSQL: max(tat, now) spelled as CASE (PostgreSQL has no scalar max,
# SQLite no GREATEST), the existing row's columns named by table (PostgreSQL finds a bare name ambiguous with
# `excluded`), and one cast where PostgreSQL could not tell a parameter's type (`$2 + $3` of two unknowns).
_LATER = "CASE WHEN rate_limits.tat > ?2 THEN rate_limits.tat ELSE ?2 END"  # max(tat, now)
_ADMITS = "(rate_limits.tat <= ?4 AND ?2 <= ?4)"  # max(tat, now) <= latest
_NOW = "CAST(?2 AS DOUBLE PRECISION)"

TAKE = f"""
INSERT INTO rate_limits(key, tat, told_at) VALUES (?1, {_NOW} + ?3, NULL)
ON CONFLICT(key) DO UPDATE SET
    tat = CASE WHEN {_ADMITS} THEN {_LATER} + ?3 ELSE rate_limits.tat END,
    told_at = CASE WHEN NOT {_ADMITS} THEN ?2 WHEN rate_limits.told_at >= ?2 THEN ?5 ELSE rate_limits.told_at END
WHERE {_ADMITS} OR rate_limits.told_at IS NULL OR rate_limits.told_at <= ?2 - 60
RETURNING tat, told_at
"""

# A pool (a whole server's rate): admitted or not, never told (the member's row remembers that).
TAKE_POOL = f"""
INSERT INTO rate_limits(key, tat, told_at) VALUES (?1, {_NOW} + ?3, NULL)
ON CONFLICT(key) DO UPDATE SET tat = {_LATER} + ?3 WHERE {_ADMITS}
RETURNING tat
"""

# The pool refused: give the member's admission back (?3 its T, 0 with no member limit) and decide, on the
# member's row, whether this refusal is said. Returns that row's told_at and the pool's tat.
# ?1 member key, ?2 now, ?3 member T, ?4 pool key, ?5 just before now.
POOL_REFUSED = """
INSERT INTO rate_limits(key, tat, told_at) VALUES (?1, ?2, ?2)
ON CONFLICT(key) DO UPDATE SET
    tat = rate_limits.tat - ?3,
    told_at = CASE WHEN rate_limits.told_at IS NULL OR rate_limits.told_at <= ?2 - 60 THEN ?2
        WHEN rate_limits.told_at >= ?2 THEN ?5 ELSE rate_limits.told_at END
RETURNING told_at, (SELECT tat FROM rate_limits WHERE key = ?4) AS pool_tat
"""

GIVE_BACK = (
    "UPDATE rate_limits SET tat = tat - CASE key WHEN ?1 THEN CAST(?2 AS DOUBLE PRECISION) ELSE ?4 END "
    "WHERE key IN (?1, ?3)"
)


@dataclass(frozen=True)
class Taken:
    admitted: bool
    told: bool = False  # of a refusal: the first in a minute for this key, so the asker is told
    retry_in: float = 0.0  # of a told refusal: seconds until a request would be admitted


def interval(per_minute: int) -> float:
    return WINDOW_SECONDS / per_minute


def _latest(now: float, per_minute: int) -> float:
    return now + WINDOW_SECONDS - interval(per_minute) + SLACK


def _retry_in(tat: float, now: float, per_minute: int) -> float:
    return max(0.0, tat - (now + WINDOW_SECONDS - interval(per_minute)))


class RateStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(self, key: str, per_minute: int, now: float) -> Taken:
        """One request against `key` (per_minute > 0): admitted, or refused (told or silent)."""
        before = math.nextafter(now, -math.inf)
        row = await self._db.fetchone(TAKE, (key, now, interval(per_minute), _latest(now, per_minute), before))
        if row is None:
            return Taken(False)
        if row["told_at"] == now:
            return Taken(False, True, _retry_in(row["tat"], now, per_minute))
        return Taken(True)

    async def take_pool(self, key: str, per_minute: int, now: float) -> bool:
        row = await self._db.fetchone(TAKE_POOL, (key, now, interval(per_minute), _latest(now, per_minute)))
        return row is not None

    async def pool_refused(
        self, member_key: str, member_per_minute: int, pool_key: str, pool_per_minute: int, now: float
    ) -> Taken:
        """After take() admitted the member and take_pool() refused: undo the member's admission and say
        whether the asker is told (once a minute) and when the pool admits again."""
        member_t = interval(member_per_minute) if member_per_minute > 0 else 0.0
        before = math.nextafter(now, -math.inf)
        row = await self._db.fetchone(POOL_REFUSED, (member_key, now, member_t, pool_key, before))
        if row is None or row["told_at"] != now:
            return Taken(False)
        pool_tat = row["pool_tat"] if row["pool_tat"] is not None else now
        return Taken(False, True, _retry_in(pool_tat, now, pool_per_minute))

    async def give_back(self, key: str, per_minute: int, pool_key: str | None = None, pool_per_minute: int = 0) -> None:
        """Undo one admission (of the key, and of its pool): tat steps back by T. One statement."""
        member_t = interval(per_minute) if per_minute > 0 else 0.0
        pool_t = interval(pool_per_minute) if pool_key is not None and pool_per_minute > 0 else 0.0
        if member_t == 0.0 and pool_t == 0.0:
            return
        await self._db.execute(GIVE_BACK, (key, member_t, pool_key if pool_t else key, pool_t))
